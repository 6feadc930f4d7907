"""Gradient clipping against a direct NumPy computation of the norm and the scaled gradients,
hand-computed values, and PyTorch (and Ranger21's reference AGC) when importable."""
import math
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from minigrad.optim.clip_grad import (adaptive_clip, adaptive_clip_grad_, clip_grad_norm_,
                                      clip_grad_value_, clip_grads_with_norm_, get_total_norm,
                                      unitwise_norm)


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


# --- get_total_norm and clip_grads_with_norm_ ---------------------------------------------------

def _norm(flat, norm_type):
    p = float(norm_type)
    return np.abs(flat).max() if math.isinf(p) else (np.abs(flat) ** p).sum() ** (1 / p)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
def test_get_total_norm_is_the_norm_of_all_tensors_as_one_vector(norm_type, device):
    tensors = [mg.tensor(g, device=device, dtype=mg.float64) for g in GRADS]
    total = get_total_norm(tensors, norm_type)
    assert total.shape == () and total.device == device and total.dtype == mg.float64
    flat = np.concatenate([g.ravel() for g in GRADS])
    assert total.item() == pytest.approx(_norm(flat, norm_type), rel=1e-12)
    for t, g in zip(tensors, GRADS):  # nothing is changed
        np.testing.assert_array_equal(t.numpy(), g)


def test_get_total_norm_of_one_tensor_of_none_and_of_an_iterator():
    assert get_total_norm(mg.tensor([3.0, 4.0])).item() == pytest.approx(5.0)
    assert get_total_norm(iter([mg.tensor([6.0]), mg.tensor([8.0])])).item() == 10.0
    empty = get_total_norm([])
    assert empty.shape == () and empty.item() == 0.0 and empty.dtype == mg.get_default_dtype()


def test_get_total_norm_of_nonfinite_tensors_raises_only_on_request():
    tensors = [mg.tensor([1.0, math.inf]), mg.tensor([2.0])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # computing the norm does not warn
        assert get_total_norm(tensors).item() == math.inf
    with pytest.raises(RuntimeError, match="total norm of order 2.0 .* is inf"):
        get_total_norm(tensors, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="is nan"):
        get_total_norm([mg.tensor([math.nan])], 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("max_norm", [0.5, 5.0, 100.0])
def test_clip_grads_with_norm_scales_by_min_one_max_norm_over_norm(max_norm, device):
    params = _params_with_grads(device, GRADS, mg.float64)
    total = 13.7  # any norm: it is not recomputed
    assert clip_grads_with_norm_(params, max_norm,
                                 mg.tensor(total, device=device, dtype=mg.float64)) is None
    scale = min(1.0, max_norm / (total + 1e-6))
    for param, g in zip(params, GRADS):
        np.testing.assert_allclose(param.grad.numpy(), g * scale, rtol=1e-14)
    again = _params_with_grads(device, GRADS, mg.float64)
    clip_grads_with_norm_(again, max_norm, total)  # a plain number works too
    for a, b in zip(again, params):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_clip_grad_norm_is_get_total_norm_then_clip_grads_with_norm():
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s) * 4 for s in [(3, 4), (5,), ()]]
    for norm_type in (2.0, 1.0, math.inf):
        whole = _params_with_grads("cpu", grads)
        parts = _params_with_grads("cpu", grads)
        total = clip_grad_norm_(whole, 1.5, norm_type)
        total_parts = get_total_norm([p.grad for p in parts], norm_type)
        clip_grads_with_norm_(parts, 1.5, total_parts)
        assert total.item() == total_parts.item()
        for a, b in zip(whole, parts):
            np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_clip_grads_with_norm_skips_missing_grads_and_warns_on_a_nonfinite_norm():
    p, no_grad = _params_with_grads("cpu", [np.array([6.0, 8.0]), None])
    clip_grads_with_norm_([p, no_grad], 5.0, mg.tensor(10.0))
    np.testing.assert_allclose(p.grad.numpy(), [3.0, 4.0], rtol=1e-6)
    assert no_grad.grad is None
    with pytest.warns(RuntimeWarning, match=r"^clip_grads_with_norm_: .* writes NaN") as record:
        clip_grads_with_norm_([p], 1.0, mg.tensor(math.inf))
    assert record[0].filename == __file__
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])  # max_norm / inf = 0, as torch


def test_deferred_clip_grads_with_norm_reads_nothing_and_changes_no_bit():
    expected = _params_with_grads("cpu", GRADS)
    clip_grads_with_norm_(expected, 2.0, mg.tensor(7.5))
    got = _params_with_grads("cpu", GRADS)
    with backend.force_deferred_checks():
        clip_grads_with_norm_(got, 2.0, mg.tensor(7.5))
        assert backend.pending_deferred_checks() == 1  # the non-finite warning's
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g.grad.numpy(), e.grad.numpy())


@pytest.mark.parametrize("call, error, match", [
    (lambda ps: get_total_norm([ps[0].grad, None]), TypeError,
     "tensors must be Tensors, got NoneType at position 1"),
    (lambda ps: get_total_norm(ps, norm_type=-1), ValueError, "norm_type must be a positive"),
    (lambda ps: get_total_norm(ps, foreach=1.5), ValueError, "foreach"),
    (lambda ps: clip_grads_with_norm_(ps, -1.0, mg.tensor(1.0)), ValueError,
     "max_norm must be a number >= 0"),
    (lambda ps: clip_grads_with_norm_(ps, 1.0, mg.tensor([1.0, 2.0])), ValueError,
     r"total_norm must be a tensor of one element, got shape \(2,\)"),
    (lambda ps: clip_grads_with_norm_(ps, 1.0, "big"), TypeError,
     "total_norm must be a tensor or a number, got str"),
])
def test_bad_arguments_of_the_two_halves_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(_params_with_grads("cpu", GRADS))


def test_the_two_halves_match_torch():
    torch = pytest.importorskip("torch")
    if not hasattr(torch.nn.utils, "get_total_norm"):
        pytest.skip("torch < 2.6 has no get_total_norm")
    for norm_type in (2.0, 1.5, math.inf):
        expected = torch.nn.utils.get_total_norm([torch.tensor(g) for g in GRADS], norm_type)
        got = get_total_norm([mg.tensor(g, dtype=mg.float64) for g in GRADS], norm_type)
        assert got.item() == pytest.approx(expected.item(), rel=1e-14)
    for max_norm, total in [(3.0, 12.0), (3.0, 1.0), (2.0, math.inf)]:
        theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in GRADS]
        for t, g in zip(theirs, GRADS):
            t.grad = torch.tensor(g)
        torch.nn.utils.clip_grads_with_norm_(theirs, max_norm,
                                             torch.tensor(total, dtype=torch.float64))
        ours = _params_with_grads("cpu", GRADS, mg.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the inf case says it writes 0/NaN
            clip_grads_with_norm_(ours, max_norm, mg.tensor(total, dtype=mg.float64))
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-14)


# --- adaptive gradient clipping ------------------------------------------------------------------

def _param(values, grad, dtype=mg.float64, device="cpu"):
    p = mg.tensor(np.asarray(values, dtype=float), dtype=dtype, device=device,
                  requires_grad=True)
    p.grad = mg.tensor(np.asarray(grad, dtype=float), dtype=dtype, device=device)
    return p


def test_adaptive_clipping_by_hand_linear_weight_rows(device):
    # rows of W: norms 5 and 0 (-> eps = 1e-3); limits 0.05 and 1e-5
    p = _param([[3.0, 4.0], [0.0, 0.0], [0.6, 0.8]],
               [[0.3, 0.4], [1.0, 0.0], [0.006, 0.008]], device=device)
    adaptive_clip_grad_([p])
    # row 0: |G| = 0.5 > 0.05 -> scaled to 0.05; row 1: |G| = 1 > 1e-5 -> 1e-5;
    # row 2: |G| = 0.01 = 0.01 * |W| -> not above the limit, unchanged
    np.testing.assert_allclose(p.grad.numpy(), [[0.03, 0.04], [1e-5, 0.0], [0.006, 0.008]],
                               rtol=1e-12)
    np.testing.assert_array_equal(p.numpy(), [[3.0, 4.0], [0.0, 0.0], [0.6, 0.8]])


def test_adaptive_clipping_by_hand_vectors_scalars_and_filters():
    bias = _param([0.0, 0.0], [3.0, 4.0])            # whole-vector norm 5, limit 1e-5
    scalar = _param(-200.0, 7.0)                       # |W| = 200: limit 2, |G| = 7
    small = _param([10.0, 0.0], [0.01, 0.02])          # under the limit 0.1: untouched
    conv = _param(np.ones((2, 1, 2, 2)), np.full((2, 1, 2, 2), 0.5) * [[[[1]]], [[[0.01]]]])
    adaptive_clip_grad_([bias, scalar, small, conv], clip_factor=0.01, eps=1e-3)
    np.testing.assert_allclose(bias.grad.numpy(), [0.6e-5, 0.8e-5], rtol=1e-12)
    np.testing.assert_allclose(scalar.grad.numpy(), 2.0, rtol=1e-12)
    np.testing.assert_array_equal(small.grad.numpy(), [0.01, 0.02])
    # filter norms: |W| = 2 each (limit 0.02); |G| = 1 (clipped to 0.02) and 0.01 (kept)
    np.testing.assert_allclose(conv.grad.numpy()[0], np.full((1, 2, 2), 0.01), rtol=1e-12)
    np.testing.assert_array_equal(conv.grad.numpy()[1], np.full((1, 2, 2), 0.005))


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 2, 2), (6,), ()])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_adaptive_clipping_matches_a_unitwise_transcription(shape, norm_type):
    rng = np.random.default_rng(len(shape))
    w, g = rng.standard_normal(shape), rng.standard_normal(shape) * rng.uniform(0.001, 0.05)
    axes = tuple(range(1, len(shape))) if len(shape) > 1 else None

    def norm(x):
        a = np.abs(x)
        if math.isinf(norm_type):
            return a.max(axis=axes, keepdims=axes is not None)
        return (a ** norm_type).sum(axis=axes, keepdims=axes is not None) ** (1 / norm_type)
    limit = 0.02 * np.maximum(norm(w), 1e-3)
    expected = np.where(norm(g) > limit, g * limit / np.maximum(norm(g), 1e-6), g)
    p = _param(w, g)
    adaptive_clip_grad_(p, clip_factor=0.02, norm_type=norm_type)
    np.testing.assert_allclose(p.grad.numpy(), expected, rtol=1e-13)
    assert np.asarray(unitwise_norm(p.array, norm_type)).shape == (
        (shape[0],) + (1,) * (len(shape) - 1) if len(shape) > 1 else ())
    clipped = adaptive_clip(p.array, mg.tensor(g, dtype=mg.float64).array, 0.02, 1e-3, norm_type)
    np.testing.assert_array_equal(clipped, p.grad.numpy())


def test_adaptive_clip_leaves_its_inputs_alone_and_keeps_float32():
    w = np.array([[1.0, 2.0]], dtype=np.float32)
    g = np.array([[3.0, -1.0]], dtype=np.float32)
    out = adaptive_clip(w, g)
    assert out.dtype == np.float32 and out is not g
    np.testing.assert_array_equal(g, [[3.0, -1.0]])
    np.testing.assert_array_equal(w, [[1.0, 2.0]])


def test_adaptive_clip_grad_skips_parameters_without_gradient():
    p = mg.ones(3, requires_grad=True)
    assert adaptive_clip_grad_([p]) is None and p.grad is None


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(clip_factor=-0.1), ValueError, "clip_factor must be a finite number >= 0"),
    (dict(clip_factor=math.inf), ValueError, "clip_factor must be a finite number >= 0"),
    (dict(eps=math.nan), ValueError, "eps must be a finite number >= 0"),
    (dict(norm_type=0.0), ValueError, "norm_type must be a positive"),
])
def test_adaptive_clipping_refuses_bad_arguments(kwargs, error, match):
    p = _param([1.0, 2.0], [10.0, 10.0])
    with pytest.raises(error, match=match):
        adaptive_clip_grad_([p], **kwargs)
    np.testing.assert_array_equal(p.grad.numpy(), [10.0, 10.0])


def test_adaptive_clipping_refuses_non_tensors():
    with pytest.raises(TypeError, match="parameters must be Tensors, got list at position 0"):
        adaptive_clip_grad_([[1.0]])


def test_adaptive_clipping_matches_torch_unitwise_formula_and_ranger21s_agc():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    for shape in [(5, 3), (4, 2, 3, 3), (7,)]:
        w = rng.standard_normal(shape)
        g = rng.standard_normal(shape) * 0.03
        tw, tg = torch.tensor(w), torch.tensor(g)
        dims = tuple(range(1, tw.ndim)) if tw.ndim > 1 else None
        w_norm = torch.linalg.vector_norm(tw, dim=dims, keepdim=dims is not None)
        g_norm = torch.linalg.vector_norm(tg, dim=dims, keepdim=dims is not None)
        limit = w_norm.clamp(min=1e-3) * 0.01
        expected = torch.where(g_norm > limit, tg * (limit / g_norm.clamp(min=1e-6)), tg)
        p = _param(w, g)
        adaptive_clip_grad_(p)
        np.testing.assert_allclose(p.grad.numpy(), expected.numpy(), rtol=1e-13)
        try:
            from tests.optim.golden import ranger21_refs
            reference = ranger21_refs.reference_class()
        except ImportError:
            continue
        tp = torch.tensor(w, requires_grad=True)
        tp.grad = torch.tensor(g)
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):
            ref = reference([tp], lr=0.1, num_epochs=1, num_batches_per_epoch=1)
        ref.agc(tp)  # the reference's AGC of one parameter, in place on tp.grad
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-13)


def test_nn_utils_reexports_the_clipping_functions():
    for name in ("clip_grad_norm_", "clip_grad_value_", "get_total_norm",
                 "clip_grads_with_norm_", "adaptive_clip_grad_"):
        assert getattr(mg.nn.utils, name) is getattr(mg.optim.clip_grad, name)
