"""Gradient clipping against a direct NumPy computation of the norm and the scaled gradients."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.optim.clip_grad import clip_grad_norm_, clip_grad_value_


def _params_with_grads(device, grads, dtype=mg.float32):
    params = []
    for g in grads:
        p = mg.zeros(*np.shape(g), requires_grad=True, device=device, dtype=dtype)
        if g is not None:
            p.grad = mg.tensor(np.asarray(g), device=device, dtype=dtype)
        params.append(p)
    return params


GRADS = [np.array([[3.0, -4.0], [1.0, 2.0]]), np.array([-12.0, 0.5, 6.0])]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [1.0, 5.0, 1000.0])
def test_clip_grad_norm_matches_direct_computation(norm_type, max_norm, device):
    params = _params_with_grads(device, GRADS, mg.float64)
    flat = np.concatenate([g.ravel() for g in GRADS])
    p = float(norm_type)
    expected_norm = np.abs(flat).max() if math.isinf(p) else (np.abs(flat) ** p).sum() ** (1 / p)
    total = clip_grad_norm_(params, max_norm, norm_type)
    assert total.shape == () and total.device == device
    assert total.item() == pytest.approx(expected_norm, rel=1e-12)
    scale = min(1.0, max_norm / (expected_norm + 1e-6))
    for param, g in zip(params, GRADS):
        np.testing.assert_allclose(param.grad.numpy(), g * scale, rtol=1e-12)


def test_clipped_gradients_have_norm_max_norm():
    params = _params_with_grads("cpu", GRADS)
    clip_grad_norm_(params, 2.0)
    flat = np.concatenate([p.grad.numpy().ravel() for p in params])
    assert np.linalg.norm(flat) == pytest.approx(2.0, rel=1e-5)


def test_single_tensor_and_parameters_without_grad():
    p, no_grad = _params_with_grads("cpu", [np.array([6.0, 8.0]), None])
    assert no_grad.grad is None
    assert clip_grad_norm_(p, 5.0).item() == pytest.approx(10.0)
    np.testing.assert_allclose(p.grad.numpy(), [3.0, 4.0], rtol=1e-6)
    assert clip_grad_norm_(iter([no_grad]), 1.0).item() == 0.0
    assert no_grad.grad is None


def test_grads_below_the_limit_are_left_untouched():
    (p,) = _params_with_grads("cpu", [np.array([0.3, 0.4])])
    before = p.grad.numpy().copy()
    assert clip_grad_norm_([p], 1.0).item() == pytest.approx(0.5)
    np.testing.assert_array_equal(p.grad.numpy(), before)


def test_nonfinite_norm_raises_on_request_else_propagates_nan():
    (p,) = _params_with_grads("cpu", [np.array([np.nan, 1.0])])
    with pytest.raises(RuntimeError, match="non-finite|nan"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.warns(RuntimeWarning, match="writes NaN"):
        assert math.isnan(clip_grad_norm_([p], 1.0).item())
    assert np.isnan(p.grad.numpy()).all()


def test_clip_grad_value_clamps_each_entry(device):
    params = _params_with_grads(device, GRADS)
    assert clip_grad_value_(params, 2.5) is None
    for param, g in zip(params, GRADS):
        np.testing.assert_array_equal(param.grad.numpy(), np.clip(g, -2.5, 2.5).astype(np.float32))


@pytest.mark.parametrize("call, match", [
    (lambda ps: clip_grad_norm_(ps, -1.0), "max_norm must be a number >= 0"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=0), "norm_type must be a positive"),
    (lambda ps: clip_grad_norm_(ps, 1.0, norm_type="two"), "norm_type must be a positive"),
    (lambda ps: clip_grad_norm_(ps, 1.0, foreach="yes"), "foreach"),
    (lambda ps: clip_grad_value_(ps, -0.5), "clip_value must be a number >= 0"),
    (lambda ps: clip_grad_value_(ps, None), "clip_value must be a number >= 0"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(_params_with_grads("cpu", GRADS))


def test_non_tensor_parameters_are_rejected():
    with pytest.raises(TypeError, match="parameters must be Tensors, got ndarray"):
        clip_grad_norm_([np.zeros(3)], 1.0)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    ours = _params_with_grads("cpu", GRADS, mg.float64)
    theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in GRADS]
    for t, g in zip(theirs, GRADS):
        t.grad = torch.tensor(g)
    for norm_type in (2.0, 1.5, math.inf):
        expected = torch.nn.utils.clip_grad_norm_(theirs, 3.0, norm_type)
        assert clip_grad_norm_(ours, 3.0, norm_type).item() == pytest.approx(expected.item())
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-12)
