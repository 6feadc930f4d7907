"""softplus, elu and silu (and their modules): values against NumPy formulas, first and
second derivatives by finite differences, stability, and agreement with PyTorch."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import gradcheck, gradgradcheck
import minigrad.nn.functional as F

# away from the kinks: softplus's switch to linear (beta x = threshold) and elu's 0
POINTS = np.array([-30.0, -7.5, -3.0, -1.2, -0.4, 0.3, 0.9, 2.5, 5.5, 11.0, 33.0])


def _softplus_np(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.log1p(np.exp(np.minimum(beta * x, 700))) / beta)


def _elu_np(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))


def _silu_np(x):
    return x / (1 + np.exp(-x))


CASES = {
    "softplus": (F.softplus, _softplus_np),
    "softplus_beta2_threshold6": (lambda t: F.softplus(t, 2.0, 6.0),
                                  lambda x: _softplus_np(x, 2.0, 6.0)),
    "softplus_beta0.5": (lambda t: F.softplus(t, beta=0.5), lambda x: _softplus_np(x, 0.5)),
    "softplus_negative_beta": (lambda t: F.softplus(t, beta=-1.5),
                               lambda x: _softplus_np(x, -1.5)),
    "elu": (F.elu, _elu_np),
    "elu_alpha0.3": (lambda t: F.elu(t, alpha=0.3), lambda x: _elu_np(x, 0.3)),
    "silu": (F.silu, _silu_np),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_first_and_second_derivatives(device, name):
    fn, reference = CASES[name]
    x = mg.tensor(POINTS, requires_grad=True, device=device)
    np.testing.assert_allclose(fn(x).numpy(), reference(POINTS), rtol=1e-13, atol=1e-300)
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_softplus_is_linear_past_the_threshold_with_slope_one():
    x = mg.tensor([4.0, 10.5, 25.0], dtype=mg.float64, requires_grad=True)
    out = F.softplus(x, beta=2.0, threshold=20.0)  # beta x = 8, 21, 50
    np.testing.assert_array_equal(out.numpy()[1:], [10.5, 25.0])
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 / (1 + np.exp(-8.0)), 1.0, 1.0], rtol=1e-15)


def test_stable_at_1e4_and_keeps_float32():
    values = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    for fn in (F.softplus, lambda t: F.softplus(t, threshold=float("inf")), F.elu, F.silu):
        x = mg.tensor(values, dtype=mg.float32, requires_grad=True)
        out = fn(x)
        assert out.dtype == mg.float32
        assert np.isfinite(out.numpy()).all()
        out.sum().backward()
        assert np.isfinite(x.grad.numpy()).all() and x.grad.dtype == mg.float32
    big = mg.tensor(values)
    np.testing.assert_allclose(F.softplus(big, threshold=float("inf")).numpy(),
                               [0.0, np.exp(-50.0), np.log(2), 50.0, 1e4], rtol=1e-6)
    np.testing.assert_allclose(F.silu(big).numpy(), [0.0, -50 * np.exp(-50.0), 0, 50, 1e4],
                               rtol=1e-6)


def test_silu_and_softplus_keep_relative_accuracy_far_left():
    x = np.array([-40.0, -100.0, -700.0])
    np.testing.assert_allclose(F.silu(mg.tensor(x)).numpy(), x * np.exp(x), rtol=1e-14)
    np.testing.assert_allclose(F.softplus(mg.tensor(x)).numpy(), np.exp(x), rtol=1e-14)


def test_elu_gradient_at_zero_is_alpha_as_in_pytorch():
    x = mg.tensor([0.0, -1.0, 2.0], dtype=mg.float64, requires_grad=True)
    F.elu(x, alpha=0.5).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.5 * np.exp(-1.0), 1.0], rtol=1e-15)


@pytest.mark.parametrize("fn", [F.softplus, F.elu, F.silu])
def test_integer_input_is_refused(fn):
    with pytest.raises(TypeError, match="floating point"):
        fn(mg.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="Tensor"):
        fn([1.0, 2.0])


def test_modules_match_functional_and_repr_as_pytorch():
    x = mg.randn(4, 5)
    pairs = [(nn.Softplus(), F.softplus(x)), (nn.Softplus(2.0, 3.0), F.softplus(x, 2.0, 3.0)),
             (nn.ELU(), F.elu(x)), (nn.ELU(alpha=0.4), F.elu(x, 0.4)), (nn.SiLU(), F.silu(x))]
    for module, expected in pairs:
        np.testing.assert_array_equal(module(x).numpy(), expected.numpy(), err_msg=repr(module))
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.ELU()) == "ELU(alpha=1.0)"
    assert repr(nn.ELU(0.5, True)) == "ELU(alpha=0.5, inplace=True)"
    assert repr(nn.SiLU()) == "SiLU()" and repr(nn.SiLU(inplace=True)) == "SiLU(inplace=True)"


# each called with the functional module (minigrad's or torch's) and the input
TORCH_CASES = {
    "softplus": lambda functional, t: functional.softplus(t),
    "softplus_beta_threshold": lambda functional, t: functional.softplus(t, 2.0, 5.0),
    "softplus_negative_beta": lambda functional, t: functional.softplus(t, -0.7),
    "elu": lambda functional, t: functional.elu(t),
    "elu_alpha": lambda functional, t: functional.elu(t, 1.7),
    "silu": lambda functional, t: functional.silu(t),
}


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    call = TORCH_CASES[name]
    values = np.concatenate([np.linspace(-40, 40, 161), [-1e4, 1e4, 0.0]])
    x = mg.tensor(values, requires_grad=True)
    tx = torch.tensor(values, requires_grad=True)
    out, tout = call(F, x), call(torch.nn.functional, tx)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-6, atol=1e-12)
    weights = np.random.default_rng(0).standard_normal(values.shape)
    (out * mg.tensor(weights)).sum().backward()
    (tout * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-12)
