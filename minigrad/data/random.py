"""The random generator behind shuffling and the synthetic datasets.

Without a seed, randomness comes from minigrad's global CPU generator, so one
``mg.manual_seed`` call makes a whole training run repeat; with a seed, a component gets a
private generator and repeats on its own, whatever else draws random numbers; with a
``generator`` (an ``mg.Generator``, PyTorch's way), it draws from that one.
"""
from __future__ import annotations

import operator
from typing import Any

from minigrad import backend
from minigrad.random import Generator


def host_generator(seed: int | None = None, generator: Any = None) -> Any:
    """A NumPy ``Generator`` on the host: ``generator``'s (an ``mg.Generator`` on the CPU, or
    a NumPy ``Generator``) when given, private when ``seed`` is given, else the global one."""
    if generator is not None:
        if seed is not None:
            raise ValueError("pass a seed or a generator, not both")
        return _host_numpy_generator(generator)
    if seed is None:
        return backend.generator("cpu")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}") from None
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return backend.xp("cpu").random.default_rng(seed)


def check_generator(generator: Any) -> Any:
    """``generator`` if it can shuffle on the host (None passes), else a clear error."""
    if generator is not None:
        _host_numpy_generator(generator)
    return generator


def _host_numpy_generator(generator: Any) -> Any:
    numpy = backend.xp("cpu")
    if isinstance(generator, numpy.random.Generator):
        return generator
    if isinstance(generator, Generator):
        if generator.device != "cpu":
            raise ValueError(f"shuffling needs a generator on the CPU, got one on "
                             f"{generator.device!r} (use mg.Generator() or device='cpu')")
        return generator._numpy_like()
    raise TypeError(f"generator must be an mg.Generator, got {type(generator).__name__}")
