"""AdaBound / AMSBound, MADGRAD, DAdaptAdam, DAdaptSGD and Prodigy (issue 12, optim part
two): against independent NumPy transcriptions of their equations (50 steps, float64, every
option, one or two param groups), against golden trajectories of their reference
implementations (produced by tests/optim/golden/parameter_free_refs.py, and run live when
torch and the reference are importable), through a state_dict round trip, and on a convex
quadratic and Rosenbrock.

D-Adaptation and Prodigy sum over every parameter, so a transcription here is
``ref(ps, gs, S, H) -> new ps`` for the whole problem: ``ps`` and ``gs`` lists of float64
arrays (``gs`` the gradients of the loss the optimizer sees), ``S`` a dict for the buffers,
``H`` one dict of hyper-parameters per parameter (its group's, with the defaults stated
below: these tables check the classes' defaults too).
"""
import copy
import re
import logging
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from tests.optim.golden import parameter_free_refs as refs
from tests.optim.problems import QuarticProblem, quartic_loss

STEPS = 50
SHAPES = [(3, 2), (2, 4), (4,), ()]
PROBLEM = QuarticProblem.random(SHAPES, seed=11, spread=1.5)
TWO_GROUPS = ([0, 1], [2, 3])  # the parameters of each group when a case has two

INF = math.inf
DEFAULTS = {
    "AdaBound": dict(lr=1e-3, betas=(0.9, 0.999), final_lr=0.1, gamma=1e-3, eps=1e-8,
                     weight_decay=0.0, amsbound=False, maximize=False),
    "AMSBound": dict(lr=1e-3, betas=(0.9, 0.999), final_lr=0.1, gamma=1e-3, eps=1e-8,
                     weight_decay=0.0, amsbound=True, maximize=False),
    "MADGRAD": dict(lr=1e-2, momentum=0.9, weight_decay=0.0, eps=1e-6, decouple_decay=False,
                    maximize=False),
    "DAdaptAdam": dict(lr=1.0, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, log_every=0,
                       decouple=False, use_bias_correction=False, d0=1e-6, growth_rate=INF,
                       layer_scale=1.0, maximize=False),
    "DAdaptSGD": dict(lr=1.0, momentum=0.0, weight_decay=0.0, log_every=0, d0=1e-6,
                      growth_rate=INF, maximize=False),
    "Prodigy": dict(lr=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, weight_decay=0.0,
                    decouple=True, use_bias_correction=False, safeguard_warmup=False, d0=1e-6,
                    d_coef=1.0, growth_rate=INF, slice_p=1, maximize=False),
}


def _signed(g, h):
    return -g if h["maximize"] else g


# --- references (plain NumPy, float64) ---------------------------------------------------------

def ref_adabound(ps, gs, S, H):
    t = S["t"] = S.get("t", 0) + 1
    out = []
    for i, (p, g, h) in enumerate(zip(ps, gs, H)):
        b1, b2 = h["betas"]
        base_lr = S.setdefault(("base_lr", i), h["lr"])
        g = _signed(g, h) + h["weight_decay"] * p
        m = S[("m", i)] = b1 * S.get(("m", i), 0.0) + (1 - b1) * g
        v = S[("v", i)] = b2 * S.get(("v", i), 0.0) + (1 - b2) * g * g
        if h["amsbound"]:
            v = S[("vmax", i)] = np.maximum(S.get(("vmax", i), 0.0), v)
        adam_lr = h["lr"] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) / (np.sqrt(v) + h["eps"])
        final_lr = h["final_lr"] * h["lr"] / base_lr
        low = final_lr * (1 - 1 / (h["gamma"] * t + 1))
        high = final_lr * (1 + 1 / (h["gamma"] * t))
        out.append(p - np.minimum(np.maximum(adam_lr, low), high) * m)
    return out


def ref_madgrad(ps, gs, S, H):
    t = S["t"] = S.get("t", 0) + 1
    out = []

    def over_rms(x, nu, eps):  # x / (nu^(1/3) + eps), 0 where the denominator is 0
        rms = nu ** (1 / 3) + eps
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(rms == 0, 0.0, x / np.where(rms == 0, 1.0, rms))

    for i, (p, g, h) in enumerate(zip(ps, gs, H)):
        lr = h["lr"] + h["eps"] if h["lr"] != 0 else 0.0
        wd, eps = h["weight_decay"], h["eps"]
        g = _signed(g, h)
        if not h["decouple_decay"]:
            g = g + wd * p
        nu, s = S.get(("nu", i), np.zeros_like(p)), S.get(("s", i), np.zeros_like(p))
        x0 = S.setdefault(("x0", i), p.copy()) if h["momentum"] else p + over_rms(s, nu, eps)
        lam = lr * math.sqrt(t)
        nu = S[("nu", i)] = nu + lam * (g * g)
        s = S[("s", i)] = s + lam * g
        z = x0 - over_rms(s, nu, eps)
        new = h["momentum"] * p + (1 - h["momentum"]) * z
        if h["decouple_decay"]:
            new = new - lr * wd * p
        out.append(new)
    return out


def _lr_and_global(H):
    lr = max(h["lr"] for h in H)
    return lr, H[0]


def ref_dadapt_adam(ps, gs, S, H):
    lr, first = _lr_and_global(H)
    b1, b2 = first["betas"]
    k, d = S.get("k", 0), S.get("d", first["d0"])
    rb2 = math.sqrt(b2)
    dlr = d * lr
    if first["use_bias_correction"]:
        dlr *= math.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1))
    numerator, s_l1 = 0.0, 0.0
    live = [i for i, h in enumerate(H) if h["lr"] > 0]
    for i in live:
        p, g, h = ps[i], _signed(gs[i], H[i]), H[i]
        if not first["decouple"]:
            g = g + h["weight_decay"] * p
        m, v, s = (S.get((key, i), np.zeros_like(p)) for key in "mvs")
        numerator += h["layer_scale"] * dlr * np.sum(g * s / (np.sqrt(v) + h["eps"]))
        S[("m", i)] = b1 * m + h["layer_scale"] * dlr * (1 - b1) * g
        S[("v", i)] = b2 * v + (1 - b2) * g * g
        S[("s", i)] = rb2 * s + dlr * (1 - rb2) * g
        s_l1 += h["layer_scale"] * np.abs(S[("s", i)]).sum()
    n = rb2 * S.get("n", 0.0) + (1 - rb2) * numerator
    if s_l1 == 0:
        return ps
    S["n"], S["k"] = n, k + 1
    S["d"] = max(d, min(n / ((1 - rb2) * s_l1), d * first["growth_rate"]))
    out = list(ps)
    for i in live:
        p, h = ps[i], H[i]
        if first["decouple"]:
            p = p - h["weight_decay"] * dlr * p
        out[i] = p - S[("m", i)] / (np.sqrt(S[("v", i)]) + h["eps"])
    return out


def ref_dadapt_sgd(ps, gs, S, H):
    lr, first = _lr_and_global(H)
    live = [i for i, h in enumerate(H) if h["lr"] > 0]
    gs = [_signed(g, h) for g, h in zip(gs, H)]
    k, d = S.get("k", 0), S.get("d", first["d0"])
    if k == 0:
        S["g0"] = math.sqrt(sum(np.sum(gs[i] ** 2) for i in live))
        if S["g0"] == 0:
            return ps
    dlr = d * lr / S["g0"]
    numerator, s_sq = S.get("n", 0.0), 0.0
    for i in live:
        g = gs[i] + H[i]["weight_decay"] * ps[i]
        S.setdefault(("x0", i), ps[i].copy())
        s = S.get(("s", i), np.zeros_like(ps[i]))
        numerator += dlr * np.sum(g * s)
        S[("s", i)] = s + dlr * g
        s_sq += np.sum(S[("s", i)] ** 2)
    if s_sq == 0:
        return ps
    S["n"], S["k"] = numerator, k + 1
    S["d"] = max(d, min(2 * numerator / math.sqrt(s_sq), d * first["growth_rate"]))
    out = list(ps)
    for i in live:
        beta = H[i]["momentum"]
        out[i] = beta * ps[i] + (1 - beta) * (S[("x0", i)] - S[("s", i)])
    return out


def ref_prodigy(ps, gs, S, H):
    lr, first = _lr_and_global(H)
    b1, b2 = first["betas"]
    b3 = math.sqrt(b2) if first["beta3"] is None else first["beta3"]
    d0 = first["d0"]
    k, d, d_max = S.get("k", 0), S.get("d", d0), S.get("d_max", d0)
    dlr = d * lr
    if first["use_bias_correction"]:
        dlr *= math.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1))
    numerator, denominator = 0.0, 0.0
    live = [i for i, h in enumerate(H) if h["lr"] > 0]
    grads = {}
    for i in live:
        p, h = ps[i], H[i]
        g = _signed(gs[i], h)
        if not first["decouple"]:
            g = g + h["weight_decay"] * p
        grads[i] = g
        every = h["slice_p"]
        p0 = S.setdefault(("p0", i), p.ravel()[::every].copy())
        s = S.get(("s", i), np.zeros_like(p0))
        numerator += (d / d0) * dlr * np.sum(g.ravel()[::every] * (p0 - p.ravel()[::every]))
        S[("m", i)] = b1 * S.get(("m", i), 0.0) + d * (1 - b1) * g
        S[("v", i)] = b2 * S.get(("v", i), 0.0) + d * d * (1 - b2) * g * g
        scale = d if h["safeguard_warmup"] else dlr
        S[("s", i)] = b3 * s + (d / d0) * scale * g.ravel()[::every]
        denominator += np.abs(S[("s", i)]).sum()
    r = b3 * S.get("r", 0.0) + numerator
    if denominator == 0:
        return ps
    d_hat = first["d_coef"] * r / denominator
    if d == d0:
        d = max(d, d_hat)
    d_max = max(d_max, d_hat)
    d = min(d_max, d * first["growth_rate"])
    S.update(r=r, d=d, d_max=d_max, k=k + 1)
    out = list(ps)
    for i in live:
        p, h = ps[i], H[i]
        if first["decouple"]:
            p = p - h["weight_decay"] * dlr * p
        denom = np.sqrt(S[("v", i)]) + d * h["eps"]
        direction = S[("m", i)] if b1 > 0 else d * grads[i]
        out[i] = p - dlr * direction / denom
    return out


REFERENCES = {"AdaBound": ref_adabound, "AMSBound": ref_adabound, "MADGRAD": ref_madgrad,
              "DAdaptAdam": ref_dadapt_adam, "DAdaptSGD": ref_dadapt_sgd,
              "Prodigy": ref_prodigy}


# --- the two runs --------------------------------------------------------------------------------

def _spec(params, groups):
    if groups is None:
        return params
    return [dict(params=[params[i] for i in indices], **overrides)
            for indices, overrides in zip(TWO_GROUPS, groups)]


def minigrad_run(name, kwargs, groups=None, halve_lr_at=None, problem=PROBLEM, steps=STEPS,
                 dtype=mg.float64, flat=True, device="cpu"):
    params, curvature, shift = problem.tensors(device, dtype)
    optimizer = getattr(optim, name)(_spec(params, groups), flat=flat, **kwargs)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    trajectory = []
    for t in range(1, steps + 1):
        if t == halve_lr_at:
            for group in optimizer.param_groups:
                group["lr"] *= 0.5
        optimizer.zero_grad()
        (sign * quartic_loss(params, curvature, shift)).backward()
        optimizer.step()
        trajectory.append([p.numpy().copy() for p in params])
    return optimizer, trajectory


def numpy_run(name, kwargs, groups=None, halve_lr_at=None, problem=PROBLEM, steps=STEPS):
    n = len(problem.start)
    H = []
    for i in range(n):
        overrides = {} if groups is None else groups[0 if i in TWO_GROUPS[0] else 1]
        H.append({**DEFAULTS[name], **kwargs, **overrides})
    sign = -1.0 if kwargs.get("maximize") else 1.0
    ps, S, trajectory = [x.copy() for x in problem.start], {}, []
    for t in range(1, steps + 1):
        if t == halve_lr_at:
            for h in H:
                h["lr"] *= 0.5
        gs = [sign * (h * p + b + 0.4 * p ** 3)
              for p, h, b in zip(ps, problem.curvature, problem.shift)]
        ps = [np.asarray(p, dtype=np.float64) for p in REFERENCES[name](ps, gs, S, H)]
        trajectory.append([p.copy() for p in ps])
    return trajectory


def assert_close(actual, expected, rtol=1e-10, atol=1e-12):
    assert len(actual) == len(expected)
    for t, (got, want) in enumerate(zip(actual, expected), start=1):
        for i, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol,
                                       err_msg=f"parameter {i} after step {t}")


def case(name, kwargs, groups=None, halve_lr_at=None):
    return dict(name=name, kwargs=kwargs, groups=groups, halve_lr_at=halve_lr_at)


CASES = [
    case("AdaBound", dict(lr=0.05)),
    case("AdaBound", dict(lr=0.02, betas=(0.8, 0.99), final_lr=0.05, gamma=0.1, eps=1e-6,
                          weight_decay=0.1, maximize=True), halve_lr_at=20),
    case("AdaBound", dict(lr=0.05, gamma=0.05, amsbound=True),
         groups=[{}, {"lr": 0.02, "final_lr": 0.3}], halve_lr_at=30),
    case("AMSBound", dict(lr=0.05, gamma=0.1)),
    case("AMSBound", dict(lr=0.05, betas=(0.9, 0.9), final_lr=0.05, gamma=0.2, eps=0.0,
                          weight_decay=0.05, maximize=True), halve_lr_at=12),
    case("MADGRAD", dict(lr=0.05)),
    case("MADGRAD", dict(lr=0.02, momentum=0.0, eps=1e-4, weight_decay=0.1, maximize=True)),
    case("MADGRAD", dict(lr=0.03, momentum=0.5, eps=0.0, weight_decay=0.1,
                         decouple_decay=True)),
    # momentum 0 with eps 0: the reference writes NaN at its first step (see the docstring)
    case("MADGRAD", dict(lr=0.05, momentum=0.0, eps=0.0, weight_decay=0.2, decouple_decay=True),
         groups=[{}, {"lr": 0.1, "eps": 1e-3}], halve_lr_at=25),
    case("DAdaptAdam", dict()),
    case("DAdaptAdam", dict(lr=0.5, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, d0=1e-3,
                            growth_rate=1.5, maximize=True)),
    case("DAdaptAdam", dict(weight_decay=0.1, decouple=True, use_bias_correction=True, d0=1e-4),
         groups=[{}, {"layer_scale": 0.5, "eps": 1e-4, "weight_decay": 0.0}], halve_lr_at=20),
    # a group with lr 0 is left alone (the reference keeps moving it)
    case("DAdaptAdam", dict(d0=1e-3), groups=[{}, {"lr": 0.0}]),
    case("DAdaptSGD", dict()),
    case("DAdaptSGD", dict(lr=0.5, momentum=0.9, weight_decay=0.1, d0=1e-3, growth_rate=1.3,
                           maximize=True)),
    case("DAdaptSGD", dict(momentum=0.5, d0=1e-2), groups=[{}, {}], halve_lr_at=15),
    # each group's momentum and weight decay (the reference uses the first group's)
    case("DAdaptSGD", dict(momentum=0.9, d0=1e-2),
         groups=[{"weight_decay": 0.1}, {"momentum": 0.5}]),
    case("DAdaptSGD", dict(momentum=0.9, d0=1e-2), groups=[{"lr": 0.0}, {}]),
    case("Prodigy", dict()),
    case("Prodigy", dict(lr=0.5, betas=(0.8, 0.99), beta3=0.9, eps=1e-6, weight_decay=0.1,
                         d0=1e-3, d_coef=2.0, growth_rate=1.5, maximize=True)),
    case("Prodigy", dict(betas=(0.0, 0.99), weight_decay=0.1, decouple=False,
                         use_bias_correction=True, d0=1e-4)),
    case("Prodigy", dict(weight_decay=0.05, safeguard_warmup=True, slice_p=2),
         groups=[{}, {"eps": 1e-4, "weight_decay": 0.0, "slice_p": 3}], halve_lr_at=10),
    case("Prodigy", dict(betas=(0.0, 0.999), d0=1e-3), groups=[{}, {"lr": 0.0}]),
]
CASE_IDS = [refs.case_id(c) for c in CASES]
NAMES = sorted(DEFAULTS)


@pytest.mark.parametrize("c", CASES, ids=CASE_IDS)
def test_matches_numpy_reference_step_by_step(c, device):
    _, got = minigrad_run(c["name"], c["kwargs"], c["groups"], c["halve_lr_at"],
                          device=device)
    expected = numpy_run(c["name"], c["kwargs"], c["groups"], c["halve_lr_at"])
    assert_close(got, expected)
    assert not np.allclose(got[-1][0], PROBLEM.start[0]) or not np.allclose(
        got[-1][2], PROBLEM.start[2])  # something moved


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_the_references(name):
    optimizer = getattr(optim, name)([mg.zeros(2, requires_grad=True)])
    for key, value in DEFAULTS[name].items():
        assert optimizer.defaults[key] == value, key


def test_every_optimizer_has_numpy_and_golden_cases():
    assert {c["name"] for c in CASES} == set(NAMES)
    assert {c["name"] for c in refs.CASES} == set(NAMES)


@pytest.mark.parametrize("name", ["DAdaptAdam", "Prodigy", "MADGRAD", "AdaBound"])
def test_flat_storage_does_not_change_the_trajectory(name):
    c = next(c for c in CASES if c["name"] == name and c["groups"] is not None)
    _, flat = minigrad_run(c["name"], c["kwargs"], c["groups"], c["halve_lr_at"], steps=10)
    _, plain = minigrad_run(c["name"], c["kwargs"], c["groups"], c["halve_lr_at"], steps=10,
                            flat=False)
    for a, b in zip(flat, plain):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


# --- golden trajectories of the reference implementations --------------------------------------

GOLDEN = refs.load()
GOLDEN_IDS = [refs.case_id(c) for c in refs.CASES]
GOLDEN_PROBLEM = QuarticProblem(start=[np.array(x) for x in refs.START],
                                curvature=refs.CURVATURE, shift=refs.SHIFT)


def _minigrad_golden(c, steps=refs.STEPS, dtype=mg.float64):
    params, curvature, shift = GOLDEN_PROBLEM.tensors(dtype=dtype)
    spec = params if c["groups"] is None else [
        dict(params=[p], **overrides) for p, overrides in zip(params, c["groups"])]
    optimizer = getattr(optim, c["name"])(spec, **c["kwargs"])
    trajectory = []
    for t in range(1, steps + 1):
        if t == c["halve_lr_at"]:
            for group in optimizer.param_groups:
                group["lr"] *= 0.5
        optimizer.zero_grad()
        quartic_loss(params, curvature, shift).backward()
        optimizer.step()
        trajectory.append([p.numpy().tolist() for p in params])
    return trajectory


@pytest.mark.parametrize("c", refs.CASES, ids=GOLDEN_IDS)
def test_golden_trajectory_of_the_reference(c):
    expected = GOLDEN[refs.case_id(c)]
    assert len(expected) == refs.STEPS
    assert_close(_minigrad_golden(c), expected)


# one case per optimizer. The d estimates start from d0 = 1e-6: in float32 the distance
# travelled (p0 - p, about 1e-6 at first) loses digits, so they agree less closely.
FLOAT32_CASES = [refs.CASES[i] for i in (0, 3, 5, 9, 12, 15)]


@pytest.mark.parametrize("c", FLOAT32_CASES, ids=[refs.case_id(c) for c in FLOAT32_CASES])
def test_golden_trajectory_in_float32(c):
    expected = GOLDEN[refs.case_id(c)][:10]
    assert_close(_minigrad_golden(c, steps=10, dtype=mg.float32), expected, rtol=1e-4,
                 atol=1e-5)


@pytest.mark.parametrize("c", refs.CASES, ids=GOLDEN_IDS)
def test_golden_trajectory_live(c):
    pytest.importorskip("torch")
    try:
        refs.reference_class(c["name"])
    except ImportError:
        pytest.skip(f"the reference of {c['name']} is not installed")
    assert_close(_minigrad_golden(c), refs.run_reference(c))


# --- state_dict round trip -----------------------------------------------------------------------

ROUND_TRIP = [c for c in CASES if c["groups"] is not None] + [CASES[1], CASES[4]]


@pytest.mark.parametrize("c", ROUND_TRIP, ids=[refs.case_id(c) for c in ROUND_TRIP])
def test_state_dict_round_trip_continues_identically(c):
    cls = getattr(optim, c["name"])
    sign = -1.0 if c["kwargs"].get("maximize") else 1.0
    params, curvature, shift = PROBLEM.tensors()

    def step(optimizer, ps):
        optimizer.zero_grad()
        (sign * quartic_loss(ps, curvature, shift)).backward()
        optimizer.step()

    source = cls(_spec(params, c["groups"]), **c["kwargs"])
    for _ in range(7):
        step(source, params)
    saved = copy.deepcopy(source.state_dict())
    copies = [mg.tensor(p.numpy().copy(), requires_grad=True) for p in params]
    # built with other values: everything must come from the checkpoint
    other = dict(c["kwargs"], lr=c["kwargs"].get("lr", 1.0) * 0.3)
    target = cls(_spec(copies, c["groups"]), **other)
    target.load_state_dict(saved)
    for _ in range(7):
        step(source, params)
        step(target, copies)
    for a, b in zip(params, copies):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for ga, gb in zip(source.param_groups, target.param_groups):
        assert {k: v for k, v in ga.items() if k != "params"} == \
            {k: v for k, v in gb.items() if k != "params"}


# --- convergence ---------------------------------------------------------------------------------

# (name, kwargs, steps, tolerance)
CONVERGENCE = [
    ("AdaBound", dict(lr=0.05), 500, 1e-6),
    ("AMSBound", dict(lr=0.05), 500, 1e-6),
    ("MADGRAD", dict(lr=0.05), 500, 1e-6),
    ("DAdaptAdam", dict(), 500, 1e-6),
    ("DAdaptSGD", dict(momentum=0.9), 500, 1e-6),
    ("Prodigy", dict(), 500, 1e-6),
]


@pytest.mark.parametrize("name, kwargs, steps, tolerance", CONVERGENCE,
                         ids=[c[0] for c in CONVERGENCE])
def test_minimizes_a_convex_quadratic(name, kwargs, steps, tolerance):
    a = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    b = np.array([1.0, -1.0, 2.0])
    x = mg.zeros(3, dtype=mg.float64, requires_grad=True)
    a_t, b_t = mg.tensor(a), mg.tensor(b)
    opt = getattr(optim, name)([x], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (x @ (a_t @ x)) - (b_t * x).sum()).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a, b), atol=tolerance)


# AdaBound turns into SGD with momentum at final_lr, which Rosenbrock's curvature (about
# 1000 at the start) makes unstable unless final_lr is small; a small gamma keeps it Adam
# for longer, which follows the curved valley faster.
ROSENBROCK = [
    ("AdaBound", dict(lr=0.05, final_lr=3e-3, gamma=1e-4), 2000, 1e-2),
    ("AMSBound", dict(lr=0.05, final_lr=3e-3, gamma=1e-4), 2000, 1e-2),
    ("MADGRAD", dict(lr=0.01), 1000, 1e-3),
    ("DAdaptAdam", dict(), 2000, 2e-2),
    ("DAdaptSGD", dict(momentum=0.9), 1500, 1e-3),
    ("Prodigy", dict(lr=0.3), 1500, 1e-3),
]


@pytest.mark.parametrize("name, kwargs, steps, tolerance", ROSENBROCK,
                         ids=[c[0] for c in ROSENBROCK])
def test_minimizes_rosenbrock(name, kwargs, steps, tolerance):
    x = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
    opt = getattr(optim, name)([x], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        ((1 - x[0]) ** 2 + 100 * (x[1] - x[0] * x[0]) ** 2).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=tolerance)


# the digits MLP: tests/optim/test_digits_smoke.py trains every optimizer of the example


# --- validation ----------------------------------------------------------------------------------

NAN = math.nan
LR = [-0.1, NAN, INF, "fast", None, True]
NONNEG = [-1.0, NAN, INF]
BETAS = [(1.0, 0.999), (0.9, -0.1), (NAN, 0.9), (0.9,), 0.9]
POS = [0.0, -1.0, NAN, INF]
BAD = {
    "AdaBound": dict(lr=LR, betas=BETAS, final_lr=NONNEG, gamma=[0.0, 1.0, -0.1, NAN],
                     eps=NONNEG, weight_decay=NONNEG, base_lr=POS),
    "MADGRAD": dict(lr=LR, momentum=[1.0, -0.1, NAN], weight_decay=NONNEG, eps=NONNEG),
    "DAdaptAdam": dict(lr=LR, betas=BETAS, eps=POS, weight_decay=NONNEG, d0=POS,
                       growth_rate=[0.5, NAN, -INF], layer_scale=NONNEG,
                       log_every=[-1, 1.5], d=POS, k=[-1, 0.5],
                       numerator_weighted=[NAN, INF, "x"]),
    "DAdaptSGD": dict(lr=LR, momentum=[1.0, -0.1, NAN], weight_decay=NONNEG, d0=POS,
                      growth_rate=[0.5, NAN], log_every=[-1, 1.5], d=POS, k=[-1, 0.5],
                      numerator_weighted=[NAN, "x"], g0_norm=[-1.0, NAN]),
    "Prodigy": dict(lr=LR, betas=BETAS, beta3=[1.0, -0.1, NAN, "x"], eps=POS,
                    weight_decay=NONNEG, d0=POS, d_coef=POS, growth_rate=[0.5, NAN],
                    slice_p=[0, 1.5, True], d=POS, d_max=POS, d_numerator=[NAN, "x"],
                    k=[-1, 0.5]),
}
BAD["AMSBound"] = BAD["AdaBound"]
GROUP_ONLY = {"base_lr", "d", "k", "numerator_weighted", "g0_norm", "d_max", "d_numerator"}
BAD_CASES = [(name, key, value) for name, table in BAD.items() for key, values in table.items()
             for value in values]


def _params():
    return [mg.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True),
            mg.tensor([0.5, -0.2], requires_grad=True)]


def _step(optimizer, params):
    optimizer.zero_grad()
    sum(((p - 0.3) ** 2).sum() for p in params).backward()
    optimizer.step()


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_checked_hyper_parameter_has_bad_values(name):
    assert set(getattr(optim, name).hyperparameter_checks) == set(BAD[name])


@pytest.mark.parametrize("name, key, value", BAD_CASES,
                         ids=[f"{n}-{k}={v!r}" for n, k, v in BAD_CASES])
def test_bad_values_are_refused_wherever_they_come_in(name, key, value):
    cls = getattr(optim, name)
    pattern = rf"^{name}: invalid {key}: {re.escape(repr(value))}"
    if key not in GROUP_ONLY:
        with pytest.raises(ValueError, match=pattern + r" \(it must be"):
            cls(_params(), **{key: value})
    params = _params()
    optimizer = cls(params[:1])
    with pytest.raises(ValueError, match=pattern + " in param group 1"):
        optimizer.add_param_group({"params": [params[1]], key: value})
    assert len(optimizer.param_groups) == 1
    _step(optimizer, params[:1])
    saved = copy.deepcopy(optimizer.state_dict())
    saved["param_groups"][0][key] = value
    with pytest.raises(ValueError, match=pattern + " in param group 0 of the loaded"):
        optimizer.load_state_dict(saved)


def test_adabound_refuses_a_starting_lr_of_zero():
    with pytest.raises(ValueError, match=r"AdaBound: invalid lr: 0.0 in param group 0 \(the lr "
                                         "a group starts with must be > 0"):
        optim.AdaBound(_params(), lr=0.0)
    optimizer = optim.AMSBound(_params()[:1])
    with pytest.raises(ValueError, match="AMSBound: invalid lr: 0 in param group 1"):
        optimizer.add_param_group({"params": [mg.zeros(2, requires_grad=True)], "lr": 0})


@pytest.mark.parametrize("name, key, value", [
    ("DAdaptAdam", "betas", (0.8, 0.9)), ("DAdaptAdam", "decouple", True),
    ("DAdaptAdam", "d0", 1e-3), ("DAdaptSGD", "growth_rate", 2.0),
    ("Prodigy", "beta3", 0.5), ("Prodigy", "use_bias_correction", True),
    ("Prodigy", "d_coef", 2.0)])
def test_global_hyper_parameters_must_agree_across_groups(name, key, value):
    params = _params()
    optimizer = getattr(optim, name)(params[:1])
    with pytest.raises(ValueError, match=rf"{name}: invalid {key}: .* in param group 1: it "
                                         "must be the same in every group"):
        optimizer.add_param_group({"params": [params[1]], key: value})
    assert len(optimizer.param_groups) == 1
    optimizer.add_param_group({"params": [params[1]]})
    _step(optimizer, params)
    optimizer.param_groups[1][key] = value  # written later: refused by the step
    before = [p.numpy().copy() for p in params]
    with pytest.raises(ValueError, match=f"invalid {key}"):
        _step(optimizer, params)
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.numpy(), b)


@pytest.mark.parametrize("name", ["DAdaptAdam", "DAdaptSGD", "Prodigy"])
def test_every_lr_is_the_largest_or_zero(name):
    params = _params()
    cls = getattr(optim, name)
    with pytest.raises(ValueError, match=rf"{name}: invalid lr: 0.5 in param group 1: every "
                                         r"group's lr must be the largest lr \(1.0\) or 0"):
        cls([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}])
    optimizer = cls([{"params": params[:1]}, {"params": params[1:], "lr": 0.0}])
    _step(optimizer, params)
    optimizer.param_groups[0]["lr"] = 0.3
    optimizer.param_groups[1]["lr"] = 0.2
    before = copy.deepcopy(optimizer.state_dict())
    with pytest.raises(ValueError, match="invalid lr: 0.2 in param group 1"):
        _step(optimizer, params)
    assert optimizer.state_dict()["param_groups"][0]["k"] == before["param_groups"][0]["k"]


# --- details the references get wrong or leave open ---------------------------------------------

def test_adabound_updates_a_group_added_later():
    params = _params()
    optimizer = optim.AdaBound(params[:1], lr=0.1)
    optimizer.add_param_group({"params": params[1:], "lr": 0.05})
    assert optimizer.param_groups[1]["base_lr"] == 0.05
    before = params[1].numpy().copy()
    _step(optimizer, params)
    assert not np.array_equal(params[1].numpy(), before)  # the reference skips it


def test_adabound_bounds_follow_the_lr_schedule():
    """With the lr halved after construction the bounds close on final_lr / 2, as with the
    reference's ratio lr / initial lr."""
    p = mg.tensor([1.0], dtype=mg.float64, requires_grad=True)
    optimizer = optim.AdaBound([p], lr=1e3, final_lr=0.1, gamma=0.5)
    optimizer.param_groups[0]["lr"] = 500.0
    p.grad = mg.tensor([2.0], dtype=mg.float64)
    optimizer.step()
    # Adam's step size (about 2500) is clipped to the upper bound f (1 + 1 / gamma) with
    # f = 0.1 * 500 / 1000; the first moment is 0.1 * 2
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.05 * 3 * 0.2], rtol=1e-12)


def test_weight_decay_leaves_the_gradient_alone():
    for cls in (optim.MADGRAD, optim.DAdaptAdam, optim.DAdaptSGD, optim.AdaBound):
        p = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
        opt = cls([p], weight_decay=0.5)
        p.grad = mg.tensor([0.5, 3.0], dtype=mg.float64)
        opt.step()
        np.testing.assert_array_equal(p.grad.numpy(), [0.5, 3.0])
    p = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    opt = optim.Prodigy([p], weight_decay=0.5, decouple=False)
    p.grad = mg.tensor([0.5, 3.0], dtype=mg.float64)
    opt.step()
    np.testing.assert_array_equal(p.grad.numpy(), [0.5, 3.0])


def test_dadapt_sgd_first_step_with_zero_gradients_does_nothing():
    p = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    opt = optim.DAdaptSGD([p])
    p.grad = mg.zeros(2, dtype=mg.float64)
    opt.step()  # the reference divides by the zero gradient norm
    np.testing.assert_array_equal(p.numpy(), [1.0, -2.0])
    assert opt.param_groups[0]["k"] == 0 and opt.param_groups[0]["g0_norm"] is None
    p.grad = mg.tensor([1.0, 1.0], dtype=mg.float64)
    opt.step()
    assert opt.param_groups[0]["k"] == 1
    assert opt.param_groups[0]["g0_norm"] == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize("name", ["DAdaptAdam", "Prodigy"])
def test_zero_gradients_leave_the_parameters_and_d_alone(name):
    p = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    opt = getattr(optim, name)([p])
    p.grad = mg.zeros(2, dtype=mg.float64)
    opt.step()
    np.testing.assert_array_equal(p.numpy(), [1.0, -2.0])
    assert opt.param_groups[0]["d"] == 1e-6 and opt.param_groups[0]["k"] == 0


def test_d_grows_and_is_kept_in_every_group():
    params = _params()
    opt = optim.Prodigy([{"params": params[:1]}, {"params": params[1:]}])
    for _ in range(20):
        _step(opt, params)
    d = opt.param_groups[0]["d"]
    assert d > 1e-4 and opt.param_groups[1]["d"] == d and opt.param_groups[1]["k"] == 20


def test_prodigy_slice_p_keeps_every_nth_entry():
    p = mg.tensor(np.arange(7.0), dtype=mg.float32, requires_grad=True)
    opt = optim.Prodigy([p], slice_p=3)
    p.grad = mg.ones(7)
    opt.step()
    state = opt.state[p]
    assert state["s"].shape == (3,)
    np.testing.assert_array_equal(state["p0"], [0.0, 3.0, 6.0])
    assert state["exp_avg"].shape == (7,)


def test_prodigy_without_first_moment_keeps_no_exp_avg():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Prodigy([p], betas=(0.0, 0.999))
    p.grad = mg.ones(2)
    opt.step()
    assert "exp_avg" not in opt.state[p]


def test_madgrad_momentum_zero_keeps_no_x0():
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.MADGRAD([p], momentum=0.0)
    p.grad = mg.ones(2)
    opt.step()
    assert set(opt.state[p]) == {"step", "grad_sum_sq", "s"}


@pytest.mark.parametrize("name", ["DAdaptAdam", "DAdaptSGD"])
def test_log_every_logs_d(name, caplog):
    params = _params()
    opt = getattr(optim, name)(params, log_every=2)
    with caplog.at_level(logging.INFO, logger="minigrad.optim"):
        for _ in range(4):
            _step(opt, params)
    assert len([r for r in caplog.records if f"{name}: " in r.message]) == 2


@pytest.mark.parametrize("name", ["DAdaptAdam", "DAdaptSGD", "Prodigy"])
def test_a_group_with_lr_zero_stays_where_it_is(name):
    params = _params()
    opt = getattr(optim, name)([{"params": params[:1], "weight_decay": 0.1},
                                {"params": params[1:], "lr": 0.0, "weight_decay": 0.1}],
                               d0=1e-2, **({"momentum": 0.9} if name == "DAdaptSGD" else {}))
    start = [p.numpy().copy() for p in params]
    for t in range(6):
        if t == 3:  # frozen after training: the references would keep moving it
            opt.param_groups[1]["lr"] = 0.0
        elif t == 0:
            opt.param_groups[1]["lr"] = 1.0
        _step(opt, params)
        if t == 2:
            trained = params[1].numpy().copy()
    assert not np.array_equal(params[0].numpy(), start[0])
    np.testing.assert_array_equal(params[1].numpy(), trained)
