"""SAM / ASAM: step by step against a NumPy transcription of the equations (50 steps,
float64), against golden trajectories of the reference implementation davda54/sam under
torch (tests/optim/golden/sam_refs.py; run live when importable), state dicts, the manual
two-step interface, non-finite gradients, checks, and convergence on a quadratic."""
import json
import math
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad.optim import SGD, Adam, NonFiniteError
from minigrad.optim.lr_scheduler import StepLR
from minigrad.optim.sam import SAM
from tests.optim.golden import sam_refs
from tests.optim.problems import QuarticProblem, quartic_grad, quartic_loss

GOLDEN = json.loads(sam_refs.OUTPUT.read_text())
PROBLEM = QuarticProblem(*[[np.asarray(x, dtype=np.float64) for x in GOLDEN["problem"][key]]
                           for key in ("start", "curvature", "shift")])
STEPS = sam_refs.STEPS


# --- the NumPy transcription --------------------------------------------------------------

def numpy_sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
              maximize=False):
    """torch.optim.SGD's rule (L2 weight decay added to the gradient)."""
    def update(p, g, state):
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            buf = state.get("buf")
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            state["buf"] = buf
            g = g + momentum * buf if nesterov else buf
        return p - lr * g
    return update


def numpy_adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
    """torch.optim.Adam's rule (L2 weight decay added to the gradient)."""
    b1, b2 = betas

    def update(p, g, state):
        g = -g if maximize else g
        g = g + weight_decay * p
        t = state["t"] = state.get("t", 0) + 1
        m = state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
        v = state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        return p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return update


def numpy_sam(groups, steps=STEPS, sign=1.0, problem=PROBLEM):
    """SAM on ``sign *`` the quartic loss. ``groups``: (param indices, rho, adaptive,
    maximize, base update rule). One step: g = grad L(w); e = rho T^2 g / (||T g|| +
    1e-12), T = |w| if adaptive else 1, over all parameters of all groups; e flips sign
    when maximizing; the base rule steps from w with grad L(w + e)."""
    h, b = problem.curvature, problem.shift
    w = [x.copy() for x in problem.start]
    grad = lambda x, i: sign * quartic_grad(x, h[i], b[i])  # noqa: E731
    states = [{} for _ in w]
    trajectory = []
    for _ in range(steps):
        g = [grad(w[i], i) for i in range(len(w))]
        norm = math.sqrt(sum(float(np.sum(((np.abs(w[i]) if adaptive else 1.0) * g[i]) ** 2))
                         for indices, _, adaptive, _, _ in groups for i in indices))
        perturbed = list(w)
        for indices, rho, adaptive, maximize, _ in groups:
            for i in indices:
                e = rho * (w[i] ** 2 if adaptive else 1.0) * g[i] / (norm + 1e-12)
                perturbed[i] = w[i] - e if maximize else w[i] + e
        g2 = [grad(perturbed[i], i) for i in range(len(w))]
        for indices, _, _, _, rule in groups:
            for i in indices:
                w[i] = rule(w[i], g2[i], states[i])
        trajectory.append([x.copy() for x in w])
    return trajectory


def minigrad_sam(make, steps=STEPS, sign=1.0, problem=PROBLEM, manual=False):
    params, h, b = problem.tensors()
    optimizer = make(params)

    def loss():
        return sign * quartic_loss(params, h, b)

    def closure():
        value = loss()
        value.backward()
        return value

    trajectory = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss().backward()
        if manual:
            optimizer.first_step(zero_grad=True)
            closure()
            optimizer.second_step(zero_grad=True)
        else:
            optimizer.step(closure)
        trajectory.append([p.numpy().copy() for p in params])
    return optimizer, trajectory


def assert_trajectories(mine, theirs, rtol):
    assert len(mine) == len(theirs)
    for t, (a, b) in enumerate(zip(mine, theirs)):
        for i, (x, y) in enumerate(zip(a, b)):
            np.testing.assert_allclose(x, np.asarray(y), rtol=rtol, atol=1e-14,
                                       err_msg=f"step {t + 1}, parameter {i}")


ALL = [0, 1, 2]
NUMPY_CASES = {
    "sgd": (lambda ps: SAM(ps, SGD, lr=0.05),
            [(ALL, 0.05, False, False, numpy_sgd(0.05))]),
    "sgd-momentum-asam": (
        lambda ps: SAM(ps, SGD, rho=0.5, adaptive=True, lr=0.05, momentum=0.9, nesterov=True,
                       weight_decay=0.01),
        [(ALL, 0.5, True, False, numpy_sgd(0.05, 0.9, weight_decay=0.01, nesterov=True))]),
    "sgd-dampening": (
        lambda ps: SAM(ps, SGD, rho=0.2, lr=0.03, momentum=0.8, dampening=0.3),
        [(ALL, 0.2, False, False, numpy_sgd(0.03, 0.8, dampening=0.3))]),
    "adam": (lambda ps: SAM(ps, Adam, lr=0.02),
             [(ALL, 0.05, False, False, numpy_adam(0.02))]),
    "adam-asam": (
        lambda ps: SAM(ps, Adam, rho=1.0, adaptive=True, lr=0.02, betas=(0.8, 0.99),
                       weight_decay=0.01, eps=1e-6),
        [(ALL, 1.0, True, False, numpy_adam(0.02, (0.8, 0.99), 1e-6, 0.01))]),
    "groups": (
        lambda ps: SAM([{"params": ps[:2]}, {"params": ps[2:], "rho": 0.02, "adaptive": True,
                                             "lr": 0.1}], SGD, rho=0.1, lr=0.05),
        [([0, 1], 0.1, False, False, numpy_sgd(0.05)),
         ([2], 0.02, True, False, numpy_sgd(0.1))]),
    "rho-0": (lambda ps: SAM(ps, Adam, rho=0.0, lr=0.02),
              [(ALL, 0.0, False, False, numpy_adam(0.02))]),
}


@pytest.mark.parametrize("name", NUMPY_CASES)
def test_matches_the_numpy_transcription(name):
    make, groups = NUMPY_CASES[name]
    _, mine = minigrad_sam(make)
    assert_trajectories(mine, numpy_sam(groups), rtol=1e-10)


@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("base", ["SGD", "Adam"])
def test_maximize_perturbs_towards_lower_values(base, adaptive):
    """Maximising -L is minimising L: the same trajectory as SAM on L."""
    cls, rule = (SGD, numpy_sgd) if base == "SGD" else (Adam, numpy_adam)
    make = lambda ps: SAM(ps, cls, rho=0.3, adaptive=adaptive, lr=0.03, maximize=True)  # noqa
    _, mine = minigrad_sam(make, sign=-1.0)
    theirs = numpy_sam([(ALL, 0.3, adaptive, True, rule(0.03, maximize=True))], sign=-1.0)
    assert_trajectories(mine, theirs, rtol=1e-10)
    _, plain = minigrad_sam(lambda ps: SAM(ps, cls, rho=0.3, adaptive=adaptive, lr=0.03))
    assert_trajectories(mine, plain, rtol=1e-12)


def test_sam_with_rho_0_is_the_base_optimizer():
    _, sam = minigrad_sam(lambda ps: SAM(ps, Adam, rho=0.0, lr=0.02))
    from tests.optim.problems import minigrad_trajectory
    _, adam = minigrad_trajectory(PROBLEM, lambda ps: Adam(ps, lr=0.02), STEPS)
    assert_trajectories(sam, adam, rtol=1e-14)


def test_manual_first_and_second_step_equal_step_with_a_closure():
    make = NUMPY_CASES["adam-asam"][0]
    _, by_closure = minigrad_sam(make)
    _, by_hand = minigrad_sam(make, manual=True)
    assert_trajectories(by_hand, by_closure, rtol=0)


def test_step_computes_the_first_gradients_itself_when_none_are_held():
    """The LBFGS-style loop (the closure zeroes and recomputes; no backward before step)
    gives the reference usage's trajectory, and a step leaves no gradient behind."""
    make = NUMPY_CASES["sgd-momentum-asam"][0]
    _, reference = minigrad_sam(make)
    params, h, b = PROBLEM.tensors()
    optimizer = make(params)

    def closure():
        optimizer.zero_grad()
        loss = quartic_loss(params, h, b)
        loss.backward()
        return loss

    for t in range(STEPS):
        loss = optimizer.step(closure)
        assert all(p.grad is None for p in params)
        for p, x in zip(params, reference[t]):
            np.testing.assert_array_equal(p.numpy(), x)
    assert math.isfinite(float(loss.item()))


# --- the reference ------------------------------------------------------------------------

def _make_like_reference(name):
    base, kwargs, layout = sam_refs.CASES[name]
    cls = {"SGD": SGD, "Adam": Adam}[base]

    def make(params):
        groups = params if layout is None else [
            {"params": [params[i] for i in indices], **options} for indices, options in layout]
        return SAM(groups, cls, **kwargs)
    return make


@pytest.mark.parametrize("name", sam_refs.CASES)
def test_matches_the_reference_golden(name):
    _, mine = minigrad_sam(_make_like_reference(name))
    assert_trajectories(mine, GOLDEN["trajectories"][name], rtol=1e-11)


@pytest.mark.parametrize("name", sam_refs.CASES)
def test_matches_the_reference_live(name):
    pytest.importorskip("torch")
    pytest.importorskip("sam")
    _, mine = minigrad_sam(_make_like_reference(name))
    assert_trajectories(mine, sam_refs.run_reference(name), rtol=1e-11)


# --- groups, schedulers, state dicts ------------------------------------------------------

def test_param_groups_are_the_base_optimizers_and_carry_rho():
    params, _, _ = PROBLEM.tensors()
    optimizer = SAM(params, SGD, rho=0.1, adaptive=True, lr=0.05, momentum=0.9)
    assert optimizer.param_groups is optimizer.base_optimizer.param_groups
    group = optimizer.param_groups[0]
    assert (group["rho"], group["adaptive"], group["lr"], group["momentum"]) == (0.1, True, 0.05,
                                                                                0.9)
    assert isinstance(optimizer.base_optimizer, SGD)
    scheduler = StepLR(optimizer, 1, gamma=0.5)
    optimizer.add_param_group({"params": [mg.zeros(2, requires_grad=True)], "lr": 0.2})
    assert optimizer.param_groups[1]["rho"] == 0.1 and optimizer.param_groups[1]["adaptive"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a SAM step counts as an optimizer step
        _step(optimizer, params)
        scheduler.step()
    assert optimizer.base_optimizer.param_groups[0]["lr"] == 0.025


def _step(optimizer, params, manual=False):
    _, h, b = PROBLEM.tensors()

    def closure():
        loss = quartic_loss(params, h, b)
        loss.backward()
        return loss

    optimizer.zero_grad()
    closure()
    if manual:
        optimizer.first_step(zero_grad=True)
        closure()
        optimizer.second_step(zero_grad=True)
        return None
    return optimizer.step(closure)


def test_step_returns_the_loss_at_the_perturbed_point():
    params, h, b = PROBLEM.tensors()
    optimizer = SAM(params, SGD, lr=0.0, rho=0.3)
    optimizer.zero_grad()
    quartic_loss(params, h, b).backward()
    before = float(quartic_loss(params, h, b).item())
    loss = optimizer.step(lambda: _backward(quartic_loss(params, h, b)))
    assert float(loss.item()) > before  # SAM climbs before the (here empty) step
    np.testing.assert_array_equal(params[0].numpy(), PROBLEM.start[0])  # w restored


def _backward(loss):
    loss.backward()
    return loss


@pytest.mark.parametrize("base", [SGD, Adam])
def test_state_dict_round_trip_resumes_the_trajectory(base):
    make = lambda ps: SAM(ps, base, rho=0.3, adaptive=True, lr=0.02, momentum=0.9) \
        if base is SGD else SAM(ps, base, rho=0.3, adaptive=True, lr=0.02)  # noqa: E731
    _, reference = minigrad_sam(make, steps=30)
    params, _, _ = PROBLEM.tensors()
    optimizer = make(params)
    for _ in range(12):
        _step(optimizer, params)
    saved = optimizer.state_dict()
    assert saved["param_groups"][0]["rho"] == 0.3 and saved["state"]  # the base's moments
    assert not any("old_p" in s for s in saved["state"].values())
    values = [p.numpy().copy() for p in params]
    resumed_params = [mg.tensor(v, requires_grad=True) for v in values]
    resumed = make(resumed_params)
    resumed.load_state_dict(saved)
    for t in range(12, 30):
        _step(resumed, resumed_params)
        for p, expected in zip(resumed_params, reference[t]):
            np.testing.assert_array_equal(p.numpy(), expected)
    bad = {**saved, "param_groups": [{**saved["param_groups"][0], "rho": -1.0}]}
    with pytest.raises(ValueError, match="SAM: invalid rho: -1.0 in param group 0 of the loaded"):
        resumed.load_state_dict(bad)


# --- non-finite gradients, odd parameters, checks -----------------------------------------

def test_nonfinite_first_gradient_raises_before_anything_changes():
    params, _, _ = PROBLEM.tensors()
    optimizer = SAM(params, SGD, lr=0.05, momentum=0.9)
    for p in params:
        p.grad = mg.ones(*p.shape, dtype=mg.float64)
    params[1].grad.array[2] = np.nan
    with pytest.raises(NonFiniteError, match="parameter 1 of param group 0"):
        optimizer.step(lambda: pytest.fail("the closure must not run"))
    for p, x in zip(params, PROBLEM.start):
        np.testing.assert_array_equal(p.numpy(), x)
    assert not optimizer.base_optimizer.state


@pytest.mark.parametrize("where", ["first", "second"])
def test_nonfinite_gradients_skip_the_whole_step(where):
    params, h, b = PROBLEM.tensors()
    optimizer = SAM(params, Adam, lr=0.05, on_nonfinite="skip")

    def closure():
        loss = quartic_loss(params, h, b)
        loss.backward()
        if where == "second":
            params[0].grad.array[0, 0] = np.inf
        return loss

    quartic_loss(params, h, b).backward()
    if where == "first":
        params[2].grad.array[...] = np.nan
    with pytest.warns(RuntimeWarning, match="skipped"):
        optimizer.step(closure)
    for p, x in zip(params, PROBLEM.start):
        np.testing.assert_array_equal(p.numpy(), x)
    assert optimizer.skipped_steps == 1 and not optimizer.base_optimizer.state
    with pytest.warns(RuntimeWarning, match="skipped"):  # also by hand
        optimizer.zero_grad()
        quartic_loss(params, h, b).backward()
        params[2].grad.array[...] = np.nan
        optimizer.first_step(zero_grad=True)
        closure()
        optimizer.second_step(zero_grad=True)
    for p, x in zip(params, PROBLEM.start):
        np.testing.assert_array_equal(p.numpy(), x)


def test_a_failing_closure_leaves_w_in_place():
    params, _, _ = PROBLEM.tensors()
    optimizer = SAM(params, SGD, lr=0.05)
    for p in params:
        p.grad = mg.ones(*p.shape, dtype=mg.float64)

    def closure():
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        optimizer.step(closure)
    for p, x in zip(params, PROBLEM.start):
        np.testing.assert_array_equal(p.numpy(), x)


def test_params_without_gradient_are_left_alone_and_all_perturbed_ones_restored():
    params, _, _ = PROBLEM.tensors()
    optimizer = SAM(params, SGD, lr=0.1, rho=0.5)
    params[0].grad = mg.ones(3, 4, dtype=mg.float64)
    params[1].grad = mg.ones(4, dtype=mg.float64)
    optimizer.first_step(zero_grad=True)
    assert not np.array_equal(params[1].numpy(), PROBLEM.start[1])
    params[0].grad = mg.ones(3, 4, dtype=mg.float64)  # the second pass reaches only params[0]
    optimizer.second_step()
    np.testing.assert_allclose(params[0].numpy(), PROBLEM.start[0] - 0.1)
    np.testing.assert_array_equal(params[1].numpy(), PROBLEM.start[1])  # back at w
    np.testing.assert_array_equal(params[2].numpy(), PROBLEM.start[2])
    assert not any(optimizer.state.values())


def test_float32_parameters_stay_float32():
    params, h, b = PROBLEM.tensors(dtype=mg.float32)
    optimizer = SAM(params, SGD, lr=0.05, adaptive=True, rho=0.5)
    _step(optimizer, params)
    assert all(p.dtype == np.float32 for p in params)
    _, ref = minigrad_sam(lambda ps: SAM(ps, SGD, lr=0.05, adaptive=True, rho=0.5), steps=1)
    for p, x in zip(params, ref[0]):
        np.testing.assert_allclose(p.numpy(), x, rtol=1e-5)


@pytest.mark.parametrize("build, error, match", [
    (lambda ps: SAM(ps, SGD, rho=-0.1, lr=0.1), ValueError, "SAM: invalid rho: -0.1"),
    (lambda ps: SAM(ps, SGD, rho=float("nan"), lr=0.1), ValueError, "SAM: invalid rho: nan"),
    (lambda ps: SAM(ps, SGD, adaptive=1, lr=0.1), ValueError, "SAM: invalid adaptive: 1"),
    (lambda ps: SAM([{"params": ps, "rho": -2.0}], SGD, lr=0.1), ValueError,
     "SAM: invalid rho: -2.0 in param group 0"),
    (lambda ps: SAM(ps, SGD(ps, lr=0.1)), TypeError, "must be an optimizer class"),
    (lambda ps: SAM(ps, "SGD"), TypeError, "must be an optimizer class, got str"),
    (lambda ps: SAM(ps, SGD, lr=-1.0), ValueError, "SGD: invalid lr: -1.0"),
    (lambda ps: SAM(ps, Adam, lr=0.1, betas=(1.5, 0.9)), ValueError, "Adam: invalid betas"),
    (lambda ps: SAM([], SGD, lr=0.1), ValueError, "empty parameter list"),
])
def test_bad_arguments_raise_clear_errors(build, error, match):
    params, _, _ = PROBLEM.tensors()
    with pytest.raises(error, match=match):
        build(params)


def test_step_needs_a_closure_and_checks_groups_written_later():
    params, _, _ = PROBLEM.tensors()
    optimizer = SAM(params, SGD, lr=0.1)
    with pytest.raises(ValueError, match="needs a closure"):
        optimizer.step()
    with pytest.raises(TypeError, match="closure must be a function"):
        optimizer.step(3)
    for p in params:
        p.grad = mg.ones(*p.shape, dtype=mg.float64)
    optimizer.param_groups[0]["rho"] = float("inf")
    with pytest.raises(ValueError, match="SAM: invalid rho: inf in param group 0"):
        optimizer.first_step()
    for p, x in zip(params, PROBLEM.start):
        np.testing.assert_array_equal(p.numpy(), x)


# --- convergence --------------------------------------------------------------------------

@pytest.mark.parametrize("adaptive, rho", [(False, 0.05), (True, 0.2)])
def test_converges_on_a_quadratic(adaptive, rho):
    """SAM on 0.5 (w - w*)^T A (w - w*): the gradient at w + e is A (w - w* + e), so SGD's
    fixed points lie within about rho of w*; with a decaying rho it reaches w*."""
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    a = mg.tensor(q @ np.diag(np.linspace(0.5, 3.0, 6)) @ q.T)
    target = mg.tensor(rng.uniform(0.5, 1.5, 6))
    w = mg.tensor(np.zeros(6), requires_grad=True)
    optimizer = SAM([w], SGD, rho=rho, adaptive=adaptive, lr=0.2, momentum=0.5)
    scheduler_rho = lambda t: rho * 0.9 ** t  # noqa: E731

    def loss():
        d = w - target
        return 0.5 * (d * (a @ d)).sum()

    start = float(loss().item())
    for t in range(150):
        optimizer.param_groups[0]["rho"] = scheduler_rho(t)
        optimizer.zero_grad()
        loss().backward()
        optimizer.step(lambda: _backward(loss()))
    assert float(loss().item()) < 1e-12 * start
    np.testing.assert_allclose(w.numpy(), target.numpy(), atol=1e-6)


@pytest.mark.parametrize("adaptive", [False, True])
def test_minimizes_rosenbrock(adaptive):
    """From (-1.5, 2) along the curved valley to (1, 1); rho decays so the perturbation,
    which moves SGD's fixed points about rho away from the minimum, vanishes at the end."""
    x = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
    optimizer = SAM([x], Adam, rho=0.01, adaptive=adaptive, lr=0.2)

    def loss():
        return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] * x[0]) ** 2

    steps = 2000
    for t in range(steps):
        optimizer.param_groups[0]["rho"] = 0.01 * (1 - t / steps)
        optimizer.param_groups[0]["lr"] = 0.2 * 0.5 * (1 + math.cos(math.pi * t / steps))
        optimizer.zero_grad()
        optimizer.step(lambda: _backward(loss()))
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=2e-2)
