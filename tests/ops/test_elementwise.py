"""Elementwise ops: values against NumPy, gradients against finite differences."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import DeviceError, ShapeError


def leaf(shape, device, low=-2.0, high=2.0, seed=0):
    """A float64 leaf with values in [low, high], kept away from 0 (the kink of abs/relu)."""
    values = np.random.default_rng(seed).uniform(low, high, size=shape)
    values = np.where(np.abs(values) < 0.1, 0.3, values)
    return mg.tensor(values, dtype=mg.float64, device=device, requires_grad=True)


BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (3,)),
                    ((3,), ()), ((2, 1, 3), (4, 1))]

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "maximum": (mg.maximum, np.maximum),
    "minimum": (mg.minimum, np.minimum),
}


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
def test_binary_values_and_gradients(name, shapes, device):
    op, reference = BINARY[name]
    a, b = leaf(shapes[0], device, seed=1), leaf(shapes[1], device, seed=2)
    np.testing.assert_allclose(op(a, b).numpy(), reference(a.numpy(), b.numpy()), rtol=1e-12)
    assert gradcheck(op, (a, b))


@pytest.mark.parametrize("name", ["add", "mul", "div"])
def test_binary_second_derivatives(name, device):
    op = BINARY[name][0]
    assert gradgradcheck(op, (leaf((3, 1), device, seed=1), leaf((4,), device, seed=2)))


def test_pow_with_tensor_and_scalar_exponents(device):
    base = leaf((2, 3), device, low=0.5, high=2.0)
    exponent = leaf((3,), device, seed=3)
    np.testing.assert_allclose((base ** exponent).numpy(), base.numpy() ** exponent.numpy())
    assert gradcheck(lambda a, b: a ** b, (base, exponent))
    assert gradgradcheck(lambda a, b: a ** b, (base, exponent))
    assert gradcheck(lambda a: a ** 3, (leaf((4,), device),))
    assert gradcheck(lambda a: 2.0 ** a, (leaf((4,), device),))


@pytest.mark.parametrize("scalar_first", [False, True])
def test_python_numbers_on_either_side(scalar_first, device):
    a = leaf((3,), device)
    f = (lambda x: 3.0 - x / 2.0 + 1) if not scalar_first else (lambda x: 1 / (2.0 * x) + 4)
    expected = (3.0 - a.numpy() / 2.0 + 1) if not scalar_first else 1 / (2.0 * a.numpy()) + 4
    np.testing.assert_allclose(f(a).numpy(), expected)
    assert gradcheck(f, (a,))


UNARY = {
    "neg": (lambda x: -x, np.negative, (-2, 2)),
    "exp": (mg.exp, np.exp, (-2, 2)),
    "log": (mg.log, np.log, (0.2, 3)),
    "sqrt": (mg.sqrt, np.sqrt, (0.2, 3)),
    "abs": (mg.abs, np.abs, (-2, 2)),
    "tanh": (mg.tanh, np.tanh, (-2, 2)),
    "sigmoid": (mg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), (-4, 4)),
    "relu": (mg.relu, lambda x: np.maximum(x, 0), (-2, 2)),
    "clip": (lambda x: x.clip(-0.5, 1.0), lambda x: np.clip(x, -0.5, 1.0), (-2, 2)),
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_values_and_gradients(name, device):
    op, reference, (low, high) = UNARY[name]
    x = leaf((3, 4), device, low, high)
    np.testing.assert_allclose(op(x).numpy(), reference(x.numpy()), rtol=1e-12)
    assert gradcheck(op, (x,))
    assert gradgradcheck(op, (x,))


def test_relu_abs_and_clip_gradients_at_their_kinks_follow_pytorch():
    x = mg.tensor([0.0, -1.0, 1.0], requires_grad=True)
    (x.relu() + x.abs()).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, -1.0, 2.0])
    y = mg.tensor([-1.0, 0.0, 1.0, 2.0], requires_grad=True)
    y.clip(0.0, 1.0).sum().backward()  # boundaries pass the gradient, as torch.clamp does
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 1.0, 1.0, 0.0])


def test_sigmoid_does_not_overflow_at_extremes():
    x = mg.tensor([-1e4, 0.0, 1e4])
    with np.errstate(all="raise"):
        np.testing.assert_allclose(x.sigmoid().numpy(), [0.0, 0.5, 1.0])


def test_maximum_splits_the_gradient_on_ties():
    a = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = mg.tensor([1.0, 5.0, 0.0], requires_grad=True)
    mg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 1.0, 0.0])


def test_where_routes_gradients_to_the_chosen_side(device):
    a, b = leaf((2, 3), device, seed=1), leaf((3,), device, seed=2)
    cond = a > 0
    out = mg.where(cond, a, b)
    np.testing.assert_array_equal(out.numpy(), np.where(a.numpy() > 0, a.numpy(), b.numpy()))
    assert gradcheck(lambda a, b: mg.where(cond, a, b), (a, b))
    assert gradcheck(lambda a: mg.where(cond, a, 0.0), (a,))


def test_comparisons_give_boolean_tensors_without_gradient():
    a = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in [(a == 2.0, [0, 1, 0]), (a != 2.0, [1, 0, 1]), (a < 2.0, [1, 0, 0]),
                             (a <= 2.0, [1, 1, 0]), (a > 2.0, [0, 0, 1]), (a >= 2.0, [0, 1, 1])]:
        assert result.dtype == mg.bool and not result.requires_grad
        np.testing.assert_array_equal(result.numpy(), np.array(expected, dtype=bool))
    assert len({a, a.detach()}) == 2  # hashable by identity despite __eq__


def test_dtype_rules_follow_pytorch():
    x32 = mg.ones(2)
    assert (x32 * 0.5).dtype == mg.float32  # a Python float takes the tensor's dtype
    assert (x32 + mg.tensor([1, 2])).dtype == mg.float32  # int tensor joins the float dtype
    assert (mg.tensor([1, 2]) * 0.5).dtype == mg.float32  # int * float -> default float
    assert (mg.tensor([1, 2]) * 2).dtype == mg.int64
    assert (x32 + mg.ones(2, dtype=mg.float64)).dtype == mg.float64


def test_a_float32_leaf_gets_a_float32_gradient_from_float64_math():
    w = mg.ones(3, requires_grad=True)
    (w * mg.ones(3, dtype=mg.float64)).sum().backward()
    assert w.grad.dtype == mg.float32


def test_broadcast_mismatch_names_both_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 3\) and \(4,\)"):
        mg.ones(2, 3) + mg.ones(4)


def test_mixing_devices_is_a_clear_error():
    a = mg.ones(2)
    b = mg.ones(2)
    b.device = "cuda"  # a stand-in: the check must fire before any array code runs
    with pytest.raises(DeviceError, match="different devices"):
        a + b
