"""Running a CUDA ElementwiseKernel body on the CPU: the same text compiled as C++ for the host.

``run(kernel, arrays, scalars)`` (the signature of ``minigrad.kernels.host_runner``) wraps
``kernel.body`` in a loop over the entries, as CuPy does on the GPU (arrays read: ``const T``
values, broadcast against the written ones; arrays written: ``T&`` references; scalars:
``const T``), compiles it
with g++ as IEEE arithmetic with no contraction into fused multiply-adds (``--fmad=false``
on the GPU), and calls it on the NumPy arrays through ctypes. The host's ``sqrt``, ``/``,
``max`` and ``min`` round as CUDA's do, so a body that matches the NumPy path here matches
it on the GPU.

``available()`` says whether a C++ compiler is present; tests skip without one.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np

_CACHE_DIR = os.path.join(tempfile.gettempdir(), f"minigrad-kernels-{os.getuid()}")
_loaded: dict[tuple[str, str], object] = {}
_PRELUDE = """#include <cmath>
#include <algorithm>
using std::sqrt; using std::max; using std::min; using std::fabs; using std::exp;
using std::log; using std::pow; using std::copysign;
"""


def compiler():
    return shutil.which("g++") or shutil.which("c++")


def available() -> bool:
    return compiler() is not None


def source(update, ctype: str) -> str:
    """The C++ function ``update.name`` running ``update.body`` over every entry."""
    params = ["long _n"]
    params += [f"const {ctype}* _in_{name}" for name in update.reads]
    params += [f"const {ctype} {name}" for name in update.scalars]
    params += [f"{ctype}* _out_{name}" for name in update.writes]
    loads = [f"const T {name} = _in_{name}[_i];" for name in update.reads]
    loads += [f"T& {name} = _out_{name}[_i];" for name in update.writes]
    return (f"extern \"C\" void {update.name}({', '.join(params)}) {{\n"
            f"  typedef {ctype} T;\n  for (long _i = 0; _i < _n; ++_i) {{\n    "
            + "\n    ".join(loads) + f"\n    {{ {update.body} }}\n  }}\n}}\n")


def _compile(updates, ctype: str) -> None:
    """Compile ``updates`` into one library (one compiler run) and load their functions."""
    code = _PRELUDE + "\n".join(source(u, ctype) for u in updates)
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    os.makedirs(_CACHE_DIR, exist_ok=True)
    path = os.path.join(_CACHE_DIR, f"kernels_{ctype}_{digest}.so")
    if not os.path.exists(path):
        cpp = path[:-3] + ".cpp"
        with open(cpp, "w") as f:
            f.write(code)
        partial = f"{path}.{os.getpid()}"
        subprocess.run([compiler(), "-O1", "-std=c++17", "-ffp-contract=off", "-fno-fast-math",
                        "-shared", "-fPIC", cpp, "-o", partial], check=True,
                       capture_output=True, text=True)
        os.replace(partial, path)
    library = ctypes.CDLL(path)
    for u in updates:
        function = getattr(library, u.name)
        function.restype = None
        _loaded[(u.name + u.body, ctype)] = function


def _function(update, ctype: str):
    """The compiled ``update``: at the first call, every declared kernel not compiled yet is
    compiled with it, in one run of the compiler."""
    key = (update.name + update.body, ctype)
    if key not in _loaded:
        from minigrad import kernels
        batch = {u.name: u for u in kernels.ElementwiseKernel.registry
                 if (u.name + u.body, ctype) not in _loaded}
        batch[update.name] = update  # this one's body, if a test changed it
        _compile(list(batch.values()), ctype)
    return _loaded[key]


def run(update, arrays, scalars) -> None:
    arrays = [np.asarray(a) for a in arrays]  # 0-d results of NumPy arithmetic are scalars
    first = arrays[len(update.reads)]
    ctype = {np.dtype("float32"): "float", np.dtype("float64"): "double"}[first.dtype]
    scalar_type = ctypes.c_float if ctype == "float" else ctypes.c_double
    for a in arrays:
        assert a.dtype == first.dtype, (update.name, a.dtype)
    for a in arrays[len(update.reads):]:
        assert a.shape == first.shape, (update.name, a.shape)
    # the arrays read are broadcast against the written ones, as CuPy broadcasts them
    dense = [np.ascontiguousarray(np.broadcast_to(a, first.shape))
             for a in arrays[:len(update.reads)]]
    dense += [np.ascontiguousarray(a) for a in arrays[len(update.reads):]]
    fn = _function(update, ctype)
    fn(ctypes.c_long(first.size), *[ctypes.c_void_p(d.ctypes.data) for d in
                                     dense[:len(update.reads)]],
       *[scalar_type(float(s)) for s in scalars],
       *[ctypes.c_void_p(d.ctypes.data) for d in dense[len(update.reads):]])
    for a, d in zip(arrays[len(update.reads):], dense[len(update.reads):]):
        if d is not a:
            a[...] = d


@contextlib.contextmanager
def kernels_on_the_host():
    """Inside, the kernels (minigrad.kernels) run on NumPy arrays through the host compiler;
    yields the count of launches per kernel."""
    from minigrad import kernels
    kernels.launches.clear()
    kernels.host_runner = run
    try:
        yield kernels.launches
    finally:
        kernels.host_runner = None
