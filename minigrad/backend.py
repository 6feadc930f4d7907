"""The one module that owns the array libraries.

NumPy computes on ``"cpu"``, CuPy on ``"cuda"``. Everything else in minigrad asks this
module for the array module of a device (:func:`xp`) instead of importing NumPy or CuPy,
so switching a model to the GPU is a change of one string. CuPy is imported lazily: a
machine without it runs everything on the CPU and only a request for ``"cuda"`` fails,
with one message that says what to install.
"""
from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import numpy

from minigrad.errors import DeviceError

# dtypes are NumPy's dtype objects; CuPy uses the same ones.
float16 = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int8 = numpy.dtype("int8")
int16 = numpy.dtype("int16")
int32 = numpy.dtype("int32")
int64 = numpy.dtype("int64")
uint8 = numpy.dtype("uint8")
bool_ = numpy.dtype("bool")
FLOAT_DTYPES = (float16, float32, float64)

DEVICES = ("cpu", "cuda")


class device(str):
    """A device, as ``mg.device("cuda")`` names it; it is also the string ``"cpu"`` or
    ``"cuda"``, so it compares and hashes like one (``t.device == "cpu"``).

    minigrad drives one GPU, so ``"cuda:0"`` means ``"cuda"`` and ``index`` is 0 there.
    """

    def __new__(cls, type: Any, index: int | None = None) -> "device":
        return _DEVICE_OBJECTS[_device_name(type, index)]

    @property
    def type(self) -> str:
        return str.__str__(self)

    @property
    def index(self) -> int | None:
        return 0 if self == "cuda" else None

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"

    def __str__(self) -> str:
        return str.__str__(self)

    def __reduce__(self) -> tuple:
        return (device, (str.__str__(self),))


def _device_name(type: Any, index: int | None) -> str:
    name = str(type)
    if name in DEVICES and (index is None or (name == "cuda" and index == 0)):
        return name
    if name in ("cuda:0", "gpu") and index is None:
        return "cuda"
    if name.startswith("cuda") or (name == "cuda" and index):
        raise ValueError(f"device {name!r}{'' if index is None else f' index {index}'}: minigrad "
                         "drives one GPU, 'cuda' (or 'cuda:0')")
    raise ValueError(f"unknown device {type!r}: expected 'cpu' or 'cuda'")


_DEVICE_OBJECTS = {name: str.__new__(device, name) for name in DEVICES}
CPU = _DEVICE_OBJECTS["cpu"]
CUDA = _DEVICE_OBJECTS["cuda"]
HOST_SCALAR = numpy.generic  # what NumPy returns from 0-d arithmetic instead of an array

_cupy: ModuleType | None = None
_default_dtype = float32
_default_device = CPU


def _load_cupy() -> ModuleType:
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError:
            raise DeviceError(
                "device 'cuda' needs CuPy, which is not installed. Install the GPU extra with "
                "pip install -e \".[gpu]\" (or the cupy-cudaXXx wheel matching your CUDA), "
                "or use device='cpu'.") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver missing or broken
            raise DeviceError(f"CuPy is installed but no CUDA GPU can be used ({exc}); "
                              "use device='cpu'.") from None
        if count == 0:
            raise DeviceError("CuPy is installed but no CUDA GPU is present; use device='cpu'.")
        _cupy = cupy
    return _cupy


def cuda_is_available() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    try:
        _load_cupy()
    except DeviceError:
        return False
    return True


def xp(device: str) -> ModuleType:
    """The array module (numpy or cupy) that computes on ``device``."""
    return numpy if device == "cpu" else _load_cupy()


def normalize_device(device: Any = None) -> device:
    """A device name or object checked and reduced to ``"cpu"`` or ``"cuda"`` (None: the
    default), as a :class:`device`."""
    if device is None:
        return _default_device
    found = _DEVICE_OBJECTS.get(device) if isinstance(device, str) else None
    return found if found is not None else _DEVICE_OBJECTS[_device_name(device, None)]


def device_count() -> int:
    """How many CUDA GPUs CuPy sees (0 without CuPy)."""
    try:
        return int(_load_cupy().cuda.runtime.getDeviceCount())
    except DeviceError:
        return 0


def device_of(array: Any) -> device:
    """The device an array lives on."""
    if isinstance(array, numpy.ndarray) or numpy.isscalar(array):
        return CPU
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return CUDA
    if type(array).__module__.startswith("cupy"):
        _load_cupy()
        return CUDA
    return CPU


def is_array(obj: Any) -> bool:
    """True for a NumPy or CuPy ndarray."""
    return isinstance(obj, numpy.ndarray) or (_cupy is not None and isinstance(obj, _cupy.ndarray))


def to_device(array: Any, device: str) -> Any:
    """``array`` on ``device`` (no copy when it already lives there)."""
    if device == "cpu":
        return array if isinstance(array, numpy.ndarray) else _load_cupy().asnumpy(array)
    return _load_cupy().asarray(array)


def to_numpy(array: Any) -> numpy.ndarray:
    """A host (NumPy) view or copy of ``array``."""
    return to_device(array, "cpu")


def scatter_add(out: Any, index: Any, values: Any) -> None:
    """``out[index] += values`` where repeated indices accumulate (unbuffered)."""
    if isinstance(out, numpy.ndarray):
        numpy.add.at(out, index, values)
    else:
        import cupyx
        cupyx.scatter_add(out, index, values)


def as_dtype(dtype: Any) -> numpy.dtype:
    """``dtype`` as a NumPy dtype object, with a clear error for what is not one."""
    try:
        return numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype (use mg.float32, mg.float64, mg.int64, ...)") from None


# --- defaults -----------------------------------------------------------------------------

def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that floating-point tensors are created with (float32 or float64)."""
    global _default_dtype
    dtype = as_dtype(dtype)
    if dtype not in (float32, float64):
        raise TypeError(f"the default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def get_default_dtype() -> numpy.dtype:
    return _default_dtype


def set_default_device(device: str) -> None:
    """Set the device new tensors are created on when none is named."""
    global _default_device
    device = normalize_device(device)
    xp(device)  # fail now, with the install hint, rather than at the first tensor
    _default_device = device


def get_default_device() -> device:
    return _default_device


# --- random numbers -----------------------------------------------------------------------

_seed: int | None = None
_generators: dict[str, Any] = {}


def manual_seed(seed: int) -> None:
    """Seed every device's random generator, so runs repeat exactly."""
    global _seed
    _seed = int(seed)
    _generators.clear()


def generator(device: str) -> Any:
    """The random generator of ``device`` (a ``numpy``/``cupy`` ``Generator``)."""
    gen = _generators.get(device)
    if gen is None:
        gen = _generators[device] = xp(device).random.default_rng(_seed)
    return gen


if os.environ.get("MINIGRAD_DEVICE"):
    _default_device = normalize_device(os.environ["MINIGRAD_DEVICE"])
