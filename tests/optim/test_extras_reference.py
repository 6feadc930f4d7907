"""FTRL, Lion, AdaBelief, Schedule-Free AdamW, Muon, Lookahead and Ranger against independent
NumPy transcriptions of their equations, and against the golden trajectories of the reference
implementations (reference sheet, sections 9.1 and 9.2).

A reference is ``ref(p, g, s, t) -> new p`` for one parameter: ``p`` and ``g`` are float64
arrays, ``s`` a dict the reference keeps its own buffers in, ``t`` the step count (1 first).
The problem has four parameters (a tall and a wide matrix, a vector, a 0-d scalar) and a
non-quadratic loss; every step of a 50-step run is compared.
"""
import functools
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.optim.adabelief import AdaBelief
from minigrad.optim.ftrl import FTRL
from minigrad.optim.lion import Lion
from minigrad.optim.lookahead import Lookahead
from minigrad.optim.muon import Muon
from minigrad.optim.ranger import Ranger
from minigrad.optim.schedule_free import ScheduleFreeAdamW
from minigrad.optim.sgd import SGD
from tests.optim.problems import (GOLDEN as GOLDEN_PROBLEM, QuarticProblem,
                                  assert_trajectories_close, minigrad_trajectory,
                                  reference_trajectory)

STEPS = 50
SHAPES = [(3, 2), (2, 4), (4,), ()]
PROBLEM = QuarticProblem.random(SHAPES, seed=7, spread=1.5)


# --- references (plain NumPy, float64) ---------------------------------------------------------

def ref_ftrl(p, g, s, t, lr, lr_power=-0.5, initial_accumulator_value=0.1, l1=0.0, l2=0.0,
             l2_shrinkage=0.0, beta=0.0):
    """McMahan et al. 2013 per-coordinate FTRL-Proximal with Keras' conventions."""
    n = s.get("n", np.full_like(p, initial_accumulator_value))
    n_new = n + g * g
    sigma = (n_new ** -lr_power - n ** -lr_power) / lr
    s["z"] = s.get("z", np.zeros_like(p)) + g + 2 * l2_shrinkage * p - sigma * p
    s["n"] = n_new
    z = s["z"]
    l2_effective = l2 + beta / (2 * lr)
    return np.where(np.abs(z) <= l1, 0.0,
                    -(z - np.sign(z) * l1) / (n_new ** -lr_power / lr + 2 * l2_effective))


def ref_lion(p, g, s, t, lr, betas=(0.9, 0.99), weight_decay=0.0, maximize=False):
    b1, b2 = betas
    g = -g if maximize else g
    m = s.get("m", np.zeros_like(p))
    p = p - lr * weight_decay * p - lr * np.sign(b1 * m + (1 - b1) * g)
    s["m"] = b2 * m + (1 - b2) * g
    return p


def _rectifier(t, b2):
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
    r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)) \
        if rho > 4 else None
    return rho, r


def ref_adabelief(p, g, s, t, lr, betas=(0.9, 0.999), eps=1e-16, weight_decay=0.0,
                  amsgrad=False, decoupled_weight_decay=True, rectify=False, maximize=False):
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["s"] = b2 * s.get("s", 0.0) + (1 - b2) * (g - s["m"]) ** 2 + eps
    belief = s["s"]
    if amsgrad:
        belief = s["s_max"] = np.maximum(s.get("s_max", 0.0), belief)
    m_hat = s["m"] / (1 - b1 ** t)
    if not rectify:
        return p - lr * m_hat / (np.sqrt(belief / (1 - b2 ** t)) + eps)
    rho, r = _rectifier(t, b2)
    if rho < 5:
        return p - lr * m_hat
    return p - lr * r * m_hat * math.sqrt(1 - b2 ** t) / (np.sqrt(belief) + eps)


def ref_schedule_free(p, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                      warmup_steps=0, r=0.0, weight_lr_power=2.0):
    """The paper's form, with x stored explicitly: z steps, x averages z, y interpolates."""
    b1, b2 = betas
    if t == 1:
        s.update(x=p.copy(), z=p.copy(), v=np.zeros_like(p), weight_sum=0.0, lr_max=0.0)
    lr_t = lr * min(1.0, t / warmup_steps) if warmup_steps else lr
    s["lr_max"] = max(s["lr_max"], lr_t)
    weight = t ** r * s["lr_max"] ** weight_lr_power
    s["weight_sum"] += weight
    c = weight / s["weight_sum"]
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    direction = g / (np.sqrt(s["v"] / (1 - b2 ** t)) + eps) + weight_decay * p
    s["z"] = s["z"] - lr_t * direction
    s["x"] = (1 - c) * s["x"] + c * s["z"]
    return b1 * s["x"] + (1 - b1) * s["z"]


def _newton_schulz(u, steps=5, a=3.4445, b=-4.7750, c=2.0315):
    x = u / np.linalg.norm(u)
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + b * gram @ x + c * gram @ gram @ x
    return x.T if transposed else x


def ref_muon(p, g, s, t, lr, weight_decay=0.1, momentum=0.95, nesterov=True, adamw_lr=1e-3,
             adamw_betas=(0.9, 0.999), adamw_eps=1e-8, adamw_weight_decay=0.01):
    if p.ndim != 2:  # AdamW with the adamw_* hyper-parameters
        b1, b2 = adamw_betas
        p = p * (1 - adamw_lr * adamw_weight_decay)
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        m_hat, v_hat = s["m"] / (1 - b1 ** t), s["v"] / (1 - b2 ** t)
        return p - adamw_lr * m_hat / (np.sqrt(v_hat) + adamw_eps)
    s["b"] = momentum * s.get("b", 0.0) + (1 - momentum) * g
    u = (1 - momentum) * g + momentum * s["b"] if nesterov else s["b"]
    rows, cols = p.shape
    return p * (1 - lr * weight_decay) - lr * max(1.0, rows / cols) ** 0.5 * _newton_schulz(u)


def ref_sgd_momentum(p, g, s, t, lr, momentum, weight_decay=0.0):
    g = g + weight_decay * p
    s["b"] = g if t == 1 else momentum * s["b"] + g
    return p - lr * s["b"]


def ref_radam_decoupled(p, g, s, t, lr, betas, eps, weight_decay=0.0):
    b1, b2 = betas
    p = p * (1 - lr * weight_decay)
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    m_hat = s["m"] / (1 - b1 ** t)
    rho, r = _rectifier(t, b2)
    if rho > 5:
        return p - lr * m_hat * r * math.sqrt(1 - b2 ** t) / (np.sqrt(s["v"]) + eps)
    return p - lr * m_hat


def with_lookahead(inner, k, alpha):
    """The Lookahead rule around a reference: slow weights from the start, pulled every k."""
    def ref(p, g, s, t):
        slow = s.setdefault("slow", p.copy())
        p = inner(p, g, s.setdefault("inner", {}), t)
        if t % k == 0:
            s["slow"] = slow + alpha * (p - slow)
            p = s["slow"].copy()
        return p
    return ref


def with_centralized_gradient(inner):
    def ref(p, g, s, t):
        if g.ndim > 1:
            g = g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True)
        return inner(p, g, s, t)
    return ref


def _train_mode(optimizer):
    optimizer.train()
    return optimizer


# (id, make optimizer from a params list, reference)
CASES = [
    ("ftrl", lambda ps: FTRL(ps, lr=0.3),
     functools.partial(ref_ftrl, lr=0.3)),
    ("ftrl-all-terms", lambda ps: FTRL(ps, lr=0.5, lr_power=-0.3, initial_accumulator_value=0.2,
                                        l1=0.05, l2=0.1, l2_shrinkage=0.02, beta=0.4),
     functools.partial(ref_ftrl, lr=0.5, lr_power=-0.3, initial_accumulator_value=0.2, l1=0.05,
                       l2=0.1, l2_shrinkage=0.02, beta=0.4)),
    ("lion", lambda ps: Lion(ps, lr=0.02, weight_decay=0.1),
     functools.partial(ref_lion, lr=0.02, weight_decay=0.1)),
    ("lion-betas", lambda ps: Lion(ps, lr=0.01, betas=(0.5, 0.9)),
     functools.partial(ref_lion, lr=0.01, betas=(0.5, 0.9))),
    ("adabelief", lambda ps: AdaBelief(ps, lr=0.05, weight_decay=0.1),
     functools.partial(ref_adabelief, lr=0.05, weight_decay=0.1)),
    ("adabelief-l2-amsgrad", lambda ps: AdaBelief(ps, lr=0.05, eps=1e-8, weight_decay=0.1,
                                                  amsgrad=True, decoupled_weight_decay=False),
     functools.partial(ref_adabelief, lr=0.05, eps=1e-8, weight_decay=0.1, amsgrad=True,
                       decoupled_weight_decay=False)),
    ("adabelief-rectify", lambda ps: AdaBelief(ps, lr=0.05, betas=(0.9, 0.95), rectify=True),
     functools.partial(ref_adabelief, lr=0.05, betas=(0.9, 0.95), rectify=True)),
    ("schedule-free", lambda ps: _train_mode(ScheduleFreeAdamW(ps, lr=0.05)),
     functools.partial(ref_schedule_free, lr=0.05)),
    ("schedule-free-warmup", lambda ps: _train_mode(ScheduleFreeAdamW(
        ps, lr=0.05, betas=(0.8, 0.99), weight_decay=0.05, warmup_steps=10, r=0.5,
        weight_lr_power=1.0)),
     functools.partial(ref_schedule_free, lr=0.05, betas=(0.8, 0.99), weight_decay=0.05,
                       warmup_steps=10, r=0.5, weight_lr_power=1.0)),
    ("muon", lambda ps: Muon(ps, lr=0.02, adamw_lr=0.03),
     functools.partial(ref_muon, lr=0.02, adamw_lr=0.03)),
    ("muon-plain-momentum", lambda ps: Muon(ps, lr=0.02, weight_decay=0.0, momentum=0.9,
                                            nesterov=False),
     functools.partial(ref_muon, lr=0.02, weight_decay=0.0, momentum=0.9, nesterov=False)),
    ("lookahead-sgd", lambda ps: Lookahead(SGD(ps, lr=0.02, momentum=0.9, weight_decay=0.01),
                                           k=3, alpha=0.6),
     with_lookahead(functools.partial(ref_sgd_momentum, lr=0.02, momentum=0.9,
                                      weight_decay=0.01), k=3, alpha=0.6)),
    ("ranger", lambda ps: Ranger(ps, lr=0.05, weight_decay=0.1),
     with_lookahead(with_centralized_gradient(functools.partial(
         ref_radam_decoupled, lr=0.05, betas=(0.95, 0.999), eps=1e-5, weight_decay=0.1)),
         k=6, alpha=0.5)),
]


@pytest.mark.parametrize("make, reference", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches_numpy_reference_step_by_step(make, reference, device):
    optimizer, trajectory = minigrad_trajectory(PROBLEM, make, STEPS, device)
    for p, shape in zip(optimizer.param_groups[0]["params"], SHAPES):
        assert p.shape == shape and p.dtype == mg.float64
    assert_trajectories_close(trajectory, reference_trajectory(PROBLEM, reference, STEPS))


# --- golden trajectories of the reference implementations (sheet section 9.1) ------------------

GOLDEN = [
    ("lion-pytorch", lambda ps: Lion(ps, lr=0.01, betas=(0.9, 0.99), weight_decay=0.1), {
        1: [0.989, -1.988, 0.4895, 2.987],
        3: [0.967032989, -1.964035988, 0.4685314895, 2.961038987],
        6: [0.934164780165, -1.92817976018, 0.437157290157, 2.92219474019],
        10: [0.890493682307, -1.88053856252, 0.395471242202, 2.87058344273]}),
    ("adabelief", lambda ps: AdaBelief(ps, lr=0.1, eps=1e-16), {
        1: [0.888888888889, -1.88888888889, 0.388888888889, 2.88888888889],
        2: [0.772949222505, -1.77255635342, 0.273769557545, 2.77250606808],
        5: [0.406457286353, -1.39769394258, -0.0721254598972, 2.39649015193],
        10: [-0.170411241519, -0.746851972555, -0.429332235178, 1.73278254556]}),
    ("schedulefree-train-y", lambda ps: _train_mode(ScheduleFreeAdamW(
        ps, lr=0.1, warmup_steps=3, weight_decay=0.01)), {
        1: [0.966333333529, -1.96600000004, 0.466500000833, 2.96566666669],
        3: [0.840451862803, -1.83686437419, 0.344343215046, 2.83496483497],
        6: [0.688805523111, -1.67605254051, 0.205680872443, 2.67137062357],
        10: [0.511990207875, -1.48226553721, 0.056131538379, 2.47312644176]}),
    ("lookahead-sgd", lambda ps: Lookahead(SGD(ps, lr=0.05, momentum=0.9), k=5, alpha=0.5), {
        1: [0.915, -1.53, 0.48, 2.16],
        3: [0.563129286458, 0.00431236179542, 0.391491527071, -0.187594793525],
        5: [0.550463349895, -0.358792541639, 0.379725252624, 0.500009568942],
        6: [0.292109724458, 0.199678105932, 0.301239011809, -0.249668249477],
        10: [-0.0512435732844, 0.363696790788, 0.171120269456, -0.545525210772]}),
    ("ranger-20.4.11", lambda ps: Ranger(ps, lr=0.1), {
        1: [0.83, -1.06, 0.46, 1.32],
        2: [0.677501805128, -0.404286851282, 0.421593107692, 0.318975015385],
        5: [0.301222206108, 0.666112307329, 0.315210937218, -1.15207623558],
        6: [0.649426941541, -0.666449486762, 0.406340959284, 0.923583759198],
        10: [0.633944710871, -0.658329425292, 0.3901248124, 0.917856538388]}),
]


def run_golden_problem(make, steps):
    """The section 9.1 problem: p0 = [1, -2, 0.5, 3], grad = h p + b + 0.4 p^3."""
    optimizer, trajectory = minigrad_trajectory(GOLDEN_PROBLEM, make, steps)
    return optimizer, {t: values[0] for t, values in enumerate(trajectory, start=1)}


@pytest.mark.parametrize("make, golden", [c[1:] for c in GOLDEN], ids=[c[0] for c in GOLDEN])
def test_golden_trajectory_of_the_reference_implementation(make, golden):
    _, trajectory = run_golden_problem(make, max(golden))
    for t, expected in golden.items():
        np.testing.assert_allclose(trajectory[t], expected, rtol=1e-10, atol=1e-11,
                                   err_msg=f"after step {t}")


def test_golden_schedule_free_eval_weights_are_the_average():
    optimizer, _ = run_golden_problem(
        lambda ps: _train_mode(ScheduleFreeAdamW(ps, lr=0.1, warmup_steps=3, weight_decay=0.01)),
        10)
    optimizer.eval()
    x = optimizer.param_groups[0]["params"][0].numpy()
    np.testing.assert_allclose(x, [0.541522479205, -1.51491029733, 0.0805025056751,
                                   2.50657329084], rtol=1e-10)


# --- FTRL: Keras' own golden tests (sheet section 9.2) -----------------------------------------

def test_keras_ftrl_single_step():
    w = mg.tensor([1.0, 2.0, 3.0, 4.0], dtype=mg.float64, requires_grad=True)
    optimizer = FTRL([w], lr=0.5)
    w.grad = mg.tensor([1.0, 6.0, 7.0, 2.0], dtype=mg.float64)
    optimizer.step()
    np.testing.assert_allclose(w.numpy(), [0.22175736, 1.39542984, 2.36512132, 2.88144015],
                               rtol=1e-7)


def test_keras_ftrl_golden_with_every_regularizer():
    expected = [
        [0.0] * 10,
        [-0.0034, -0.0077, -0.0118, -0.0157, -0.0194, -0.023, -0.0263, -0.0294, -0.0325, -0.0354],
        [-0.0078, -0.0162, -0.0242, -0.0317, -0.0387, -0.0454, -0.0516, -0.0575, -0.0631, -0.0685],
        [-0.0121, -0.0246, -0.0363, -0.0472, -0.0573, -0.0668, -0.0757, -0.0842, -0.0922, -0.0999],
        [-0.0164, -0.0328, -0.0481, -0.0623, -0.0753, -0.0875, -0.099, -0.1098, -0.1201, -0.1299],
    ]
    w = mg.tensor(np.ones(10), requires_grad=True)
    optimizer = FTRL([w], lr=0.05, lr_power=-0.2, initial_accumulator_value=0.4, l1=0.05,
                     l2=0.15, l2_shrinkage=0.01, beta=0.3)
    w.grad = mg.tensor(np.full(10, 0.01))
    optimizer.step()
    for values in expected:
        np.testing.assert_allclose(w.numpy(), values, atol=6e-5)
        w.grad = mg.tensor(np.arange(0.1, 1.1, 0.1))
        optimizer.step()
