"""Hessians, Hessian-vector products and Jacobians against closed forms."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd.functional import hessian, hvp, jacobian


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def rosenbrock_hessian(x, y):
    return np.array([[2 - 400 * (y - x ** 2) + 800 * x ** 2, -400 * x], [-400 * x, 200.0]])


def test_hessian_of_rosenbrock(device):
    x = mg.tensor([-1.5, 2.0], dtype=mg.float64, device=device)
    np.testing.assert_allclose(hessian(rosenbrock, x).numpy(), rosenbrock_hessian(-1.5, 2.0))


def test_hessian_of_a_quadratic_form_is_the_symmetrised_matrix(device):
    A = mg.tensor([[3.0, 1.0, 0.0], [2.0, 4.0, 1.0], [0.5, 0.0, 2.0]], dtype=mg.float64,
                  device=device)
    x = mg.tensor([0.1, -0.4, 0.7], dtype=mg.float64, device=device)
    H = hessian(lambda v: v @ (A @ v), x)
    np.testing.assert_allclose(H.numpy(), A.numpy() + A.numpy().T, rtol=1e-12)


def test_hessian_of_a_matrix_input_has_doubled_shape():
    x = mg.tensor([[0.2, 0.4], [0.6, 0.8]], dtype=mg.float64)
    H = hessian(lambda t: (t.exp()).sum(), x)
    assert H.shape == (2, 2, 2, 2)
    expected = np.zeros((2, 2, 2, 2))
    for i in range(2):
        for j in range(2):
            expected[i, j, i, j] = np.exp(x.numpy()[i, j])
    np.testing.assert_allclose(H.numpy(), expected)


def test_hessian_of_a_linear_function_is_zero():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64)
    np.testing.assert_array_equal(hessian(lambda t: (t * 3.0).sum(), x).numpy(), np.zeros((2, 2)))


def test_hvp_matches_the_hessian_times_v(device):
    x = mg.tensor([0.5, 1.5], dtype=mg.float64, device=device)
    v = mg.tensor([1.0, -2.0], dtype=mg.float64, device=device)
    value, product = hvp(rosenbrock, x, v)
    assert value.item() == pytest.approx(0.25 + 100 * (1.5 - 0.25) ** 2)
    np.testing.assert_allclose(product.numpy(), rosenbrock_hessian(0.5, 1.5) @ [1.0, -2.0])


def test_jacobian_of_an_elementwise_map():
    x = mg.tensor([0.1, 0.2, 0.3], dtype=mg.float64)
    J = jacobian(lambda t: t.tanh() * 2.0, x)
    np.testing.assert_allclose(J.numpy(), np.diag(2 * (1 - np.tanh(x.numpy()) ** 2)))


def test_scalar_functions_are_required():
    with pytest.raises(ValueError, match="scalar"):
        hessian(lambda t: t * 2.0, mg.ones(2, dtype=mg.float64))
