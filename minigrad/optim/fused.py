"""Elementwise update rules as one CUDA kernel each, for parameters on the GPU.

On the CPU an elementwise optimizer's step is a handful of in-place NumPy calls over the
flat buffer; on the GPU each such call is a kernel launch and a pass over memory, so Adam's
step would read and write the parameter, gradient and moment buffers about ten times. As
Chainer did, each rule here is also written once as the body of a
``cupy.ElementwiseKernel``: the whole update in one pass, one launch per buffer.

A kernel body is CUDA C++ for one entry: the arrays it only reads are ``const T`` values,
the arrays it updates are ``T&`` references into the buffers, and the hyper-parameters are
``const T`` scalars computed on the host exactly as the NumPy path computes them. It
performs the NumPy path's operations in the same order with the same roundings, and it is
compiled with ``--fmad=false`` (no fused multiply-add contraction), so on the GPU it gives
the NumPy path's results bit for bit (sqrt and division are correctly rounded in CUDA by
default). float16 parameters keep the array calls.

Tests check each body against the NumPy path on the CPU by compiling the same text as C++
for the host (``tests/optim/kernel_emulator.py``), through :data:`host_runner`.
"""
from __future__ import annotations

import os
from typing import Any, Callable, ClassVar, Sequence

import numpy

from minigrad import backend

KERNEL_DTYPES = (numpy.dtype("float32"), numpy.dtype("float64"))
#: False makes every rule use its array calls on the GPU too (``MINIGRAD_FUSED=0`` in the
#: environment sets it at import): a way around a kernel that fails on some GPU or CuPy.
enabled = os.environ.get("MINIGRAD_FUSED", "1") != "0"
NVRTC_OPTIONS = ("--fmad=false",)

# Tests set this to a function ``(update, arrays, scalars) -> None`` that runs a kernel's
# body on NumPy arrays; then NumPy parameters take the kernel path too.
host_runner: Callable[["ElementwiseUpdate", Sequence[Any], Sequence[Any]], None] | None = None
launches: dict[str, int] = {}  # kernel name -> launches, for the tests and benchmarks


# Pieces of kernel bodies several rules share.
#: Adam's moment estimates, as ``optim.adam.update_moments_`` computes them.
ADAM_MOMENTS = """
exp_avg = exp_avg * beta1 + grad * one_minus_beta1;
exp_avg_sq = exp_avg_sq * beta2 + (grad * grad) * one_minus_beta2;
"""
#: AMSGrad's running maximum of the second moment, with NumPy's ``maximum`` (NaN and ties).
AMSGRAD_MAXIMUM = ("max_exp_avg_sq = (max_exp_avg_sq > exp_avg_sq || max_exp_avg_sq != "
                   "max_exp_avg_sq) ? max_exp_avg_sq : exp_avg_sq;")


def _names(spec: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in spec.split(",") if name.strip())


class ElementwiseUpdate:
    """One elementwise update rule as a CUDA kernel.

    ``reads``: the arrays the rule reads (comma-separated names, e.g. ``"grad"``);
    ``writes``: the arrays it updates in place (``"param, exp_avg"``); ``scalars``: its
    hyper-parameters, in the arrays' dtype; ``body``: CUDA C++ for one entry. Called as
    ``update(*reads, *writes, **scalars)``.
    """

    registry: ClassVar[list["ElementwiseUpdate"]] = []  # every kernel declared, for the tests

    def __init__(self, name: str, *, reads: str, writes: str, scalars: str, body: str) -> None:
        self.name, self.body = name, body
        self.reads, self.writes, self.scalars = _names(reads), _names(writes), _names(scalars)
        self._kernel: Any = None
        ElementwiseUpdate.registry.append(self)

    def __call__(self, *arrays: Any, **scalars: float) -> None:
        if len(arrays) != len(self.reads) + len(self.writes) or set(scalars) != set(self.scalars):
            raise TypeError(f"kernel {self.name} takes arrays {self.reads + self.writes} and "
                            f"scalars {self.scalars}; got {len(arrays)} arrays and "
                            f"{sorted(scalars)}")
        target = arrays[len(self.reads)]  # the first array written: the parameter
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
        return f"ElementwiseUpdate({self.name!r})"


def usable(array: Any) -> bool:
    """Whether the update of ``array`` (a parameter's or a flat buffer's) runs as a kernel:
    on the GPU in float32 or float64 (and on the CPU while a test's host runner is set)."""
    if host_runner is None and isinstance(array, numpy.ndarray):  # the CPU: asked first
        return False
    return enabled and array.dtype in KERNEL_DTYPES
