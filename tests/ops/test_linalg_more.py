"""mm, bmm, dot and outer: values against NumPy, gradients, and the shape/dtype errors."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import ShapeError


def leaf(shape, device="cpu", seed=0):
    values = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(values, dtype=mg.float64, device=device, requires_grad=True)


PRODUCTS = {
    "mm": ((3, 4), (4, 2), lambda a, b: a @ b),
    "bmm": ((2, 3, 4), (2, 4, 5), lambda a, b: a @ b),
    "dot": ((5,), (5,), np.dot),
    "outer": ((3,), (4,), np.outer),
}


@pytest.mark.parametrize("name", PRODUCTS)
def test_products_values_and_gradients(device, name):
    shape_a, shape_b, reference = PRODUCTS[name]
    a, b = leaf(shape_a, device, 1), leaf(shape_b, device, 2)
    method = getattr(mg.Tensor, name)
    function = getattr(mg.ops, name)
    out = method(a, b)
    np.testing.assert_allclose(out.numpy(), reference(a.numpy(), b.numpy()), rtol=1e-12)
    np.testing.assert_array_equal(function(a, b).numpy(), out.numpy())
    assert gradcheck(lambda x, y: method(x, y), (a, b))
    assert gradgradcheck(lambda x, y: method(x, y), (a, b))


def test_dot_is_0d_and_outer_2d():
    assert mg.tensor([1.0, 2.0]).dot(mg.tensor([3.0, 4.0])).shape == ()
    assert mg.tensor([1.0, 2.0]).outer(mg.tensor([3.0, 4.0, 5.0])).shape == (2, 3)


ERRORS = [
    ("mm", (3,), (3, 2), ShapeError, r"mm needs two matrices \(2-D tensors\), got shapes \(3,\) "
                                     r"and \(3, 2\)"),
    ("mm", (2, 3, 4), (4, 2), ShapeError, "mm needs two matrices"),
    ("mm", (2, 3), (4, 5), ShapeError, r"shapes \(2, 3\) and \(4, 5\) cannot be multiplied "
                                       r"\(3 columns against 4 rows\)"),
    ("bmm", (3, 4), (4, 2), ShapeError, r"bmm needs two batches of matrices \(3-D tensors\)"),
    ("bmm", (2, 3, 4), (3, 4, 5), ShapeError, r"batch sizes of shapes \(2, 3, 4\) and "
                                              r"\(3, 4, 5\) differ"),
    ("bmm", (1, 3, 4), (2, 4, 5), ShapeError, "batch sizes"),  # no broadcasting, as PyTorch
    ("bmm", (2, 3, 4), (2, 5, 5), ShapeError, r"\(4 columns against 5 rows\)"),
    ("dot", (3, 1), (3,), ShapeError, r"dot needs two vectors \(1-D tensors\)"),
    ("dot", (3,), (4,), ShapeError, r"same length, got shapes \(3,\) and \(4,\)"),
    ("outer", (3, 1), (2,), ShapeError, r"outer needs two vectors \(1-D tensors\)"),
]


@pytest.mark.parametrize("name, shape_a, shape_b, error, message", ERRORS)
def test_product_errors_name_the_shapes(name, shape_a, shape_b, error, message):
    with pytest.raises(error, match=message):
        getattr(mg.ops, name)(mg.ones(*shape_a), mg.ones(*shape_b))


@pytest.mark.parametrize("name", ["mm", "bmm", "dot"])
def test_products_need_one_dtype_and_tensors(name):
    shape = PRODUCTS[name][0]
    ones = mg.ones(*shape)
    other = mg.ones(*PRODUCTS[name][1], dtype=mg.float64)
    with pytest.raises(TypeError, match="same dtype, got float32 and float64"):
        getattr(mg.ops, name)(ones, other)
    with pytest.raises(TypeError, match="the second operand must be a Tensor, got list"):
        getattr(mg.ops, name)(ones, [1.0])


def test_outer_promotes_like_mul_and_needs_tensors():
    assert mg.tensor([1, 2]).outer(mg.tensor([0.5])).dtype == mg.float32
    with pytest.raises(TypeError, match="the first operand must be a Tensor"):
        mg.ops.outer(2.0, mg.ones(2))
