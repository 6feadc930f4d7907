"""A census of hostile and faulty calls to minigrad's public API ("Nothing silent, nothing lost").

Every case is one small call (``fn``) with what PyTorch's semantics make of it:

* ``works``: the call must succeed, with the given value / shape / dtype (or pass ``check``),
  emit any warning named in ``warns``, and leak no NumPy ``RuntimeWarning``.
* ``error``: the call must raise, from a frame inside the minigrad package, an exception whose
  message contains every one of ``words`` (case-insensitive; a tuple entry means "any of
  these"), of the type ``exc`` when one is given.
* ``either``: both are acceptable (PyTorch raises where minigrad may give the right answer).

Each outcome is classified automatically:

* ``ok``: as expected.
* ``unclear``: it raised, but the message misses the expected words, or the exception is not
  minigrad's own: raised in NumPy / CuPy / the standard library (the traceback's last frame
  is outside minigrad), of a NumPy exception type, with a NumPy message passed through, or an
  internal crash (AttributeError, KeyError, ZeroDivisionError... from inside minigrad).
* ``warns``: a ``works`` case whose result is right (PyTorch's NaN or inf) but which also shows
  NumPy's ``RuntimeWarning`` ("invalid value encountered in log"). Accepted, by decision: the
  result is PyTorch's and nothing is silent; silencing NumPy per op would cost a context
  manager on every op. Counted apart, so the table shows how many.
* ``silent``: an error was expected but the call worked, or it worked with a wrong value,
  shape or dtype, an unexpected NaN, or without a warning that was expected.
* ``refused``: the call should work (it does in PyTorch) but raised.
* ``skipped``: the case does not apply on this machine (the "no GPU" cases where one is).

``python -m tests.robustness.census`` prints the counts and every case that is not ok.
"""
from __future__ import annotations

import dataclasses
import io
import math
import os
import re
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter, defaultdict
from typing import Any, Callable

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, optim
from minigrad.optim import lr_scheduler
from minigrad.utils import data as udata

PACKAGE_DIR = os.path.dirname(os.path.abspath(mg.__file__)) + os.sep
THIS_FILE = os.path.abspath(__file__)

_UNSET = object()

# Messages that NumPy (or Python itself, on NumPy's behalf) writes: passed through to the user
# they are not minigrad's own, even when minigrad's frame re-raises them.
NUMPY_MESSAGES = [
    r"operands could not be broadcast together", r"could not broadcast input array",
    r"is out of bounds for axis", r"out of bounds for array of dimension",
    r"too many indices for array", r"numpy\.newaxis", r"boolean index did not match",
    r"arrays used as indices must be", r"setting an array element with a sequence",
    r"inhomogeneous", r"cannot reshape array of size", r"ufunc '", r"cannot cast ufunc",
    r"duplicate value in 'axis'", r"repeated axis", r"not aligned",
    r"mismatch in its core dimension", r"axes don't match array", r"data type .* not understood",
    r"object arrays cannot be loaded", r"negative dimensions are not allowed",
    r"maximum supported dimension", r"array is \d+-dimensional",
    r"zero-size array to reduction operation", r"attempt to get arg\w+ of an empty sequence",
    r"object cannot be interpreted as an integer",
    r"python int(eger)? .*(too large|out of bounds)", r"cannot convert float nan to integer",
    r"cannot convert float infinity to integer", r"maximum allowed size exceeded",
    r"number of samples, -?\d+, must be non-negative", r"kth\(=",
    r"array split does not result in an equal division",
    r"need at least one array to (concatenate|stack)", r"all the input array dimensions",
    r"all input arrays must have the same shape", r"must have same number of dimensions",
    r"index -?\d+ is out of bounds for size", r"invalid entry in index array",
    r"the truth value of an array", r"numpy boolean (subtract|negative)",
    r"not supported for the input types", r"'numpy\.", r"dtype\('",
    r"could not convert string to float", r"invalid literal for int\(\)",
    r"when allow_pickle=false",
]
_NUMPY_RE = re.compile("|".join(f"(?:{p})" for p in NUMPY_MESSAGES), re.IGNORECASE)

# Python's own messages for a call that does not fit the signature or an operator's operands.
_PYTHON_CALL_RE = re.compile(r"^(unsupported operand type|bad operand type|.*\(\) got an "
                             r"unexpected keyword argument|.*\(\) missing \d+ required|"
                             r".*\(\) takes .* positional argument)")

# Exception types that, raised from inside minigrad, mean it crashed rather than checked.
INTERNAL_CRASHES = (AttributeError, NameError, UnboundLocalError, ZeroDivisionError,
                    AssertionError, RecursionError, KeyError, StopIteration, OverflowError,
                    UnicodeDecodeError)


@dataclasses.dataclass
class Case:
    name: str                   # unique id: "area/what"
    description: str            # the call and what is hostile about it
    fn: Callable[[], Any]
    expect: str                 # "works", "error" or "either"
    words: tuple = ()           # error: the message must contain each (a tuple: any of them)
    exc: Any = None             # error: the exception type(s) required (None: any Exception)
    value: Any = _UNSET         # works: the expected value (compared with NaN == NaN)
    shape: Any = None           # works: the expected shape of the result
    dtype: Any = None           # works: the expected dtype of the result
    check: Callable[[Any], Any] | None = None  # works: True, or a string saying what is wrong
    warns: tuple = ()           # works: a warning whose message contains each of these
    needs_no_gpu: bool = False  # the case is about a machine without a usable GPU

    @property
    def area(self) -> str:
        return self.name.split("/", 1)[0]


@dataclasses.dataclass
class Outcome:
    case: Case
    status: str                 # ok, unclear, silent, refused, skipped
    detail: str                 # what actually happened

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "warns", "skipped")


CASES: list[Case] = []
STATUSES = ("ok", "warns", "unclear", "silent", "refused", "skipped")


def _add(case: Case) -> Case:
    if any(c.name == case.name for c in CASES):
        raise ValueError(f"duplicate census case name {case.name!r}")
    CASES.append(case)
    return case


def works(name: str, description: str, fn: Callable[[], Any], value: Any = _UNSET, *,
          shape: Any = None, dtype: Any = None, check: Callable[[Any], Any] | None = None,
          warns: tuple = ()) -> Case:
    return _add(Case(name, description, fn, "works", value=value, shape=shape, dtype=dtype,
                     check=check, warns=tuple(warns)))


def error(name: str, description: str, fn: Callable[[], Any], *words: Any, exc: Any = None,
          needs_no_gpu: bool = False) -> Case:
    return _add(Case(name, description, fn, "error", words=words, exc=exc,
                     needs_no_gpu=needs_no_gpu))


def either(name: str, description: str, fn: Callable[[], Any], *words: Any, value: Any = _UNSET,
           shape: Any = None, dtype: Any = None, check: Callable[[Any], Any] | None = None,
           exc: Any = None) -> Case:
    return _add(Case(name, description, fn, "either", words=words, exc=exc, value=value,
                     shape=shape, dtype=dtype, check=check))


def no_gpu(name: str, description: str, fn: Callable[[], Any], *words: Any) -> Case:
    """A request for the GPU on a machine without one: a clear mg.DeviceError."""
    return error(name, description, fn, *(words or ("cuda",)), exc=mg.DeviceError,
                 needs_no_gpu=True)


def shp(*dims: int) -> tuple[str, ...]:
    """A shape as a message may write it: (2, 3), [2, 3] or 2x3."""
    forms = [str(tuple(dims)), str(list(dims))]
    if len(dims) > 1:
        forms.append("x".join(map(str, dims)))
    return tuple(forms)


def arg(name: str) -> tuple[str, ...]:
    """A (short) argument name as a message names it: "p must", "p=", "'p'", "k: "..."""
    return (f" {name} ", f"{name}=", f"'{name}'", f"{name} must", f"{name}:", f"({name}",
            f"{name} =", f"{name} (")


# --- classification -----------------------------------------------------------------------

def _short(obj: Any, limit: int = 160) -> str:
    try:
        text = repr(obj)
    except Exception as exc:  # noqa: BLE001 - a broken repr is itself worth reporting
        text = f"<repr failed: {type(exc).__name__}: {exc}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _exc_text(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {' '.join(str(exc).split())}" \
        if type(exc).__module__ not in ("builtins",) else \
        f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _where_raised(exc: BaseException) -> tuple[str, str]:
    """('minigrad' | 'case' | 'outside', 'file:line') of the innermost traceback frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "outside", "?"
    last = frames[-1]
    path = os.path.abspath(last.filename)
    where = f"{os.path.relpath(path) if path.startswith(os.getcwd()) else path}:{last.lineno}"
    if path.startswith(PACKAGE_DIR):
        return "minigrad", where
    if path == THIS_FILE:
        return "case", where
    return "outside", where


def _missing_words(message: str, words: tuple) -> list[str]:
    text = " ".join(message.split()).lower()
    missing = []
    for word in words:
        options = word if isinstance(word, tuple) else (word,)
        if not any(str(o).lower() in text for o in options):
            missing.append(" or ".join(repr(str(o)) for o in options))
    return missing


def classify_error(case: Case, exc: BaseException) -> tuple[str, str]:
    where, location = _where_raised(exc)
    text = _exc_text(exc)
    message = str(exc)
    if isinstance(exc, KeyError) and exc.args:
        message = str(exc.args[0])
    if where == "case" and isinstance(exc, TypeError) and _PYTHON_CALL_RE.search(message):
        # Python's own check at the public call: operator dispatch after minigrad returned
        # NotImplemented, or the binding of arguments to the signature (as for PyTorch).
        where = "minigrad"
    if where != "minigrad":
        return "unclear", f"raised outside minigrad at {location}: {text}"
    module = type(exc).__module__.split(".")[0]
    if module in ("numpy", "cupy", "cupyx"):
        return "unclear", f"a {module} exception type at {location}: {text}"
    expected_types = case.exc if isinstance(case.exc, tuple) else ((case.exc,) if case.exc else ())
    if isinstance(exc, INTERNAL_CRASHES) and not isinstance(exc, expected_types):
        return "unclear", f"internal crash at {location}: {text}"
    numpy_text = _NUMPY_RE.search(message)
    if numpy_text and len(message[:numpy_text.start()].strip()) < 5:
        return "unclear", f"NumPy's own message at {location}: {text}"
    if expected_types and not isinstance(exc, expected_types):
        names = " or ".join(t.__name__ for t in expected_types)
        return "unclear", f"expected {names}, got {text} (at {location})"
    missing = _missing_words(message, case.words)
    if missing:
        numpy_note = " (with NumPy's message inside)" if numpy_text else ""
        return "unclear", (f"message lacks {', '.join(missing)}{numpy_note}: {text} "
                           f"(at {location})")
    return "ok", text


def _as_array(result: Any) -> Any:
    if isinstance(result, mg.Tensor):
        return result.numpy()
    if isinstance(result, (tuple, list)) and result and \
            all(isinstance(r, mg.Tensor) for r in result):
        return [r.numpy() for r in result]
    return result


def _has_nan(result: Any) -> bool:
    if isinstance(result, mg.Tensor):
        return result.dtype.kind == "f" and bool(np.isnan(result.numpy()).any())
    if isinstance(result, (tuple, list)):
        return any(_has_nan(r) for r in result)
    if isinstance(result, float):
        return math.isnan(result)
    return False


def _compare(expected: Any, actual: Any) -> str | None:
    """None when ``actual`` (a result) equals ``expected``; else what differs."""
    if isinstance(expected, (list, tuple)) and expected and isinstance(actual, (list, tuple)) \
            and any(isinstance(a, (np.ndarray, mg.Tensor)) for a in actual):
        if len(expected) != len(actual):
            return f"expected {len(expected)} results, got {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            diff = _compare(e, a)
            if diff:
                return f"result {i}: {diff}"
        return None
    actual = _as_array(actual)
    if expected is None or isinstance(expected, (str, bool)) and not isinstance(actual, np.ndarray):
        return None if actual == expected else f"expected {expected!r}, got {_short(actual)}"
    try:
        want = np.asarray(expected)
        got = np.asarray(actual)
    except Exception:  # noqa: BLE001
        return f"expected {_short(expected)}, got {_short(actual)}"
    if got.dtype == object:
        return f"expected {_short(expected)}, got {_short(actual)}"
    if want.shape != got.shape:
        return f"expected shape {want.shape}, got shape {got.shape}: {_short(actual)}"
    if want.dtype.kind in "USO" or got.dtype.kind in "USO":
        same = want.dtype.kind == got.dtype.kind and np.array_equal(want, got)
    elif want.dtype.kind in "biu" and got.dtype.kind in "biu":
        same = np.array_equal(want, got)
    else:
        try:
            same = np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-5,
                               atol=1e-6, equal_nan=True)
            both_inf = np.isinf(want) == np.isinf(got)
            same = same and bool(np.all(both_inf))
        except (TypeError, ValueError):
            same = False
    return None if same else f"expected {_short(want.tolist())}, got {_short(got.tolist())}"


def classify_result(case: Case, result: Any, caught: list) -> tuple[str, str]:
    if case.shape is not None:
        shape = getattr(result, "shape", None)
        if shape is None or tuple(shape) != tuple(case.shape):
            return "silent", f"expected shape {tuple(case.shape)}, got {_short(result)}"
    if case.dtype is not None:
        dtype = getattr(result, "dtype", None)
        if dtype is None or np.dtype(dtype) != np.dtype(case.dtype):
            return "silent", f"expected dtype {np.dtype(case.dtype)}, got {dtype}: {_short(result)}"
    if case.value is not _UNSET:
        diff = _compare(case.value, result)
        if diff:
            return "silent", diff
    if case.check is not None:
        verdict = case.check(result)
        if verdict is not True:
            return "silent", (verdict if isinstance(verdict, str) else
                              f"check failed on {_short(result)}")
    elif case.value is _UNSET and _has_nan(result):
        return "silent", f"NaN in the result: {_short(result)}"
    messages = [str(w.message) for w in caught]
    for word in case.warns:
        options = word if isinstance(word, tuple) else (word,)
        if not any(any(str(o).lower() in m.lower() for o in options) for m in messages):
            return "silent", (f"no warning mentioning {' or '.join(map(repr, options))} "
                              f"(warnings: {messages or 'none'}); result {_short(result)}")
    for w in caught:
        filename = os.path.abspath(w.filename or "")
        leaked = issubclass(w.category, RuntimeWarning) and (
            "encountered in" in str(w.message) or "numpy" in filename.split(os.sep))
        if leaked:
            return "warns", (f"NumPy's own warning shown ({w.category.__name__}: {w.message}, "
                               f"at {os.path.basename(filename)}:{w.lineno}); result "
                               f"{_short(result)}")
    return "ok", f"returned {_short(result)}"


_GPU: bool | None = None


def gpu_available() -> bool:
    global _GPU
    if _GPU is None:
        _GPU = bool(mg.cuda_is_available())
    return _GPU


def run_case(case: Case) -> Outcome:
    if case.needs_no_gpu and gpu_available():
        return Outcome(case, "skipped", "a GPU is available here")
    dtype, device, grad = mg.get_default_dtype(), mg.get_default_device(), mg.is_grad_enabled()
    mg.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = case.fn()
        except Exception as exc:  # noqa: BLE001 - classifying it is the point
            status, detail = classify_error(case, exc)
            if case.expect == "works":
                status, detail = "refused", f"raised {detail}" if status == "ok" else \
                    f"raised ({status}) {detail}"
            return Outcome(case, status, detail)
        finally:
            mg.set_default_dtype(dtype)
            mg.set_default_device(device)
            mg.set_grad_enabled(grad)
    if case.expect == "error":
        return Outcome(case, "silent", f"no error; returned {_short(result)}")
    status, detail = classify_result(case, result, list(caught))
    return Outcome(case, status, detail)


_TMP: str | None = None


def tmp(name: str) -> str:
    """A path in the census's scratch directory (made on first use, removed after run())."""
    global _TMP
    if _TMP is None:
        _TMP = tempfile.mkdtemp(prefix="mg-census-")
    return os.path.join(_TMP, name)


def run(cases: list[Case] | None = None) -> list[Outcome]:
    global _TMP
    try:
        return [run_case(c) for c in (CASES if cases is None else cases)]
    finally:
        if _TMP is not None:
            import shutil
            shutil.rmtree(_TMP, ignore_errors=True)
            _TMP = None


def counts(outcomes: list[Outcome]) -> Counter:
    c = Counter(o.status for o in outcomes)
    c["cases"] = len(outcomes)
    return c


def report(outcomes: list[Outcome], seconds: float | None = None) -> str:
    out = io.StringIO()
    total = counts(outcomes)
    by_area: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        by_area[o.case.area][o.status] += 1
        by_area[o.case.area]["cases"] += 1
    cols = ("cases",) + STATUSES
    out.write(f"{'area':<14}" + "".join(f"{c:>9}" for c in cols) + "\n")
    for area in sorted(by_area):
        out.write(f"{area:<14}" + "".join(f"{by_area[area][c]:>9}" for c in cols) + "\n")
    out.write(f"{'TOTAL':<14}" + "".join(f"{total[c]:>9}" for c in cols) + "\n")
    if seconds is not None:
        out.write(f"({seconds:.2f} s)\n")
    bad = [o for o in outcomes if not o.ok]
    if bad:
        out.write(f"\n{len(bad)} cases not ok:\n")
        area = None
        for o in sorted(bad, key=lambda o: (o.case.area, o.case.name)):
            if o.case.area != area:
                area = o.case.area
                out.write(f"\n== {area} ==\n")
            out.write(f"[{o.status}] {o.case.name}: {o.case.description}\n"
                      f"    -> {o.detail}\n")
    return out.getvalue()


# --- helpers the cases share --------------------------------------------------------------

def T(data: Any, **kw: Any) -> mg.Tensor:
    return mg.tensor(data, **kw)


def param(*shape: int) -> nn.Parameter:
    return nn.Parameter(mg.ones(*shape) if shape else mg.ones(2, 2))


def sgd(**kw: Any) -> optim.SGD:
    return optim.SGD([param(2)], lr=kw.pop("lr", 0.1), **kw)


# =========================================================================================
# The cases. Names are "area/what"; test_census.KNOWN_GAPS refers to them.
# =========================================================================================

NAN, INF = float("nan"), float("inf")


# --- creation: mg.tensor, zeros/ones/full/eye/arange/linspace/rand*, dtypes, defaults -------

works("creation/tensor-empty-list", "mg.tensor([]): an empty float32 tensor of shape (0,)",
      lambda: T([]), shape=(0,), dtype="float32")
works("creation/tensor-0d", "mg.tensor(3.5): a 0-d tensor", lambda: T(3.5), 3.5, shape=(),
      dtype="float32")
works("creation/tensor-nested-empty", "mg.tensor([[], []]): shape (2, 0)", lambda: T([[], []]),
      shape=(2, 0))
works("creation/tensor-bools", "mg.tensor([True, False]) is a bool tensor",
      lambda: T([True, False]), [True, False], dtype="bool")
works("creation/tensor-ints-int64", "mg.tensor([1, 2]) is int64", lambda: T([1, 2]), [1, 2],
      dtype="int64")
works("creation/tensor-nan-inf", "mg.tensor([nan, inf, -inf]) keeps them",
      lambda: T([NAN, INF, -INF]), [NAN, INF, -INF])
works("creation/tensor-1e300-float32", "mg.tensor(1e300) overflows to inf in float32, as in "
      "PyTorch", lambda: T(1e300), INF, dtype="float32")
works("creation/tensor-1e300-float64", "mg.tensor(1e300, dtype=float64) keeps 1e300",
      lambda: T(1e300, dtype=mg.float64), 1e300)
works("creation/tensor-numpy-float16", "mg.tensor(np.float16 array) keeps float16",
      lambda: T(np.ones(2, np.float16)), [1, 1], dtype="float16")
error("creation/tensor-ragged", "mg.tensor([[1, 2], [3]]): a ragged nested list",
      lambda: T([[1, 2], [3]]), ("ragged", "length", "inhomogeneous"))
error("creation/tensor-strings", "mg.tensor(['a', 'b']): strings are no numbers",
      lambda: T(["a", "b"]), "str")
error("creation/tensor-none", "mg.tensor(None)", lambda: T(None), ("None",))
error("creation/tensor-list-with-none", "mg.tensor([1.0, None])", lambda: T([1.0, None]),
      ("None",))
error("creation/tensor-dict", "mg.tensor({'a': 1})", lambda: T({"a": 1}), "dict")
error("creation/tensor-object", "mg.tensor(object())", lambda: T(object()), "object")
error("creation/tensor-object-array", "mg.tensor(np.array([1, 'a'], dtype=object))",
      lambda: T(np.array([1, "a"], dtype=object)), "object")
error("creation/tensor-int-overflow", "mg.tensor(2**70): too large for int64",
      lambda: T(2 ** 70), ("overflow", "too large", "int64"))
error("creation/tensor-bad-dtype", "mg.tensor([1, 2], dtype='bogus')",
      lambda: T([1, 2], dtype="bogus"), "bogus", "dtype")
error("creation/tensor-dtype-class", "mg.tensor([1], dtype=list): not a dtype",
      lambda: T([1], dtype=list), "dtype", ("not a dtype", "<class 'list'>", "invalid dtype"))
error("creation/tensor-bad-device", "mg.tensor([1.0], device='tpu')",
      lambda: T([1.0], device="tpu"), "tpu")
error("creation/tensor-second-gpu", "mg.tensor([1.0], device='cuda:1'): one GPU only",
      lambda: T([1.0], device="cuda:1"), "cuda:1")
error("creation/tensor-int-requires-grad", "mg.tensor([1, 2], requires_grad=True): integers "
      "cannot require gradients", lambda: T([1, 2], requires_grad=True), ("float", "floating"))
error("creation/tensor-nan-to-int", "mg.tensor([nan], dtype=mg.int64)",
      lambda: T([NAN], dtype=mg.int64), ("nan",))
error("creation/zeros-negative", "mg.zeros(-1)", lambda: mg.zeros(-1), "-1",
      ("negative", "non-negative", ">= 0"))
error("creation/zeros-negative-2d", "mg.zeros(2, -3)", lambda: mg.zeros(2, -3), "-3")
error("creation/zeros-float-size", "mg.zeros(2.5)", lambda: mg.zeros(2.5), ("size", "shape"),
      ("2.5", "float"))
error("creation/zeros-str-size", "mg.zeros('3')", lambda: mg.zeros("3"), ("size", "shape"),
      ("str", "'3'"))
works("creation/zeros-tuple", "mg.zeros((2, 3))", lambda: mg.zeros((2, 3)), shape=(2, 3))
works("creation/zeros-empty-shape", "mg.zeros(()) is 0-d", lambda: mg.zeros(()), 0.0, shape=())
works("creation/zeros-0", "mg.zeros(0)", lambda: mg.zeros(0), shape=(0,))
error("creation/ones-bad-dtype", "mg.ones(2, dtype='bogus')", lambda: mg.ones(2, dtype="bogus"),
      "bogus")
error("creation/empty-negative", "mg.empty(-2)", lambda: mg.empty(-2), "-2")
works("creation/full-nan", "mg.full((2,), nan)", lambda: mg.full((2,), NAN), [NAN, NAN])
error("creation/full-negative", "mg.full((-1,), 0.0)", lambda: mg.full((-1,), 0.0), "-1")
error("creation/full-str-value", "mg.full((2,), 'x')", lambda: mg.full((2,), "x"),
      ("fill_value", "'x'", "str"))
error("creation/eye-negative", "mg.eye(-1)", lambda: mg.eye(-1), "-1", arg("n"))
error("creation/eye-negative-m", "mg.eye(2, -1)", lambda: mg.eye(2, -1), "-1", arg("m"))
error("creation/eye-float", "mg.eye(2.5)", lambda: mg.eye(2.5), ("2.5", "float", "int"))
error("creation/arange-zero-step", "mg.arange(0, 10, 0)", lambda: mg.arange(0, 10, 0), "step")
error("creation/arange-wrong-sign", "mg.arange(0, -10, 1): the step points away from end",
      lambda: mg.arange(0, -10, 1), ("step", "sign", "bound"))
error("creation/arange-nan", "mg.arange(nan)", lambda: mg.arange(NAN), "nan")
error("creation/arange-inf", "mg.arange(0, inf)", lambda: mg.arange(0, INF), "inf")
works("creation/arange-empty", "mg.arange(0) is empty", lambda: mg.arange(0), shape=(0,),
      dtype="int64")
error("creation/linspace-negative-steps", "mg.linspace(0, 1, -1)",
      lambda: mg.linspace(0, 1, -1), "steps")
works("creation/linspace-zero-steps", "mg.linspace(0, 1, 0) is empty",
      lambda: mg.linspace(0, 1, 0), shape=(0,))
error("creation/logspace-negative-steps", "mg.logspace(0, 1, -2)",
      lambda: mg.logspace(0, 1, -2), "steps")
error("creation/randn-negative", "mg.randn(-1)", lambda: mg.randn(-1), "-1")
works("creation/randn-float16", "mg.randn(3, dtype=mg.float16) draws half-precision numbers",
      lambda: mg.randn(3, dtype=mg.float16), shape=(3,), dtype="float16")
works("creation/rand-float16", "mg.rand(3, dtype=mg.float16)", lambda: mg.rand(3, dtype=mg.float16),
      shape=(3,), dtype="float16")
error("creation/rand-int-dtype", "mg.rand(2, dtype=mg.int64): uniform floats only",
      lambda: mg.rand(2, dtype=mg.int64), ("int64", "float"))
error("creation/randn-int-dtype", "mg.randn(2, dtype=mg.int64)",
      lambda: mg.randn(2, dtype=mg.int64), ("int64", "float"))
error("creation/randint-empty-range", "mg.randint(5, 1, (3,)): low >= high",
      lambda: mg.randint(5, 1, (3,)), ("low", "high"))
error("creation/randint-negative-size", "mg.randint(0, 10, (-1,))",
      lambda: mg.randint(0, 10, (-1,)), "-1")
error("creation/randperm-negative", "mg.randperm(-1)", lambda: mg.randperm(-1), "-1", arg("n"))
works("creation/randperm-zero", "mg.randperm(0) is empty int64", lambda: mg.randperm(0),
      shape=(0,), dtype="int64")
error("creation/zeros-like-list", "mg.zeros_like([1, 2]): a list, not a tensor",
      lambda: mg.zeros_like([1, 2]), ("tensor",), "list")
error("creation/ones-like-none", "mg.ones_like(None)", lambda: mg.ones_like(None),
      ("tensor",), ("None",))
error("creation/randn-like-int", "mg.randn_like(int tensor)",
      lambda: mg.randn_like(T([1, 2])), ("int64", "float"))
error("creation/from-numpy-list", "mg.from_numpy([1, 2]): expects an ndarray",
      lambda: mg.from_numpy([1, 2]), ("ndarray", "numpy"), "list")
error("creation/from-numpy-object", "mg.from_numpy(object array)",
      lambda: mg.from_numpy(np.array([None, 1], dtype=object)), "object")
error("creation/Tensor-negative-shape", "mg.Tensor(2, -1)", lambda: mg.Tensor(2, -1), "-1")
error("creation/Tensor-string", "mg.Tensor('abc')", lambda: mg.Tensor("abc"), "str")
error("creation/set-default-dtype-int", "mg.set_default_dtype(mg.int64)",
      lambda: mg.set_default_dtype(mg.int64), "int64")
error("creation/set-default-device-bad", "mg.set_default_device('tpu')",
      lambda: mg.set_default_device("tpu"), "tpu")
error("creation/manual-seed-str", "mg.manual_seed('abc')", lambda: mg.manual_seed("abc"),
      "seed")
error("creation/manual-seed-huge", "mg.manual_seed(2**70)", lambda: mg.manual_seed(2 ** 70),
      "seed")
error("creation/manual-seed-float", "mg.manual_seed(1.5)", lambda: mg.manual_seed(1.5),
      "seed")

# --- tensor: conversion, attributes, properties ---------------------------------------------

error("tensor/item-two-elements", "mg.tensor([1., 2.]).item()", lambda: T([1., 2.]).item(),
      ("one element", "1 element"))
error("tensor/item-empty", "mg.tensor([]).item()", lambda: T([]).item(),
      ("one element", "1 element"))
error("tensor/int-of-vector", "int(mg.tensor([1., 2.]))", lambda: int(T([1., 2.])),
      ("one element", "1 element"))
error("tensor/bool-empty", "bool(mg.tensor([]))", lambda: bool(T([])),
      ("no values", "empty", "ambiguous"))
error("tensor/len-0d", "len(mg.tensor(1.0))", lambda: len(T(1.0)), "0-d", exc=TypeError)
error("tensor/iter-0d", "iter(mg.tensor(1.0))", lambda: iter(T(1.0)), "0-d", exc=TypeError)
works("tensor/float-nan", "float(mg.tensor(nan)) is nan", lambda: float(T(NAN)), NAN)
error("tensor/size-dim-out-of-range", "mg.zeros(2, 3).size(5)",
      lambda: mg.zeros(2, 3).size(5), "5", ("range", "dim"), exc=IndexError)
error("tensor/size-dim-str", "mg.zeros(2, 3).size('a')", lambda: mg.zeros(2, 3).size("a"),
      ("dim",))
error("tensor/to-bad-device", "t.to('tpu')", lambda: mg.zeros(2).to("tpu"), "tpu")
error("tensor/to-bad-dtype", "t.to(dtype='bogus')", lambda: mg.zeros(2).to(dtype="bogus"),
      "bogus")
error("tensor/type-bad", "t.type('bogus'): not a dtype", lambda: mg.zeros(2).type("bogus"), "bogus",
      "dtype")
error("tensor/index-float", "[1, 2][mg.tensor(0.0)]: a float tensor is no index",
      lambda: [1, 2][T(0.0)], ("integer", "int"), exc=TypeError)
error("tensor/grad-wrong-shape", "t.grad = zeros(3) for a tensor of shape (2,)",
      lambda: setattr(mg.zeros(2, requires_grad=True), "grad", mg.zeros(3)), shp(3), shp(2))
error("tensor/grad-list", "t.grad = [0, 0]",
      lambda: setattr(mg.zeros(2, requires_grad=True), "grad", [0.0, 0.0]), "list")
error("tensor/requires-grad-int", "int tensor .requires_grad_()",
      lambda: T([1, 2]).requires_grad_(), ("float", "floating"))
error("tensor/requires-grad-nonleaf-off", "non-leaf .requires_grad_(False)",
      lambda: (mg.ones(2, requires_grad=True) * 2).requires_grad_(False), "leaf")
error("tensor/new-zeros-negative", "t.new_zeros(-1)", lambda: mg.zeros(2).new_zeros(-1), "-1")
error("tensor/new-full-str", "t.new_full((2,), 'x')",
      lambda: mg.zeros(2).new_full((2,), "x"), ("fill_value", "'x'", "str"))
works("tensor/repr-empty", "repr(mg.zeros(0, 3))", lambda: repr(mg.zeros(0, 3)),
      check=lambda r: isinstance(r, str) and "tensor(" in r or f"repr gave {r!r}")
error("tensor/format-vector-spec", "f'{mg.tensor([1., 2.]):.2f}': a spec needs one element",
      lambda: format(T([1., 2.]), ".2f"), ("one element", "1 element", "element"))


# --- binary: elementwise ops with two operands ---------------------------------------------

_BINARY = {
    "add": lambda a, b: mg.add(a, b), "sub": lambda a, b: mg.sub(a, b),
    "mul": lambda a, b: mg.mul(a, b), "div": lambda a, b: mg.div(a, b),
    "pow": lambda a, b: mg.pow(a, b), "maximum": lambda a, b: mg.maximum(a, b),
    "minimum": lambda a, b: mg.minimum(a, b), "eq": lambda a, b: mg.eq(a, b),
    "lt": lambda a, b: mg.lt(a, b), "ge": lambda a, b: mg.ge(a, b),
    "floor_divide": lambda a, b: mg.floor_divide(a, b),
    "remainder": lambda a, b: mg.remainder(a, b),
    "logical_and": lambda a, b: mg.logical_and(a, b),
    "bitwise_and": lambda a, b: mg.bitwise_and(a, b),
    "operator+": lambda a, b: a + b, "operator*": lambda a, b: a * b,
}
for _name, _op in _BINARY.items():
    _ints = _name.startswith("bitwise")
    error(f"binary/{_name}-shape-mismatch",
          f"{_name} of shapes (2, 3) and (4,): not broadcastable",
          (lambda op=_op, ints=_ints: op(mg.ones(2, 3, dtype=mg.int64 if ints else None),
                                         mg.ones(4, dtype=mg.int64 if ints else None))),
          shp(2, 3), shp(4))

error("binary/where-shape-mismatch", "mg.where(cond (2,), a (3,), b (2,))",
      lambda: mg.where(T([True, False]), mg.ones(3), mg.ones(2)), shp(3), shp(2))
error("binary/add-str", "mg.add(t, 'abc')", lambda: mg.add(mg.ones(2), "abc"), "str")
error("binary/add-none", "mg.add(t, None)", lambda: mg.add(mg.ones(2), None), ("None",))
error("binary/operator-str", "t + 'abc'", lambda: mg.ones(2) + "abc", "str", exc=TypeError)
error("binary/operator-dict", "t * {}", lambda: mg.ones(2) * {}, "dict", exc=TypeError)
either("binary/add-list", "t + [1, 2, 3]: PyTorch refuses a list; the sum is fine too",
       lambda: mg.ones(3) + [1, 2, 3], "list", value=[2, 3, 4])
works("binary/int-true-division", "int / int is float32 true division, as in PyTorch",
      lambda: T([1, 2]) / T([2, 2]), [0.5, 1.0], dtype="float32")
works("binary/int32-plus-float", "int32 tensor + 1.5 is float32",
      lambda: T([1], dtype=mg.int32) + 1.5, [2.5], dtype="float32")
works("binary/float16-plus-float64", "float16 + float64 promotes to float64",
      lambda: mg.ones(2, dtype=mg.float16) + mg.ones(2, dtype=mg.float64), [2, 2],
      dtype="float64")
works("binary/bool-plus-int", "bool tensor + 1 is int64", lambda: T([True, False]) + 1,
      [2, 1], dtype="int64")
error("binary/int-floordiv-zero", "mg.tensor([1]) // 0: integer division by zero",
      lambda: T([1]) // 0, "zero", exc=ZeroDivisionError)
error("binary/int-remainder-zero", "mg.tensor([1]) % 0: integer modulo by zero",
      lambda: T([1]) % 0, "zero", exc=ZeroDivisionError)
works("binary/float-div-zero", "mg.tensor([1., -1., 0.]) / 0 is [inf, -inf, nan] as in PyTorch",
      lambda: T([1., -1., 0.]) / 0, [INF, -INF, NAN])
error("binary/bool-minus-bool", "bool - bool: PyTorch refuses subtraction of bools",
      lambda: T([True]) - T([True]), "bool", ("subtract", "-", "sub"))
error("binary/int-negative-power", "int tensor ** -1: integers to negative powers",
      lambda: T([2]) ** -1, "negative", ("power", "pow"))
works("binary/pow-nan", "mg.tensor([nan]) ** 0 is 1 (as in PyTorch)", lambda: T([NAN]) ** 0,
      [1.0])
works("binary/overflow-float64", "1e300 * 1e300 in float64 is inf (as in PyTorch)",
      lambda: T([1e300], dtype=mg.float64) * 1e300, [INF])
works("binary/maximum-nan", "mg.maximum(nan, 1) propagates NaN, as in PyTorch",
      lambda: mg.maximum(T([NAN]), T([1.0])), [NAN])
works("binary/maximum-int8-extremes", "mg.maximum(int8 100, int8 -100) is 100 (no overflow)",
      lambda: mg.maximum(T(np.array([100], np.int8)), T(np.array([-100], np.int8))), [100],
      dtype="int8")
works("binary/minimum-int64-large", "mg.minimum(2**62, -2**62) is -2**62 (no overflow)",
      lambda: mg.minimum(T([2 ** 62]), T([-2 ** 62])), [-2 ** 62], dtype="int64")
works("binary/maximum-bools", "mg.maximum of two bool tensors is their or, as in PyTorch",
      lambda: mg.maximum(T([True, False]), T([False, False])), [True, False], dtype="bool")
works("binary/minimum-empty", "mg.minimum of two empty tensors", lambda: mg.minimum(
      mg.zeros(0), mg.zeros(0)), shape=(0,))
works("binary/broadcast-empty", "(0, 3) + (3,) is (0, 3)", lambda: mg.zeros(0, 3) + mg.ones(3),
      shape=(0, 3))
error("binary/where-float-condition", "mg.where(float condition, a, b)",
      lambda: mg.where(T([1., 0.]), T([1., 2.]), T([3., 4.])), ("bool",), "condition")
works("binary/where-scalars", "mg.where(cond, 1.0, 0) takes numbers",
      lambda: mg.where(T([True, False]), 1.0, 0), [1.0, 0.0])
error("binary/masked-fill-float-mask", "t.masked_fill(float mask, 0)",
      lambda: mg.ones(2).masked_fill(T([1., 0.]), 0.0), "mask", "bool")
error("binary/masked-fill-mask-shape", "t (2,) .masked_fill(mask (3,), 0)",
      lambda: mg.ones(2).masked_fill(T([True, False, True]), 0.0), "mask", shp(2), shp(3))
error("binary/clamp-no-bounds", "mg.clamp(t) with neither min nor max",
      lambda: mg.clamp(mg.ones(2)), "min", "max")
works("binary/clamp-min-above-max", "clamp(min=2.5, max=1.0) gives max everywhere, as in "
      "PyTorch", lambda: mg.clamp(T([1., 2., 3.]), min=2.5, max=1.0), [1., 1., 1.])
error("binary/clamp-str-bound", "mg.clamp(t, min='a')", lambda: mg.clamp(mg.ones(2), min="a"),
      ("min",), ("str", "'a'"))
works("binary/clamp-int-float-bound", "clamp(int tensor, max=2.5) gives floats, as in PyTorch",
      lambda: mg.clamp(T([1, 5]), max=2.5), [1.0, 2.5], dtype="float32")
error("binary/compare-str", "t < 'a'", lambda: mg.ones(2) < "a", "str", exc=TypeError)
works("binary/logical-and-floats", "logical_and of floats uses truthiness",
      lambda: mg.logical_and(T([1., 0.]), T([2., 2.])), [True, False], dtype="bool")
error("binary/bitwise-and-floats", "mg.bitwise_and(float, float)",
      lambda: mg.bitwise_and(T([1.]), T([2.])), ("float",), ("bitwise",))
error("binary/bitwise-not-float", "mg.bitwise_not(float tensor)",
      lambda: mg.bitwise_not(T([1.])), ("float",))
error("binary/invert-float", "~ float tensor", lambda: ~T([1.]), ("float",))
works("binary/ndarray-plus-tensor", "np.ones(2) + t is a Tensor (Tensor's reflected op wins)",
      lambda: np.ones(2, np.float32) + mg.ones(2),
      check=lambda r: isinstance(r, mg.Tensor) or f"got {type(r).__name__}")

# --- unary: elementwise functions of one tensor ---------------------------------------------

works("unary/sqrt-int-float32", "mg.sqrt(int tensor) is float32, as in PyTorch",
      lambda: mg.sqrt(T([4])), [2.0], dtype="float32")
works("unary/exp-int-float32", "mg.exp(int tensor) is float32", lambda: mg.exp(T([0])), [1.0],
      dtype="float32")
works("unary/exp-int8-float32", "mg.exp(int8 tensor) is float32 (PyTorch), not NumPy's float16",
      lambda: mg.exp(T(np.array([1], np.int8))), [math.e], dtype="float32")
works("unary/sin-bool-float32", "mg.sin(bool tensor) is float32", lambda: mg.sin(T([False])),
      [0.0], dtype="float32")
works("unary/sigmoid-int-float32", "mg.sigmoid(int tensor) is float32",
      lambda: mg.sigmoid(T([0])), [0.5], dtype="float32")
either("unary/abs-bool", "mg.abs(bool tensor): PyTorch has no abs for bool; the same bools "
       "back are fine too", lambda: mg.abs(T([True, False])), "bool", value=[True, False],
       dtype="bool")
error("unary/neg-bool", "-bool tensor: PyTorch refuses (use ~ or logical_not)",
      lambda: -T([True]), "bool")
works("unary/log-negative-nan", "mg.log([-1., 0.]) is [nan, -inf] quietly, as in PyTorch",
      lambda: mg.log(T([-1., 0.])), [NAN, -INF])
works("unary/sqrt-negative-nan", "mg.sqrt(-1.) is nan quietly", lambda: mg.sqrt(T([-1.])),
      [NAN])
works("unary/exp-overflow", "mg.exp(1000.) is inf quietly (float32)",
      lambda: mg.exp(T([1000.])), [INF])
works("unary/sigmoid-very-negative", "mg.sigmoid(-1000.) is 0 without overflow",
      lambda: mg.sigmoid(T([-1000.])), [0.0])
works("unary/tanh-1e300", "mg.tanh(1e300) is 1", lambda: mg.tanh(T([1e300],
      dtype=mg.float64)), [1.0])
works("unary/log1p-minus-one", "mg.log1p(-1.) is -inf", lambda: mg.log1p(T([-1.])), [-INF])
works("unary/reciprocal-zero", "mg.reciprocal(0.) is inf", lambda: mg.reciprocal(T([0.])),
      [INF])
works("unary/rsqrt-zero", "mg.rsqrt(0.) is inf", lambda: mg.rsqrt(T([0.])), [INF])
works("unary/asin-out-of-domain", "mg.asin(2.) is nan", lambda: mg.asin(T([2.])), [NAN])
works("unary/erf-inf", "F.erf(±inf) is ±1", lambda: F.erf(T([INF, -INF])), [1.0, -1.0])
works("unary/erf-nan", "F.erf(nan) is nan", lambda: F.erf(T([NAN])), [NAN])
works("unary/relu-nan", "mg.relu(nan) is nan (as in PyTorch)", lambda: mg.relu(T([NAN])),
      [NAN])
works("unary/empty", "mg.exp(mg.zeros(0, 3)) keeps the shape", lambda: mg.exp(mg.zeros(0, 3)),
      shape=(0, 3))
works("unary/0d", "mg.exp(mg.tensor(0.)) is 0-d", lambda: mg.exp(T(0.)), 1.0, shape=())
error("unary/exp-list", "mg.exp([1.0, 2.0]): a list, not a tensor",
      lambda: mg.exp([1.0, 2.0]), ("tensor",), "list")
error("unary/sin-ndarray", "mg.sin(np.ones(2)) where a tensor is expected",
      lambda: mg.sin(np.ones(2)), ("tensor",), "ndarray")
error("unary/round-decimals-float", "mg.round(t, decimals=1.5)",
      lambda: mg.round(T([1.25]), decimals=1.5), "decimals")
error("unary/floor-str", "mg.floor('a')", lambda: mg.floor("a"), ("tensor",), "str")

# --- matmul and other products ---------------------------------------------------------------

error("matmul/2d-mismatch", "(2, 3) @ (4, 5)", lambda: mg.ones(2, 3) @ mg.ones(4, 5),
      shp(2, 3), shp(4, 5))
error("matmul/vectors-mismatch", "(3,) @ (4,)", lambda: mg.ones(3) @ mg.ones(4), shp(3), shp(4))
error("matmul/0d", "mg.tensor(2.) @ (2,): matmul needs at least 1-d",
      lambda: mg.matmul(T(2.), mg.ones(2)), ("0-d", "0d", "scalar", "at least 1", "1-d",
                                               "1d", "dimension"))
error("matmul/batched-mismatch", "(2, 3, 4) @ (5, 4, 2): batch dims do not broadcast",
      lambda: mg.ones(2, 3, 4) @ mg.ones(5, 4, 2), shp(2, 3, 4), shp(5, 4, 2))
either("matmul/int-float", "int (1, 2) @ float (2, 1): PyTorch refuses mixed dtypes",
       lambda: T([[1, 2]]) @ T([[1.], [2.]]), "dtype", value=[[5.0]])
either("matmul/list-operand", "mg.matmul((2, 2), [[1, 2], [3, 4]]): PyTorch wants a tensor",
       lambda: mg.matmul(mg.ones(2, 2), [[1, 2], [3, 4]]), ("tensor",), "list",
       value=[[4., 6.], [4., 6.]])
works("matmul/empty-rows", "(0, 3) @ (3, 2) is (0, 2)", lambda: mg.ones(0, 3) @ mg.ones(3, 2),
      shape=(0, 2))
works("matmul/empty-inner", "(2, 0) @ (0, 3) is zeros (2, 3)",
      lambda: mg.ones(2, 0) @ mg.ones(0, 3), np.zeros((2, 3)))
works("matmul/matrix-vector", "(2, 3) @ (3,) is (2,)", lambda: mg.ones(2, 3) @ mg.ones(3),
      [3.0, 3.0])
works("matmul/broadcast-batch", "(2, 1, 3, 4) @ (5, 4, 2) is (2, 5, 3, 2)",
      lambda: mg.ones(2, 1, 3, 4) @ mg.ones(5, 4, 2), shape=(2, 5, 3, 2))
works("matmul/nan-propagates", "NaN in matmul propagates", lambda: T([[NAN, 1.]]) @ mg.ones(2, 1),
      [[NAN]])
error("matmul/mm-3d", "mg.mm of a 3-d tensor", lambda: mg.mm(mg.ones(2, 2, 2), mg.ones(2, 2)),
      ("2-d", "2d", "matrix", "matrices", "2 dim"))
error("matmul/mm-mismatch", "mg.mm((2, 3), (2, 3))", lambda: mg.mm(mg.ones(2, 3), mg.ones(2, 3)),
      shp(2, 3))
error("matmul/bmm-2d", "mg.bmm of 2-d tensors", lambda: mg.bmm(mg.ones(2, 2), mg.ones(2, 2)),
      ("3-d", "3d", "batch"))
error("matmul/bmm-batch-mismatch", "mg.bmm((2, 3, 4), (3, 4, 5))",
      lambda: mg.bmm(mg.ones(2, 3, 4), mg.ones(3, 4, 5)), shp(2, 3, 4), shp(3, 4, 5))
error("matmul/dot-2d", "mg.dot of 2-d tensors", lambda: mg.dot(mg.ones(2, 2), mg.ones(2, 2)),
      ("1-d", "1d", "vector"))
error("matmul/dot-length-mismatch", "mg.dot((3,), (4,))",
      lambda: mg.dot(mg.ones(3), mg.ones(4)), shp(3), shp(4))
error("matmul/outer-2d", "mg.outer of a 2-d tensor",
      lambda: mg.outer(mg.ones(2, 2), mg.ones(2)), ("1-d", "1d", "vector"))


# --- reduce: reductions, dims, empty inputs --------------------------------------------------

_M = lambda: mg.ones(2, 3)  # noqa: E731
error("reduce/sum-dim-out-of-range", "mg.ones(2, 3).sum(dim=5)", lambda: _M().sum(dim=5), "5",
      ("range", "dim"))
error("reduce/sum-dim-negative-out-of-range", "mg.ones(2, 3).sum(dim=-3)",
      lambda: _M().sum(dim=-3), "-3")
error("reduce/sum-dim-and-axis", "sum(dim=0, axis=0): both given", lambda: _M().sum(dim=0, axis=0),
      "dim", "axis")
error("reduce/sum-dim-repeated", "sum(dim=(0, 0))", lambda: _M().sum(dim=(0, 0)),
      ("multiple times", "repeated", "duplicate", "twice", "more than once"))
error("reduce/sum-dim-float", "sum(dim=1.5)", lambda: _M().sum(dim=1.5), "dim")
error("reduce/sum-dim-str", "sum(dim='a')", lambda: _M().sum(dim="a"), "dim")
error("reduce/mean-dim-and-axis", "mean(dim=0, axis=1)", lambda: _M().mean(dim=0, axis=1),
      "dim", "axis")
either("reduce/mean-int", "mg.tensor([1, 2]).mean(): PyTorch needs a float dtype; 1.5 in "
       "float32 is fine too", lambda: T([1, 2]).mean(), ("dtype",), ("float", "int64", "long"),
       value=1.5, dtype="float32")
either("reduce/mean-bool", "mg.tensor([True, False]).mean(): PyTorch refuses; 0.5 is fine too",
       lambda: T([True, False]).mean(), ("dtype",), ("float", "bool"), value=0.5,
       dtype="float32")
works("reduce/mean-empty", "mg.tensor([]).mean() is nan (float32), as in PyTorch",
      lambda: T([]).mean(), NAN, dtype="float32")
works("reduce/mean-empty-dim", "mg.zeros(0, 3).mean(0) is [nan, nan, nan]",
      lambda: mg.zeros(0, 3).mean(0), [NAN, NAN, NAN], dtype="float32")
works("reduce/sum-empty", "mg.tensor([]).sum() is 0.0 (float32)", lambda: T([]).sum(), 0.0,
      dtype="float32")
works("reduce/prod-empty", "mg.tensor([]).prod() is 1.0", lambda: T([]).prod(), 1.0,
      dtype="float32")
works("reduce/sum-bool-int64", "bool tensor .sum() is int64 2", lambda: T([True, True]).sum(), 2,
      dtype="int64")
works("reduce/sum-int32-int64", "int32 tensor .sum() is int64, as in PyTorch",
      lambda: T([1, 2], dtype=mg.int32).sum(), 3, dtype="int64")
works("reduce/sum-keepdim-0d", "mg.tensor(2.).sum(dim=0) on a 0-d tensor is allowed (PyTorch)",
      lambda: T(2.).sum(dim=0), 2.0, shape=())
error("reduce/max-empty", "mg.tensor([]).max()", lambda: T([]).max(),
      ("empty", "no elements", "numel", "0 elements", "zero elements", "non-zero size"))
error("reduce/max-empty-dim", "mg.zeros(0, 3).max(dim=0)", lambda: mg.zeros(0, 3).max(dim=0),
      ("empty", "no elements", "non-zero size", "zero size", "size 0"))
error("reduce/amax-empty", "mg.tensor([]).amax()", lambda: T([]).amax(),
      ("empty", "no elements", "numel", "0 elements", "zero elements", "non-zero size"))
error("reduce/min-empty", "mg.tensor([]).min()", lambda: T([]).min(),
      ("empty", "no elements", "numel", "0 elements", "zero elements", "non-zero size"))
error("reduce/argmax-empty", "mg.tensor([]).argmax()", lambda: T([]).argmax(),
      ("empty", "no elements", "numel", "0 elements", "zero elements", "non-zero size"))
error("reduce/max-dim-out-of-range", "mg.ones(2, 3).max(dim=5)", lambda: _M().max(dim=5), "5")
error("reduce/max-dim-and-axis", "max(dim=0, axis=0)", lambda: _M().max(dim=0, axis=0), "dim",
      "axis")
works("reduce/max-nan", "mg.tensor([1., nan]).max() is nan, as in PyTorch",
      lambda: T([1., NAN]).max(), NAN)
works("reduce/max-values-indices", "x.max(dim=1) gives (values, indices)",
      lambda: T([[1., 3.], [4., 2.]]).max(dim=1), ([3., 4.], [1, 0]))
either("reduce/var-int", "mg.tensor([1, 2]).var(): PyTorch refuses; 0.5 in float32 is fine too",
       lambda: T([1, 2]).var(), ("float",), value=0.5, dtype="float32")
works("reduce/var-one-element", "mg.tensor([1.]).var() is nan, with PyTorch's warning about "
      "degrees of freedom", lambda: T([1.]).var(), NAN, warns=[("degrees of freedom",
                                                                  "freedom")])
works("reduce/std-one-element", "mg.tensor([1.]).std() is nan, with a warning",
      lambda: T([1.]).std(), NAN, warns=[("degrees of freedom", "freedom")])
error("reduce/norm-bad-p", "t.norm(p='bogus')", lambda: mg.ones(2).norm(p="bogus"), "bogus")
error("reduce/norm-int", "mg.tensor([1, 2]).norm()", lambda: T([1, 2]).norm(), ("float",))
works("reduce/logsumexp-empty", "mg.logsumexp(mg.tensor([]), 0) is -inf",
      lambda: mg.logsumexp(T([]), 0), -INF)
works("reduce/logsumexp-all-neg-inf", "logsumexp of [-inf, -inf] is -inf (not nan)",
      lambda: mg.logsumexp(T([-INF, -INF]), 0), -INF)
works("reduce/logsumexp-inf", "logsumexp of [inf, 1] is inf", lambda: mg.logsumexp(T([INF, 1.]), 0),
      INF)
works("reduce/logsumexp-large", "logsumexp of [1e4, 1e4] is 1e4 + log 2 (stable)",
      lambda: mg.logsumexp(T([1e4, 1e4]), 0), 1e4 + math.log(2))
works("reduce/logsumexp-int", "logsumexp of an int tensor is float32 (PyTorch promotes)",
      lambda: mg.logsumexp(T([1, 2]), 0), math.log(math.e + math.e ** 2), dtype="float32")
works("reduce/softmax-empty", "softmax over an empty dim", lambda: mg.softmax(T([]), 0),
      shape=(0,))
error("reduce/softmax-dim-out-of-range", "mg.softmax(ones(2, 3), dim=2)",
      lambda: mg.softmax(_M(), 2), "2", ("range", "dim"))
works("reduce/softmax-all-neg-inf", "softmax of [-inf, -inf] is [nan, nan], as in PyTorch",
      lambda: mg.softmax(T([-INF, -INF]), 0), [NAN, NAN])
works("reduce/softmax-large", "softmax of [1e4, 0] is [1, 0] (stable)",
      lambda: mg.softmax(T([1e4, 0.]), 0), [1.0, 0.0])
error("reduce/softmax-int", "mg.softmax(int tensor, 0)", lambda: mg.softmax(T([1, 2]), 0),
      ("float",))
error("reduce/log-softmax-dim-out-of-range", "mg.log_softmax(ones(2, 3), dim=-3)",
      lambda: mg.log_softmax(_M(), -3), "-3")
error("reduce/cumsum-dim-out-of-range", "ones(2, 3).cumsum(3)", lambda: _M().cumsum(3), "3")
error("reduce/cumsum-no-dim", "ones(2, 3).cumsum(): PyTorch requires dim",
      lambda: _M().cumsum(), "dim")
error("reduce/topk-k-too-large", "ones(3).topk(5)", lambda: mg.ones(3).topk(5), arg("k"),
      ("range", "5"))
error("reduce/topk-k-negative", "ones(3).topk(-1)", lambda: mg.ones(3).topk(-1), arg("k"))
error("reduce/sort-dim-out-of-range", "ones(2, 3).sort(dim=3)", lambda: _M().sort(dim=3), "3")
error("reduce/argsort-dim-out-of-range", "ones(2, 3).argsort(dim=-4)",
      lambda: _M().argsort(dim=-4), "-4")
works("reduce/sort-empty", "mg.tensor([]).sort() gives two empty tensors",
      lambda: T([]).sort(), ([], np.zeros(0, np.int64)))
error("reduce/argmax-dim-out-of-range", "ones(2, 3).argmax(dim=2)", lambda: _M().argmax(dim=2),
      "2")
works("reduce/any-floats", "mg.tensor([0., 2.]).any() is True", lambda: T([0., 2.]).any(), True,
      dtype="bool")
error("reduce/prod-dim-out-of-range", "ones(2, 3).prod(dim=2)", lambda: _M().prod(dim=2), "2")
error("reduce/amax-dim-repeated", "amax(dim=(1, 1))", lambda: _M().amax(dim=(1, 1)),
      ("multiple times", "repeated", "duplicate", "twice", "more than once"))
error("reduce/std-dim-out-of-range", "ones(2, 3).std(dim=2)", lambda: _M().std(dim=2), "2")

# --- shape: reshape, view, permute, squeeze, expand, repeat, split, cat, stack ------------------

error("shape/reshape-wrong-numel", "ones(2, 3).reshape(2, 4)", lambda: _M().reshape(2, 4), "6",
      ("(2, 4)", "[2, 4]"))
error("shape/reshape-two-minus-one", "ones(2, 3).reshape(-1, -1): only one size can be inferred",
      lambda: _M().reshape(-1, -1), ("one dimension", "only one", "more than one", "at most one",
                                     "a single -1", "one -1"))
error("shape/reshape-negative", "ones(2, 3).reshape(-2, 3)", lambda: _M().reshape(-2, 3), "-2")
error("shape/reshape-float", "ones(2, 3).reshape(2.0, 3)", lambda: _M().reshape(2.0, 3),
      ("shape", "size"), ("float", "2.0"))
error("shape/view-wrong-numel", "ones(2, 3).view(4)", lambda: _M().view(4), "6", "4")
error("shape/view-non-contiguous", "ones(2, 3).t().view(6): needs a copy",
      lambda: _M().t().view(6), ("contiguous", "reshape", "stride"))
error("shape/permute-repeated", "ones(2, 3).permute(0, 0)", lambda: _M().permute(0, 0),
      ("duplicate", "repeated", "twice", "more than once", "multiple", "once"))
error("shape/permute-wrong-count", "ones(2, 3).permute(0)", lambda: _M().permute(0), "dim")
error("shape/permute-out-of-range", "ones(2, 3).permute(0, 2)", lambda: _M().permute(0, 2), "2")
error("shape/transpose-out-of-range", "ones(2, 3).transpose(0, 5)",
      lambda: _M().transpose(0, 5), "5")
error("shape/t-3d", "ones(2, 2, 2).t()", lambda: mg.ones(2, 2, 2).t(), ("2 dim", "<= 2", "2-d"))
error("shape/squeeze-out-of-range", "ones(2, 3).squeeze(3)", lambda: _M().squeeze(3), "3")
error("shape/unsqueeze-out-of-range", "ones(2, 3).unsqueeze(4)", lambda: _M().unsqueeze(4), "4")
works("shape/unsqueeze-last", "ones(2, 3).unsqueeze(2) is (2, 3, 1)", lambda: _M().unsqueeze(2),
      shape=(2, 3, 1))
works("shape/unsqueeze-negative", "ones(2, 3).unsqueeze(-1) is (2, 3, 1)",
      lambda: _M().unsqueeze(-1), shape=(2, 3, 1))
error("shape/flatten-start-after-end", "ones(2, 3, 4).flatten(2, 1)",
      lambda: mg.ones(2, 3, 4).flatten(2, 1), "start_dim", "end_dim")
error("shape/flatten-out-of-range", "ones(2, 3).flatten(5)", lambda: _M().flatten(5), "5")
works("shape/flatten-0d", "mg.tensor(1.).flatten() is (1,)", lambda: T(1.).flatten(), [1.0])
error("shape/expand-incompatible", "ones(2).expand(3)", lambda: mg.ones(2).expand(3), shp(2),
      ("3",))
error("shape/expand-negative", "ones(1).expand(-2)", lambda: mg.ones(1).expand(-2), "-2")
error("shape/expand-fewer-dims", "ones(2, 3).expand(3)", lambda: _M().expand(3),
      ("dimensions", "dims", "number"))
error("shape/broadcast-to-incompatible", "ones(2, 3).broadcast_to(4, 3)",
      lambda: _M().broadcast_to(4, 3), shp(2, 3), shp(4, 3))
error("shape/repeat-fewer-dims", "ones(2, 3).repeat(2)", lambda: _M().repeat(2),
      ("dimensions", "dims", "number"))
error("shape/repeat-negative", "ones(2).repeat(-1)", lambda: mg.ones(2).repeat(-1), "-1")
error("shape/split-zero", "ones(3).split(0)", lambda: mg.ones(3).split(0), ("split",), "0")
error("shape/split-sections-sum", "ones(3).split([1, 1]): sections must add up to 3",
      lambda: mg.ones(3).split([1, 1]), "3", ("sum", "add up"))
error("shape/split-negative-section", "ones(3).split([4, -1])",
      lambda: mg.ones(3).split([4, -1]), "-1")
error("shape/chunk-zero", "ones(3).chunk(0)", lambda: mg.ones(3).chunk(0), "chunks")
error("shape/chunk-negative", "ones(3).chunk(-1)", lambda: mg.ones(3).chunk(-1), "chunks")
error("shape/unbind-out-of-range", "ones(2, 3).unbind(2)", lambda: _M().unbind(2), "2")
error("shape/cat-empty-list", "mg.cat([])", lambda: mg.cat([]),
      ("empty", "non-empty", "at least one"))
error("shape/cat-shape-mismatch", "mg.cat([(2, 3), (2, 4)], dim=0)",
      lambda: mg.cat([mg.ones(2, 3), mg.ones(2, 4)], 0), shp(2, 3), shp(2, 4))
error("shape/cat-ndim-mismatch", "mg.cat([(2, 3), (3,)])",
      lambda: mg.cat([mg.ones(2, 3), mg.ones(3)]), shp(2, 3), shp(3))
error("shape/cat-dim-out-of-range", "mg.cat([(2,), (2,)], dim=1)",
      lambda: mg.cat([mg.ones(2), mg.ones(2)], 1), "1")
error("shape/cat-list-element", "mg.cat([tensor, [1, 2]])",
      lambda: mg.cat([mg.ones(2), [1.0, 2.0]]), ("tensor",), "list")
error("shape/cat-tensor-not-sequence", "mg.cat(tensor): a tensor, not a sequence of tensors",
      lambda: mg.cat(mg.ones(2, 2)), ("sequence", "list", "tuple"))
works("shape/cat-mixed-float-dtypes", "mg.cat([float32, float64]) promotes to float64",
      lambda: mg.cat([mg.ones(1), mg.ones(1, dtype=mg.float64)]), [1.0, 1.0], dtype="float64")
works("shape/cat-with-empty", "mg.cat([(0,), (2,)]) is (2,)",
      lambda: mg.cat([mg.zeros(0), mg.ones(2)]), [1.0, 1.0])
error("shape/stack-shape-mismatch", "mg.stack([(2,), (3,)])",
      lambda: mg.stack([mg.ones(2), mg.ones(3)]), shp(2), shp(3))
error("shape/stack-empty", "mg.stack([])", lambda: mg.stack([]),
      ("empty", "non-empty", "at least one"))
error("shape/stack-dim-out-of-range", "mg.stack([(2,), (2,)], dim=3)",
      lambda: mg.stack([mg.ones(2), mg.ones(2)], 3), "3")


# --- index: getitem, setitem, gather, index_select -------------------------------------------

_V = lambda: mg.tensor([1., 2., 3.])  # noqa: E731
error("index/getitem-out-of-range", "t[5] on a tensor of size 3", lambda: _V()[5], "5", "3",
      exc=IndexError)
error("index/getitem-negative-out-of-range", "t[-4] on a tensor of size 3", lambda: _V()[-4],
      "-4", exc=IndexError)
error("index/getitem-too-many", "ones(2, 3)[0, 0, 0]", lambda: _M()[0, 0, 0],
      ("too many", "dimension"), exc=IndexError)
error("index/getitem-float", "t[1.5]", lambda: _V()[1.5], ("float", "1.5"), exc=IndexError)
error("index/getitem-str", "t['a']", lambda: _V()["a"], ("str", "'a'"), exc=IndexError)
error("index/getitem-mask-shape", "t[mask of shape (2,)] on shape (3,)",
      lambda: _V()[T([True, False])], "mask", ("3",), exc=IndexError)
error("index/getitem-float-tensor", "t[float tensor]", lambda: _V()[T([0., 1.])],
      ("long", "int", "integer"), "float", exc=IndexError)
error("index/getitem-tensor-out-of-range", "t[tensor([5])]", lambda: _V()[T([5])], "5",
      exc=IndexError)
error("index/getitem-list-out-of-range", "t[[0, 7]]", lambda: _V()[[0, 7]], "7", exc=IndexError)
works("index/getitem-empty-slice", "t[2:1] is empty", lambda: _V()[2:1], shape=(0,))
works("index/getitem-none", "t[None] adds a dim", lambda: _V()[None], shape=(1, 3))
works("index/getitem-ellipsis", "ones(2, 3)[..., 0]", lambda: _M()[..., 0], [1.0, 1.0])
error("index/getitem-0d", "mg.tensor(1.)[0]", lambda: T(1.)[0], ("0-d", "dimension", "scalar"),
      exc=IndexError)
error("index/setitem-out-of-range", "t[5] = 1.0", lambda: _V().__setitem__(5, 1.0), "5",
      exc=IndexError)
error("index/setitem-shape-mismatch", "t[0:2] = tensor of shape (3,)",
      lambda: _V().__setitem__(slice(0, 2), mg.ones(3)), shp(3), shp(2))
error("index/setitem-nan-into-int", "int_tensor[0] = nan",
      lambda: T([1, 2]).__setitem__(0, NAN), ("nan",), ("int64", "integer", "int"))
error("index/setitem-str", "t[0] = 'a'", lambda: _V().__setitem__(0, "a"), ("str", "'a'"))
error("index/gather-out-of-range", "gather(dim=0, index=[5]) on size 3",
      lambda: mg.gather(_V(), 0, T([5])), "5")
error("index/gather-float-index", "gather with a float index",
      lambda: mg.gather(_V(), 0, T([0.])), ("index",), ("int", "long"))
error("index/gather-index-ndim", "gather of (2, 3) with a 1-d index",
      lambda: mg.gather(_M(), 1, T([0])), ("index",), ("dimensions", "dims", "ndim"))
error("index/gather-dim-out-of-range", "gather(dim=2) of (2, 3)",
      lambda: mg.gather(_M(), 2, T([[0]])), "2")
error("index/index-select-out-of-range", "index_select(0, [5]) on size 3",
      lambda: mg.index_select(_V(), 0, T([5])), "5")
error("index/index-select-2d-index", "index_select with a 2-d index",
      lambda: mg.index_select(_V(), 0, T([[0]])), ("index",), ("1-d", "1d", "vector"))
error("index/index-select-float-index", "index_select with a float index",
      lambda: mg.index_select(_V(), 0, T([0.])), ("index",), ("int", "long"))
error("index/index-select-dim-out-of-range", "index_select(dim=3)",
      lambda: mg.index_select(_V(), 3, T([0])), "3")

# --- inplace: in-place ops and their PyTorch refusals ------------------------------------------

error("inplace/leaf-requires-grad", "add_ on a leaf that requires grad",
      lambda: mg.ones(2, requires_grad=True).add_(1), "leaf", ("in-place", "inplace"))
error("inplace/view-of-leaf", "a view of a leaf that requires grad, changed in place",
      lambda: mg.ones(2, 2, requires_grad=True)[0].mul_(2), "leaf", ("in-place", "inplace"))
error("inplace/iadd-broadcast-grows", "a (3,) += b (2, 3): the result would not fit a",
      lambda: _seq_iadd(mg.zeros(3), mg.ones(2, 3)), shp(3), shp(2, 3))
error("inplace/int-iadd-float", "int tensor += 1.5: PyTorch refuses the narrowing",
      lambda: _seq_iadd(T([1, 2]), 1.5), ("float",), ("int64", "long"))
error("inplace/int-mul-float", "int tensor .mul_(0.5)", lambda: T([1, 2]).mul_(0.5), ("float",),
      ("int64", "long"))
error("inplace/bool-add-int", "bool tensor .add_(1)", lambda: T([True]).add_(1), ("bool",))
error("inplace/int-exp", "int tensor .exp_()", lambda: T([1, 2]).exp_(), ("float",),
      ("int64", "long"))
error("inplace/int-sqrt", "int tensor .sqrt_()", lambda: T([4]).sqrt_(), ("float",),
      ("int64", "long"))
error("inplace/int-div", "int tensor .div_(2)", lambda: T([4]).div_(2), ("float",),
      ("int64", "long"))
error("inplace/fill-vector", "t.fill_(tensor of 2 elements)",
      lambda: mg.ones(2).fill_(mg.ones(2)), ("0-d", "0-dim", "one element", "scalar", "number"))
error("inplace/fill-str", "t.fill_('a')", lambda: mg.ones(2).fill_("a"), ("str", "'a'"))
error("inplace/copy-shape-mismatch", "zeros(2).copy_(ones(3))",
      lambda: mg.zeros(2).copy_(mg.ones(3)), shp(2), shp(3))
works("inplace/copy-broadcast", "zeros(2, 2).copy_(ones(2)) broadcasts",
      lambda: mg.zeros(2, 2).copy_(mg.ones(2)), np.ones((2, 2)))
either("inplace/copy-list", "zeros(2).copy_([1, 2]): PyTorch wants a tensor",
       lambda: mg.zeros(2).copy_([1.0, 2.0]), ("tensor",), "list", value=[1.0, 2.0])
error("inplace/masked-fill-float-mask", "t.masked_fill_(float mask, 0)",
      lambda: mg.ones(2).masked_fill_(T([1., 0.]), 0.0), "mask", "bool")
error("inplace/uniform-bounds", "t.uniform_(1, 0): from > to", lambda: mg.zeros(2).uniform_(1, 0),
      ("from", "a", "low"), ("to", "b", "high"))
error("inplace/normal-negative-std", "t.normal_(0, -1)", lambda: mg.zeros(2).normal_(0, -1), "std")
error("inplace/uniform-int", "int tensor .uniform_()", lambda: T([1, 2]).uniform_(), ("float",))
works("inplace/no-grad-leaf", "with no_grad: a leaf that requires grad may be changed",
      lambda: _no_grad_add(), [2.0, 2.0])
error("inplace/view-of-graph-tensor", "h.view(-1).add_(1) where h is in a graph",
      lambda: (mg.ones(2, requires_grad=True) * 2).view(-1).add_(1), "view")
error("inplace/saved-tensor-modified", "y = x.sigmoid(); z = y * y; y.add_(1); z.backward()",
      lambda: _modified_saved(), ("version", "modified", "in-place", "inplace"))


def _seq_iadd(a: mg.Tensor, b: Any) -> mg.Tensor:
    a += b
    return a


def _no_grad_add() -> mg.Tensor:
    x = mg.ones(2, requires_grad=True)
    with mg.no_grad():
        x.add_(1)
    return x.detach()


def _modified_saved() -> None:
    x = mg.ones(2, requires_grad=True)
    y = x.sigmoid()
    z = (y * y).sum()
    y.add_(1)
    z.backward()


# --- autograd: backward, grad, functional, Function --------------------------------------------

def _backward_with(gradient: Any) -> Any:
    x = mg.ones(2, requires_grad=True)
    (x * 2).backward(gradient)
    return x.grad


def _backward_twice() -> None:
    x = mg.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _grad_of(outputs_fn: Callable[[mg.Tensor, mg.Tensor], Any], **kw: Any) -> Any:
    x = mg.ones(2, requires_grad=True)
    u = mg.ones(2, requires_grad=True)
    return mg.autograd.grad(outputs_fn(x, u), [x, u], **kw)


class _TwoGrads(mg.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: mg.Tensor) -> mg.Tensor:
        return x * 2

    @staticmethod
    def backward(ctx: Any, g: mg.Tensor) -> Any:
        return g * 2, g * 2


class _WrongShapeGrad(mg.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: mg.Tensor) -> mg.Tensor:
        return x * 2

    @staticmethod
    def backward(ctx: Any, g: mg.Tensor) -> Any:
        return mg.ones(3)


def _function_backward(fn: Any) -> Any:
    x = mg.ones(2, requires_grad=True)
    fn.apply(x).sum().backward()
    return x.grad


error("autograd/backward-twice", "y.backward() twice without retain_graph",
      _backward_twice, "retain_graph")
error("autograd/backward-non-scalar", "(x * 2).backward() with x of shape (2,)",
      lambda: (mg.ones(2, requires_grad=True) * 2).backward(), "scalar")
works("autograd/backward-one-element", "a (1,)-shaped output backwards without gradient, as in "
      "PyTorch", lambda: _one_element_backward(), [2.0])
error("autograd/backward-gradient-shape", "y.backward(gradient of shape (3,)) for y of shape (2,)",
      lambda: (mg.ones(2, requires_grad=True) * 2).backward(mg.ones(3)), shp(3), shp(2))
error("autograd/backward-no-grad", "backward of a tensor that does not require grad",
      lambda: mg.ones(2).sum().backward(), ("require", "grad_fn"))
error("autograd/backward-inputs-empty", "y.backward(inputs=[])",
      lambda: (mg.ones(2, requires_grad=True) * 2).sum().backward(inputs=[]), "inputs")
either("autograd/backward-gradient-list", "y.backward(gradient=[1.0, 1.0]): PyTorch wants a "
       "tensor; the right gradient is fine too", lambda: _backward_with([1.0, 1.0]),
       ("gradient", "tensor"), value=[2.0, 2.0])
error("autograd/grad-unused", "mg.autograd.grad(x.sum(), [x, u]) with u unused",
      lambda: _grad_of(lambda x, u: x.sum()), "allow_unused")
works("autograd/grad-allow-unused", "grad(..., allow_unused=True) gives None for u",
      lambda: _grad_of(lambda x, u: x.sum(), allow_unused=True)[1], None)
error("autograd/grad-input-no-grad", "grad(y, [t]) where t does not require grad",
      lambda: mg.autograd.grad((mg.ones(2, requires_grad=True) * 2).sum(), [mg.ones(2)]),
      "require")
error("autograd/grad-non-scalar", "grad(x * 2, [x]) without grad_outputs",
      lambda: mg.autograd.grad(_x() * 2, [_LAST[0]]), "scalar")
error("autograd/grad-outputs-shape", "grad(x * 2, [x], grad_outputs=ones(3)) for x (2,)",
      lambda: mg.autograd.grad(_x() * 2, [_LAST[0]], grad_outputs=mg.ones(3)), shp(3), shp(2))
error("autograd/grad-output-no-grad", "grad(ones(2).sum(), [x])",
      lambda: mg.autograd.grad(mg.ones(2).sum(), [_x()]), "require")
error("autograd/grad-inputs-not-tensors", "grad(y, [1.0])",
      lambda: mg.autograd.grad(_x().sum(), [1.0]), ("tensor",))
error("autograd/grad-twice", "grad twice through a freed graph",
      lambda: _grad_twice(), "retain_graph")
error("autograd/hessian-non-scalar", "hessian of f returning a vector",
      lambda: mg.autograd.functional.hessian(lambda v: v * 2, mg.ones(2, dtype=mg.float64)),
      "scalar")
error("autograd/jacobian-list", "jacobian(f, [1.0, 2.0]): a list, not a tensor",
      lambda: mg.autograd.functional.jacobian(lambda v: v * 2, [1.0, 2.0]), ("tensor",))
error("autograd/hvp-v-shape", "hvp(f, x (2,), v (3,))",
      lambda: mg.autograd.functional.hvp(lambda v: (v * v).sum(), mg.ones(2, dtype=mg.float64),
                                         mg.ones(3, dtype=mg.float64)), shp(3), shp(2))
error("autograd/gradcheck-non-tensor", "gradcheck(fn, (1.0,))",
      lambda: mg.autograd.gradcheck(lambda v: v * 2, (1.0,)), ("tensor", "requires_grad"))
error("autograd/function-too-many-grads", "Function.backward returning 2 gradients for 1 input",
      lambda: _function_backward(_TwoGrads), "gradient",
      ("expected 1", "1 input", "one input", "number"))
error("autograd/function-grad-shape",
      "Function.backward returning a (3,) gradient for a (2,) input",
      lambda: _function_backward(_WrongShapeGrad), shp(3), shp(2))
works("autograd/detach-no-grad", "x.detach() requires no grad",
      lambda: mg.ones(2, requires_grad=True).detach().requires_grad, False)
works("autograd/retain-graph", "backward twice with retain_graph=True accumulates",
      lambda: _retain_twice(), [4.0, 4.0])
error("autograd/grad-assign-int", "x.grad = int tensor for a float x",
      lambda: setattr(mg.ones(2, requires_grad=True), "grad", T([1, 1])), "dtype")
works("autograd/sqrt-zero-grad", "the gradient of sqrt at 0 is inf, as in PyTorch",
      lambda: _sqrt_grad(), [INF])

_LAST: list = []


def _x() -> mg.Tensor:
    x = mg.ones(2, requires_grad=True)
    _LAST[:] = [x]
    return x


def _grad_twice() -> Any:
    x = mg.ones(2, requires_grad=True)
    y = (x * x).sum()
    mg.autograd.grad(y, [x])
    return mg.autograd.grad(y, [x])


def _one_element_backward() -> mg.Tensor:
    x = mg.ones(1, requires_grad=True)
    (x * 2).backward()
    return x.grad


def _retain_twice() -> mg.Tensor:
    x = mg.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    return x.grad


def _sqrt_grad() -> mg.Tensor:
    x = mg.zeros(1, requires_grad=True)
    x.sqrt().sum().backward()
    return x.grad


# --- nn: layers, containers, Module ----------------------------------------------------------

error("nn/linear-negative-in", "nn.Linear(-1, 3)", lambda: nn.Linear(-1, 3), "in_features", "-1")
error("nn/linear-float-out", "nn.Linear(3, 2.5)", lambda: nn.Linear(3, 2.5), "out_features")
error("nn/linear-str-in", "nn.Linear('a', 3)", lambda: nn.Linear("a", 3), "in_features")
error("nn/linear-input-features", "nn.Linear(3, 4)(ones(2, 5))",
      lambda: nn.Linear(3, 4)(mg.ones(2, 5)), ("(2, 5)", "[2, 5]", "2x5", "5"),
      ("in_features", "3"))
error("nn/linear-list-input", "nn.Linear(3, 4)([1., 2., 3.])",
      lambda: nn.Linear(3, 4)([1., 2., 3.]), ("tensor",), "list")
error("nn/linear-0d-input", "nn.Linear(3, 4)(mg.tensor(1.))",
      lambda: nn.Linear(3, 4)(T(1.)), ("0-d", "dimension", "scalar", "()"))
either("nn/linear-float64-input", "nn.Linear(3, 4)(float64 input): PyTorch refuses the dtype mix",
       lambda: nn.Linear(3, 4)(mg.ones(2, 3, dtype=mg.float64)), "dtype", shape=(2, 4))
error("nn/linear-int-input", "nn.Linear(3, 4)(int input)",
      lambda: nn.Linear(3, 4)(mg.ones(2, 3, dtype=mg.int64)), ("dtype", "float"))
works("nn/linear-empty-batch", "nn.Linear(3, 4)(zeros(0, 3)) is (0, 4)",
      lambda: nn.Linear(3, 4)(mg.zeros(0, 3)), shape=(0, 4))
works("nn/linear-1d-input", "nn.Linear(3, 4)(ones(3)) is (4,)", lambda: nn.Linear(3, 4)(mg.ones(3)),
      shape=(4,))
works("nn/linear-zero-in-features", "nn.Linear(0, 2)(zeros(3, 0)) is the bias, (3, 2)",
      lambda: nn.Linear(0, 2)(mg.zeros(3, 0)), shape=(3, 2))
error("nn/embedding-negative", "nn.Embedding(-1, 3)", lambda: nn.Embedding(-1, 3),
      "num_embeddings")
error("nn/embedding-index-too-large", "nn.Embedding(10, 3)(tensor([10]))",
      lambda: nn.Embedding(10, 3)(T([10])), "10", ("range", "num_embeddings"))
error("nn/embedding-index-negative", "nn.Embedding(10, 3)(tensor([-1]))",
      lambda: nn.Embedding(10, 3)(T([-1])), "-1")
error("nn/embedding-float-index", "nn.Embedding(10, 3)(tensor([1.]))",
      lambda: nn.Embedding(10, 3)(T([1.])), ("int", "long"))
error("nn/embedding-bool-index", "nn.Embedding(10, 3)(tensor([True]))",
      lambda: nn.Embedding(10, 3)(T([True])), ("int", "long"))
error("nn/embedding-padding-idx", "nn.Embedding(10, 3, padding_idx=10)",
      lambda: nn.Embedding(10, 3, padding_idx=10), "padding_idx")
error("nn/embedding-list-input", "nn.Embedding(10, 3)([1, 2])",
      lambda: nn.Embedding(10, 3)([1, 2]), ("tensor",), "list")
error("nn/batchnorm-negative", "nn.BatchNorm1d(-1)", lambda: nn.BatchNorm1d(-1), "num_features")
error("nn/batchnorm-features", "nn.BatchNorm1d(3)(ones(4, 5))",
      lambda: nn.BatchNorm1d(3)(mg.ones(4, 5)), "3", "5")
error("nn/batchnorm-one-sample", "nn.BatchNorm1d(3)(ones(1, 3)) in training",
      lambda: nn.BatchNorm1d(3)(mg.ones(1, 3)), ("more than 1", "more than one", "at least 2",
                                                 "one sample", "1 value"))
error("nn/batchnorm-4d", "nn.BatchNorm1d(3)(ones(4, 3, 2, 2))",
      lambda: nn.BatchNorm1d(3)(mg.ones(4, 3, 2, 2)), ("2d", "2-d", "(n, c)", "(n, 3)"),
      ("4d", "4-d", "(4, 3, 2, 2)"))
error("nn/batchnorm-1d", "nn.BatchNorm1d(3)(ones(3))", lambda: nn.BatchNorm1d(3)(mg.ones(3)),
      ("2d", "2-d", "(n, c)", "(n, 3)"))
error("nn/batchnorm-eps", "nn.BatchNorm1d(3, eps=-1)", lambda: nn.BatchNorm1d(3, eps=-1), "eps")
error("nn/batchnorm-int-input", "nn.BatchNorm1d(3)(int input)",
      lambda: nn.BatchNorm1d(3)(mg.ones(4, 3, dtype=mg.int64)), ("float",))
works("nn/batchnorm-eval-one-sample", "BatchNorm1d(3).eval()(ones(1, 3)) works",
      lambda: nn.BatchNorm1d(3).eval()(mg.ones(1, 3)), shape=(1, 3))
works("nn/batchnorm-constant-batch", "BatchNorm1d on a constant batch gives zeros (no NaN)",
      lambda: nn.BatchNorm1d(2)(mg.ones(4, 2)), np.zeros((4, 2)))
error("nn/layernorm-shape", "nn.LayerNorm(3)(ones(2, 4))", lambda: nn.LayerNorm(3)(mg.ones(2, 4)),
      ("normalized_shape", "(3,)"), ("(2, 4)", "[2, 4]"))
error("nn/layernorm-negative", "nn.LayerNorm(-1)", lambda: nn.LayerNorm(-1), "normalized_shape")
works("nn/layernorm-constant-row", "LayerNorm on a constant row gives zeros (no NaN)",
      lambda: nn.LayerNorm(3)(mg.ones(2, 3)), np.zeros((2, 3)))
error("nn/dropout-p-too-large", "nn.Dropout(p=1.5)", lambda: nn.Dropout(1.5), arg("p"), "1.5")
error("nn/dropout-p-negative", "nn.Dropout(p=-0.1)", lambda: nn.Dropout(-0.1), arg("p"), "-0.1")
error("nn/dropout-p-str", "nn.Dropout(p='a')", lambda: nn.Dropout("a"), arg("p"))
error("nn/dropout-p-nan", "nn.Dropout(p=nan)", lambda: nn.Dropout(NAN), arg("p"), "nan")
works("nn/dropout-p-one", "F.dropout(ones(3), p=1.0) is zeros (no NaN)",
      lambda: F.dropout(mg.ones(3), p=1.0), [0.0, 0.0, 0.0])
error("nn/functional-dropout-p", "F.dropout(x, p=2.0)", lambda: F.dropout(mg.ones(3), p=2.0),
      ("probability",) + arg("p"))
error("nn/softmax-dim", "nn.Softmax(dim=5)(ones(2, 3))", lambda: nn.Softmax(dim=5)(_M()), "5")
error("nn/flatten-dim", "nn.Flatten(start_dim=5)(ones(2, 3))",
      lambda: nn.Flatten(start_dim=5)(_M()), "5")
error("nn/gelu-approximate", "nn.GELU(approximate='bogus')", lambda: nn.GELU("bogus"),
      "approximate")
error("nn/functional-gelu-approximate", "F.gelu(x, approximate='bogus')",
      lambda: F.gelu(mg.ones(2), approximate="bogus"), "approximate")
error("nn/leaky-relu-slope-str", "F.leaky_relu(x, negative_slope='a')",
      lambda: F.leaky_relu(mg.ones(2), negative_slope="a"), "negative_slope")
error("nn/relu-list", "F.relu([1., -1.])", lambda: F.relu([1., -1.]), ("tensor",), "list")
works("nn/softplus-large", "F.softplus(1e300 in float64) is 1e300",
      lambda: F.softplus(T([1e300], dtype=mg.float64)), [1e300])
works("nn/gelu-inf", "F.gelu([inf, -1e4]) is [inf, 0] (no NaN)",
      lambda: F.gelu(T([INF, -1e4])), [INF, 0.0])
error("nn/one-hot-too-large", "F.one_hot(tensor([3]), num_classes=3)",
      lambda: F.one_hot(T([3]), num_classes=3), "num_classes", "3")
error("nn/one-hot-negative", "F.one_hot(tensor([-1]))", lambda: F.one_hot(T([-1])),
      ("negative", "-1"))
error("nn/one-hot-float", "F.one_hot(tensor([1.]))", lambda: F.one_hot(T([1.])),
      ("int", "long", "index"))
error("nn/one-hot-empty-infer", "F.one_hot(empty int tensor) cannot infer num_classes",
      lambda: F.one_hot(mg.zeros(0, dtype=mg.int64)), "num_classes", ("empty",))
error("nn/one-hot-zero-classes", "F.one_hot(tensor([1]), num_classes=0)",
      lambda: F.one_hot(T([1]), num_classes=0), "num_classes")
error("nn/functional-linear-weight", "F.linear(ones(2, 3), weight of shape (4, 5))",
      lambda: F.linear(_M(), mg.ones(4, 5)), shp(2, 3), shp(4, 5))
error("nn/functional-linear-bias", "F.linear(ones(2, 3), ones(4, 3), bias of shape (5,))",
      lambda: F.linear(_M(), mg.ones(4, 3), mg.ones(5)), ("bias",), shp(5))
error("nn/functional-layer-norm", "F.layer_norm(ones(2, 3), (5,))",
      lambda: F.layer_norm(_M(), (5,)), ("normalized_shape", "(5,)"), shp(2, 3))
error("nn/functional-batch-norm-running", "F.batch_norm(ones(4, 3), running_mean of size 2, ...)",
      lambda: F.batch_norm(mg.ones(4, 3), mg.zeros(2), mg.ones(2), training=False),
      ("running_mean",), ("2",))
error("nn/functional-embedding", "F.embedding(tensor([5]), weight (3, 2))",
      lambda: F.embedding(T([5]), mg.ones(3, 2)), "5")
works("nn/sequential-empty", "nn.Sequential()(x) returns x", lambda: nn.Sequential()(mg.ones(2)),
      [1.0, 1.0])
error("nn/sequential-non-module", "nn.Sequential(nn.ReLU(), 5)",
      lambda: nn.Sequential(nn.ReLU(), 5), "Module", "int")
error("nn/modulelist-non-module", "nn.ModuleList([1])", lambda: nn.ModuleList([1]), "Module",
      "int")
error("nn/sequential-index", "nn.Sequential(nn.ReLU())[5]", lambda: nn.Sequential(nn.ReLU())[5],
      "5", exc=IndexError)
error("nn/register-buffer-dot", "m.register_buffer('a.b', t)",
      lambda: nn.Module().register_buffer("a.b", mg.ones(1)), "a.b", ("'.'", '"."', "dot"),
      exc=(KeyError, ValueError))
error("nn/register-buffer-list", "m.register_buffer('x', [1, 2])",
      lambda: nn.Module().register_buffer("x", [1, 2]), arg("x"), ("tensor",))
error("nn/register-parameter-tensor", "m.register_parameter('w', plain tensor)",
      lambda: nn.Module().register_parameter("w", mg.ones(1)), "w", ("parameter",))
error("nn/register-buffer-empty-name", "m.register_buffer('', t)",
      lambda: nn.Module().register_buffer("", mg.ones(1)), ("empty", "name"),
      exc=(KeyError, ValueError))
error("nn/module-no-forward", "nn.Module()(x): no forward defined",
      lambda: nn.Module()(mg.ones(1)), "forward", exc=NotImplementedError)
error("nn/module-to-bad-device", "nn.Linear(2, 2).to('tpu')", lambda: nn.Linear(2, 2).to("tpu"),
      "tpu")
error("nn/module-to-bad-dtype", "nn.Linear(2, 2).to(dtype='bogus')",
      lambda: nn.Linear(2, 2).to(dtype="bogus"), "bogus")
error("nn/module-to-int-dtype", "nn.Linear(2, 2).to(mg.int64): parameters must stay floats",
      lambda: nn.Linear(2, 2).to(mg.int64), ("float", "floating"))
error("nn/parameter-int", "nn.Parameter(int tensor) requires grad",
      lambda: nn.Parameter(T([1, 2])), ("float", "floating"))
either("nn/parameter-list", "nn.Parameter([1., 2.]): PyTorch wants a tensor; a parameter of "
       "those values is fine too", lambda: nn.Parameter([1., 2.]), ("tensor",), "list",
       value=[1., 2.])

# --- loss: the losses of nn.functional and their modules -----------------------------------------

_LOGITS = lambda: mg.zeros(2, 3)  # noqa: E731
error("loss/ce-label-too-large", "F.cross_entropy(logits (2, 3), target [0, 3])",
      lambda: F.cross_entropy(_LOGITS(), T([0, 3])), "3", "class")
error("loss/ce-label-negative", "F.cross_entropy(logits (2, 3), target [0, -1])",
      lambda: F.cross_entropy(_LOGITS(), T([0, -1])), "-1")
error("loss/ce-float-target-1d", "F.cross_entropy(logits (2, 3), float target (2,))",
      lambda: F.cross_entropy(_LOGITS(), T([0., 1.])), ("float",), ("int", "long", "class"))
error("loss/ce-batch-mismatch", "F.cross_entropy(logits (2, 3), target (3,))",
      lambda: F.cross_entropy(_LOGITS(), T([0, 1, 2])), "2", "3")
error("loss/ce-target-2d-int", "F.cross_entropy(logits (2, 3), int target (2, 3))",
      lambda: F.cross_entropy(_LOGITS(), mg.zeros(2, 3, dtype=mg.int64)), shp(2, 3),
      ("target",))
error("loss/ce-0d-input", "F.cross_entropy(mg.tensor(1.), mg.tensor(0))",
      lambda: F.cross_entropy(T(1.), T(0)), ("0-d", "dimension", "shape", "()"))
works("loss/ce-empty-batch", "F.cross_entropy of an empty batch is nan, as in PyTorch",
      lambda: F.cross_entropy(mg.zeros(0, 3), mg.zeros(0, dtype=mg.int64)), NAN)
works("loss/ce-all-ignored", "F.cross_entropy with every target ignored is nan, as in PyTorch",
      lambda: F.cross_entropy(_LOGITS(), T([-100, -100])), NAN)
works("loss/ce-large-logits", "F.cross_entropy([[1e4, 0]], [0]) is 0 (stable)",
      lambda: F.cross_entropy(T([[1e4, 0.]]), T([0])), 0.0)
works("loss/ce-large-logits-wrong", "F.cross_entropy([[1e4, 0]], [1]) is 1e4 (stable)",
      lambda: F.cross_entropy(T([[1e4, 0.]]), T([1])), 1e4)
error("loss/ce-int-logits", "F.cross_entropy(int logits, target)",
      lambda: F.cross_entropy(mg.zeros(2, 3, dtype=mg.int64), T([0, 1])), ("float",))
error("loss/ce-weight-size", "F.cross_entropy(..., weight of size 2) for 3 classes",
      lambda: F.cross_entropy(_LOGITS(), T([0, 1]), weight=mg.ones(2)), "weight", "3")
error("loss/ce-label-smoothing", "F.cross_entropy(..., label_smoothing=1.5)",
      lambda: F.cross_entropy(_LOGITS(), T([0, 1]), label_smoothing=1.5), "label_smoothing")
error("loss/ce-bool-target", "F.cross_entropy(logits, bool target)",
      lambda: F.cross_entropy(_LOGITS(), T([True, False])), ("bool",))
error("loss/ce-prob-target-shape", "F.cross_entropy(logits (2, 3), float target (2, 4))",
      lambda: F.cross_entropy(_LOGITS(), mg.ones(2, 4) / 4), shp(2, 3), shp(2, 4))
error("loss/ce-list-target", "F.cross_entropy(logits, [0, 1])",
      lambda: F.cross_entropy(_LOGITS(), [0, 1]), ("tensor",), "list")
error("loss/ce-reduction", "F.cross_entropy(..., reduction='bogus')",
      lambda: F.cross_entropy(_LOGITS(), T([0, 1]), reduction="bogus"), "reduction", "bogus")
error("loss/ce-spatial-target-shape", "F.cross_entropy(logits (2, 3, 4), target (2, 5))",
      lambda: F.cross_entropy(mg.zeros(2, 3, 4), mg.zeros(2, 5, dtype=mg.int64)), shp(2, 5))
works("loss/ce-spatial", "F.cross_entropy(logits (2, 3, 4), target (2, 4)) is a scalar",
      lambda: F.cross_entropy(mg.zeros(2, 3, 4), mg.zeros(2, 4, dtype=mg.int64)), math.log(3))
error("loss/ce-module-label", "nn.CrossEntropyLoss()(logits (2, 3), [0, 5])",
      lambda: nn.CrossEntropyLoss()(_LOGITS(), T([0, 5])), "5", "class")
error("loss/ce-module-reduction", "nn.CrossEntropyLoss(reduction='bogus')",
      lambda: nn.CrossEntropyLoss(reduction="bogus")(_LOGITS(), T([0, 1])), "reduction", "bogus")
error("loss/nll-label-too-large", "F.nll_loss(log_probs (2, 3), target [0, 3])",
      lambda: F.nll_loss(_LOGITS(), T([0, 3])), "3", "class")
error("loss/nll-float-target", "F.nll_loss(log_probs (2, 3), float target)",
      lambda: F.nll_loss(_LOGITS(), T([0., 1.])), ("float",))
error("loss/nll-reduction", "F.nll_loss(..., reduction='bogus')",
      lambda: F.nll_loss(_LOGITS(), T([0, 1]), reduction="bogus"), "reduction", "bogus")
error("loss/bce-input-out-of-range", "F.binary_cross_entropy([1.5], [1.])",
      lambda: F.binary_cross_entropy(T([1.5]), T([1.])), ("between 0 and 1", "[0, 1]"))
error("loss/bce-input-nan", "F.binary_cross_entropy([nan], [1.])",
      lambda: F.binary_cross_entropy(T([NAN]), T([1.])), ("between 0 and 1", "[0, 1]", "nan"))
error("loss/bce-target-shape", "F.binary_cross_entropy(input (2,), target (3,))",
      lambda: F.binary_cross_entropy(mg.ones(2) / 2, mg.ones(3)), shp(2), shp(3))
either("loss/bce-int-target", "F.binary_cross_entropy(input, int target): PyTorch wants a float "
       "target; log 2 is fine too", lambda: F.binary_cross_entropy(mg.ones(2) / 2, T([1, 0])),
       ("float", "dtype"), value=math.log(2))
works("loss/bce-extremes", "F.binary_cross_entropy([0., 1.], [1., 0.]) is 100 (logs clamped)",
      lambda: F.binary_cross_entropy(T([0., 1.]), T([1., 0.])), 100.0)
error("loss/bce-reduction", "F.binary_cross_entropy(..., reduction='bogus')",
      lambda: F.binary_cross_entropy(mg.ones(2) / 2, mg.ones(2), reduction="bogus"),
      "reduction", "bogus")
error("loss/bce-logits-shape", "F.binary_cross_entropy_with_logits(input (2,), target (3,))",
      lambda: F.binary_cross_entropy_with_logits(mg.ones(2), mg.ones(3)), shp(2), shp(3))
works("loss/bce-logits-large", "F.binary_cross_entropy_with_logits([1e4], [0.]) is 1e4 (stable)",
      lambda: F.binary_cross_entropy_with_logits(T([1e4]), T([0.])), 1e4)
error("loss/bce-logits-pos-weight", "binary_cross_entropy_with_logits(pos_weight of shape (3,)) "
      "for input (2,)", lambda: F.binary_cross_entropy_with_logits(
          mg.ones(2), mg.ones(2), pos_weight=mg.ones(3)), ("pos_weight",), shp(3))
error("loss/mse-shape", "F.mse_loss(input (2,), target (3,))",
      lambda: F.mse_loss(mg.ones(2), mg.ones(3)), shp(2), shp(3))
either("loss/mse-broadcast", "F.mse_loss(input (2, 1), target (2,)): PyTorch warns and "
       "broadcasts; minigrad may refuse", lambda: F.mse_loss(mg.ones(2, 1), mg.ones(2)),
       shp(2, 1), shp(2), value=0.0)
error("loss/mse-int", "F.mse_loss(int, int)",
      lambda: F.mse_loss(T([1, 2]), T([1, 2])), ("float",))
works("loss/mse-empty", "F.mse_loss of empty tensors is nan, as in PyTorch",
      lambda: F.mse_loss(mg.zeros(0), mg.zeros(0)), NAN)
error("loss/mse-list-target", "F.mse_loss(input, [1., 2.])",
      lambda: F.mse_loss(mg.ones(2), [1., 2.]), ("tensor",), "list")
error("loss/mse-reduction", "F.mse_loss(..., reduction='bogus')",
      lambda: F.mse_loss(mg.ones(2), mg.ones(2), reduction="bogus"), "reduction", "bogus")
error("loss/mse-module-reduction", "nn.MSELoss(reduction='bogus')",
      lambda: nn.MSELoss(reduction="bogus")(mg.ones(2), mg.ones(2)), "reduction", "bogus")
error("loss/l1-shape", "F.l1_loss(input (2,), target (3,))",
      lambda: F.l1_loss(mg.ones(2), mg.ones(3)), shp(2), shp(3))
error("loss/l1-reduction", "F.l1_loss(..., reduction='bogus')",
      lambda: F.l1_loss(mg.ones(2), mg.ones(2), reduction="bogus"), "reduction", "bogus")
error("loss/smooth-l1-beta", "F.smooth_l1_loss(..., beta=-1)",
      lambda: F.smooth_l1_loss(mg.ones(2), mg.ones(2), beta=-1.0), "beta")
error("loss/huber-delta", "F.huber_loss(..., delta=0)",
      lambda: F.huber_loss(mg.ones(2), mg.ones(2), delta=0.0), "delta")
error("loss/kl-shape", "F.kl_div(input (2,), target (3,))",
      lambda: F.kl_div(mg.ones(2), mg.ones(3)), shp(2), shp(3))
error("loss/kl-reduction", "F.kl_div(..., reduction='bogus')",
      lambda: F.kl_div(mg.ones(2), mg.ones(2), reduction="bogus"), "reduction", "bogus")
works("loss/kl-zero-target", "F.kl_div(log p, target with zeros) treats 0 log 0 as 0",
      lambda: F.kl_div(T([-1., -1.]), T([0., 1.]), reduction="sum"), 1.0)


# --- optim: optimizers' arguments, steps and state --------------------------------------------

def _P() -> list:
    return [param(2)]


error("optim/sgd-negative-lr", "optim.SGD(params, lr=-1)", lambda: optim.SGD(_P(), lr=-1),
      "lr", "-1")
error("optim/sgd-str-lr", "optim.SGD(params, lr='a')", lambda: optim.SGD(_P(), lr="a"), "lr")
error("optim/sgd-nan-lr", "optim.SGD(params, lr=nan)", lambda: optim.SGD(_P(), lr=NAN), "lr",
      "nan")
error("optim/sgd-negative-momentum", "optim.SGD(momentum=-0.5)",
      lambda: optim.SGD(_P(), lr=0.1, momentum=-0.5), "momentum")
error("optim/sgd-nesterov-no-momentum", "optim.SGD(nesterov=True, momentum=0)",
      lambda: optim.SGD(_P(), lr=0.1, nesterov=True), "nesterov")
error("optim/sgd-negative-weight-decay", "optim.SGD(weight_decay=-1)",
      lambda: optim.SGD(_P(), lr=0.1, weight_decay=-1), "weight_decay")
error("optim/sgd-empty-params", "optim.SGD([])", lambda: optim.SGD([], lr=0.1), "empty")
error("optim/sgd-single-tensor", "optim.SGD(tensor): not an iterable of tensors",
      lambda: optim.SGD(param(2), lr=0.1), ("iterable", "list"), "params")
error("optim/sgd-non-leaf", "optim.SGD([x * 2])",
      lambda: optim.SGD([mg.ones(2, requires_grad=True) * 2], lr=0.1), "leaf")
error("optim/sgd-non-tensor", "optim.SGD([1.0])", lambda: optim.SGD([1.0], lr=0.1),
      ("tensor",), "float")
either("optim/sgd-int-param", "optim.SGD([int tensor]): PyTorch accepts it (it never gets a "
       "gradient)", lambda: optim.SGD([T([1, 2])], lr=0.1), ("float", "floating", "require"),
       check=lambda o: isinstance(o, optim.SGD) or "not an SGD")
works("optim/sgd-duplicate-params", "optim.SGD([p, p]) warns about duplicates, as in PyTorch",
      lambda: _dup_sgd(), warns=[("duplicate", "twice")],
      check=lambda o: isinstance(o, optim.SGD) or "not an SGD")
error("optim/sgd-group-no-params", "optim.SGD([{'lr': 0.1}]): a group without 'params'",
      lambda: optim.SGD([{"lr": 0.1}], lr=0.1), "params")
error("optim/sgd-unknown-kwarg", "optim.SGD(params, lr=0.1, bogus=1)",
      lambda: optim.SGD(_P(), lr=0.1, bogus=1), "bogus")
error("optim/adam-beta1", "optim.Adam(betas=(1.0, 0.999))",
      lambda: optim.Adam(_P(), betas=(1.0, 0.999)), "beta")
error("optim/adam-betas-length", "optim.Adam(betas=(0.9,))", lambda: optim.Adam(_P(), betas=(0.9,)),
      "betas")
error("optim/adam-negative-eps", "optim.Adam(eps=-1)", lambda: optim.Adam(_P(), eps=-1), "eps")
error("optim/adam-inf-lr", "optim.Adam(lr=inf)", lambda: optim.Adam(_P(), lr=INF), "lr")
error("optim/adamw-negative-weight-decay", "optim.AdamW(weight_decay=-1)",
      lambda: optim.AdamW(_P(), weight_decay=-1), "weight_decay")
error("optim/adagrad-lr-decay", "optim.Adagrad(lr_decay=-1)",
      lambda: optim.Adagrad(_P(), lr_decay=-1), "lr_decay")
error("optim/adagrad-initial-accumulator", "optim.Adagrad(initial_accumulator_value=-1)",
      lambda: optim.Adagrad(_P(), initial_accumulator_value=-1), "initial_accumulator_value")
error("optim/rmsprop-alpha", "optim.RMSprop(alpha=-1)", lambda: optim.RMSprop(_P(), alpha=-1),
      "alpha")
error("optim/rmsprop-momentum", "optim.RMSprop(momentum=-1)",
      lambda: optim.RMSprop(_P(), momentum=-1), "momentum")
error("optim/adadelta-rho", "optim.Adadelta(rho=1.5)", lambda: optim.Adadelta(_P(), rho=1.5),
      "rho")
error("optim/adamax-betas", "optim.Adamax(betas=(0.9, 1.5))",
      lambda: optim.Adamax(_P(), betas=(0.9, 1.5)), "beta")
error("optim/nadam-momentum-decay", "optim.NAdam(momentum_decay=-1)",
      lambda: optim.NAdam(_P(), momentum_decay=-1), "momentum_decay")
error("optim/radam-betas", "optim.RAdam(betas=(-0.1, 0.9))",
      lambda: optim.RAdam(_P(), betas=(-0.1, 0.9)), "beta")
error("optim/rprop-etas", "optim.Rprop(etas=(1.5, 1.2))",
      lambda: optim.Rprop(_P(), etas=(1.5, 1.2)),
      "eta")
error("optim/asgd-negative-lr", "optim.ASGD(lr=-1)", lambda: optim.ASGD(_P(), lr=-1), "lr")
error("optim/lion-betas", "optim.Lion(betas=(1.5, 0.9))",
      lambda: optim.Lion(_P(), betas=(1.5, 0.9)),
      "beta")
error("optim/ftrl-lr-power", "optim.FTRL(lr_power=1)", lambda: optim.FTRL(_P(), lr_power=1),
      "lr_power")
error("optim/adabelief-eps", "optim.AdaBelief(eps=-1)", lambda: optim.AdaBelief(_P(), eps=-1),
      "eps")
error("optim/muon-ns-steps", "optim.Muon(ns_steps=-1)", lambda: optim.Muon(_P(), ns_steps=-1),
      "ns_steps")
error("optim/lookahead-k", "optim.Lookahead(sgd, k=0)", lambda: optim.Lookahead(sgd(), k=0),
      arg("k"))
error("optim/lookahead-alpha", "optim.Lookahead(sgd, alpha=1.5)",
      lambda: optim.Lookahead(sgd(), alpha=1.5), "alpha")
error("optim/lookahead-not-optimizer", "optim.Lookahead([p])",
      lambda: optim.Lookahead(_P()), ("optimizer",))
error("optim/lbfgs-groups", "optim.LBFGS with two param groups",
      lambda: optim.LBFGS([{"params": _P()}, {"params": _P()}]), "group")
error("optim/lbfgs-no-closure", "LBFGS.step() without a closure",
      lambda: optim.LBFGS(_P()).step(), "closure")
error("optim/lbfgs-line-search", "optim.LBFGS(line_search_fn='bogus')",
      lambda: optim.LBFGS(_P(), line_search_fn="bogus"), ("strong_wolfe", "line_search_fn"))
error("optim/step-nan-grad", "opt.step() with a NaN gradient", lambda: _step_with_grad(NAN),
      ("nan", "non-finite", "nonfinite", "finite"))
error("optim/step-inf-grad", "opt.step() with an inf gradient", lambda: _step_with_grad(INF),
      ("inf", "non-finite", "nonfinite", "finite"))
works("optim/step-no-grad", "opt.step() with no gradients leaves the parameter as is",
      lambda: _step_without_grad(), [1.0, 1.0])
error("optim/step-lr-set-to-nan", "group['lr'] = nan, then opt.step()",
      lambda: _step_lr(NAN), "lr")
error("optim/step-lr-set-to-str", "group['lr'] = 'a', then opt.step()",
      lambda: _step_lr("a"), "lr")
error("optim/load-state-groups", "opt.load_state_dict with another number of groups",
      lambda: sgd().load_state_dict({"state": {}, "param_groups": []}), "group")
error("optim/load-state-group-size", "opt.load_state_dict with a group of another size",
      lambda: _load_group_size(), ("size", "number", "parameters"))
error("optim/load-state-missing-keys", "opt.load_state_dict({})",
      lambda: sgd().load_state_dict({}), "param_groups")
error("optim/load-state-not-dict", "opt.load_state_dict(5)", lambda: sgd().load_state_dict(5),
      ("dict", "mapping"))
error("optim/add-param-group-duplicate", "opt.add_param_group with a parameter already there",
      lambda: _add_dup_group(), ("more than one", "already", "twice", "duplicate"))
error("optim/add-param-group-bad-lr", "opt.add_param_group({'params': [p], 'lr': -1})",
      lambda: sgd().add_param_group({"params": [param(2)], "lr": -1}), "lr")
error("optim/clip-norm-nonfinite", "clip_grad_norm_(error_if_nonfinite=True) with a NaN gradient",
      lambda: _clip_nan(), ("non-finite", "nonfinite", "nan"))
error("optim/clip-norm-type", "clip_grad_norm_(norm_type='bogus')",
      lambda: optim.clip_grad_norm_(_P_with_grad(), 1.0, norm_type="bogus"), "norm_type")
error("optim/clip-norm-max-str", "clip_grad_norm_(max_norm='a')",
      lambda: optim.clip_grad_norm_(_P_with_grad(), "a"), "max_norm")
error("optim/clip-value-str", "clip_grad_value_(clip_value='a')",
      lambda: optim.clip_grad_value_(_P_with_grad(), "a"), "clip_value")
works("optim/clip-norm-no-grads", "clip_grad_norm_ over parameters without gradients is 0",
      lambda: optim.clip_grad_norm_(_P(), 1.0), 0.0)
error("optim/init-kaiming-1d", "nn.init.kaiming_uniform_ of a 1-d tensor (no fan in)",
      lambda: nn.init.kaiming_uniform_(mg.zeros(3)), ("fan", "dimension", "2"))
error("optim/init-nonlinearity", "nn.init.calculate_gain('bogus')",
      lambda: nn.init.calculate_gain("bogus"), "bogus")
error("optim/init-orthogonal-1d", "nn.init.orthogonal_ of a 1-d tensor",
      lambda: nn.init.orthogonal_(mg.zeros(3)), ("2", "dimension"))
error("optim/init-uniform-int", "nn.init.uniform_ of an int tensor",
      lambda: nn.init.uniform_(T([1, 2])), ("float",))


def _dup_sgd() -> optim.SGD:
    p = param(2)
    return optim.SGD([p, p], lr=0.1)


def _P_with_grad() -> list:
    p = param(2)
    p.grad = mg.ones(2)
    return [p]


def _step_with_grad(value: float) -> Any:
    p = param(2)
    opt = optim.SGD([p], lr=0.1)
    p.grad = mg.tensor([value, 1.0])
    opt.step()
    return p.detach()


def _step_without_grad() -> Any:
    p = param(2)
    optim.Adam([p]).step()
    return p.detach()


def _step_lr(lr: Any) -> Any:
    p = param(2)
    opt = optim.SGD([p], lr=0.1)
    opt.param_groups[0]["lr"] = lr
    p.grad = mg.ones(2)
    opt.step()
    return p.detach()


def _load_group_size() -> None:
    big = optim.SGD([param(2), param(2)], lr=0.1)
    sgd().load_state_dict(big.state_dict())


def _add_dup_group() -> None:
    p = param(2)
    opt = optim.SGD([p], lr=0.1)
    opt.add_param_group({"params": [p]})


def _clip_nan() -> Any:
    p = param(2)
    p.grad = mg.tensor([NAN, 1.0])
    return optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


# --- sched: learning-rate schedulers -------------------------------------------------------------

LR = lr_scheduler
error("sched/steplr-zero", "StepLR(opt, step_size=0)", lambda: LR.StepLR(sgd(), step_size=0),
      "step_size")
error("sched/steplr-negative", "StepLR(opt, step_size=-1)", lambda: LR.StepLR(sgd(), step_size=-1),
      "step_size")
error("sched/steplr-float", "StepLR(opt, step_size=1.5)", lambda: LR.StepLR(sgd(), step_size=1.5),
      "step_size")
error("sched/steplr-not-optimizer", "StepLR([p], 1)", lambda: LR.StepLR(_P(), 1), "optimizer")
error("sched/multisteplr-str", "MultiStepLR(opt, milestones=['a'])",
      lambda: LR.MultiStepLR(sgd(), ["a"]), "milestones")
error("sched/constantlr-factor", "ConstantLR(opt, factor=2)",
      lambda: LR.ConstantLR(sgd(), factor=2),
      "factor")
error("sched/linearlr-start", "LinearLR(opt, start_factor=0)",
      lambda: LR.LinearLR(sgd(), start_factor=0), "start_factor")
error("sched/linearlr-end", "LinearLR(opt, end_factor=2)",
      lambda: LR.LinearLR(sgd(), end_factor=2), "end_factor")
error("sched/exponentiallr-nan", "ExponentialLR(opt, gamma=nan)",
      lambda: LR.ExponentialLR(sgd(), gamma=NAN), "gamma")
error("sched/cosine-tmax-zero", "CosineAnnealingLR(opt, T_max=0)",
      lambda: LR.CosineAnnealingLR(sgd(), T_max=0), "T_max")
error("sched/warm-restarts-t0", "CosineAnnealingWarmRestarts(opt, T_0=0)",
      lambda: LR.CosineAnnealingWarmRestarts(sgd(), T_0=0), "T_0")
error("sched/warm-restarts-tmult", "CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)",
      lambda: LR.CosineAnnealingWarmRestarts(sgd(), T_0=2, T_mult=0), "T_mult")
error("sched/warm-restarts-negative-epoch", "CosineAnnealingWarmRestarts.step(-1)",
      lambda: LR.CosineAnnealingWarmRestarts(sgd(), T_0=2).step(-1), "epoch")
error("sched/cyclic-mode", "CyclicLR(opt, 0.1, 1.0, mode='bogus')",
      lambda: LR.CyclicLR(sgd(), 0.1, 1.0, mode="bogus"), "mode")
error("sched/cyclic-step-size", "CyclicLR(opt, 0.1, 1.0, step_size_up=0)",
      lambda: LR.CyclicLR(sgd(), 0.1, 1.0, step_size_up=0), "step_size")
error("sched/onecycle-total-zero", "OneCycleLR(opt, 1.0, total_steps=0)",
      lambda: LR.OneCycleLR(sgd(), 1.0, total_steps=0), "total_steps")
error("sched/onecycle-no-length", "OneCycleLR(opt, 1.0) without total_steps or epochs",
      lambda: LR.OneCycleLR(sgd(), 1.0), "total_steps")
error("sched/onecycle-past-end", "OneCycleLR(total_steps=2) stepped 3 times",
      lambda: _onecycle_past_end(), ("total", "3"))
error("sched/onecycle-pct-start", "OneCycleLR(pct_start=1.5)",
      lambda: LR.OneCycleLR(sgd(), 1.0, total_steps=10, pct_start=1.5), "pct_start")
error("sched/onecycle-anneal", "OneCycleLR(anneal_strategy='bogus')",
      lambda: LR.OneCycleLR(sgd(), 1.0, total_steps=10, anneal_strategy="bogus"),
      "anneal_strategy")
error("sched/plateau-mode", "ReduceLROnPlateau(opt, mode='bogus')",
      lambda: LR.ReduceLROnPlateau(sgd(), mode="bogus"), "mode")
error("sched/plateau-factor", "ReduceLROnPlateau(opt, factor=1.0)",
      lambda: LR.ReduceLROnPlateau(sgd(), factor=1.0), "factor")
error("sched/plateau-threshold-mode", "ReduceLROnPlateau(opt, threshold_mode='bogus')",
      lambda: LR.ReduceLROnPlateau(sgd(), threshold_mode="bogus"), "threshold_mode")
error("sched/plateau-metric-str", "ReduceLROnPlateau.step('a')",
      lambda: LR.ReduceLROnPlateau(sgd()).step("a"), ("metric", "metrics"))
error("sched/sequential-milestones", "SequentialLR with 2 schedulers and 2 milestones",
      lambda: _sequential([1, 2]), "milestone")
error("sched/sequential-other-optimizer", "SequentialLR with a scheduler of another optimizer",
      lambda: _sequential_other(), "optimizer")
error("sched/lambda-count", "LambdaLR(opt, [f, f]) for one param group",
      lambda: LR.LambdaLR(sgd(), [lambda e: 1.0, lambda e: 1.0]), "lr_lambda")
error("sched/lambda-not-callable", "LambdaLR(opt, 0.5)", lambda: LR.LambdaLR(sgd(), 0.5),
      "lr_lambda")
error("sched/lambda-returns-nan", "LambdaLR(opt, lambda e: nan), then opt.step()",
      lambda: _lambda_nan(), "lr", ("nan", "finite"))
error("sched/warmup-cosine-order", "warmup_cosine(opt, warmup_steps=10, total_steps=5)",
      lambda: LR.warmup_cosine(sgd(), 10, 5), "warmup_steps", "total_steps")
works("sched/step-before-optimizer", "scheduler.step() before optimizer.step() warns, as in "
      "PyTorch", lambda: _step_before(), warns=["optimizer.step()"])
error("sched/load-state-not-dict", "scheduler.load_state_dict(5)",
      lambda: LR.StepLR(sgd(), 1).load_state_dict(5), ("dict", "mapping"))


def _onecycle_past_end() -> None:
    opt = sgd()
    s = LR.OneCycleLR(opt, 1.0, total_steps=2)
    for _ in range(3):
        opt.step()
        s.step()


def _sequential(milestones: list) -> Any:
    opt = sgd()
    return LR.SequentialLR(opt, [LR.StepLR(opt, 1), LR.StepLR(opt, 1)], milestones)


def _sequential_other() -> Any:
    opt, other = sgd(), sgd()
    return LR.SequentialLR(opt, [LR.StepLR(opt, 1), LR.StepLR(other, 1)], [1])


def _lambda_nan() -> Any:
    p = param(2)
    opt = optim.SGD([p], lr=0.1)
    LR.LambdaLR(opt, lambda e: NAN)
    p.grad = mg.ones(2)
    opt.step()
    return p.detach()


def _step_before() -> Any:
    opt = sgd()
    s = LR.StepLR(opt, 1)
    s.step()
    return s.get_last_lr()


# --- data: datasets, DataLoader, collation, splitting, scaling ------------------------------------

_DS = lambda n=4: udata.TensorDataset(mg.arange(n * 2.0).reshape(n, 2), mg.arange(n))  # noqa: E731
either("data/loader-empty-dataset", "DataLoader over an empty TensorDataset: PyTorch yields no "
       "batches; minigrad refuses naming it", lambda: list(udata.DataLoader(
           udata.TensorDataset(mg.zeros(0, 2)))), "empty", value=None,
       check=lambda r: r == [] or f"got {_short(r)}")
error("data/loader-batch-size-zero", "DataLoader(ds, batch_size=0)",
      lambda: udata.DataLoader(_DS(), batch_size=0), "batch_size")
error("data/loader-batch-size-negative", "DataLoader(ds, batch_size=-1)",
      lambda: udata.DataLoader(_DS(), batch_size=-1), "batch_size")
error("data/loader-batch-size-float", "DataLoader(ds, batch_size=1.5)",
      lambda: udata.DataLoader(_DS(), batch_size=1.5), "batch_size")
error("data/loader-batch-size-str", "DataLoader(ds, batch_size='2')",
      lambda: udata.DataLoader(_DS(), batch_size="2"), "batch_size")
error("data/loader-not-dataset", "DataLoader(5)", lambda: udata.DataLoader(5), "dataset")
error("data/loader-seed-str", "DataLoader(ds, shuffle=True, seed='a')",
      lambda: list(udata.DataLoader(_DS(), shuffle=True, seed="a")), "seed")
error("data/loader-generator", "DataLoader(ds, shuffle=True, generator=5)",
      lambda: list(udata.DataLoader(_DS(), shuffle=True, generator=5)), "generator")
error("data/loader-bad-device", "DataLoader(ds, device='tpu')",
      lambda: udata.DataLoader(_DS(), device="tpu"), "tpu")
error("data/loader-num-workers", "DataLoader(ds, num_workers=-1)",
      lambda: udata.DataLoader(_DS(), num_workers=-1), "num_workers")
works("data/loader-list-dataset", "DataLoader over a plain list of tensors, as in PyTorch",
      lambda: list(udata.DataLoader([mg.zeros(2), mg.ones(2)], batch_size=2))[0],
      [[0., 0.], [1., 1.]])
works("data/loader-drop-last-all", "DataLoader(4 samples, batch_size=5, drop_last=True) has no "
      "batches", lambda: len(list(udata.DataLoader(_DS(), batch_size=5, drop_last=True))), 0)
works("data/loader-batch-larger", "DataLoader(4 samples, batch_size=10) gives one batch of 4",
      lambda: list(udata.DataLoader(_DS(), batch_size=10))[0][0].shape[0], 4)
error("data/tensor-dataset-mismatch", "TensorDataset(ones(3), ones(4))",
      lambda: udata.TensorDataset(mg.ones(3), mg.ones(4)), "3", "4")
error("data/tensor-dataset-list", "TensorDataset([1, 2, 3])",
      lambda: udata.TensorDataset([1, 2, 3]), ("tensor",))
error("data/tensor-dataset-0d", "TensorDataset(mg.tensor(1.))",
      lambda: udata.TensorDataset(T(1.)), ("0-d", "dimension", "scalar"))
error("data/tensor-dataset-index", "TensorDataset(4 samples)[10]", lambda: _DS()[10], "10",
      exc=IndexError)
error("data/random-split-sum", "random_split(4 samples, [1, 1])",
      lambda: udata.random_split(_DS(), [1, 1]), "4", ("lengths",))
error("data/random-split-negative", "random_split(4 samples, [5, -1])",
      lambda: udata.random_split(_DS(), [5, -1]), "-1")
error("data/random-split-fractions", "random_split(4 samples, [0.5, 0.6])",
      lambda: udata.random_split(_DS(), [0.5, 0.6]), ("lengths", "fractions", "sum"))
error("data/subset-index", "Subset(ds, [10])[0]: an index past the dataset",
      lambda: udata.Subset(_DS(), [10])[0], "10", exc=IndexError)
error("data/collate-shapes", "default_collate of samples of shapes (2,) and (3,)",
      lambda: udata.default_collate([mg.ones(2), mg.ones(3)]), shp(2), shp(3))
error("data/collate-empty", "default_collate([])", lambda: udata.default_collate([]),
      ("empty", "no samples", "0 samples"))
error("data/collate-str", "default_collate([object(), object()])",
      lambda: udata.default_collate([object(), object()]), ("object", "collate"))
error("data/scaler-not-fitted", "StandardScaler().transform(x) before fit",
      lambda: mg.data.StandardScaler().transform(mg.ones(2, 2)), "fit")
error("data/scaler-empty", "StandardScaler().fit(zeros(0, 2))",
      lambda: mg.data.StandardScaler().fit(mg.zeros(0, 2)), ("sample", "empty"))
error("data/scaler-features", "StandardScaler fitted on 2 features, transforming 3",
      lambda: mg.data.StandardScaler().fit(mg.ones(4, 2)).transform(mg.ones(4, 3)), "2", "3")
error("data/scaler-nan", "StandardScaler().fit(data with NaN)",
      lambda: mg.data.StandardScaler().fit(T([[1.0], [NAN]])), ("nan", "finite"))

# --- io: mg.save / mg.load ---------------------------------------------------------------------

def _write(name: str, content: bytes) -> str:
    path = tmp(name)
    with open(path, "wb") as f:
        f.write(content)
    return path


def _saved(obj: Any, name: str = "obj.npz") -> str:
    path = tmp(name)
    mg.save(obj, path)
    return path


def _roundtrip(obj: Any) -> Any:
    return mg.load(_saved(obj, "roundtrip.npz"))


def _truncated() -> str:
    path = _saved({"w": mg.ones(100)}, "full.npz")
    with open(path, "rb") as f:
        content = f.read()
    return _write("truncated.npz", content[: len(content) // 2])


def _numpy_npz() -> str:
    path = tmp("plain.npz")
    np.savez(path, a=np.ones(2))
    return path


def _pickled_npz() -> str:
    path = tmp("pickled.npz")
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    return path


error("io/load-missing", "mg.load of a missing file", lambda: mg.load(tmp("missing.npz")),
      "missing.npz", exc=FileNotFoundError)
error("io/load-directory", "mg.load of a directory", lambda: mg.load(os.path.dirname(tmp("x"))),
      "mg-census-", exc=IsADirectoryError)
error("io/load-empty-file", "mg.load of an empty file", lambda: mg.load(_write("empty.npz", b"")),
      "empty.npz", "empty")
error("io/load-garbage", "mg.load of random bytes", lambda: mg.load(_write("garbage.npz",
      bytes(range(256)) * 4)), "garbage.npz")
error("io/load-text", "mg.load of a text file", lambda: mg.load(_write("notes.txt", b"hello\n")),
      "notes.txt")
error("io/load-truncated", "mg.load of a truncated checkpoint", lambda: mg.load(_truncated()),
      "truncated.npz", ("truncated", "corrupt"))
error("io/load-plain-npz", "mg.load of an .npz written by np.savez, not mg.save",
      lambda: mg.load(_numpy_npz()), "plain.npz", ("minigrad", "mg.save"))
error("io/load-pickled", "mg.load of an .npz holding pickled objects",
      lambda: mg.load(_pickled_npz()), "pickled.npz", "pickle")
error("io/load-bad-map-location", "mg.load(path, map_location='tpu')",
      lambda: mg.load(_saved(mg.ones(2)), map_location="tpu"), "tpu")
error("io/load-path-int", "mg.load(5)", lambda: mg.load(5), ("path", "file", "int"))
error("io/save-object", "mg.save(object(), path)", lambda: mg.save(object(), tmp("o.npz")),
      "object")
error("io/save-lambda", "mg.save({'f': lambda: 0}, path)",
      lambda: mg.save({"f": lambda: 0}, tmp("f.npz")), "function")
error("io/save-missing-dir", "mg.save(t, '<missing dir>/x.npz')",
      lambda: mg.save(mg.ones(2), tmp("no/such/dir/x.npz")), "no/such/dir",
      exc=FileNotFoundError)
error("io/save-to-directory", "mg.save(t, <a directory>)",
      lambda: mg.save(mg.ones(2), os.path.dirname(tmp("x"))), "mg-census-",
      exc=IsADirectoryError)
error("io/save-tuple-key", "mg.save({(1, 2): t}, path): a tuple key",
      lambda: mg.save({(1, 2): mg.ones(1)}, tmp("k.npz")), "key")
works("io/roundtrip-0d", "save/load of a 0-d tensor", lambda: _roundtrip(T(3.5)), 3.5, shape=())
works("io/roundtrip-empty", "save/load of an empty (0, 3) tensor",
      lambda: _roundtrip(mg.zeros(0, 3)),
      shape=(0, 3))
works("io/roundtrip-bool", "save/load of a bool tensor", lambda: _roundtrip(T([True, False])),
      [True, False], dtype="bool")
works("io/roundtrip-float16", "save/load of a float16 tensor",
      lambda: _roundtrip(mg.ones(2, dtype=mg.float16)), [1, 1], dtype="float16")
works("io/roundtrip-nan-inf", "save/load keeps nan and inf", lambda: _roundtrip(T([NAN, INF])),
      [NAN, INF])
works("io/roundtrip-nested", "save/load of nested dicts, lists, numbers, None",
      lambda: _roundtrip({"a": [1, 2.5, None, "s"], "b": {"c": True}}),
      check=lambda r: r == {"a": [1, 2.5, None, "s"], "b": {"c": True}} or f"got {r!r}")
works("io/roundtrip-int-key", "save/load of a dict with int keys (PyTorch keeps them)",
      lambda: _roundtrip({1: mg.ones(1)}),
      check=lambda r: list(r) == [1] or f"keys {list(r)!r}")
works("io/roundtrip-tuple", "save/load keeps a tuple a tuple", lambda: _roundtrip((1, 2)),
      check=lambda r: r == (1, 2) and isinstance(r, tuple) or f"got {r!r}")
works("io/roundtrip-requires-grad", "save/load of a parameter keeps its values",
      lambda: _roundtrip(param(2)), [1.0, 1.0])


# --- state_dict: Module.load_state_dict -----------------------------------------------------------

def _sd(**changes: Any) -> dict:
    sd = {"weight": mg.ones(3, 2), "bias": mg.zeros(3)}
    sd.update(changes)
    return {k: v for k, v in sd.items() if v is not None}


def _load(sd: Any, strict: bool = True) -> Any:
    return nn.Linear(2, 3).load_state_dict(sd, strict=strict)


def _loaded(sd: Any) -> Any:
    m = nn.Linear(2, 3)
    m.load_state_dict(sd)
    return m.weight.detach()


error("state_dict/missing-key", "load_state_dict without 'bias'", lambda: _load(_sd(bias=None)),
      "bias", "missing")
error("state_dict/unexpected-key", "load_state_dict with an extra 'scale'",
      lambda: _load(_sd(scale=mg.ones(1))), "scale", "unexpected")
error("state_dict/shape-mismatch", "load_state_dict with weight of shape (2, 3) for (3, 2)",
      lambda: _load(_sd(weight=mg.ones(2, 3))), "weight", shp(2, 3), shp(3, 2))
error("state_dict/not-dict", "load_state_dict(5)", lambda: _load(5), ("dict", "mapping"))
error("state_dict/str-value", "load_state_dict with weight 'abc'",
      lambda: _load(_sd(weight="abc")), "weight")
error("state_dict/none-value", "load_state_dict with weight None", lambda: _load({"weight": None,
      "bias": mg.zeros(3)}), "weight")
error("state_dict/overflow", "load_state_dict with 1e300 (float64), which is inf in float32",
      lambda: _load(_sd(weight=mg.full((3, 2), 1e300, dtype=mg.float64))), "weight",
      ("inf", "finite", "overflow"))
works("state_dict/float64-cast", "load_state_dict of float64 values casts them, as in PyTorch",
      lambda: _loaded(_sd(weight=mg.full((3, 2), 0.5, dtype=mg.float64))), np.full((3, 2), 0.5),
      dtype="float32")
works("state_dict/int-cast", "load_state_dict of int values casts them, as in PyTorch",
      lambda: _loaded(_sd(weight=mg.full((3, 2), 2))), np.full((3, 2), 2.0), dtype="float32")
works("state_dict/numpy-value", "load_state_dict of a NumPy array value",
      lambda: _loaded(_sd(weight=np.full((3, 2), 0.25))), np.full((3, 2), 0.25))
works("state_dict/non-strict", "load_state_dict(strict=False) reports the missing key",
      lambda: list(_load(_sd(bias=None), strict=False).missing_keys), ["bias"])
works("state_dict/nothing-copied-on-error", "a failing load_state_dict changes nothing",
      lambda: _load_partially(), np.ones((3, 2)) * 7)
either("state_dict/nan-values", "load_state_dict of NaN values: PyTorch copies them; refusing "
       "a diverged checkpoint, naming the entry, is fine too",
       lambda: _loaded(_sd(weight=mg.full((3, 2), NAN))), "weight", "nan",
       value=np.full((3, 2), NAN))
error("state_dict/buffer-shape", "BatchNorm1d(3).load_state_dict with running_mean of size 4",
      lambda: _load_bn(), "running_mean", shp(4), shp(3))
error("state_dict/nested-missing", "Sequential.load_state_dict without '1.bias'",
      lambda: _load_seq(), "1.bias")


def _load_partially() -> Any:
    m = nn.Linear(2, 3)
    with mg.no_grad():
        m.weight.fill_(7.0)
    try:
        m.load_state_dict({"weight": mg.ones(3, 2), "bias": mg.zeros(4)})
    except Exception:  # noqa: BLE001 - the point is what is left afterwards
        pass
    return m.weight.detach()


def _load_bn() -> Any:
    bn = nn.BatchNorm1d(3)
    sd = bn.state_dict()
    sd["running_mean"] = mg.zeros(4)
    return bn.load_state_dict(sd)


def _load_seq() -> Any:
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    sd = m.state_dict()
    del sd["1.bias"]
    return m.load_state_dict(sd)


# --- device: asking for the GPU where there is none, unknown devices ----------------------------

no_gpu("device/zeros-cuda", "mg.zeros(2, device='cuda')", lambda: mg.zeros(2, device="cuda"))
no_gpu("device/tensor-cuda", "mg.tensor([1.], device='cuda')", lambda: T([1.], device="cuda"))
no_gpu("device/randn-cuda", "mg.randn(2, device='cuda')", lambda: mg.randn(2, device="cuda"))
no_gpu("device/arange-cuda", "mg.arange(3, device='cuda')", lambda: mg.arange(3, device="cuda"))
no_gpu("device/eye-cuda", "mg.eye(2, device='cuda')", lambda: mg.eye(2, device="cuda"))
no_gpu("device/full-cuda", "mg.full((2,), 1., device='cuda')",
       lambda: mg.full((2,), 1.0, device="cuda"))
no_gpu("device/zeros-like-cuda", "mg.zeros_like(t, device='cuda')",
       lambda: mg.zeros_like(mg.ones(2), device="cuda"))
no_gpu("device/to-cuda", "t.to('cuda')", lambda: mg.ones(2).to("cuda"))
no_gpu("device/dot-cuda", "t.cuda()", lambda: mg.ones(2).cuda())
no_gpu("device/device-object", "t.to(mg.device('cuda'))", lambda: mg.ones(2).to(mg.device("cuda")))
no_gpu("device/module-to-cuda", "nn.Linear(2, 2).to('cuda')", lambda: nn.Linear(2, 2).to("cuda"))
no_gpu("device/module-cuda", "nn.Linear(2, 2).cuda()", lambda: nn.Linear(2, 2).cuda())
no_gpu("device/default-device-cuda", "mg.set_default_device('cuda'), then mg.zeros(2)",
       lambda: (mg.set_default_device("cuda"), mg.zeros(2)))
no_gpu("device/load-map-location", "mg.load(path, map_location='cuda')",
       lambda: mg.load(_saved(mg.ones(2)), map_location="cuda"))
no_gpu("device/loader-cuda", "DataLoader(ds, device='cuda')",
       lambda: list(udata.DataLoader(_DS(), device="cuda")))
no_gpu("device/linear-device-cuda", "nn.Linear(2, 2, device='cuda')",
       lambda: nn.Linear(2, 2, device="cuda"))
no_gpu("device/rng-state-cuda", "mg.random.get_rng_state('cuda')",
       lambda: mg.random.get_rng_state("cuda"))
error("device/unknown", "mg.device('tpu')", lambda: mg.device("tpu"), "tpu")
error("device/second-gpu", "mg.device('cuda:3')", lambda: mg.device("cuda:3"), "cuda:3")
error("device/index-type", "mg.device('cuda', 'x')", lambda: mg.device("cuda", "x"), "x")
error("device/non-string", "mg.zeros(2, device=5)", lambda: mg.zeros(2, device=5), "5")
works("device/is-available", "mg.cuda.is_available() answers without raising",
      lambda: mg.cuda.is_available(), check=lambda r: isinstance(r, bool) or f"got {r!r}")
works("device/count", "mg.cuda.device_count() answers without raising",
      lambda: mg.cuda.device_count(), check=lambda r: isinstance(r, int) or f"got {r!r}")


def main(argv: list[str] | None = None) -> int:
    start = time.perf_counter()
    outcomes = run()
    print(report(outcomes, time.perf_counter() - start))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
