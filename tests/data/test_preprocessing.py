"""StandardScaler against a plain-NumPy transcription of (x - mean) / std."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.data import StandardScaler
from minigrad.errors import ShapeError


def test_fit_transform_matches_numpy(device):
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, size=(50, 4)).astype(np.float32)
    test = rng.normal(3.0, 2.0, size=(7, 4)).astype(np.float32)
    scaler = StandardScaler().fit(mg.tensor(train, device=device))
    mean, std = train.mean(axis=0), train.std(axis=0)
    out = scaler.transform(mg.tensor(test, device=device))
    assert out.device == device and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), (test - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scaler.mean_.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(scaler.scale_.numpy(), std, rtol=1e-5)


def test_fit_transform_gives_zero_mean_unit_variance_and_inverts():
    X = mg.tensor(np.random.default_rng(1).uniform(-5, 9, size=(40, 3)))
    Z = StandardScaler().fit_transform(X).numpy()
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-5)
    scaler = StandardScaler().fit(X)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)).numpy(),
                               X.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("value", [0.0, 0.3, 1e4])
def test_constant_features_do_not_divide_by_zero(value):
    X = np.column_stack([np.full(6, value), np.arange(6.0)]).astype(np.float32)
    scaler = StandardScaler().fit(X)
    Z = scaler.transform(X).numpy()
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z[:, 0], 0.0, atol=1e-6)
    assert scaler.scale_.numpy()[0] == 1.0


def test_integer_inputs_become_float():
    Z = StandardScaler().fit_transform([[1, 2], [3, 4]])
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z.numpy(), [[-1, -1], [1, 1]])


def test_bad_inputs():
    with pytest.raises(RuntimeError, match="before fit"):
        StandardScaler().transform(mg.zeros(2, 3))
    scaler = StandardScaler().fit(mg.zeros(5, 3))
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2, 4\)"):
        scaler.transform(mg.zeros(2, 4))
    with pytest.raises(ShapeError, match="0-d"):
        StandardScaler().fit(mg.tensor(1.0))
    with pytest.raises(ValueError, match="at least one sample"):
        StandardScaler().fit(mg.zeros(0, 3))
