"""The base of the tests' stand-ins for CuPy: NumPy whose functions pass what they return
through ``convert`` (into an array type that plays a GPU array)."""
import types

import numpy as np


class ConvertingNumpy(types.ModuleType):
    """``numpy`` seen through ``convert``: ``m.zeros(3)`` is ``convert(numpy.zeros(3))``, each
    item of a returned tuple converted alike; constants and types are NumPy's own."""

    def __init__(self, name, convert):
        super().__init__(name)
        self._convert = convert

    def __getattr__(self, name):
        attr = getattr(np, name)
        if not callable(attr) or isinstance(attr, type):
            return attr
        convert = self._convert

        def call(*args, **kwargs):
            out = attr(*args, **kwargs)
            return tuple(map(convert, out)) if isinstance(out, tuple) else convert(out)
        return call
