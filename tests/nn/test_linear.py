import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import DeviceError, ShapeError
import minigrad.nn.functional as F


def test_linear_matches_numpy_affine_map(device):
    layer = nn.Linear(4, 3).to(device)
    x = mg.randn(5, 4, device=device)
    expected = x.numpy() @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6)


def test_linear_shapes_and_default_init_bounds():
    layer = nn.Linear(16, 5)
    assert layer.weight.shape == (5, 16) and layer.bias.shape == (5,)
    bound = 1 / np.sqrt(16)
    for p in (layer.weight, layer.bias):
        assert p.dtype == mg.float32 and p.requires_grad
        assert np.abs(p.numpy()).max() <= bound
    # uniform on [-bound, bound]: the spread should fill most of the interval
    assert layer.weight.numpy().max() > 0.8 * bound and layer.weight.numpy().min() < -0.8 * bound
    assert nn.Linear(2, 2, bias=False).bias is None


def test_linear_init_is_seeded():
    mg.manual_seed(3)
    a = nn.Linear(3, 3).weight.numpy().copy()
    mg.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(3, 3).weight.numpy(), a)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (4,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(device, shape, bias):
    x = mg.randn(*shape, dtype=mg.float64, device=device, requires_grad=True)
    w = mg.randn(2, 4, dtype=mg.float64, device=device, requires_grad=True)
    b = mg.randn(2, dtype=mg.float64, device=device, requires_grad=True)
    fn = (lambda x, w, b: F.linear(x, w, b)) if bias else (lambda x, w: F.linear(x, w))
    inputs = (x, w, b) if bias else (x, w)
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_linear_bad_inputs():
    layer = nn.Linear(4, 3)
    with pytest.raises(ShapeError, match="last dimension must be 4"):
        layer(mg.randn(2, 5))
    with pytest.raises(TypeError, match="dtype"):
        layer(mg.randn(2, 4, dtype=mg.float64))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(-1, 3)


def test_linear_device_mismatch_is_a_device_error():
    x = mg.randn(2, 4)
    x.device = "cuda"  # a tensor claiming another device: the check must come before NumPy
    with pytest.raises(DeviceError):
        F.linear(x, mg.randn(3, 4))


def test_identity_and_flatten():
    x = mg.randn(2, 3, 4)
    assert nn.Identity(7, foo=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
