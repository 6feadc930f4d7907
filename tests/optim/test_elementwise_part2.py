"""Yogi, Adan, SignSGD, Signum, QHM, QHAdam, ADOPT and AdEMAMix (issue 12, optim part two):
against independent NumPy transcriptions of their equations (50 steps, float64, every
option), against golden trajectories of their reference implementations (produced by
tests/optim/golden/elementwise_refs.py, and run live when the reference is importable),
and on a convex quadratic, Rosenbrock and the digits MLP.

A reference is ``ref(p, g, s, t, **kwargs) -> new p`` for one parameter: ``p`` and ``g``
float64 arrays (``g`` the gradient of the loss the optimizer sees), ``s`` a dict for its
buffers, ``t`` the step count (1 first).
"""
import functools
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from tests.optim.golden import elementwise_refs
from tests.optim.problems import (GOLDEN as GOLDEN_PROBLEM, QuarticProblem,
                                  assert_trajectories_close, minigrad_trajectory,
                                  reference_trajectory)

STEPS = 50
SHAPES = [(3, 2), (2, 4), (4,), ()]
PROBLEM = QuarticProblem.random(SHAPES, seed=11, spread=1.5)


def _signed(g, maximize):
    return -g if maximize else g


def _decay(p, g, lr, weight_decay, decoupled):
    if decoupled:
        return p * (1 - lr * weight_decay), g
    return p, g + weight_decay * p


# --- references (plain NumPy, float64) ---------------------------------------------------------

def ref_yogi(p, g, s, t, lr=1e-2, betas=(0.9, 0.999), eps=1e-3, initial_accumulator_value=1e-6,
             weight_decay=0.0, maximize=False):
    b1, b2 = betas
    g = _signed(g, maximize) + weight_decay * p
    m = s.get("m", np.full_like(p, initial_accumulator_value))
    v = s.get("v", np.full_like(p, initial_accumulator_value))
    s["m"] = b1 * m + (1 - b1) * g
    s["v"] = v - (1 - b2) * np.sign(v - g ** 2) * g ** 2
    return p - lr * (s["m"] / (1 - b1 ** t)) / (np.sqrt(s["v"] / (1 - b2 ** t)) + eps)


def ref_adan(p, g, s, t, lr=1e-3, betas=(0.98, 0.92, 0.99), eps=1e-8, eps_root=1e-8,
             weight_decay=0.0, maximize=False):
    b1, b2, b3 = betas
    g = _signed(g, maximize)
    d = np.zeros_like(p) if t == 1 else g - s["g"]
    s["g"] = g
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * d
    s["n"] = b3 * s.get("n", 0.0) + (1 - b3) * (g + (1 - b2) * d) ** 2
    u = (s["m"] / (1 - b1 ** t) + (1 - b2) * s["v"] / (1 - b2 ** t)) / \
        (np.sqrt(s["n"] / (1 - b3 ** t) + eps_root) + eps)
    return p - lr * (u + weight_decay * p)


def ref_sign_sgd(p, g, s, t, lr=1e-3, weight_decay=0.0, maximize=False):
    return p - lr * weight_decay * p - lr * np.sign(_signed(g, maximize))


def ref_signum(p, g, s, t, lr=1e-3, momentum=0.9, weight_decay=0.0, maximize=False):
    s["m"] = momentum * s.get("m", 0.0) + (1 - momentum) * _signed(g, maximize)
    return p - lr * weight_decay * p - lr * np.sign(s["m"])


def ref_qhm(p, g, s, t, lr, momentum, nu, weight_decay=0.0, decoupled_weight_decay=False,
            maximize=False):
    p, g = _decay(p, _signed(g, maximize), lr, weight_decay, decoupled_weight_decay)
    s["b"] = momentum * s.get("b", 0.0) + (1 - momentum) * g
    return p - lr * (nu * s["b"] + (1 - nu) * g)


def ref_qhadam(p, g, s, t, lr=1e-3, betas=(0.9, 0.999), nus=(1.0, 1.0), weight_decay=0.0,
               eps=1e-8, decoupled_weight_decay=False, maximize=False):
    (b1, b2), (nu1, nu2) = betas, nus
    p, g = _decay(p, _signed(g, maximize), lr, weight_decay, decoupled_weight_decay)
    # the debiased averages in closed form: the weights are sum_{k<t} b^k
    w1, w2 = (1 - b1 ** t) / (1 - b1), (1 - b2 ** t) / (1 - b2)
    s["m"] = (1 - 1 / w1) * s.get("m", 0.0) + g / w1
    s["v"] = (1 - 1 / w2) * s.get("v", 0.0) + g * g / w2
    numerator = nu1 * s["m"] + (1 - nu1) * g
    return p - lr * numerator / (np.sqrt(nu2 * s["v"] + (1 - nu2) * g * g) + eps)


def ref_adopt(p, g, s, t, lr=1e-3, betas=(0.9, 0.9999), eps=1e-6,
              clip_lambda=lambda k: k ** 0.25, weight_decay=0.0, decoupled_weight_decay=False,
              maximize=False):
    b1, b2 = betas
    g = _signed(g, maximize)
    if not decoupled_weight_decay:
        g = g + weight_decay * p
    if t == 1:
        s["v"], s["m"] = g * g, np.zeros_like(p)
        return p
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    u = g / np.maximum(np.sqrt(s["v"]), eps)
    if clip_lambda is not None:
        u = np.clip(u, -clip_lambda(t - 1), clip_lambda(t - 1))
    s["m"] = b1 * s["m"] + (1 - b1) * u
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    return p - lr * s["m"]


def ref_ademamix(p, g, s, t, lr=1e-3, betas=(0.9, 0.999, 0.9999), alpha=2.0, beta3_warmup=None,
                 alpha_warmup=None, eps=1e-8, weight_decay=0.0, maximize=False):
    b1, b2, b3 = betas
    g = _signed(g, maximize)
    if alpha_warmup is not None and t < alpha_warmup:
        alpha = alpha * t / alpha_warmup
    if beta3_warmup is not None and t < beta3_warmup:
        def half_life(b):
            return math.log(0.5) / math.log(b + 1e-8) - 1
        frac = t / beta3_warmup
        b3 = 0.5 ** (1 / ((1 - frac) * half_life(b1) + frac * half_life(b3) + 1))
    s["m1"] = b1 * s.get("m1", 0.0) + (1 - b1) * g
    s["m2"] = b3 * s.get("m2", 0.0) + (1 - b3) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    step = (s["m1"] / (1 - b1 ** t) + alpha * s["m2"]) / (np.sqrt(s["v"] / (1 - b2 ** t)) + eps)
    return p - lr * (step + weight_decay * p)


def _quarter(k):
    return k ** 0.25


def _half(k):
    return 0.5 * k ** 0.5


CASES = [
    (optim.Yogi, dict(lr=0.05), ref_yogi),
    (optim.Yogi, dict(lr=0.05, betas=(0.8, 0.95), eps=1e-2, initial_accumulator_value=0.1,
                      weight_decay=0.1, maximize=True), ref_yogi),
    (optim.Adan, dict(lr=0.05), ref_adan),
    (optim.Adan, dict(lr=0.02, betas=(0.9, 0.8, 0.95), eps=1e-6, eps_root=1e-4,
                      weight_decay=0.1, maximize=True), ref_adan),
    (optim.SignSGD, dict(lr=0.02), ref_sign_sgd),
    (optim.SignSGD, dict(lr=0.02, weight_decay=0.1, maximize=True), ref_sign_sgd),
    (optim.Signum, dict(lr=0.02), ref_signum),
    (optim.Signum, dict(lr=0.02, momentum=0.5, weight_decay=0.1, maximize=True), ref_signum),
    (optim.QHM, dict(lr=0.05, momentum=0.9, nu=0.7), ref_qhm),
    (optim.QHM, dict(lr=0.05, momentum=0.8, nu=1.3, weight_decay=0.1), ref_qhm),
    (optim.QHM, dict(lr=0.05, momentum=0.9, nu=0.5, weight_decay=0.1,
                     decoupled_weight_decay=True, maximize=True), ref_qhm),
    (optim.QHAdam, dict(lr=0.05), ref_qhadam),
    (optim.QHAdam, dict(lr=0.05, betas=(0.95, 0.99), nus=(0.7, 0.8), weight_decay=0.1),
     ref_qhadam),
    (optim.QHAdam, dict(lr=0.05, nus=(0.7, 1.0), eps=0.0, weight_decay=0.1,
                        decoupled_weight_decay=True, maximize=True), ref_qhadam),
    (optim.ADOPT, dict(lr=0.05, clip_lambda=_quarter), ref_adopt),
    (optim.ADOPT, dict(lr=0.05, betas=(0.8, 0.9), eps=1e-3, clip_lambda=_half,
                       weight_decay=0.1, maximize=True), ref_adopt),
    (optim.ADOPT, dict(lr=0.05, clip_lambda=None, weight_decay=0.1,
                       decoupled_weight_decay=True), ref_adopt),
    (optim.AdEMAMix, dict(lr=0.05), ref_ademamix),
    (optim.AdEMAMix, dict(lr=0.02, betas=(0.8, 0.99, 0.999), alpha=5.0, beta3_warmup=30,
                          alpha_warmup=20, eps=1e-6, weight_decay=0.1, maximize=True),
     ref_ademamix),
]


def _case_id(case):
    cls, kwargs = case[:2]
    return elementwise_refs.case_id(cls.__name__, kwargs)


def _sign(kwargs):
    return -1.0 if kwargs.get("maximize") else 1.0


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_numpy_reference_step_by_step(case, device):
    cls, kwargs, reference = case
    optimizer, trajectory = minigrad_trajectory(PROBLEM, lambda ps: cls(ps, **kwargs), STEPS,
                                                device, sign=_sign(kwargs))
    for p, shape in zip(optimizer.param_groups[0]["params"], SHAPES):
        assert p.shape == shape and p.dtype == mg.float64
    expected = reference_trajectory(PROBLEM, functools.partial(reference, **kwargs), STEPS,
                                    _sign(kwargs))
    assert_trajectories_close(trajectory, expected)


def test_every_new_optimizer_has_a_numpy_case_and_a_golden_case():
    names = {"Yogi", "Adan", "SignSGD", "Signum", "QHM", "QHAdam", "ADOPT", "AdEMAMix"}
    assert {cls.__name__ for cls, _, _ in CASES} == names
    assert {name for name, _ in elementwise_refs.CASES} == names


# --- golden trajectories of the reference implementations --------------------------------------

GOLDEN = elementwise_refs.load()
GOLDEN_CASES = elementwise_refs.CASES
GOLDEN_IDS = [elementwise_refs.case_id(name, kwargs) for name, kwargs in GOLDEN_CASES]


def _minigrad_golden(name, kwargs, steps=elementwise_refs.STEPS, dtype=mg.float64):
    cls = getattr(optim, name)
    _, trajectory = minigrad_trajectory(GOLDEN_PROBLEM, lambda ps: cls(ps, **kwargs), steps,
                                        dtype=dtype, sign=_sign(kwargs))
    return [values[0] for values in trajectory]


@pytest.mark.parametrize("name, kwargs", GOLDEN_CASES, ids=GOLDEN_IDS)
def test_golden_trajectory_of_the_reference(name, kwargs):
    expected = GOLDEN[elementwise_refs.case_id(name, kwargs)]
    assert len(expected) == elementwise_refs.STEPS
    got = _minigrad_golden(name, kwargs)
    for t, (g, e) in enumerate(zip(got, expected), start=1):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12, err_msg=f"after step {t}")


@pytest.mark.parametrize("name, kwargs", GOLDEN_CASES[:1] + GOLDEN_CASES[-2:-1],
                         ids=GOLDEN_IDS[:1] + GOLDEN_IDS[-2:-1])
def test_golden_trajectory_in_float32(name, kwargs):
    expected = GOLDEN[elementwise_refs.case_id(name, kwargs)][:10]
    got = _minigrad_golden(name, kwargs, steps=10, dtype=mg.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, kwargs", GOLDEN_CASES, ids=GOLDEN_IDS)
def test_golden_trajectory_live(name, kwargs):
    try:
        elementwise_refs.reference_module(name)
    except ImportError:
        pytest.skip(f"the reference of {name} is not installed")
    if name in ("QHM", "QHAdam", "ADOPT", "AdEMAMix"):
        pytest.importorskip("torch")
    expected = elementwise_refs.run_reference(name, kwargs)
    got = _minigrad_golden(name, kwargs)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


# --- convergence ---------------------------------------------------------------------------------

# (class, kwargs, steps, tolerance). The sign methods move every coordinate by lr, so they
# end within about lr of the minimum.
CONVERGENCE = [
    (optim.Yogi, dict(lr=0.05), 1500, 1e-3),
    (optim.Adan, dict(lr=0.05), 1500, 1e-3),
    (optim.SignSGD, dict(lr=1e-3), 3000, 3e-3),
    (optim.Signum, dict(lr=1e-3), 3000, 3e-3),
    (optim.QHM, dict(lr=0.1, momentum=0.9, nu=0.7), 500, 1e-3),
    (optim.QHAdam, dict(lr=0.05, nus=(0.7, 1.0)), 1500, 1e-3),
    (optim.ADOPT, dict(lr=0.05), 1500, 1e-3),
    (optim.AdEMAMix, dict(lr=0.02, betas=(0.9, 0.999, 0.99)), 1500, 1e-3),
]


@pytest.mark.parametrize("cls, kwargs, steps, tolerance", CONVERGENCE,
                         ids=[_case_id(c) for c in CONVERGENCE])
def test_minimizes_a_convex_quadratic(cls, kwargs, steps, tolerance):
    a = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    b = np.array([1.0, -1.0, 2.0])
    x = mg.zeros(3, dtype=mg.float64, requires_grad=True)
    a_t, b_t = mg.tensor(a), mg.tensor(b)
    opt = cls([x], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (x @ (a_t @ x)) - (b_t * x).sum()).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a, b), atol=tolerance)


# (class, kwargs, steps, lr power, tolerance): with a power q the lr at step t is lr / t^q.
# Sign descent with a constant lr ends in a cycle on the lattice its steps span, and it
# follows the curved valley only by zigzags; with a decaying lr Signum's momentum gets to the
# minimum, while signSGD is still creeping along the valley floor after 6000 steps (loss
# about 0.02 from 12.5), hence its loose tolerance.
ROSENBROCK = [
    (optim.Yogi, dict(lr=0.02), 3000, 0.0, 2e-2),
    (optim.Adan, dict(lr=0.02), 3000, 0.0, 2e-2),
    (optim.SignSGD, dict(lr=0.03), 6000, 0.5, 0.3),
    (optim.Signum, dict(lr=0.03, momentum=0.9), 6000, 0.5, 2e-2),
    (optim.QHM, dict(lr=3e-3, momentum=0.9, nu=0.7), 6000, 0.0, 2e-2),
    (optim.QHAdam, dict(lr=0.02, nus=(0.7, 1.0)), 3000, 0.0, 2e-2),
    (optim.ADOPT, dict(lr=0.05, betas=(0.9, 0.999)), 6000, 0.0, 2e-2),
    (optim.AdEMAMix, dict(lr=0.02, betas=(0.9, 0.999, 0.99)), 3000, 0.0, 2e-2),
]


@pytest.mark.parametrize("cls, kwargs, steps, power, tolerance", ROSENBROCK,
                         ids=[_case_id(c) for c in ROSENBROCK])
def test_minimizes_rosenbrock(cls, kwargs, steps, power, tolerance):
    x = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
    opt = cls([x], **kwargs)
    for t in range(1, steps + 1):
        opt.param_groups[0]["lr"] = kwargs["lr"] / t ** power
        opt.zero_grad()
        ((1 - x[0]) ** 2 + 100 * (x[1] - x[0] * x[0]) ** 2).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=tolerance)


# the digits MLP: tests/optim/test_digits_smoke.py trains every optimizer of the example


# --- details the references fix ------------------------------------------------------------------

def test_qhm_has_no_defaults_for_lr_momentum_and_nu():
    for missing in ("lr", "momentum", "nu"):
        given = {k: v for k, v in dict(lr=0.1, momentum=0.9, nu=0.7).items() if k != missing}
        with pytest.raises(ValueError, match=f"required hyper-parameter '{missing}'"):
            optim.QHM([mg.zeros(2, requires_grad=True)], **given)


def test_adopt_first_step_only_records_the_second_moment():
    p = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    opt = optim.ADOPT([p], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)
    p.grad = mg.tensor([0.5, 3.0], dtype=mg.float64)
    opt.step()
    np.testing.assert_array_equal(p.numpy(), [1.0, -2.0])  # no step, no decay
    np.testing.assert_array_equal(opt.state[p]["exp_avg_sq"], [0.25, 9.0])


def test_the_reference_gradient_is_left_alone_by_l2_decay():
    p = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    opt = optim.QHAdam([p], lr=0.1, weight_decay=0.5)
    p.grad = mg.tensor([0.5, 3.0], dtype=mg.float64)
    opt.step()
    np.testing.assert_array_equal(p.grad.numpy(), [0.5, 3.0])  # qhoptim adds wd * p to it
