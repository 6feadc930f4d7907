"""The further elementwise functions (expm1 ... cosh, floor_divide, remainder, clamp with
tensor bounds, masked_fill, clone, the logical ops): values against NumPy, gradients by
finite differences away from the points where a function is not differentiable."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import gradcheck, gradgradcheck


def leaf(values, device="cpu"):
    return mg.tensor(np.asarray(values, dtype=np.float64), dtype=mg.float64, device=device,
                     requires_grad=True)


def points(low, high, shape=(2, 3), seed=0):
    return np.random.default_rng(seed).uniform(low, high, shape)


# name: (NumPy reference, where to evaluate it)
SMOOTH = {
    "expm1": (np.expm1, (-2.0, 2.0)),
    "log2": (np.log2, (0.2, 3.0)),
    "log10": (np.log10, (0.2, 3.0)),
    "log1p": (np.log1p, (-0.8, 3.0)),
    "rsqrt": (lambda a: 1 / np.sqrt(a), (0.2, 3.0)),
    "square": (np.square, (-2.0, 2.0)),
    "reciprocal": (np.reciprocal, (0.3, 3.0)),
    "sin": (np.sin, (-3.0, 3.0)),
    "cos": (np.cos, (-3.0, 3.0)),
    "tan": (np.tan, (-1.2, 1.2)),
    "asin": (np.arcsin, (-0.9, 0.9)),
    "acos": (np.arccos, (-0.9, 0.9)),
    "atan": (np.arctan, (-3.0, 3.0)),
    "sinh": (np.sinh, (-2.0, 2.0)),
    "cosh": (np.cosh, (-2.0, 2.0)),
}


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_functions_values_and_gradients(device, name):
    reference, (low, high) = SMOOTH[name]
    x = leaf(points(low, high), device)
    out = getattr(x, name)()
    np.testing.assert_allclose(out.numpy(), reference(x.numpy()), rtol=1e-13)
    assert out.dtype == mg.float64
    np.testing.assert_array_equal(getattr(mg.ops, name)(x).numpy(), out.numpy())
    assert gradcheck(lambda t: getattr(t, name)(), (x,))
    assert gradgradcheck(lambda t: getattr(t, name)(), (x,))


@pytest.mark.parametrize("name", ["expm1", "log2", "log10", "log1p", "rsqrt", "reciprocal",
                                  "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh"])
def test_integer_input_is_promoted_to_the_default_float(name):
    ints = mg.tensor([1, 0, 1] if name in ("asin", "acos") else [1, 2, 3])
    if name in ("log2", "log10", "rsqrt", "reciprocal"):
        ints = mg.tensor([1, 2, 4])
    out = getattr(ints, name)()
    assert out.dtype == mg.float32
    reference = SMOOTH[name][0]
    np.testing.assert_allclose(out.numpy(), reference(ints.numpy().astype(np.float32)),
                               rtol=1e-6)


def test_square_of_integers_stays_integer():
    assert mg.tensor([2, -3]).square().tolist() == [4, 9]


STEPS = {"sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.round}


@pytest.mark.parametrize("name", STEPS)
def test_step_functions_have_zero_gradient(device, name):
    x = leaf([[-1.7, -0.2, 0.3], [1.2, 2.6, -2.4]], device)  # no ties, no integers
    out = getattr(x, name)()
    np.testing.assert_array_equal(out.numpy(), STEPS[name](x.numpy()))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))
    assert gradcheck(lambda t: getattr(t, name)(), (x,))
    assert gradgradcheck(lambda t: getattr(t, name)() * t, (x,))


def test_round_is_half_to_even_and_takes_decimals():
    np.testing.assert_array_equal(mg.tensor([0.5, 1.5, 2.5, -0.5, -1.5]).round().numpy(),
                                  [0.0, 2.0, 2.0, -0.0, -2.0])
    np.testing.assert_allclose(mg.tensor([1.2345, -2.5678], dtype=mg.float64).round(2).numpy(),
                               [1.23, -2.57])


def test_sign_of_zero_is_zero():
    assert mg.tensor([0.0, -0.0, 3.0]).sign().tolist() == [0.0, 0.0, 1.0]


# --- floor_divide and remainder -----------------------------------------------------------

def test_floor_divide_is_a_step_with_zero_gradient():
    x = mg.tensor([7.5, -3.2], requires_grad=True)
    y = x // 2
    assert y.requires_grad
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


def test_floor_divide_rounds_toward_minus_infinity():
    a = mg.tensor([7, -7, 7, -7])
    b = mg.tensor([2, 2, -2, -2])
    np.testing.assert_array_equal((a // b).numpy(), np.floor_divide(a.numpy(), b.numpy()))
    assert (a // b).tolist() == [3, -4, -4, 3]
    x = mg.tensor([7.5, -7.5])
    np.testing.assert_array_equal(mg.ops.floor_divide(x, 2.0).numpy(), [3.0, -4.0])
    assert (2 // mg.tensor([3, -3])).tolist() == [0, -1]


def test_remainder_takes_the_sign_of_the_divisor(device):
    a = mg.tensor([5.5, -5.5, 5.5, -5.5], device=device)
    b = mg.tensor([3.0, 3.0, -3.0, -3.0], device=device)
    np.testing.assert_allclose((a % b).numpy(), np.remainder(a.numpy(), b.numpy()))
    assert (mg.tensor([5, -5]) % 3).tolist() == [2, 1]


def test_remainder_gradients(device):
    a = leaf([[5.3, -2.2, 0.7], [8.1, -6.4, 3.3]], device)
    b = leaf([[1.7, 2.9, -1.6], [2.3, 1.9, -2.2]], device)  # a / b never near an integer
    assert gradcheck(lambda s, t: s % t, (a, b))
    assert gradgradcheck(lambda s, t: s % t, (a, b))
    a.grad = b.grad = None
    mg.ops.remainder(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(b.grad.numpy(), -np.floor(a.numpy() / b.numpy()))


# --- clamp with tensor bounds -------------------------------------------------------------

def test_clamp_with_tensor_bounds_values_and_gradients(device):
    x = leaf(points(-2.0, 2.0, (3, 4), 1), device)
    low = leaf(points(-1.0, 0.0, (3, 4), 2), device)
    high = leaf(points(0.0, 1.0, (4,), 3), device)  # broadcast
    out = x.clamp(low, high)
    np.testing.assert_array_equal(out.numpy(), np.minimum(np.maximum(x.numpy(), low.numpy()),
                                                          high.numpy()))
    assert gradcheck(lambda t, lo, hi: t.clamp(lo, hi), (x, low, high))
    assert gradgradcheck(lambda t, lo, hi: t.clamp(lo, hi) ** 2, (x, low, high))
    assert gradcheck(lambda t, lo: mg.ops.clamp(t, min=lo), (x, low))
    assert gradcheck(lambda t, hi: t.clamp(max=hi), (x, high))


def test_clamp_gradient_goes_to_the_binding_side_and_to_input_at_ties():
    x = leaf([-2.0, 0.5, 3.0, 1.0])
    low = leaf([-1.0, -1.0, -1.0, 1.0])
    high = leaf([2.0, 2.0, 2.0, 2.0])
    x.clamp(low, high).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 0, 1])  # tie at 1.0: input's
    np.testing.assert_array_equal(low.grad.numpy(), [1, 0, 0, 0])
    np.testing.assert_array_equal(high.grad.numpy(), [0, 0, 1, 0])


def test_clamp_with_a_tensor_min_and_a_number_max():
    x = mg.tensor([-3.0, 0.0, 3.0])
    assert x.clamp(mg.tensor([-1.0, 1.0, -1.0]), 2.0).tolist() == [-1.0, 1.0, 2.0]


# --- masked_fill and clone ----------------------------------------------------------------

def test_masked_fill_values_and_gradients(device):
    x = leaf(points(-1.0, 1.0, (3, 4)), device)
    mask = mg.tensor(np.array([True, False, True, False]), device=device)  # broadcast
    out = x.masked_fill(mask, 0.25)
    np.testing.assert_array_equal(out.numpy(), np.where(mask.numpy(), 0.25, x.numpy()))
    assert gradcheck(lambda t: t.masked_fill(mask, -2.0), (x,))
    assert gradgradcheck(lambda t: t.masked_fill(mask, -2.0) ** 2, (x,))
    value = mg.tensor(0.5, dtype=mg.float64, device=device, requires_grad=True)
    assert gradcheck(lambda t, v: t.masked_fill(mask, v), (x, value))
    value.grad = None
    x.masked_fill(mask, value).sum().backward()
    assert value.grad.item() == 6.0  # the number of filled entries


def test_masked_fill_errors():
    x = mg.ones(2, 3)
    with pytest.raises(TypeError, match="mask must be a boolean tensor"):
        x.masked_fill(mg.tensor([1, 0, 1]), 0.0)
    with pytest.raises(ValueError, match="one-element tensor"):
        x.masked_fill(mg.tensor([True, False, True]), mg.ones(2))
    with pytest.raises(ValueError, match="does not broadcast"):
        x.masked_fill(mg.ones(4, 2, 3, dtype=mg.bool), 0.0)


def test_clone_copies_and_passes_the_gradient(device):
    x = leaf(points(-1.0, 1.0), device)
    copy = x.clone()
    np.testing.assert_array_equal(copy.numpy(), x.numpy())
    assert not np.shares_memory(copy.numpy(), x.numpy())
    assert gradcheck(lambda t: t.clone(), (x,))
    assert gradgradcheck(lambda t: t.clone() * t, (x,))


# --- logical ops --------------------------------------------------------------------------

A = np.array([True, True, False, False])
B = np.array([True, False, True, False])


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
def test_logical_ops_on_booleans(name):
    out = getattr(mg.ops, name)(mg.tensor(A), mg.tensor(B))
    assert out.dtype == mg.bool and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), getattr(np, name)(A, B))
    operator = {"logical_and": "__and__", "logical_or": "__or__", "logical_xor": "__xor__"}[name]
    np.testing.assert_array_equal(getattr(mg.tensor(A), operator)(mg.tensor(B)).numpy(),
                                  getattr(np, name)(A, B))


def test_logical_not_on_booleans():
    np.testing.assert_array_equal(mg.ops.logical_not(mg.tensor(A)).numpy(), ~A)
    np.testing.assert_array_equal((~mg.tensor(A)).numpy(), ~A)


def test_bitwise_operators_on_integers():
    a, b = mg.tensor([12, 5, -1]), mg.tensor([10, 3, 7])
    assert (a & b).tolist() == [8, 1, 7] and (a | b).tolist() == [14, 7, -1]
    assert (a ^ b).tolist() == [6, 6, -8] and (~a).tolist() == [-13, -6, 0]
    with pytest.raises(TypeError, match="bitwise not"):
        ~mg.tensor([1.0])


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor", "logical_not"])
def test_logical_functions_on_integers_and_floats_are_logical(name):
    args = ([1, 2, 0], [2, 1, 0]) if name != "logical_not" else ([1, 2, 0],)
    reference = getattr(np, name)(*[np.array(v) for v in args])
    for dtype in (mg.int64, mg.float32):
        out = getattr(mg.ops, name)(*[mg.tensor(v, dtype=dtype) for v in args])
        assert out.dtype == mg.bool
        np.testing.assert_array_equal(out.numpy(), reference)

