"""Fuzzing the public API with hostile inputs ("Nothing silent, nothing lost").

Hypothesis draws shapes (empty and 0-d included), dtypes (bool, int8/32/64, float16/32/64),
values (NaN, inf, 1e300, extremes of each integer type), lists and arrays where tensors are
expected, and bad devices. Every call must either

* return a Tensor whose values, shape and dtype are what NumPy (with PyTorch's type rules) or
  a formula gives, or
* raise an error that minigrad itself raises (the traceback's last frame is inside the
  package; not a NumPy exception type, not an AttributeError-style crash, not NumPy's bare
  message) whose message names what was wrong (the argument, the shapes, the index...).

The check of an error is the census's (:func:`tests.robustness.census.classify_error`), so the
two agree on what "clear" means. Sub-cases that fail today are separate tests marked
``xfail(strict=True)``, each named ``test_gap_...`` with what is missing: when a gap is fixed
the test XPASSes, fails, and asks for the marker to be removed.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import optim
from minigrad.utils import data as udata
from tests.robustness import census

FUZZ = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
# The known gaps fail today: find a failing example, but spend no time shrinking it.
GAP = settings(FUZZ, max_examples=15, phases=(Phase.explicit, Phase.generate))

BOOL = np.dtype(bool)
INTS = [np.dtype(np.int8), np.dtype(np.int32), np.dtype(np.int64)]
FLOATS = [np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)]
ALL_DTYPES = [BOOL, *INTS, *FLOATS]


# --- strategies -------------------------------------------------------------------------------

def elements(dtype: np.dtype, nan: bool = True) -> st.SearchStrategy:
    """Hostile values of ``dtype``: NaN, ±inf, 1e300 (float64), ±0, the integer extremes."""
    if dtype == BOOL:
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return st.one_of(st.integers(-100, 100).filter(lambda v: info.min <= v <= info.max),
                         st.sampled_from([int(info.min), int(info.max), 0]))
    width = dtype.itemsize * 8
    special = [0.0, -0.0, 1.0, -1.0, float(np.finfo(dtype).max), float(np.finfo(dtype).tiny)]
    if dtype == np.float64:
        special += [1e300, -1e300]
    if nan:
        special += [math.inf, -math.inf, math.nan]
    return st.one_of(st.floats(width=width, allow_nan=nan, allow_infinity=nan),
                     st.sampled_from(special))


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


@st.composite
def arrays(draw: Any, dtypes: list = ALL_DTYPES, shape: Any = None, nan: bool = True) -> np.ndarray:
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(SHAPES) if shape is None else shape
    return draw(hnp.arrays(dtype, shape, elements=elements(dtype, nan)))


@st.composite
def shape_pairs(draw: Any) -> tuple:
    """Two shapes that broadcast, or two that (often) do not."""
    if draw(st.booleans()):
        return tuple(draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3,
                                                            min_side=0, max_side=3)).input_shapes)
    return draw(SHAPES), draw(SHAPES)


def broadcast(*shapes: tuple) -> tuple | None:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


# --- checking ---------------------------------------------------------------------------------

class quiet(warnings.catch_warnings):
    """NumPy computing an expected value: no floating-point warnings."""

    def __enter__(self) -> Any:
        super().__enter__()
        warnings.simplefilter("ignore")
        self._errstate = np.errstate(all="ignore")
        self._errstate.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        self._errstate.__exit__(*exc)
        return super().__exit__(*exc)


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", result) or ("error", exception) of calling ``fn``, with warnings silenced (the
    census checks NumPy's warnings; here only values and errors count)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "ok", fn()
        except Exception as exc:  # noqa: BLE001 - classifying it is the point
            return "error", exc


def assert_clear_error(exc: BaseException, *words: Any) -> None:
    """``exc`` is minigrad's own error and its message contains each of ``words`` (a tuple: any
    one of them), as the census demands."""
    case = census.Case("fuzz", "", lambda: None, "error", words=words)
    status, detail = census.classify_error(case, exc)
    assert status == "ok", f"{status}: {detail}"


def assert_tensor(result: Any, expected: np.ndarray, dtype: Any = None, rtol: float = 0.0,
                  atol: float = 0.0) -> None:
    assert isinstance(result, mg.Tensor), f"expected a Tensor, got {type(result).__name__}"
    want_dtype = np.dtype(expected.dtype if dtype is None else dtype)
    assert result.shape == expected.shape, f"shape {result.shape}, NumPy gives {expected.shape}"
    assert result.dtype == want_dtype, f"dtype {result.dtype}, expected {want_dtype}"
    got = result.numpy()
    if want_dtype.kind == "f":
        np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64),
                                   rtol=rtol, atol=atol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, expected)


def tolerance(dtype: np.dtype) -> dict:
    return {np.dtype(np.float16): dict(rtol=2e-3, atol=1e-3),
            np.dtype(np.float32): dict(rtol=2e-6, atol=1e-7),
            np.dtype(np.float64): dict(rtol=1e-12, atol=1e-300)}.get(np.dtype(dtype),
                                                                      dict(rtol=0, atol=0))


def category(dtype: np.dtype) -> int:
    return 0 if dtype.kind == "b" else 1 if dtype.kind in "iu" else 2


def result_type(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's type promotion of two tensors: within a category (bool < int < float) as NumPy,
    across categories the dtype of the higher category wins (int32 + float16 is float16)."""
    if category(a) == category(b):
        return np.promote_types(a, b)
    return a if category(a) > category(b) else b


def shape_words(*shapes: tuple) -> list:
    return [census.shp(*s) for s in shapes]


# --- creation ---------------------------------------------------------------------------------

@FUZZ
@given(arrays())
def test_tensor_from_array_keeps_values_dtype_and_shape(array):
    kind, result = outcome(lambda: mg.tensor(array))
    assert kind == "ok", f"mg.tensor({array!r}) raised {result!r}"
    assert_tensor(result, array)


@FUZZ
@given(arrays(dtypes=[BOOL, np.dtype(np.int64), np.dtype(np.float64)]).filter(lambda a: a.size))
def test_tensor_from_nested_list_follows_pytorch_dtypes(array):
    data = array.tolist()
    dtype = {"b": BOOL, "i": np.dtype(np.int64), "f": mg.get_default_dtype()}[array.dtype.kind]
    expected = np.array(data, dtype=np.float64 if dtype.kind == "f" else dtype)
    with quiet():
        expected = expected.astype(dtype)
    kind, result = outcome(lambda: mg.tensor(data))
    assert kind == "ok", f"mg.tensor({data!r}) raised {result!r}"
    assert_tensor(result, expected, dtype)


@FUZZ
@given(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3).map(lambda s: s + (0,)))
def test_tensor_from_empty_list_is_float32(shape):
    # shapes whose only 0 is the last side: the nested list of any other (np.zeros((0, 3))
    # .tolist() is []) does not have the shape any more
    data = np.zeros(shape).tolist()
    kind, result = outcome(lambda: mg.tensor(data))
    assert kind == "ok", repr(result)
    assert_tensor(result, np.zeros(shape, np.float32))


SIZES = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)
FACTORIES = {
    "zeros": (lambda s, d: mg.zeros(*s, dtype=d), lambda s, d: np.zeros(s, d)),
    "ones": (lambda s, d: mg.ones(*s, dtype=d), lambda s, d: np.ones(s, d)),
    "full": (lambda s, d: mg.full(s, 7.0, dtype=d), lambda s, d: np.full(s, 7.0, d)),
    "empty": (lambda s, d: mg.empty(*s, dtype=d), None),
}


@FUZZ
@given(st.sampled_from(sorted(FACTORIES)), SIZES, st.sampled_from([None, *ALL_DTYPES]))
def test_factories_give_the_asked_shape_and_dtype(name, size, dtype):
    make, reference = FACTORIES[name]
    want = mg.get_default_dtype() if dtype is None else dtype
    kind, result = outcome(lambda: make(size, dtype))
    assert kind == "ok", f"{name}{size} dtype={dtype} raised {result!r}"
    if reference is None:
        assert result.shape == size and result.dtype == want
    else:
        assert_tensor(result, reference(size, want), want)


def _random_factory_case(size: tuple, dtype: Any, name: str) -> None:
    kind, result = outcome(lambda: getattr(mg, name)(*size, dtype=dtype))
    assert kind == "ok", f"{name}{size} raised {result!r}"
    assert result.shape == size
    assert result.dtype == (mg.get_default_dtype() if dtype is None else dtype)
    assert np.isfinite(result.numpy()).all()


@FUZZ
@given(SIZES, st.sampled_from([None, np.float32, np.float64]), st.sampled_from(["randn", "rand"]))
def test_random_factories_give_finite_floats(size, dtype, name):
    _random_factory_case(size, dtype, name)


@GAP
@given(SIZES, st.sampled_from(["randn", "rand"]))
def test_gap_random_factories_draw_float16(size, name):
    _random_factory_case(size, np.float16, name)


NEGATIVE_SIZES = st.lists(st.integers(-3, 3), min_size=1, max_size=3).map(tuple).filter(
    lambda s: min(s) < 0)


@GAP
@given(NEGATIVE_SIZES, st.sampled_from(["zeros", "ones", "empty", "randn", "rand", "full"]))
def test_gap_negative_sizes_are_named(size, name):
    fn = (lambda: mg.full(size, 0.0)) if name == "full" else (lambda: getattr(mg, name)(*size))
    kind, result = outcome(fn)
    assert kind == "error", f"{name}{size} gave {result!r}"
    assert_clear_error(result, str(min(size)), ("size", "shape", "dimension"))


DEVICES = ["cpu", None, mg.device("cpu"), "cuda", "cuda:0", "gpu", mg.device("cuda"), "cuda:1",
           "tpu", "CPU", "", "cuda:x", 5, 1.5]


def _device_ok(device: Any) -> bool:
    return device is None or str(device) == "cpu"


def _check_device_outcome(device: Any, kind: str, result: Any) -> None:
    if _device_ok(device) or (str(device) in ("cuda", "cuda:0", "gpu") and mg.cuda_is_available()):
        assert kind == "ok", f"device={device!r} raised {result!r}"
        return
    assert kind == "error", f"device={device!r} gave {result!r}"
    if str(device) in ("cuda", "cuda:0", "gpu"):
        assert isinstance(result, mg.DeviceError), f"expected mg.DeviceError, got {result!r}"
        assert_clear_error(result, "cuda")
    else:
        assert_clear_error(result, str(device) or "''")


@FUZZ
@given(st.sampled_from(DEVICES),
       st.sampled_from(["tensor", "zeros", "randn", "arange", "full", "eye", "to", "Linear"]))
def test_devices_work_or_are_named(device, maker):
    fn = {"tensor": lambda: mg.tensor([1.0, 2.0], device=device),
          "zeros": lambda: mg.zeros(2, device=device),
          "randn": lambda: mg.randn(2, device=device),
          "arange": lambda: mg.arange(3, device=device),
          "full": lambda: mg.full((2,), 1.0, device=device),
          "eye": lambda: mg.eye(2, device=device),
          "to": lambda: mg.ones(2).to(device) if device is not None else mg.ones(2),
          "Linear": lambda: mg.nn.Linear(2, 2, device=device)}[maker]
    kind, result = outcome(fn)
    _check_device_outcome(device, kind, result)


# --- elementwise ops --------------------------------------------------------------------------

BINARY = {
    "add": (mg.add, np.add), "sub": (mg.sub, np.subtract), "mul": (mg.mul, np.multiply),
    "eq": (mg.eq, np.equal), "ne": (mg.ne, np.not_equal), "lt": (mg.lt, np.less),
    "ge": (mg.ge, np.greater_equal), "maximum": (mg.maximum, np.maximum),
    "minimum": (mg.minimum, np.minimum), "operator+": (lambda a, b: a + b, np.add),
    "operator*": (lambda a, b: a * b, np.multiply),
}
COMPARISONS = {"eq", "ne", "lt", "ge"}


def _binary_case(name: str, a: np.ndarray, b: np.ndarray) -> None:
    op, ref = BINARY[name]
    out_shape = broadcast(a.shape, b.shape)
    kind, result = outcome(lambda: op(mg.tensor(a), mg.tensor(b)))
    if out_shape is None:
        assert kind == "error", f"{name} of shapes {a.shape}, {b.shape} gave {result!r}"
        assert_clear_error(result, *shape_words(a.shape, b.shape))
        return
    assert kind == "ok", f"{name}({a!r}, {b!r}) raised {result!r}"
    dtype = result_type(a.dtype, b.dtype)
    with quiet():
        expected = ref(a.astype(dtype), b.astype(dtype))
    assert_tensor(result, np.asarray(expected), BOOL if name in COMPARISONS else dtype,
                  **tolerance(dtype))


@FUZZ
@given(st.sampled_from(sorted(set(BINARY) - {"maximum", "minimum"})), shape_pairs(), st.data())
def test_binary_ops_match_numpy_or_name_the_shapes(name, shapes, data):
    a = data.draw(arrays(shape=shapes[0]))
    b = data.draw(arrays(shape=shapes[1]))
    assume(not (name == "sub" and a.dtype == BOOL and b.dtype == BOOL))  # see the gap below
    _binary_case(name, a, b)


@FUZZ
@given(st.sampled_from(["maximum", "minimum"]), shape_pairs(), st.data())
def test_maximum_minimum_of_floats_without_nan_match_numpy(name, shapes, data):
    a = data.draw(arrays(dtypes=FLOATS, shape=shapes[0], nan=False))
    b = data.draw(arrays(dtypes=FLOATS, shape=shapes[1], nan=False))
    _binary_case(name, a, b)


@GAP
@given(st.sampled_from(["maximum", "minimum"]), st.sampled_from([BOOL, *INTS]),
       st.sampled_from([BOOL, *INTS]), st.data())
def test_gap_maximum_minimum_of_integers_and_bools(name, da, db, data):
    a = data.draw(hnp.arrays(da, 3, elements=elements(da)))
    b = data.draw(hnp.arrays(db, 3, elements=elements(db)))
    _binary_case(name, a, b)


@GAP
@given(st.sampled_from(["maximum", "minimum"]), st.sampled_from(FLOATS), st.floats(-5, 5))
def test_gap_maximum_minimum_propagate_nan(name, dtype, other):
    _binary_case(name, np.array([np.nan], dtype), np.array([other], dtype))


@GAP
@given(hnp.arrays(BOOL, SHAPES))
def test_gap_bool_subtraction_is_refused_by_minigrad(a):
    kind, result = outcome(lambda: mg.tensor(a) - mg.tensor(a))
    assert kind == "error", f"bool - bool gave {result!r}"
    assert_clear_error(result, "bool")


@FUZZ
@given(st.sampled_from(FLOATS + INTS), st.sampled_from(FLOATS + INTS), shape_pairs(), st.data())
def test_true_division_matches_numpy(da, db, shapes, data):
    a = data.draw(hnp.arrays(da, shapes[0], elements=elements(da)))
    b = data.draw(hnp.arrays(db, shapes[1], elements=elements(db).filter(lambda v: v != 0)))
    out_shape = broadcast(a.shape, b.shape)
    kind, result = outcome(lambda: mg.tensor(a) / mg.tensor(b))
    if out_shape is None:
        assert kind == "error", f"div of shapes {a.shape}, {b.shape} gave {result!r}"
        assert_clear_error(result, *shape_words(a.shape, b.shape))
        return
    assert kind == "ok", f"{a!r} / {b!r} raised {result!r}"
    dtype = result_type(da, db)
    dtype = dtype if dtype.kind == "f" else mg.get_default_dtype()  # int / int is float32
    with quiet():
        expected = a.astype(dtype) / b.astype(dtype)
    assert_tensor(result, expected, dtype, **tolerance(dtype))


UNARY = {
    "exp": (mg.exp, np.exp), "log": (mg.log, np.log), "sqrt": (mg.sqrt, np.sqrt),
    "sin": (mg.sin, np.sin), "tanh": (mg.tanh, np.tanh), "abs": (mg.abs, np.abs),
    "neg": (mg.neg, np.negative), "floor": (mg.floor, np.floor), "ceil": (mg.ceil, np.ceil),
    "square": (mg.square, np.square), "log1p": (mg.log1p, np.log1p),
    "expm1": (mg.expm1, np.expm1), "reciprocal": (mg.reciprocal, np.reciprocal),
    "sigmoid": (mg.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "relu": (mg.relu, lambda x: np.where(x > 0, x, np.zeros_like(x)) if x.size else x),
}
FLOAT_ONLY_UNARY = ["exp", "log", "sqrt", "sin", "tanh", "sigmoid", "log1p", "expm1",
                    "reciprocal"]


@FUZZ
@given(st.sampled_from(sorted(UNARY)), arrays(dtypes=FLOATS))
def test_unary_ops_on_floats_match_numpy(name, a):
    op, ref = UNARY[name]
    kind, result = outcome(lambda: op(mg.tensor(a)))
    assert kind == "ok", f"{name}({a!r}) raised {result!r}"
    with quiet():
        expected = np.asarray(ref(a.astype(np.float64))).astype(a.dtype)
    if name == "relu":
        expected = np.where(np.isnan(a), a, expected).astype(a.dtype)
    assert_tensor(result, expected, a.dtype, **tolerance(a.dtype))


@GAP
@given(st.sampled_from(FLOAT_ONLY_UNARY), arrays(dtypes=INTS + [BOOL]))
def test_gap_unary_float_ops_on_integers_are_float32(name, a):
    op, ref = UNARY[name]
    kind, result = outcome(lambda: op(mg.tensor(a)))
    assert kind == "ok", f"{name}({a!r}) raised {result!r}"
    with quiet():
        expected = np.asarray(ref(a.astype(np.float64))).astype(np.float32)
    assert_tensor(result, expected, np.float32, **tolerance(np.float32))


NON_TENSORS = st.one_of(
    st.lists(st.floats(-3, 3), min_size=1, max_size=3),
    hnp.arrays(np.float32, st.integers(1, 3), elements=st.floats(-3, 3, width=32)),
    st.floats(-3, 3), st.text(max_size=2), st.none())


@GAP
@given(st.sampled_from(["exp", "sin", "sqrt", "relu", "floor", "abs", "tanh"]), NON_TENSORS)
def test_gap_unary_ops_name_non_tensor_inputs(name, value):
    op, ref = UNARY[name]
    kind, result = outcome(lambda: op(value))
    if kind == "ok":
        with quiet():
            expected = np.asarray(ref(np.asarray(value, np.float32)))
        assert_tensor(result, expected.astype(result.dtype), result.dtype, rtol=1e-6, atol=1e-7)
    else:
        assert_clear_error(result, ("tensor",), type(value).__name__)


# --- reductions ---------------------------------------------------------------------------------

REDUCTIONS = {"sum": (mg.sum, np.sum), "prod": (mg.prod, np.prod), "amax": (mg.amax, np.amax),
              "amin": (mg.amin, np.amin), "mean": (mg.mean, np.mean)}
DIMS = st.one_of(st.none(), st.integers(-4, 3),
                 st.lists(st.integers(-3, 2), min_size=1, max_size=2, unique=True).map(tuple))


def _axes(dim: Any, ndim: int) -> tuple | None:
    """The normalised axes of ``dim`` (None: all), or raises IndexError when out of range."""
    if dim is None:
        return None
    dims = dim if isinstance(dim, tuple) else (dim,)
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    for d in dims:
        if not low <= d <= high:
            raise IndexError(d)
    return tuple(sorted({d % max(ndim, 1) for d in dims}))


def _reduction_case(name: str, a: np.ndarray, dim: Any, keepdim: bool) -> None:
    op, ref = REDUCTIONS[name]
    kind, result = outcome(lambda: op(mg.tensor(a), dim=dim, keepdim=keepdim))
    try:
        axes = _axes(dim, a.ndim)
    except IndexError as bad:
        assert kind == "error", f"{name}(shape {a.shape}, dim={dim}) gave {result!r}"
        assert_clear_error(result, str(bad.args[0]), ("range", "dim"))
        return
    if isinstance(dim, tuple) and len({d % max(a.ndim, 1) for d in dim}) < len(dim):
        assert kind == "error", f"{name}(dim={dim}) repeats a dim but gave {result!r}"
        assert_clear_error(result, ("multiple", "repeated", "duplicate", "twice", "once"))
        return
    np_axes = None if axes is None or a.ndim == 0 else axes
    reduced = a.size if np_axes is None else math.prod(a.shape[i] for i in np_axes)
    if name in ("amax", "amin") and reduced == 0:
        assert kind == "error", f"{name} over an empty dimension gave {result!r}"
        assert_clear_error(result, ("empty", "nonzero", "non-zero", "size 0", "zero size",
                                    "no elements"))
        return
    assert kind == "ok", f"{name}(shape {a.shape}, dim={dim}) raised {result!r}"
    with quiet():
        expected = np.asarray(ref(a.astype(np.float64), axis=np_axes, keepdims=keepdim))
        # a float32 mean whose sum overflows is inf in NumPy and PyTorch alike, though the
        # float64 mean fits in float32: there the input dtype's own result is the reference
        native = np.asarray(ref(a, axis=np_axes, keepdims=keepdim))
    expected = expected.astype(a.dtype)
    overflowed = np.isinf(native) & np.isfinite(expected)
    expected = np.where(overflowed, native, expected).astype(a.dtype)
    if a.ndim == 0 and keepdim:
        expected = expected.reshape(())
    assert_tensor(result, expected, a.dtype, rtol=max(tolerance(a.dtype)["rtol"], 1e-5),
                  atol=1e-5 if a.dtype == np.float64 else 1e-3)


@FUZZ
@given(st.sampled_from(["sum", "prod", "amax", "amin"]),
       arrays(dtypes=[np.dtype(np.float32), np.dtype(np.float64)],
              nan=True).filter(lambda a: a.ndim > 0), DIMS, st.booleans())
def test_reductions_match_numpy_or_name_the_dim(name, a, dim, keepdim):
    assume(not (isinstance(dim, tuple) and len({d % a.ndim for d in dim}) < len(dim)))
    _reduction_case(name, a, dim, keepdim)


@FUZZ
@given(arrays(dtypes=[np.dtype(np.float32), np.dtype(np.float64)]).filter(
    lambda a: a.ndim > 0 and a.size > 0), DIMS, st.booleans())
def test_mean_of_non_empty_matches_numpy(a, dim, keepdim):
    assume(not (isinstance(dim, tuple) and len({d % a.ndim for d in dim}) < len(dim)))
    try:
        axes = _axes(dim, a.ndim)
    except IndexError:
        axes = None
    assume(axes is None or all(a.shape[i] for i in axes))
    _reduction_case("mean", a, dim, keepdim)


@GAP
@given(SHAPES.filter(lambda s: len(s) >= 1 and s[0] == 0), st.sampled_from([None, 0]))
def test_gap_mean_of_empty_is_nan(shape, dim):
    _reduction_case("mean", np.zeros(shape, np.float32), dim, False)


@GAP
@given(st.sampled_from(["sum", "amax", "mean", "prod"]), st.integers(0, 1))
def test_gap_repeated_dims_are_refused(name, d):
    _reduction_case(name, np.ones((2, 3), np.float32), (d, d), False)


@GAP
@given(st.sampled_from(["sum", "prod", "amax", "mean"]), st.sampled_from([0, -1]),
       st.floats(-3, 3))
def test_gap_0d_reductions_accept_dim_0(name, dim, value):
    _reduction_case(name, np.array(value, np.float32), dim, False)


@GAP
@given(st.sampled_from(["argmax", "argmin"]), st.integers(2, 4))
def test_gap_argmax_dim_out_of_range_is_named(name, dim):
    kind, result = outcome(lambda: getattr(mg.ones(2, 3), name)(dim=dim))
    assert kind == "error", repr(result)
    assert_clear_error(result, str(dim), ("range", "dim"))


# --- products, shapes, indexing -----------------------------------------------------------------

MATMUL_SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3)


def _matmul_case(sa: tuple, sb: tuple, dtype: np.dtype, data: Any) -> None:
    a = data.draw(hnp.arrays(dtype, sa, elements=elements(dtype)))
    b = data.draw(hnp.arrays(dtype, sb, elements=elements(dtype)))
    try:
        with quiet():
            expected = np.matmul(a, b)
    except ValueError:
        expected = None
    kind, result = outcome(lambda: mg.matmul(mg.tensor(a), mg.tensor(b)))
    if expected is None:
        assert kind == "error", f"matmul of {sa} and {sb} gave {result!r}"
        assert_clear_error(result, *shape_words(sa, sb))
        return
    assert kind == "ok", f"matmul of {sa} and {sb} raised {result!r}"
    assert_tensor(result, np.asarray(expected), dtype, rtol=1e-4, atol=1e-4)


@FUZZ
@given(MATMUL_SHAPES, MATMUL_SHAPES, st.sampled_from(FLOATS[1:]), st.data())
def test_matmul_matches_numpy_or_names_the_shapes(sa, sb, dtype, data):
    fits = (sa[-1] == sb[-2]) if len(sb) > 1 else (sa[-1] == sb[0])
    assume(fits or (len(sa) > 1 and len(sb) > 1))  # 1-d mismatches: see the gap below
    _matmul_case(sa, sb, dtype, data)


@GAP
@given(st.integers(1, 3), st.integers(1, 3), st.data())
def test_gap_matmul_vector_mismatch_names_the_given_shapes(n, extra, data):
    _matmul_case((n,), (n + extra,), np.dtype(np.float32), data)


def _reshape_valid(numel: int, target: tuple) -> bool:
    if target.count(-1) > 1 or any(t < -1 for t in target):
        return False
    known = math.prod(t for t in target if t != -1)
    if -1 in target:
        return known != 0 and numel % known == 0
    return known == numel


@FUZZ
@given(arrays(dtypes=[np.dtype(np.float32), np.dtype(np.int64)]),
       st.lists(st.integers(-1, 6), min_size=0, max_size=3).map(tuple))
def test_reshape_matches_numpy_or_names_the_shape(a, target):
    kind, result = outcome(lambda: mg.tensor(a).reshape(*target) if target
                           else mg.tensor(a).reshape(()))
    if _reshape_valid(a.size, target):
        assert kind == "ok", f"reshape {a.shape} -> {target} raised {result!r}"
        assert_tensor(result, a.reshape(target))
    else:
        assert kind == "error", f"reshape {a.shape} -> {target} gave {result!r}"
        assert_clear_error(result, census.shp(*target) if target else "()")


@GAP
@given(st.integers(-5, -2), st.sampled_from([(2, 3), (6,), (3, 2)]))
def test_gap_reshape_refuses_negative_sizes(bad, shape):
    kind, result = outcome(lambda: mg.ones(6).reshape(bad, *shape[1:]))
    assert kind == "error", f"reshape({bad}, ...) gave {result!r}"
    assert_clear_error(result, str(bad))


@FUZZ
@given(arrays().filter(lambda a: a.ndim > 0), st.data())
def test_permute_and_transpose_match_numpy_or_name_the_dims(a, data):
    perm = data.draw(st.permutations(range(a.ndim)))
    kind, result = outcome(lambda: mg.tensor(a).permute(*perm))
    assert kind == "ok", f"permute{tuple(perm)} raised {result!r}"
    assert_tensor(result, np.transpose(a, perm))
    d0, d1 = data.draw(st.integers(-a.ndim - 2, a.ndim + 1)), data.draw(st.integers(0, a.ndim - 1))
    kind, result = outcome(lambda: mg.tensor(a).transpose(d0, d1))
    if -a.ndim <= d0 < a.ndim:
        assert kind == "ok", f"transpose({d0}, {d1}) raised {result!r}"
        assert_tensor(result, np.swapaxes(a, d0, d1))
    else:
        assert kind == "error", f"transpose({d0}, {d1}) of {a.shape} gave {result!r}"
        assert_clear_error(result, str(d0))


@FUZZ
@given(arrays().filter(lambda a: a.ndim >= 1), st.integers(-6, 6))
def test_integer_indexing_matches_numpy_or_names_the_index(a, i):
    kind, result = outcome(lambda: mg.tensor(a)[i])
    if -a.shape[0] <= i < a.shape[0]:
        assert kind == "ok", f"t[{i}] of shape {a.shape} raised {result!r}"
        assert_tensor(result, np.asarray(a[i]))
    else:
        assert kind == "error", f"t[{i}] of shape {a.shape} gave {result!r}"
        assert isinstance(result, IndexError)
        assert_clear_error(result, str(i))


@FUZZ
@given(st.integers(1, 3), st.integers(1, 3), st.integers(-4, 3), st.data())
def test_cat_matches_numpy_or_names_the_shapes(ndim, count, dim, data):
    shapes = [tuple(data.draw(st.lists(st.integers(0, 2), min_size=ndim, max_size=ndim)))
              for _ in range(count)]
    arrays_ = [data.draw(hnp.arrays(np.float32, s, elements=elements(np.dtype(np.float32))))
               for s in shapes]
    kind, result = outcome(lambda: mg.cat([mg.tensor(a) for a in arrays_], dim=dim))
    if not -ndim <= dim < ndim:
        assert kind == "error", f"cat of {shapes} on dim {dim} gave {result!r}"
        assert_clear_error(result, str(dim), ("range", "dim"))
        return
    others = {s[:dim % ndim] + s[dim % ndim + 1:] for s in shapes}
    if len(others) > 1:
        assert kind == "error", f"cat of {shapes} on dim {dim} gave {result!r}"
        assert_clear_error(result, *shape_words(*shapes))
        return
    assert kind == "ok", f"cat of {shapes} on dim {dim} raised {result!r}"
    assert_tensor(result, np.concatenate(arrays_, axis=dim))


# --- in place -------------------------------------------------------------------------------------

@FUZZ
@given(st.sampled_from(ALL_DTYPES), st.sampled_from(ALL_DTYPES), shape_pairs(),
       st.sampled_from(["add_", "mul_"]), st.data())
def test_inplace_ops_keep_dtype_and_shape_or_refuse(dt, do, shapes, name, data):
    a = data.draw(hnp.arrays(dt, shapes[0], elements=elements(dt)))
    b = data.draw(hnp.arrays(do, shapes[1], elements=elements(do)))
    t = mg.tensor(a)
    kind, result = outcome(lambda: getattr(t, name)(mg.tensor(b)))
    rdtype = result_type(dt, do)
    bad_dtype = category(rdtype) > category(dt)
    bad_shape = broadcast(a.shape, b.shape) != a.shape
    if bad_dtype and bad_shape:  # either complaint is right
        assert kind == "error", f"{dt}{a.shape} .{name}({do}{b.shape}) gave {result!r}"
        assert_clear_error(result, (str(dt), census.shp(*a.shape)[0]))
        return
    if bad_dtype:
        assert kind == "error", f"{dt} tensor .{name}({do} tensor) gave {result!r}"
        assert_clear_error(result, str(dt), str(rdtype))
        return
    if bad_shape:
        assert kind == "error", f"{a.shape} .{name}({b.shape}) gave {result!r}"
        assert_clear_error(result, *shape_words(a.shape, b.shape)) if broadcast(
            a.shape, b.shape) is None else assert_clear_error(result, census.shp(*a.shape))
        return
    assert kind == "ok", f"{dt}{a.shape} .{name}({do}{b.shape}) raised {result!r}"
    assert result is t
    with quiet():
        expected = (np.add if name == "add_" else np.multiply)(a.astype(rdtype), b.astype(rdtype))
        expected = np.asarray(expected).astype(dt)
    assert_tensor(t, expected, dt, **tolerance(rdtype))


# --- losses -------------------------------------------------------------------------------------

@FUZZ
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_cross_entropy_matches_the_formula_or_names_the_class(n, c, data):
    logits = data.draw(hnp.arrays(np.float32, (n, c),
                                  elements=st.one_of(st.floats(-30, 30, width=32),
                                                     st.sampled_from([1e4, -1e4]))))
    target = np.array(data.draw(st.lists(st.integers(-2, c + 1), min_size=n, max_size=n)))
    kind, result = outcome(lambda: F.cross_entropy(mg.tensor(logits), mg.tensor(target)))
    bad = [int(t) for t in target if not 0 <= t < c]
    if bad:
        assert kind == "error", (f"cross_entropy with targets {target} for {c} classes gave "
                                 f"{result!r}")
        assert_clear_error(result, str(bad[0]), "class")
        return
    assert kind == "ok", f"cross_entropy raised {result!r}"
    x = logits.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    expected = np.asarray(np.mean(lse - x[np.arange(n), target]), np.float32)
    assert_tensor(result, expected, np.float32, rtol=1e-4, atol=1e-3)


@FUZZ
@given(shape_pairs(), st.sampled_from(["mse_loss", "l1_loss"]), st.data())
def test_regression_losses_match_numpy_or_name_the_shapes(shapes, name, data):
    a = data.draw(hnp.arrays(np.float32, shapes[0], elements=elements(np.dtype(np.float32))))
    b = data.draw(hnp.arrays(np.float32, shapes[1], elements=elements(np.dtype(np.float32))))
    assume(a.size > 0 or a.shape != b.shape)  # the mean of nothing: see the census (mse-empty)
    kind, result = outcome(lambda: getattr(F, name)(mg.tensor(a), mg.tensor(b)))
    if a.shape != b.shape:
        assert kind == "error", f"{name} of shapes {a.shape} and {b.shape} gave {result!r}"
        assert_clear_error(result, *shape_words(a.shape, b.shape))
        return
    assert kind == "ok", f"{name} raised {result!r}"
    with quiet():
        d = a.astype(np.float64) - b.astype(np.float64)
        expected = np.mean(d * d if name == "mse_loss" else np.abs(d))
    assert_tensor(result, np.asarray(expected, np.float32), np.float32, rtol=1e-5, atol=1e-6)


# --- optimizers and data --------------------------------------------------------------------------

HYPER = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                  st.text(max_size=2), st.none(), st.sampled_from([math.nan, math.inf, -1e-9]))


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@FUZZ
@given(HYPER, st.sampled_from(["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]))
def test_optimizer_lr_is_checked(lr, name):
    p = mg.nn.Parameter(mg.ones(2))
    kind, result = outcome(lambda: getattr(optim, name)([p], lr=lr))
    if _is_real(lr) and lr >= 0:
        assert kind == "ok", f"{name}(lr={lr!r}) raised {result!r}"
    else:
        assert kind == "error", f"{name}(lr={lr!r}) gave {result!r}"
        assert_clear_error(result, "lr")


@FUZZ
@given(HYPER, HYPER)
def test_adam_betas_are_checked(b1, b2):
    p = mg.nn.Parameter(mg.ones(2))
    kind, result = outcome(lambda: optim.Adam([p], betas=(b1, b2)))
    if all(_is_real(b) and 0 <= b < 1 for b in (b1, b2)):
        assert kind == "ok", f"Adam(betas={(b1, b2)!r}) raised {result!r}"
    else:
        assert kind == "error", f"Adam(betas={(b1, b2)!r}) gave {result!r}"
        assert_clear_error(result, "beta")


@FUZZ
@given(st.lists(st.floats(-1e3, 1e3, width=32), min_size=2, max_size=2),
       st.sampled_from([math.nan, math.inf, -math.inf, 1.0]))
def test_optimizer_step_refuses_nonfinite_gradients(grad, bad):
    p = mg.nn.Parameter(mg.ones(2))
    opt = optim.SGD([p], lr=0.1)
    p.grad = mg.tensor([grad[0], bad], dtype=mg.float32)
    kind, result = outcome(opt.step)
    if math.isfinite(bad):
        assert kind == "ok", repr(result)
        np.testing.assert_allclose(p.detach().numpy(),
                                   1 - 0.1 * np.array([grad[0], bad], np.float32), rtol=1e-6)
    else:
        assert kind == "error", f"a step with a {bad} gradient gave {result!r}"
        assert_clear_error(result, ("nan", "inf", "finite"))
        np.testing.assert_array_equal(p.detach().numpy(), [1.0, 1.0])


@FUZZ
@given(st.integers(1, 7), st.one_of(st.integers(-2, 9), st.floats(0.5, 3.5), st.text(max_size=1),
                                     st.none()), st.booleans())
def test_dataloader_batch_size_is_checked(n, batch_size, drop_last):
    ds = udata.TensorDataset(mg.arange(float(n)), mg.arange(n))
    kind, result = outcome(lambda: udata.DataLoader(ds, batch_size=batch_size, drop_last=drop_last))
    if isinstance(batch_size, int) and batch_size > 0:
        assert kind == "ok", f"batch_size={batch_size!r} raised {result!r}"
        sizes = [len(x) for x, _ in result]
        full, rest = divmod(n, batch_size)
        assert sizes == [batch_size] * full + ([] if drop_last or not rest else [rest])
        assert len(result) == len(sizes)
    else:
        assert kind == "error", f"batch_size={batch_size!r} gave {result!r}"
        assert_clear_error(result, "batch_size")
