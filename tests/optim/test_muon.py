"""Muon: the Newton-Schulz orthogonalisation's properties, the learning-rate adjustments, and
the AdamW part that takes every parameter Muon is not meant for."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.optim.adam import AdamW
from minigrad.optim.muon import Muon, newton_schulz_orthogonalize


def matrix_with_singular_values(shape, singular_values, seed=0):
    rng = np.random.default_rng(seed)
    rows, cols = shape
    u, _ = np.linalg.qr(rng.standard_normal((rows, rows)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
    k = min(shape)
    return u[:, :k] @ np.diag(singular_values) @ v[:, :k].T, u[:, :k], v[:, :k]


@pytest.mark.parametrize("shape", [(8, 5), (5, 8), (6, 6), (16, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_newton_schulz_pushes_singular_values_into_its_band(shape, dtype):
    # spread over 1.5 decades, scaled arbitrarily: the Frobenius normalisation removes the scale
    sigma = 7.0 * np.geomspace(0.04, 1.0, min(shape))
    matrix, u, v = matrix_with_singular_values(shape, sigma)
    ortho = newton_schulz_orthogonalize(matrix.astype(dtype))
    assert ortho.dtype == dtype and ortho.shape == shape
    singular = np.linalg.svd(ortho.astype(np.float64), compute_uv=False)
    assert singular.min() > 0.6 and singular.max() < 1.2
    # singular vectors are kept: U^T O V is diagonal (O ~ U f(S) V^T)
    core = u.T @ ortho.astype(np.float64) @ v
    off_diagonal = core - np.diag(np.diag(core))
    assert np.abs(off_diagonal).max() < (1e-4 if dtype == np.float32 else 1e-10)


def test_newton_schulz_commutes_with_transposition_and_ignores_scale():
    matrix = np.random.default_rng(1).standard_normal((7, 4))
    np.testing.assert_allclose(newton_schulz_orthogonalize(matrix.T),
                               newton_schulz_orthogonalize(matrix).T, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(newton_schulz_orthogonalize(1e3 * matrix),
                               newton_schulz_orthogonalize(matrix), rtol=1e-10, atol=1e-12)


def test_newton_schulz_of_zero_is_zero_and_needs_a_matrix():
    np.testing.assert_array_equal(newton_schulz_orthogonalize(np.zeros((3, 2))), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="2-D"):
        newton_schulz_orthogonalize(np.ones(3))


ADJUSTMENTS = [
    (None, lambda rows, cols: np.sqrt(max(1.0, rows / cols))),
    ("original", lambda rows, cols: np.sqrt(max(1.0, rows / cols))),
    ("match_rms_adamw", lambda rows, cols: 0.2 * np.sqrt(max(rows, cols))),
    ("spectral_unclamped", lambda rows, cols: np.sqrt(rows / cols)),
]


@pytest.mark.parametrize("adjust_lr_fn, scale", ADJUSTMENTS, ids=[str(a[0]) for a in ADJUSTMENTS])
@pytest.mark.parametrize("shape", [(5, 2), (2, 5)])
def test_first_step_is_the_orthogonalised_gradient_times_the_adjusted_lr(adjust_lr_fn, scale,
                                                                         shape):
    start = np.random.default_rng(2).standard_normal(shape)
    grad = np.random.default_rng(3).standard_normal(shape)
    p = mg.tensor(start, dtype=mg.float64, requires_grad=True)
    optimizer = Muon([p], lr=0.1, weight_decay=0.2, momentum=0.0, nesterov=False,
                     adjust_lr_fn=adjust_lr_fn)
    p.grad = mg.tensor(grad, dtype=mg.float64)
    optimizer.step()
    expected = start * (1 - 0.1 * 0.2) - 0.1 * scale(*shape) * newton_schulz_orthogonalize(grad)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-12)
    assert set(optimizer.state[p]) == {"step", "momentum_buffer"}


def test_parameters_that_are_not_2d_or_opt_out_are_stepped_by_adamw():
    shapes = [(3, 3), (4,), (), (2, 3)]
    values = [np.random.default_rng(i).standard_normal(s) for i, s in enumerate(shapes)]
    muon_params = [mg.tensor(v, dtype=mg.float64, requires_grad=True) for v in values]
    adamw_params = [mg.tensor(v, dtype=mg.float64, requires_grad=True) for v in values[1:]]
    muon = Muon([{"params": muon_params[:3]}, {"params": muon_params[3:], "use_muon": False}],
                lr=0.02, adamw_lr=0.05, adamw_betas=(0.8, 0.99), adamw_eps=1e-6,
                adamw_weight_decay=0.1)
    adamw = AdamW(adamw_params, lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)
    rng = np.random.default_rng(4)
    for _ in range(15):
        grads = [rng.standard_normal(s) for s in shapes]
        for p, g in zip(muon_params, grads):
            p.grad = mg.tensor(g, dtype=mg.float64)
        for p, g in zip(adamw_params, grads[1:]):
            p.grad = mg.tensor(g, dtype=mg.float64)
        muon.step()
        adamw.step()
    for p, q in zip(muon_params[1:], adamw_params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert "momentum_buffer" in muon.state[muon_params[0]]
    assert {"exp_avg", "exp_avg_sq"} <= set(muon.state[muon_params[3]])


def test_use_muon_needs_2d_parameters():
    with pytest.raises(ValueError, match="use_muon=True needs 2-D parameters"):
        Muon([{"params": [mg.zeros(3, requires_grad=True)], "use_muon": True}])


def test_float32_weights_stay_float32():
    p = mg.tensor(np.random.default_rng(5).standard_normal((4, 3)), dtype=mg.float32,
                  requires_grad=True)
    optimizer = Muon([p], lr=0.02)
    for _ in range(3):
        p.grad = mg.tensor(np.random.default_rng(6).standard_normal((4, 3)), dtype=mg.float32)
        optimizer.step()
    assert p.dtype == mg.float32 and optimizer.state[p]["momentum_buffer"].dtype == np.float32


def test_matches_torch_muon_to_bfloat16_precision():
    torch = pytest.importorskip("torch")
    if not hasattr(torch.optim, "Muon"):
        pytest.skip("this torch has no torch.optim.Muon")
    start = np.random.default_rng(6).standard_normal((6, 4))
    grads = [np.random.default_rng(10 + t).standard_normal((6, 4)) for t in range(10)]
    ours = mg.tensor(start, dtype=mg.float64, requires_grad=True)
    theirs = torch.tensor(start, requires_grad=True)
    ours_opt = Muon([ours], lr=0.02, weight_decay=0.1)
    theirs_opt = torch.optim.Muon([theirs], lr=0.02, weight_decay=0.1)
    for g in grads:
        ours.grad = mg.tensor(g, dtype=mg.float64)
        theirs.grad = torch.tensor(g)
        ours_opt.step()
        theirs_opt.step()
    # torch runs Newton-Schulz in bfloat16: agreement is to ~1e-2 of a step, not to rounding
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), atol=2e-2 * 0.02 * 10)
