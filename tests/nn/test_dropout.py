import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
import minigrad.nn.functional as F
from minigrad.autograd import gradcheck, gradgradcheck


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(device, p):
    x = mg.ones(200_000, device=device)
    out = F.dropout(x, p).numpy()
    zeroed = (out == 0).mean()
    assert abs(zeroed - p) < 0.01  # ~6 standard deviations of a binomial fraction
    kept = out[out != 0]
    np.testing.assert_allclose(kept, 1 / (1 - p), rtol=1e-6)  # survivors are scaled
    assert abs(out.mean() - 1.0) < 0.03  # so the mean is preserved


def test_dropout_gradient_uses_the_same_mask(device):
    x = mg.randn(50, 40, device=device, requires_grad=True)
    out = F.dropout(x, 0.5)
    out.sum().backward()
    mask = out.numpy() / x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-5)


def test_dropout_module_is_identity_in_eval_and_follows_train():
    layer = nn.Dropout(0.5)
    x = mg.randn(100)
    assert (layer(x).numpy() == 0).any()
    layer.eval()
    assert layer(x) is x
    layer.train()
    assert (layer(x).numpy() == 0).any()


def test_dropout_edge_probabilities_and_errors():
    x = mg.randn(10, requires_grad=True)
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.5, training=False) is x
    assert (F.dropout(x, 1.0).numpy() == 0).all()
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="probability"):
            F.dropout(x, bad)
        with pytest.raises(ValueError, match="p must be"):
            nn.Dropout(bad)


def test_dropout_is_seeded():
    mg.manual_seed(5)
    a = F.dropout(mg.ones(100)).numpy()
    mg.manual_seed(5)
    np.testing.assert_array_equal(F.dropout(mg.ones(100)).numpy(), a)


def test_dropout_gradcheck(device):
    x = mg.randn(4, 5, dtype=mg.float64, device=device, requires_grad=True)

    def fixed_mask_dropout(t):
        mg.manual_seed(1)  # the same mask at every evaluation, so finite differences apply
        return F.dropout(t, 0.3)
    assert gradcheck(fixed_mask_dropout, (x,))
    assert gradgradcheck(fixed_mask_dropout, (x,))
