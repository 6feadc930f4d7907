"""LAMB, LARS, NovoGrad, SM3 and AggMo (issue 12, optim part two): against independent NumPy
transcriptions of their equations (50 steps, float64, every option), against golden
trajectories of their reference implementations (tests/optim/golden/layerwise_refs.py: optax
for the first four, the authors' code for AggMo; run live when importable), state_dict round
trips, a convex quadratic and Rosenbrock, and the details the references fix (the trust
ratio's zero-norm rule, SM3's cover, AggMo's velocities).

The first four work per parameter (norms or accumulators over a whole tensor), so the
problems have several parameters of several shapes. A reference is
``ref(p, g, s, t, **kwargs) -> new p`` for one parameter: ``p`` and ``g`` float64 arrays (``g``
the gradient of the loss the optimizer sees), ``s`` a dict for its buffers, ``t`` the step
count (1 first).
"""
import copy
import functools
import itertools
import math
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from tests.optim.golden import layerwise_refs
from tests.optim.problems import (QuarticProblem, assert_trajectories_close, quartic_grad,
                                  quartic_loss)

STEPS = 50
SHAPES = [(3, 2), (2, 3, 2), (4,), ()]
PROBLEM = QuarticProblem.random(SHAPES, seed=5, spread=1.5)
PROBLEM.start[2][...] = 0.0  # a parameter at zero: the trust ratio's zero-norm rule
NAMES = {"LAMB", "LARS", "NovoGrad", "SM3", "AggMo"}


def _signed(g, maximize):
    return -g if maximize else g


def _trust(p, u, coefficient=1.0, eps=0.0):
    pn, un = math.sqrt(float(np.sum(p * p))), math.sqrt(float(np.sum(u * u)))
    return coefficient * pn / (un + eps) if pn > 0 and un > 0 else 1.0


# --- references (plain NumPy, float64) ---------------------------------------------------------

def ref_lamb(p, g, s, t, lr, betas=(0.9, 0.999), eps=1e-6, eps_root=0.0, weight_decay=0.0,
             maximize=False):
    b1, b2 = betas
    g = _signed(g, maximize)
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    u = (s["m"] / (1 - b1 ** t)) / (np.sqrt(s["v"] / (1 - b2 ** t) + eps_root) + eps)
    u = u + weight_decay * p
    return p - lr * _trust(p, u) * u


def ref_lars(p, g, s, t, lr, momentum=0.9, weight_decay=0.0, trust_coefficient=1e-3, eps=0.0,
             nesterov=False, trust_ratio=True, maximize=False):
    u = _signed(g, maximize) + weight_decay * p
    if trust_ratio:
        u = _trust(p, u, trust_coefficient, eps) * u
    u = lr * u
    s["buf"] = momentum * s.get("buf", 0.0) + u
    return p - (u + momentum * s["buf"] if nesterov else s["buf"])


def ref_novograd(p, g, s, t, lr, betas=(0.9, 0.25), eps=1e-6, eps_root=0.0, weight_decay=0.0,
                 maximize=False):
    b1, b2 = betas
    g = _signed(g, maximize)
    n = float(np.sum(g * g))
    s["v"] = n if t == 1 else b2 * s["v"] + (1 - b2) * n
    u = g / (math.sqrt(s["v"] + eps_root) + eps) + weight_decay * p
    s["m"] = u if t == 1 else b1 * s["m"] + u
    return p - lr * s["m"]


def ref_sm3(p, g, s, t, lr, momentum=0.9, eps=1e-8, maximize=False):
    """Entry by entry: each entry's cover is one slice per dimension (one accumulator per
    index of every dimension), a vector's or a scalar's is the entry itself."""
    g = _signed(g, maximize)
    if p.ndim < 2:
        nu = s.get("acc", np.zeros_like(p)) + g * g
        s["acc"] = nu
    else:
        acc = s.setdefault("acc", [np.zeros(n) for n in p.shape])
        nu = np.empty_like(p)
        for index in np.ndindex(*p.shape):
            nu[index] = min(acc[d][i] for d, i in enumerate(index)) + g[index] ** 2
        new = [np.zeros(n) for n in p.shape]
        for index in np.ndindex(*p.shape):
            for d, i in enumerate(index):
                new[d][i] = max(new[d][i], nu[index])
        s["acc"] = new
    u = np.zeros_like(p)
    positive = nu > 0
    u[positive] = g[positive] / np.sqrt(nu[positive] + eps)
    s["m"] = momentum * s.get("m", 0.0) + (1 - momentum) * u
    return p - lr * s["m"]


def ref_aggmo(p, g, s, t, lr, betas=(0.0, 0.9, 0.99), weight_decay=0.0, maximize=False):
    g = _signed(g, maximize) + weight_decay * p
    velocities = s.setdefault("v", [0.0] * len(betas))
    for i, beta in enumerate(betas):
        velocities[i] = beta * velocities[i] + g
    return p - lr / len(betas) * sum(velocities)


REFERENCES = {"LAMB": ref_lamb, "LARS": ref_lars, "NovoGrad": ref_novograd, "SM3": ref_sm3,
              "AggMo": ref_aggmo}

# (name, keyword arguments, {parameter index: group overrides}): every option at least once
CASES = [
    ("LAMB", dict(lr=0.05), {}),
    ("LAMB", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-4, eps_root=1e-6, weight_decay=0.1,
                  maximize=True), {}),
    ("LAMB", dict(lr=0.05, weight_decay=0.2), {2: dict(weight_decay=0.0), 3: dict(lr=0.01)}),
    ("LARS", dict(lr=20.0), {}),
    ("LARS", dict(lr=0.5, momentum=0.8, weight_decay=0.1, trust_coefficient=0.02, eps=1e-3,
                  nesterov=True, maximize=True), {}),
    ("LARS", dict(lr=5.0, momentum=0.0, weight_decay=0.1),
     {0: dict(trust_ratio=False, lr=0.05), 2: dict(weight_decay=0.0, trust_ratio=False,
                                                   lr=0.05)}),
    ("NovoGrad", dict(lr=0.05), {}),
    ("NovoGrad", dict(lr=0.02, betas=(0.8, 0.5), eps=1e-3, eps_root=1e-4, weight_decay=0.1,
                      maximize=True), {}),
    ("SM3", dict(lr=0.1), {}),
    ("SM3", dict(lr=0.05, momentum=0.0, maximize=True), {}),
    ("SM3", dict(lr=0.1, momentum=0.5, eps=1e-3), {1: dict(momentum=0.95)}),
    ("AggMo", dict(lr=0.05), {}),
    ("AggMo", dict(lr=0.02, betas=(0.5, 0.9, 0.99, 0.999), weight_decay=0.1, maximize=True),
     {}),
    ("AggMo", dict(lr=0.05, betas=[0.9]), {3: dict(betas=[0.0, 0.5])}),
]


def _sign(kwargs):
    return -1.0 if kwargs.get("maximize") else 1.0


def _build(name, kwargs, overrides, params, **extra):
    """The optimizer; a parameter with overrides gets a param group of its own."""
    cls = getattr(optim, name)
    if not overrides:
        return cls(params, **kwargs, **extra)
    groups = [{"params": [p], **overrides.get(i, {})} for i, p in enumerate(params)]
    return cls(groups, **kwargs, **extra)


def _minigrad_run(problem, name, kwargs, overrides, steps, device="cpu", dtype=mg.float64,
                  **extra):
    params, curvature, shift = problem.tensors(device, dtype)
    optimizer = _build(name, kwargs, overrides, params, **extra)
    sign = _sign(kwargs)
    trajectory = []
    for _ in range(steps):
        optimizer.zero_grad()
        (sign * quartic_loss(params, curvature, shift)).backward()
        optimizer.step()
        trajectory.append([p.numpy().copy() for p in params])
    return optimizer, params, trajectory


def _reference_run(problem, name, kwargs, overrides, steps):
    sign = _sign(kwargs)
    refs = [functools.partial(REFERENCES[name], **{**kwargs, **overrides.get(i, {})})
            for i in range(len(problem.start))]
    params = [x.copy() for x in problem.start]
    states = [{} for _ in params]
    trajectory = []
    for t in range(1, steps + 1):
        params = [ref(p, sign * quartic_grad(p, h, b), s, t) for ref, p, h, b, s in
                  zip(refs, params, problem.curvature, problem.shift, states)]
        trajectory.append([np.asarray(p).copy() for p in params])
    return trajectory


def _case_id(case):
    return layerwise_refs.case_id(*case)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_numpy_reference_step_by_step(case, device):
    name, kwargs, overrides = case
    _, params, trajectory = _minigrad_run(PROBLEM, name, kwargs, overrides, STEPS, device)
    for p, shape in zip(params, SHAPES):
        assert p.shape == shape and p.dtype == mg.float64
    expected = _reference_run(PROBLEM, name, kwargs, overrides, STEPS)
    assert_trajectories_close(trajectory, expected)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_flat_storage_changes_nothing(case):
    name, kwargs, overrides = case
    _, _, flat = _minigrad_run(PROBLEM, name, kwargs, overrides, 10)
    _, _, loose = _minigrad_run(PROBLEM, name, kwargs, overrides, 10, flat=False)
    for a, b in zip(flat, loose):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_every_new_optimizer_has_numpy_and_golden_cases():
    assert {name for name, _, _ in CASES} == NAMES
    assert {name for name, _, _ in layerwise_refs.CASES} == NAMES
    assert NAMES <= set(optim.__all__)


# --- golden trajectories of the reference implementations --------------------------------------

GOLDEN = layerwise_refs.load()
GOLDEN_PROBLEM = QuarticProblem([np.array(x) for x in layerwise_refs.START],
                                [np.array(x) for x in layerwise_refs.CURVATURE],
                                [np.array(x) for x in layerwise_refs.SHIFT])
GOLDEN_IDS = [layerwise_refs.case_id(*case) for case in layerwise_refs.CASES]


def _assert_golden(got, expected, rtol=1e-10, atol=1e-12):
    assert len(got) == len(expected)
    for t, (values, wanted) in enumerate(zip(got, expected), start=1):
        for i, (g, e) in enumerate(zip(values, wanted)):
            np.testing.assert_allclose(g, np.array(e), rtol=rtol, atol=atol,
                                       err_msg=f"parameter {i} after step {t}")


@pytest.mark.parametrize("case", layerwise_refs.CASES, ids=GOLDEN_IDS)
def test_golden_trajectory_of_the_reference(case):
    expected = GOLDEN[layerwise_refs.case_id(*case)]
    assert len(expected) == layerwise_refs.STEPS
    _, _, got = _minigrad_run(GOLDEN_PROBLEM, *case, layerwise_refs.STEPS)
    _assert_golden(got, expected)


@pytest.mark.parametrize("case", layerwise_refs.CASES[::3], ids=GOLDEN_IDS[::3])
def test_golden_trajectory_in_float32(case):
    expected = [step for step in GOLDEN[layerwise_refs.case_id(*case)][:10]]
    _, _, got = _minigrad_run(GOLDEN_PROBLEM, *case, 10, dtype=mg.float32)
    assert got[0][0].dtype == np.float32
    _assert_golden(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", layerwise_refs.CASES, ids=GOLDEN_IDS)
def test_golden_trajectory_live(case):
    name = case[0]
    try:
        layerwise_refs.reference_module(name)
    except ImportError:
        pytest.skip(f"the reference of {name} is not installed")
    if name == "AggMo":
        pytest.importorskip("torch")
    else:
        pytest.importorskip("jax")
    expected = layerwise_refs.run_reference(*case)
    _, _, got = _minigrad_run(GOLDEN_PROBLEM, *case, layerwise_refs.STEPS)
    _assert_golden(got, expected)


# --- checkpoints -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_state_dict_round_trip_resumes_exactly(case):
    name, kwargs, overrides = case
    params, curvature, shift = PROBLEM.tensors()
    sign = _sign(kwargs)
    optimizer = _build(name, kwargs, overrides, params)

    def steps(opt, ps, count):
        for _ in range(count):
            opt.zero_grad()
            (sign * quartic_loss(ps, curvature, shift)).backward()
            opt.step()

    steps(optimizer, params, 5)
    saved = copy.deepcopy(optimizer.state_dict())
    twins = [mg.tensor(p.numpy().copy(), dtype=mg.float64, requires_grad=True) for p in params]
    twin = _build(name, {**kwargs, "lr": 123.0}, overrides, twins)
    twin.load_state_dict(saved)
    assert [g["lr"] for g in twin.param_groups] == [g["lr"] for g in optimizer.param_groups]
    steps(optimizer, params, 5)
    steps(twin, twins, 5)
    for p, q in zip(params, twins):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_state_shapes():
    params = [mg.zeros(shape, dtype=mg.float64, requires_grad=True) for shape in SHAPES]
    for p in params:
        p.grad = mg.ones(p.shape, dtype=mg.float64)
    sm3 = optim.SM3(params, lr=0.1)
    sm3.step()
    shapes = [{k: v.shape for k, v in sm3.state[p].items() if k != "step"} for p in params]
    assert shapes == [
        {"momentum_buffer": (3, 2), "accumulator_0": (3,), "accumulator_1": (2,)},
        {"momentum_buffer": (2, 3, 2), "accumulator_0": (2,), "accumulator_1": (3,),
         "accumulator_2": (2,)},
        {"momentum_buffer": (4,), "accumulator_0": (4,)},
        {"momentum_buffer": (), "accumulator_0": ()}]
    novograd = optim.NovoGrad(params, lr=0.1)
    novograd.step()
    assert [novograd.state[p]["exp_avg_sq"].shape for p in params] == [()] * 4
    aggmo = optim.AggMo(params, lr=0.1, betas=[0.0, 0.5, 0.9, 0.99])
    aggmo.step()
    assert sorted(aggmo.state[params[0]]) == ["momentum_buffer_0", "momentum_buffer_1",
                                              "momentum_buffer_2", "momentum_buffer_3", "step"]


@pytest.mark.parametrize("name, key, shape", [("SM3", "accumulator_1", (3,)),
                                              ("NovoGrad", "exp_avg_sq", (4,)),
                                              ("AggMo", "momentum_buffer_2", (2,))])
def test_a_state_of_the_wrong_shape_is_refused(name, key, shape):
    p = mg.ones((3, 2), dtype=mg.float64, requires_grad=True)
    source = getattr(optim, name)([p], lr=0.1)
    p.grad = mg.ones((3, 2), dtype=mg.float64)
    source.step()
    saved = copy.deepcopy(source.state_dict())
    good = saved["state"][0][key].shape
    saved["state"][0][key] = np.zeros(shape)
    target = getattr(optim, name)([mg.ones((3, 2), dtype=mg.float64, requires_grad=True)],
                                  lr=0.1)
    with pytest.raises(ValueError, match=rf"the loaded state {key!r} of parameter 0 .*has "
                                         rf"shape {re.escape(str(shape))}, expected "
                                         rf"{re.escape(str(good))}"):
        target.load_state_dict(saved)
    assert not target.state


# --- convergence -------------------------------------------------------------------------------

# (name, kwargs, steps, schedule, tolerance). LAMB, LARS and NovoGrad normalise each layer's
# step (to lr ||p||, lr c ||p||, about lr / (1 - b1)): with a constant lr they end in a cycle
# of that size around the minimum, so they are run with a cosine decay of lr to zero.
# LAMB and LARS scale the step by ||p||: LAMB's Rosenbrock path passes close to the origin,
# where its steps shrink with ||p||, hence its larger lr.
CONVERGENCE = [
    ("LAMB", dict(lr=0.02), 500, "cosine", 1e-3),
    ("LARS", dict(lr=50.0), 1000, "cosine", 1e-3),
    ("NovoGrad", dict(lr=0.05), 500, "cosine", 1e-3),
    ("SM3", dict(lr=0.5), 500, "constant", 1e-3),
    ("AggMo", dict(lr=0.1), 300, "constant", 1e-3),
]
ROSENBROCK = [
    ("LAMB", dict(lr=0.03), 2000, "cosine", 2e-2),
    ("LARS", dict(lr=50.0), 2000, "cosine", 2e-2),
    ("NovoGrad", dict(lr=0.05), 2000, "cosine", 2e-2),
    ("SM3", dict(lr=1.0), 3000, "constant", 2e-2),
    ("AggMo", dict(lr=1e-3), 2000, "constant", 2e-2),
]


def _lr(kwargs, schedule, t, steps):
    if schedule == "cosine":
        return kwargs["lr"] * 0.5 * (1 + math.cos(math.pi * t / steps))
    return kwargs["lr"]


@pytest.mark.parametrize("name, kwargs, steps, schedule, tolerance", CONVERGENCE,
                         ids=[c[0] for c in CONVERGENCE])
def test_minimizes_a_convex_quadratic(name, kwargs, steps, schedule, tolerance):
    a = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    b = np.array([1.0, -1.0, 2.0])
    x = mg.zeros(3, dtype=mg.float64, requires_grad=True)
    a_t, b_t = mg.tensor(a), mg.tensor(b)
    opt = getattr(optim, name)([x], **kwargs)
    for t in range(1, steps + 1):
        opt.param_groups[0]["lr"] = _lr(kwargs, schedule, t, steps)
        opt.zero_grad()
        (0.5 * (x @ (a_t @ x)) - (b_t * x).sum()).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a, b), atol=tolerance)


@pytest.mark.parametrize("name, kwargs, steps, schedule, tolerance", ROSENBROCK,
                         ids=[c[0] for c in ROSENBROCK])
def test_minimizes_rosenbrock(name, kwargs, steps, schedule, tolerance):
    x = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
    opt = getattr(optim, name)([x], **kwargs)
    for t in range(1, steps + 1):
        opt.param_groups[0]["lr"] = _lr(kwargs, schedule, t, steps)
        opt.zero_grad()
        ((1 - x[0]) ** 2 + 100 * (x[1] - x[0] * x[0]) ** 2).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=tolerance)


# --- details the references fix ------------------------------------------------------------------

@pytest.mark.parametrize("name, kwargs", [("LAMB", dict(lr=0.1)),
                                          ("LARS", dict(lr=0.1, momentum=0.0))])
def test_a_parameter_at_zero_takes_the_plain_step(name, kwargs):
    """optax's zero-norm rule: ||p|| = 0 gives a trust ratio of 1, not 0."""
    p = mg.zeros(3, dtype=mg.float64, requires_grad=True)
    opt = getattr(optim, name)([p], **kwargs)
    p.grad = mg.tensor([3.0, -4.0, 0.0], dtype=mg.float64)
    opt.step()
    expected = [-0.1, 0.1, 0.0] if name == "LAMB" else [-0.3, 0.4, 0.0]  # Adam's step is sign
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("name, kwargs", [("LAMB", {}), ("LARS", dict(eps=0.0)),
                                          ("NovoGrad", {}), ("SM3", dict(eps=0.0))])
def test_a_zero_gradient_gives_a_finite_zero_step(name, kwargs):
    """LARS (||u|| = 0: ratio 1) and SM3 (nu = 0: u = 0) even with eps=0; LAMB and NovoGrad
    divide by their eps there, as the references do."""
    p = mg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=mg.float64, requires_grad=True)
    opt = getattr(optim, name)([p], lr=0.1, **kwargs)
    p.grad = mg.zeros((2, 2), dtype=mg.float64)
    with np.errstate(all="raise"):
        opt.step()
    np.testing.assert_array_equal(p.numpy(), [[1.0, 2.0], [3.0, 4.0]])


def test_lars_trust_ratio_is_the_layer_norm_ratio():
    p = mg.tensor([[3.0, 4.0]], dtype=mg.float64, requires_grad=True)   # ||p|| = 5
    opt = optim.LARS([p], lr=2.0, momentum=0.0, trust_coefficient=0.1)
    p.grad = mg.tensor([[0.0, 10.0]], dtype=mg.float64)                  # ||g|| = 10
    opt.step()
    np.testing.assert_allclose(p.numpy(), [[3.0, 4.0 - 2.0 * 0.1 * 5 / 10 * 10]])


def test_lars_learning_rate_enters_before_the_momentum():
    p = mg.tensor([1.0], dtype=mg.float64, requires_grad=True)
    opt = optim.LARS([p], lr=1.0, momentum=0.5, trust_ratio=False)
    p.grad = mg.tensor([1.0], dtype=mg.float64)
    opt.step()                                   # buf = 1, p = 0
    opt.param_groups[0]["lr"] = 0.0
    p.grad = mg.tensor([1.0], dtype=mg.float64)
    opt.step()                                   # buf = 0.5 (lr 0 applies to the new step)
    np.testing.assert_allclose(p.numpy(), [-0.5])


def test_sm3_on_a_vector_is_adagrad_and_its_cover_bounds_adagrad():
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(4, 3)) for _ in range(6)]
    vector = mg.zeros(12, dtype=mg.float64, requires_grad=True)
    matrix = mg.zeros((4, 3), dtype=mg.float64, requires_grad=True)
    sm3 = optim.SM3([vector, matrix], lr=1.0, momentum=0.0, eps=0.0)
    total = np.zeros((4, 3))
    for g in grads:
        total += g * g
        vector.grad = mg.tensor(g.reshape(-1), dtype=mg.float64)
        matrix.grad = mg.tensor(g, dtype=mg.float64)
        before = vector.numpy().copy(), matrix.numpy().copy()
        sm3.step()
        np.testing.assert_allclose(before[0] - vector.numpy(), (g / np.sqrt(total)).reshape(-1))
        step = np.abs(before[1] - matrix.numpy())
        assert np.all(step <= np.abs(g) / np.sqrt(total) + 1e-15)  # nu >= Adagrad's sum
    acc = sm3.state[matrix]
    cover = np.minimum(acc["accumulator_0"][:, None], acc["accumulator_1"][None, :])
    assert np.all(cover >= total - 1e-12)


def test_sm3_refuses_complex_parameters():
    z = mg.tensor(np.ones(3, dtype=np.complex128), requires_grad=True)
    with pytest.raises(TypeError, match=r"SM3: parameter 0 of param group 0 has dtype "
                                        r"complex128"):
        optim.SM3([z], lr=0.1)


def test_aggmo_equal_betas_keep_their_own_velocities():
    """The reference keys velocities by beta, so (0.9, 0.9) would update one buffer twice."""
    a = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    b = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    twice, once = optim.AggMo([a], lr=0.1, betas=[0.9, 0.9]), optim.AggMo([b], lr=0.1,
                                                                          betas=[0.9])
    for _ in range(5):
        for p in (a, b):
            p.grad = mg.tensor(p.numpy() ** 2, dtype=mg.float64)
        twice.step()
        once.step()
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-14)


def test_aggmo_exponential_form():
    p = mg.zeros(2, requires_grad=True)
    opt = optim.AggMo.from_exp_form([p], lr=0.1, a=0.1, k=4, weight_decay=0.01, maximize=True)
    np.testing.assert_allclose(opt.param_groups[0]["betas"], [0.0, 0.9, 0.99, 0.999])
    assert opt.param_groups[0]["weight_decay"] == 0.01 and opt.param_groups[0]["maximize"]
    with pytest.raises(ValueError, match=r"^AggMo: invalid k: 0 \(it must be an integer"):
        optim.AggMo.from_exp_form([p], lr=0.1, k=0)
    with pytest.raises(ValueError, match=r"^AggMo: invalid a: 1.5 \(it must be"):
        optim.AggMo.from_exp_form([p], lr=0.1, a=1.5)


def test_aggmo_refuses_a_changed_number_of_betas_before_updating():
    p = mg.ones(2, dtype=mg.float64, requires_grad=True)
    q = mg.ones(2, dtype=mg.float64, requires_grad=True)
    opt = optim.AggMo([{"params": [p]}, {"params": [q]}], lr=0.1)
    for x in (p, q):
        x.grad = mg.ones(2, dtype=mg.float64)
    opt.step()
    before = p.numpy().copy(), q.numpy().copy()
    opt.param_groups[1]["betas"] = [0.0, 0.9]
    with pytest.raises(ValueError, match=r"param group 1 has 2 betas but its parameters hold "
                                         r"3 velocities"):
        opt.step()
    np.testing.assert_array_equal(p.numpy(), before[0])
    np.testing.assert_array_equal(q.numpy(), before[1])
    opt.param_groups[1]["betas"] = []
    with pytest.raises(ValueError, match=r"invalid betas: \[\] in param group 1"):
        opt.step()


def test_the_gradient_is_left_alone():
    """AggMo's reference adds the weight decay into p.grad; LARS' L2 term is not kept
    either."""
    for name in ("AggMo", "LARS"):
        p = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
        opt = getattr(optim, name)([p], lr=0.1, weight_decay=0.5)
        p.grad = mg.tensor([0.5, 3.0], dtype=mg.float64)
        opt.step()
        np.testing.assert_array_equal(p.grad.numpy(), [0.5, 3.0])


@pytest.mark.parametrize("name", sorted(NAMES))
def test_lr_is_required(name):
    with pytest.raises(ValueError, match="required hyper-parameter 'lr'"):
        getattr(optim, name)([mg.zeros(2, requires_grad=True)])


# --- validation --------------------------------------------------------------------------------

NAN, INF = math.nan, math.inf
LR = [-0.1, NAN, INF, "fast", None, True]
NONNEGATIVE = [-1.0, NAN, INF]
BETAS = [(1.0, 0.999), (0.9, -0.1), (NAN, 0.9), (0.9,), 0.9]
FLAG = [1, "yes", None]
BAD = {
    "LAMB": dict(lr=LR, betas=BETAS, eps=NONNEGATIVE, eps_root=NONNEGATIVE,
                 weight_decay=NONNEGATIVE),
    "LARS": dict(lr=LR, momentum=[-0.1, 1.5, NAN], weight_decay=NONNEGATIVE,
                 trust_coefficient=NONNEGATIVE, eps=NONNEGATIVE, nesterov=FLAG,
                 trust_ratio=FLAG),
    "NovoGrad": dict(lr=LR, betas=BETAS, eps=NONNEGATIVE, eps_root=NONNEGATIVE,
                     weight_decay=NONNEGATIVE),
    "SM3": dict(lr=LR, momentum=[-0.1, 1.5, NAN, "x"], eps=NONNEGATIVE),
    "AggMo": dict(lr=LR, betas=[[1.0], [0.0, -0.1], [0.9, NAN], 0.9, "ab", []],
                  weight_decay=NONNEGATIVE),
}
BAD_CASES = [(name, key, value) for name, table in BAD.items() for key, values in table.items()
             for value in values]


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_checked_hyper_parameter_has_bad_values(name):
    assert set(getattr(optim, name).hyperparameter_checks) == set(BAD[name])


@pytest.mark.parametrize("name, key, value", BAD_CASES,
                         ids=[f"{n}-{k}={v!r}" for n, k, v in BAD_CASES])
def test_bad_hyper_parameters_are_refused(name, key, value):
    kwargs = {"lr": 0.1, key: value}
    pattern = rf"^{name}: invalid {key}: "
    with pytest.raises(ValueError, match=pattern):
        getattr(optim, name)([mg.zeros(2, requires_grad=True)], **kwargs)
    p, q = mg.zeros(2, requires_grad=True), mg.zeros(2, requires_grad=True)
    opt = getattr(optim, name)([p], lr=0.1)
    with pytest.raises(ValueError, match=pattern + r".*in param group 1"):
        opt.add_param_group({"params": [q], key: value})
    assert len(opt.param_groups) == 1


def test_the_message_names_the_value_and_range():
    with pytest.raises(ValueError, match=re.escape(
            "LARS: invalid trust_coefficient: -1.0 (it must be a finite number >= 0)")):
        optim.LARS([mg.zeros(2, requires_grad=True)], lr=1.0, trust_coefficient=-1.0)
    with pytest.raises(ValueError, match=re.escape(
            "AggMo: invalid betas: betas must hold at least one beta, got betas=[]")):
        optim.AggMo([mg.zeros(2, requires_grad=True)], lr=1.0, betas=[])


def test_every_combination_of_lars_flags_steps():
    for nesterov, trust_ratio in itertools.product((False, True), repeat=2):
        p = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
        opt = optim.LARS([p], lr=1.0, nesterov=nesterov, trust_ratio=trust_ratio)
        p.grad = mg.tensor([0.5, 0.5], dtype=mg.float64)
        opt.step()
        assert np.all(np.isfinite(p.numpy())) and np.all(p.numpy() < [1.0, 2.0])
