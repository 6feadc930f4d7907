"""The one module that owns the array libraries.

NumPy computes on ``"cpu"``, CuPy on ``"cuda"``. Everything else in minigrad asks this
module for the array module of a device (:func:`xp`) instead of importing NumPy or CuPy,
so switching a model to the GPU is a change of one string. CuPy is imported lazily: a
machine without it runs everything on the CPU and only a request for ``"cuda"`` fails,
with one message that says what to install.
"""
from __future__ import annotations

import contextlib
import json
import operator
import os
import secrets
import sys
import threading
import warnings
from types import FrameType, ModuleType
from typing import Any, Iterator, Sequence

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

    # PyTorch's device.index, a property, deliberately shadows str.index
    @property
    def index(self) -> int | None:  # type: ignore[override]
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
        try:  # the optional extra "gpu": absent, or untyped
            import cupy  # type: ignore[import-not-found, import-untyped]
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
    """``array`` on ``device`` (no copy when it already lives there).

    A copy to the host waits for the GPU, so it is also where deferred checks are examined
    (see :func:`defer_check`), as is every read of a tensor's values on the host."""
    if device == "cpu":
        if _pending_checks:
            flush_deferred_checks()
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
        import cupyx  # type: ignore[import-not-found, import-untyped]  # CuPy's, as above
        cupyx.scatter_add(out, index, values)


def as_dtype(dtype: Any) -> numpy.dtype:
    """``dtype`` as a NumPy dtype object, with a clear error for what is not one."""
    try:
        result = numpy.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype (use mg.float32, mg.float64, mg.int64, ...)") from None
    if result.kind not in "biufc":  # numpy.dtype(list) is object, numpy.dtype(str) a string
        raise TypeError(f"invalid dtype: {dtype!r} is not a dtype of numbers (use mg.float32, "
                        "mg.float64, mg.int64, ...)")
    return result


# --- checks deferred to the next synchronisation ------------------------------------------
#
# A check that reads an array's values on the host (``int(t.min())``) makes the host wait,
# on the GPU, for every queued kernel and copy the value back: a hidden round trip on every
# call. Where that would happen (on "cuda"), the check is computed on the device instead, as
# a 0-d boolean array that is true when it failed, and handed to defer_check. Pending checks
# are examined where the host waits for the device anyway: any copy to the host (to_device,
# hence Tensor.numpy(), .tolist(), repr(), .to("cpu")), mg.cuda.synchronize(), and whatever
# calls flush_deferred_checks(); the first failed one raises there, with the message of the
# call that failed and the place that call was made. CUDA's device-side asserts (PyTorch's)
# are reported late in the same way. On "cpu" reading a value costs nothing, so checks run at
# the call, as they always have, unless force_deferred_checks() asks for the deferred path
# (which is how it is tested on a machine without a GPU).

MAX_PENDING_CHECKS = 256  # more pending than this: they are examined (one wait)
_pending_checks: list[tuple[Any, type[BaseException], Any, tuple[str, int, dict]]] = []
_pending_lock = threading.Lock()
# The devices whose checks are deferred: "cuda", and "cpu" inside force_deferred_checks()
# (which alone changes the set). ``device in backend.deferring_devices`` is the question
# the losses ask on every call, without the cost of a function call.
deferring_devices: set[str] = {"cuda"}
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def defers_checks(device: str) -> bool:
    """True where a check that reads values of arrays on ``device`` is deferred (computed on
    the device and examined at the next synchronisation): on "cuda", and on "cpu" inside
    :func:`force_deferred_checks`."""
    return device in deferring_devices


def defer_check(failed: Any, category: type[BaseException], message: Any) -> None:
    """Register a check that ran on the device: ``failed`` is a 0-d boolean array (any
    device), true when it failed. Nothing is read now. At the next synchronisation (see
    :func:`flush_deferred_checks`) a failed check raises ``category(message)`` (``message`` a
    string, or a callable returning one, which may read arrays: it runs only on failure),
    or warns with it when ``category`` is a Warning, adding where the failing call was made.
    """
    entry = (failed, category, message, _caller())
    with _pending_lock:
        _pending_checks.append(entry)
        full = len(_pending_checks) > MAX_PENDING_CHECKS
    if full:  # a program that never reads a value: examine them, rather than hold them all
        flush_deferred_checks()


def flush_deferred_checks(also: Sequence[Any] = ()) -> list[bool]:
    """Examine every pending deferred check (one wait for the device and one copy of all
    their flags) and forget them; issue the warnings of the failed ones and raise the error
    of the first failed one, if any. Cheap when nothing is pending.

    ``also``: more 0-d boolean arrays (a caller's own flags, such as an optimizer's "some
    gradient is not finite") read in the same copy; their host values are returned, in
    order, when no check failed. The copy is then the caller's one synchronisation."""
    global _pending_checks
    if not _pending_checks:
        return _read_flags([(flag,) for flag in also]) if also else []
    with _pending_lock:
        pending, _pending_checks = _pending_checks, []
    flags = _read_flags([*pending, *((flag,) for flag in also)])
    error, more = None, 0
    for (_, category, message, (path, line, where)), bad in zip(pending, flags):
        if not bad:
            continue
        text = (f"{message() if callable(message) else message} (this check ran on the "
                f"device, so it is reported at the first synchronisation after the call, "
                f"which was made at {path}:{line})")
        if issubclass(category, Warning):  # attributed to the call that failed
            warnings.warn_explicit(text, category, path, line, where.get("__name__"),
                                   where.setdefault("__warningregistry__", {}))
        elif error is None:
            error = category(text)
        else:
            more += 1
    if error is not None:
        if more:
            error.args = (f"{error.args[0]}; {more} more deferred check"
                          f"{'s' if more > 1 else ''} failed as well",) + error.args[1:]
        raise error
    return flags[len(pending):]


def discard_deferred_checks() -> int:
    """Forget the pending deferred checks without examining them; returns how many there
    were."""
    global _pending_checks
    with _pending_lock:
        pending, _pending_checks = _pending_checks, []
    return len(pending)


def pending_deferred_checks() -> int:
    """How many deferred checks wait for the next synchronisation."""
    return len(_pending_checks)


@contextlib.contextmanager
def force_deferred_checks(enabled: bool = True) -> Iterator[None]:
    """Within the block, checks on "cpu" arrays are deferred as they are on "cuda" (with
    ``enabled=False``: run at the call, as usual). For tests of the deferred path without a
    GPU. Leaving the block is a synchronisation: checks still pending are examined then, or
    discarded when the block ends with an exception."""
    before = "cpu" in deferring_devices
    (deferring_devices.add if enabled else deferring_devices.discard)("cpu")
    try:
        yield
    except BaseException:
        discard_deferred_checks()
        raise
    else:
        flush_deferred_checks()
    finally:
        (deferring_devices.add if before else deferring_devices.discard)("cpu")


def _caller() -> tuple[str, int, dict]:
    """The file, line and module globals of the innermost call from outside minigrad (or of
    the outermost call in minigrad, for a program run from it, as ``python -m
    minigrad.train``)."""
    frame: FrameType | None
    frame = inner = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        inner, frame = frame, frame.f_back
    if frame is None or frame.f_code.co_filename.startswith("<frozen"):
        frame = inner
    return frame.f_code.co_filename, frame.f_lineno, frame.f_globals


def _read_flags(pending: list[tuple[Any, ...]]) -> list[bool]:
    """The host's view of the flags of ``pending``: those on the device in one copy."""
    values, on_device = [], []
    for i, (flag, *_) in enumerate(pending):
        if isinstance(flag, (bool, numpy.bool_, numpy.ndarray)):
            values.append(bool(flag))
        else:
            values.append(False)
            on_device.append(i)
    if on_device:
        cupy = _load_cupy()
        read = cupy.asnumpy(cupy.stack([pending[i][0].reshape(()) for i in on_device]))
        for i, value in zip(on_device, read):
            values[i] = bool(value)
    return values


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
#
# One generator per device, made on first use from the global seed. A generator's state is
# a 1-D uint8 array, as PyTorch's ``get_rng_state`` returns a ByteTensor: a JSON header
# (format, device, the bit generator's state), a NUL byte, then raw bytes where the state
# is an opaque device buffer (CuPy's). It is an ordinary array, so ``mg.save`` stores it.

SEED_RANGE = (-(2 ** 63), 2 ** 64 - 1)  # PyTorch's; a negative seed counts back from 2**64
_RNG_FORMAT = "minigrad-rng-v1"
_HOST_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")

_seed: int | None = None
_generators: dict[str, Any] = {}


def check_seed(seed: Any) -> int:
    """``seed`` as an int in [0, 2**64), as PyTorch reads seeds (negative ones wrap)."""
    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)
    try:
        value = operator.index(seed)
    except TypeError:
        raise TypeError(f"a seed must be an int, got {type(seed).__name__} {seed!r}") from None
    low, high = SEED_RANGE
    if not low <= value <= high:
        raise ValueError(f"a seed must be in [{low}, {high}], got {value}")
    return value % 2 ** 64


def fresh_seed() -> int:
    """A seed from the operating system's entropy (what an unseeded program runs with)."""
    return secrets.randbits(64)


def manual_seed(seed: int) -> None:
    """Seed every device's random generator, so runs repeat exactly."""
    global _seed
    _seed = check_seed(seed)
    _generators.clear()


def initial_seed() -> int:
    """The seed of the global generators: the last :func:`manual_seed`, or the one drawn
    from the operating system when a program never seeds."""
    global _seed
    if _seed is None:
        _seed = fresh_seed()
    return _seed


def new_generator(device: str, seed: int) -> Any:
    """A fresh ``numpy``/``cupy`` ``Generator`` on ``device`` seeded with ``seed``."""
    return xp(device).random.default_rng(check_seed(seed))


def generator(device: str) -> Any:
    """The random generator of ``device`` (a ``numpy``/``cupy`` ``Generator``)."""
    gen = _generators.get(device)
    if gen is None:
        gen = _generators[device] = new_generator(device, initial_seed())
    return gen


def get_rng_state(device: Any = "cpu") -> numpy.ndarray:
    """The state of ``device``'s global generator, as a uint8 array (PyTorch's name)."""
    device = normalize_device(device)
    return generator_state(generator(device), device)


def set_rng_state(state: Any, device: Any = "cpu") -> None:
    """Restore ``device``'s global generator to ``state`` (from :func:`get_rng_state`), so
    the draws that followed it then repeat exactly."""
    device = normalize_device(device)
    _generators[device] = set_generator_state(generator(device), state, device)


def generator_state(gen: Any, device: str) -> numpy.ndarray:
    """The state of the ``numpy``/``cupy`` generator ``gen`` of ``device``, as uint8."""
    if device == "cpu":
        header = {"format": _RNG_FORMAT, "device": "cpu",
                  "state": _to_json(gen.bit_generator.state)}
        payload = b""
    else:
        bit_generator = gen.bit_generator
        raw = getattr(bit_generator, "_state", None)
        if raw is None or not hasattr(raw, "nbytes"):
            raise NotImplementedError(
                f"this CuPy's {type(bit_generator).__name__} generator does not expose its "
                "state; get_rng_state(\"cuda\") needs CuPy's Generator API (CuPy >= 9)")
        header = {"format": _RNG_FORMAT, "device": "cuda",
                  "bit_generator": type(bit_generator).__name__, "nbytes": int(raw.nbytes)}
        payload = to_numpy(raw).tobytes()
    encoded = json.dumps(header, separators=(",", ":")).encode("ascii") + b"\0" + payload
    return numpy.frombuffer(encoded, dtype=uint8).copy()


def set_generator_state(gen: Any, state: Any, device: str) -> Any:
    """Put ``state`` (from :func:`generator_state`) into ``gen``; returns the generator to use
    from now on (``gen`` itself, or a new one where the state is of another bit generator)."""
    header, payload = _parse_state(state, device)
    if device == "cpu":
        bit_state = _from_json(header["state"])
        name = bit_state.get("bit_generator") if isinstance(bit_state, dict) else None
        if name not in _HOST_BIT_GENERATORS:
            raise ValueError(f"RNG state of an unknown bit generator {name!r}")
        if type(gen.bit_generator).__name__ != name:
            gen = numpy.random.Generator(getattr(numpy.random, name)())
        try:
            gen.bit_generator.state = bit_state
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"corrupt RNG state for {name}: {exc}") from None
        return gen
    bit_generator = gen.bit_generator
    raw = getattr(bit_generator, "_state", None)
    if header.get("bit_generator") != type(bit_generator).__name__ or raw is None \
            or header.get("nbytes") != raw.nbytes or len(payload) != raw.nbytes:
        raise ValueError(f"RNG state of a {header.get('bit_generator')} generator of "
                         f"{header.get('nbytes')} bytes does not fit this GPU's "
                         f"{type(bit_generator).__name__} generator"
                         f"{'' if raw is None else f' of {raw.nbytes} bytes'}")
    raw[...] = xp(device).asarray(numpy.frombuffer(payload, dtype=raw.dtype))
    return gen


def _parse_state(state: Any, device: str) -> tuple[dict[str, Any], bytes]:
    if hasattr(state, "array") and not is_array(state):  # a Tensor
        state = state.array
    if is_array(state):
        if state.dtype != uint8 or state.ndim != 1:
            raise TypeError(f"an RNG state is a 1-D uint8 array or tensor (as get_rng_state "
                            f"returns), got {state.dtype} of shape {tuple(state.shape)}")
        data = to_numpy(state).tobytes()
    elif isinstance(state, (bytes, bytearray)):
        data = bytes(state)
    else:
        raise TypeError(f"an RNG state is a uint8 tensor or array (as get_rng_state returns), "
                        f"got {type(state).__name__}")
    text, _, payload = data.partition(b"\0")
    try:
        header = json.loads(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict) or header.get("format") != _RNG_FORMAT:
        raise ValueError(f"not an RNG state made by get_rng_state ({len(data)} bytes that do "
                         "not start with its header)")
    if header.get("device") != device:
        raise ValueError(f"this is the RNG state of a {header.get('device')!r} generator; it "
                         f"cannot be set on {device!r}")
    return header, payload


def _to_json(value: Any) -> Any:
    """A bit generator's state (dicts of ints, strings and arrays) as JSON-ready data."""
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, numpy.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, numpy.generic):
        return value.item()
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return numpy.asarray(value["__ndarray__"], dtype=numpy.dtype(value["dtype"]))
        return {k: _from_json(v) for k, v in value.items()}
    return value


if os.environ.get("MINIGRAD_DEVICE"):
    _default_device = normalize_device(os.environ["MINIGRAD_DEVICE"])
