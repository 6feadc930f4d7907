"""Reductions: values against NumPy for every axis form, gradients by finite differences."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import ShapeError


def leaf(shape, device, seed=0):
    values = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(values, dtype=mg.float64, device=device, requires_grad=True)


AXES = [None, 0, -1, (0, 2), (-1, 0), 1]
REDUCTIONS = {
    "sum": (lambda x, **k: x.sum(**k), lambda a, axis, keepdims: a.sum(axis, keepdims=keepdims)),
    "mean": (lambda x, **k: x.mean(**k), lambda a, axis, keepdims: a.mean(axis, keepdims=keepdims)),
    "max": (lambda x, **k: x.max(**k), lambda a, axis, keepdims: a.max(axis, keepdims=keepdims)),
    "min": (lambda x, **k: x.min(**k), lambda a, axis, keepdims: a.min(axis, keepdims=keepdims)),
    "var": (lambda x, **k: x.var(**k),
            lambda a, axis, keepdims: a.var(axis, ddof=1, keepdims=keepdims)),
    "var_population": (lambda x, **k: x.var(unbiased=False, **k),
                       lambda a, axis, keepdims: a.var(axis, keepdims=keepdims)),
}


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_values_and_gradients(name, axis, keepdims, device):
    op, reference = REDUCTIONS[name]
    x = leaf((2, 3, 4), device)
    out = op(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.numpy(), reference(x.numpy(), axis, keepdims), rtol=1e-12)
    assert gradcheck(lambda t: op(t, axis=axis, keepdims=keepdims), (x,))


@pytest.mark.parametrize("name", ["sum", "mean", "var", "max"])
def test_reduction_second_derivatives(name, device):
    op = REDUCTIONS[name][0]
    assert gradgradcheck(lambda t: op(t, axis=1) * op(t, axis=1), (leaf((3, 4), device),))


def test_pytorch_spellings_dim_and_keepdim():
    x = leaf((2, 3), "cpu")
    assert x.sum(dim=1, keepdim=True).shape == (2, 1)
    assert x.mean(dim=-1).shape == (2,)


def test_max_ties_share_the_gradient_equally():
    x = mg.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [1, 0, 0]])
    y = mg.tensor([4.0, 4.0, 4.0, 1.0], requires_grad=True)
    y.min().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0, 0, 0, 1])


def test_argmax_and_argmin_return_indices():
    x = mg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
    np.testing.assert_array_equal(x.argmax(axis=1).numpy(), [1, 0])
    np.testing.assert_array_equal(x.argmin(dim=0).numpy(), [0, 1, 0])


def test_scalar_reduction_is_a_0d_tensor():
    total = mg.tensor([1.0, 2.0]).sum()
    assert total.shape == () and total.item() == 3.0


def test_axis_out_of_range_is_a_clear_error():
    with pytest.raises(ShapeError, match="axis 2 is out of range for a tensor with 2 dimensions"):
        mg.ones(2, 3).sum(axis=2)
