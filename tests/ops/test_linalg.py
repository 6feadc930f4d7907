"""Matrix products for every combination of 1-D, 2-D and batched operands."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import ShapeError


def leaf(shape, device, seed=0):
    values = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(values, dtype=mg.float64, device=device, requires_grad=True)


SHAPES = [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
          ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2))]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_matmul_values_and_gradients(shapes, device):
    a, b = leaf(shapes[0], device, 1), leaf(shapes[1], device, 2)
    np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy(), rtol=1e-12)
    assert gradcheck(lambda x, y: x @ y, (a, b))


@pytest.mark.parametrize("shapes", SHAPES[:3] + SHAPES[5:6], ids=str)
def test_matmul_second_derivatives(shapes, device):
    a, b = leaf(shapes[0], device, 1), leaf(shapes[1], device, 2)
    assert gradgradcheck(lambda x, y: x @ y, (a, b))


def test_matmul_skips_the_gradient_of_a_constant_operand():
    x = mg.ones(3, 4)
    w = mg.ones(4, 2, requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(w.grad.numpy(), np.full((4, 2), 3.0))


def test_matmul_shape_errors_name_both_shapes():
    with pytest.raises(ShapeError, match=r"\(2, 3\) and \(4, 5\)"):
        mg.ones(2, 3) @ mg.ones(4, 5)
    with pytest.raises(ShapeError, match="at least one dimension"):
        mg.tensor(2.0) @ mg.ones(2)
