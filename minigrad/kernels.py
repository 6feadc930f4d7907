"""Elementwise CUDA kernels: a computation written once as the body of a
``cupy.ElementwiseKernel``, so that on the GPU it is one pass over memory and one launch
instead of a chain of array calls (each a launch and a pass), as Chainer did.

A kernel body is CUDA C++ for one entry: the arrays it only reads are ``const T`` values
(broadcast against the others, as CuPy broadcasts), the arrays it writes are ``T&``
references into arrays the caller passes (a body may read them first: an optimizer updates
its buffers in place), and the scalars are ``const T`` values computed on the host exactly
as the NumPy path computes them. A body performs the NumPy path's operations in the same
order with the same roundings, and it is compiled with ``--fmad=false`` (no fused
multiply-add contraction), so on the GPU it gives the NumPy path's results bit for bit (sqrt
and division are correctly rounded in CUDA by default).

Users: the elementwise optimizers (``minigrad.optim.fused``) and the normalisation layers
(``minigrad.nn.functional.normalization``). Tests check each body against the NumPy path on
the CPU by compiling the same text as C++ for the host (``tests/kernel_emulator.py``),
through :data:`host_runner`.
"""
from __future__ import annotations

import os
from typing import Any, Callable, ClassVar, Sequence

import numpy

from minigrad import backend

KERNEL_DTYPES = (numpy.dtype("float32"), numpy.dtype("float64"))
#: False makes every user of a kernel take its array calls on the GPU too
#: (``MINIGRAD_FUSED=0`` in the environment sets it at import): a way around a kernel that
#: fails on some GPU or CuPy.
enabled = os.environ.get("MINIGRAD_FUSED", "1") != "0"
NVRTC_OPTIONS = ("--fmad=false",)

# Tests set this to a function ``(kernel, arrays, scalars) -> None`` that runs a kernel's
# body on NumPy arrays; then NumPy arrays take the kernel path too.
host_runner: Callable[["ElementwiseKernel", Sequence[Any], Sequence[Any]], None] | None = None
launches: dict[str, int] = {}  # kernel name -> launches, for the tests and benchmarks


def _names(spec: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in spec.split(",") if name.strip())


class ElementwiseKernel:
    """One elementwise computation as a CUDA kernel.

    ``reads``: the arrays it only reads (comma-separated names, e.g. ``"grad"``);
    ``writes``: the arrays it writes, in place (``"param, exp_avg"``), all of one shape;
    ``scalars``: its numbers, in the arrays' dtype; ``body``: CUDA C++ for one entry. Called
    as ``kernel(*reads, *writes, **scalars)``.
    """

    registry: ClassVar[list["ElementwiseKernel"]] = []  # every kernel declared, for the tests

    def __init__(self, name: str, *, reads: str, writes: str, scalars: str, body: str) -> None:
        self.name, self.body = name, body
        self.reads, self.writes, self.scalars = _names(reads), _names(writes), _names(scalars)
        self._kernel: Any = None
        ElementwiseKernel.registry.append(self)

    def __call__(self, *arrays: Any, **scalars: float) -> None:
        if len(arrays) != len(self.reads) + len(self.writes) or set(scalars) != set(self.scalars):
            raise TypeError(f"kernel {self.name} takes arrays {self.reads + self.writes} and "
                            f"scalars {self.scalars}; got {len(arrays)} arrays and "
                            f"{sorted(scalars)}")
        target = arrays[len(self.reads)]  # the first array written (a parameter)
        dtype = target.dtype.type
        values = [dtype(scalars[name]) for name in self.scalars]
        launches[self.name] = launches.get(self.name, 0) + 1
        if isinstance(target, numpy.ndarray):
            assert host_runner is not None, "a kernel on NumPy arrays needs the host runner"
            host_runner(self, arrays, values)
            return
        if self._kernel is None:
            cupy = backend.xp("cuda")
            inputs = ", ".join(f"T {name}" for name in self.reads + self.scalars)
            outputs = ", ".join(f"T {name}" for name in self.writes)
            self._kernel = cupy.ElementwiseKernel(inputs, outputs, self.body, self.name,
                                                  options=NVRTC_OPTIONS)
        reads, writes = arrays[:len(self.reads)], arrays[len(self.reads):]
        self._kernel(*reads, *values, *writes)

    def __repr__(self) -> str:
        return f"ElementwiseKernel({self.name!r})"


def usable(array: Any) -> bool:
    """Whether a computation writing ``array`` (a parameter, a flat buffer, an activation)
    runs as a kernel: on the GPU in float32 or float64 (and on the CPU while a test's host
    runner is set)."""
    if host_runner is None and isinstance(array, numpy.ndarray):  # the CPU: asked first
        return False
    return enabled and array.dtype in KERNEL_DTYPES
