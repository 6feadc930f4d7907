"""Ranger21 (Wright & Demeure 2021): against an independent NumPy transcription of its
equations on a model of several parameters (50 steps, float64, each component switched on
and off), against golden trajectories of the reference lessw2020/Ranger21
(tests/optim/golden/ranger21_refs.py; run live when torch and the reference are importable),
its schedule against the standalone Ranger21LR, Lookahead's validation load, the state_dict
round trip, the reference's bugs that are fixed, and convergence on a convex quadratic and
Rosenbrock."""
import copy
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim.lr_scheduler import Ranger21LR
from tests.optim.golden import ranger21_refs
from tests.optim.problems import (QuarticProblem, assert_trajectories_close, minigrad_trajectory,
                                  quartic_grad, quartic_loss)

STEPS = 50
EPOCHS, BATCHES = 5, 10  # 50 steps: warm-up to step 11 (22%), warm-down from step 36 (72%)
# a Linear weight, a conv filter bank, a Conv1d weight, vectors (GN needs > 2 entries), a scalar
SHAPES = [(3, 4), (2, 3, 2, 2), (2, 3, 4), (5,), (2,), ()]
PROBLEM = QuarticProblem.random(SHAPES, seed=21, spread=1.5)


# --- the NumPy transcription ---------------------------------------------------------------------

def _unit_norm(x):
    if x.ndim <= 1:
        return np.sqrt(np.sum(x * x))
    return np.sqrt(np.sum(x * x, axis=tuple(range(1, x.ndim)), keepdims=True))


def _softplus(x, beta):
    return np.where(beta * x > 20.0, x, np.log1p(np.exp(np.minimum(beta * x, 20.0))) / beta)


def _centralized(g, conv_only):
    if g.ndim > (3 if conv_only else 1):
        return g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True)
    return g


def _normalized(g):
    return g / (np.std(g, ddof=1) + 1e-8) if g.size > 2 else g


def ranger21_reference(problem, steps, sign=1.0, *, lr, lookahead_active=True,
                       lookahead_mergetime=5, lookahead_blending_alpha=0.5,
                       use_madgrad=False, use_adabelief=False, softplus=True,
                       beta_softplus=50.0, using_gc=True, using_normgc=True, gc_conv_only=False,
                       normloss_active=True, normloss_factor=1e-4,
                       use_adaptive_gradient_clipping=True, agc_clipping_value=1e-2,
                       agc_eps=1e-3, betas=(0.9, 0.999), pnm_momentum_factor=1.0, momentum=0.9,
                       eps=1e-8, num_batches_per_epoch=BATCHES, num_epochs=EPOCHS,
                       use_warmup=True, num_warmup_iterations=None, warmdown_active=True,
                       warmdown_start_pct=0.72, warmdown_min_lr=3e-5, weight_decay=1e-4,
                       warmup_type="linear", warmup_pct_default=0.22, maximize=False):
    """The parameters after each step, from the equations of Ranger21's docstring."""
    b1, b2 = betas
    total = num_epochs * num_batches_per_epoch
    warmup = num_warmup_iterations
    if warmup is None:
        warmup = math.ceil(2 / (1 - b2))
        if warmup / total > 0.45:
            warmup = int(warmup_pct_default * total)
    start = int(warmdown_start_pct * num_epochs * num_batches_per_epoch)

    def lr_at(t):
        rate = lr
        if use_warmup and warmup_type == "linear" and t <= warmup:
            rate = lr * t / warmup
        if warmdown_active and t >= start:
            done = min(1.0, (t + 1 - start) / (total - start + 1))
            rate = max(warmdown_min_lr, lr - (lr - warmdown_min_lr) * done)
        return rate

    params = [x.copy() for x in problem.start]
    slow = [x.copy() for x in params]
    states = [{"v": np.zeros_like(x), "m": [np.zeros_like(x), np.zeros_like(x)],
               "S": np.zeros_like(x), "z": np.zeros_like(x)} for x in params]
    trajectory = []
    for t in range(1, steps + 1):
        grads = []
        moment_sum, count = 0.0, 0
        for p, h, b, s in zip(params, problem.curvature, problem.shift, states):
            g = sign * quartic_grad(p, h, b)
            if maximize:
                g = -g
            if use_adaptive_gradient_clipping:
                limit = agc_clipping_value * np.maximum(_unit_norm(p), agc_eps)
                size = _unit_norm(g)
                g = np.where(size > limit, g * limit / np.maximum(size, 1e-6), g)
            if using_gc:
                g = _centralized(g, gc_conv_only)
            if using_normgc:
                g = _normalized(g)
            momentum_grad = _centralized(g, gc_conv_only) if using_gc else g
            if using_normgc and not use_madgrad:
                momentum_grad = _normalized(momentum_grad)
            this = s["m"][(t + 1) % 2]   # odd steps: buffer 0
            if use_adabelief:
                this[...] = b1 ** 2 * this + (1 - b1 ** 2) * momentum_grad
                s["v"] = b2 * s["v"] + (1 - b2) * (g - this) ** 2
            else:
                s["v"] = b2 * s["v"] + (1 - b2) * g * g
            moment_sum += np.sum(s["v"] / (1 - b2 ** t))
            count += p.size
            grads.append((g, momentum_grad))
        mean = moment_sum / count
        scale = mean ** (1 / 3) if use_madgrad else math.sqrt(mean)
        for i, (p, s, (g, momentum_grad)) in enumerate(zip(params, states, grads)):
            rate = lr_at(t)
            decay_rate = rate * math.sqrt(t) if use_madgrad else rate
            if weight_decay and scale > 0:
                p = p * (1 - weight_decay * decay_rate / scale)
            if normloss_active:
                p = p * (1 - rate * 2 * normloss_factor * (1 - 1 / (_unit_norm(p) + eps)))
            if use_madgrad:
                def root(x):
                    r = np.cbrt(x)
                    return _softplus(r, beta_softplus) if softplus else r + eps
                if momentum == 0:
                    x0 = p + s["z"] / root(s["S"])
                else:
                    x0 = s.setdefault("x0", p.copy())
                s["S"] = s["S"] + decay_rate * momentum_grad ** 2
                s["z"] = s["z"] + decay_rate * momentum_grad
                p = momentum * p + (1 - momentum) * (x0 - s["z"] / root(s["S"]))
            else:
                this, other = s["m"][(t + 1) % 2], s["m"][t % 2]
                if not use_adabelief:
                    this[...] = b1 ** 2 * this + (1 - b1 ** 2) * momentum_grad
                d = np.sqrt(s["v"] / (1 - b2 ** t)) + eps
                if softplus:
                    d = _softplus(d, beta_softplus)
                beta0 = pnm_momentum_factor
                u = ((1 + beta0) * this - beta0 * other) / math.sqrt((1 + b2) ** 2 + b2 ** 2)
                p = p - rate / (1 - b1 ** t) * u / d
            params[i] = p
        if lookahead_active and t % lookahead_mergetime == 0:
            for i, p in enumerate(params):
                slow[i] = lookahead_blending_alpha * p + (1 - lookahead_blending_alpha) * slow[i]
                params[i] = slow[i].copy()
        trajectory.append([np.asarray(p).copy() for p in params])
    return trajectory


CASES = [
    dict(lr=0.05),
    dict(lr=0.05, use_adaptive_gradient_clipping=False),
    dict(lr=0.05, agc_clipping_value=0.3, agc_eps=0.05),
    dict(lr=0.05, using_gc=False),
    dict(lr=0.05, gc_conv_only=True),
    dict(lr=0.05, using_normgc=False),
    dict(lr=0.05, using_gc=False, using_normgc=False, use_adaptive_gradient_clipping=False),
    dict(lr=0.05, softplus=False),
    dict(lr=0.05, beta_softplus=3.0),
    dict(lr=0.05, normloss_active=False),
    dict(lr=0.05, normloss_factor=0.05, eps=1e-3),
    dict(lr=0.05, weight_decay=0.0),
    dict(lr=0.05, weight_decay=0.2),
    dict(lr=0.05, lookahead_active=False),
    dict(lr=0.05, lookahead_mergetime=3, lookahead_blending_alpha=0.8),
    dict(lr=0.05, pnm_momentum_factor=0.5),
    dict(lr=0.05, pnm_momentum_factor=0.0, betas=(0.8, 0.99)),
    dict(lr=0.05, use_warmup=False),
    dict(lr=0.05, warmup_type=None),
    dict(lr=0.05, num_warmup_iterations=20, warmdown_start_pct=0.5, warmdown_min_lr=1e-3),
    dict(lr=0.05, warmdown_active=False),
    dict(lr=0.05, warmup_pct_default=0.1, betas=(0.9, 0.99)),  # 200 steps of warm-up > 45%
    dict(lr=0.05, betas=(0.9, 0.9)),     # ceil(2 / 0.1) = 20 steps of warm-up (< 45%)
    dict(lr=0.05, use_adabelief=True),
    dict(lr=0.05, use_adabelief=True, softplus=False, weight_decay=0.1),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, use_madgrad=True),
    dict(lr=0.05, use_madgrad=True, momentum=0.5, weight_decay=0.1),
    dict(lr=0.05, use_madgrad=True, momentum=0.0),
    dict(lr=0.05, use_madgrad=True, softplus=False, using_normgc=False),
    dict(lr=0.05, use_madgrad=True, momentum=0.0, softplus=False, maximize=True),
]


def _id(kwargs):
    return ranger21_refs.case_id(kwargs)


def _make(params, **kwargs):
    return optim.Ranger21(params, **{"num_epochs": EPOCHS, "num_batches_per_epoch": BATCHES,
                                     **kwargs})


@pytest.mark.parametrize("kwargs", CASES, ids=_id)
def test_matches_numpy_reference_step_by_step(kwargs, device):
    sign = -1.0 if kwargs.get("maximize") else 1.0
    optimizer, trajectory = minigrad_trajectory(PROBLEM, lambda ps: _make(ps, **kwargs), STEPS,
                                                device, sign=sign)
    expected = ranger21_reference(PROBLEM, STEPS, sign, **kwargs)
    assert_trajectories_close(trajectory, expected)


def test_every_component_changes_the_trajectory():
    """Each option of CASES moves the parameters elsewhere than the defaults do (so each
    case tests something)."""
    default = ranger21_reference(PROBLEM, 40, lr=0.05)[-1]
    for kwargs in CASES[1:]:
        if kwargs.get("maximize"):
            continue
        other = ranger21_reference(PROBLEM, 40, **kwargs)[-1]
        assert any(not np.allclose(a, b, rtol=1e-9, atol=0) for a, b in zip(default, other)), \
            kwargs


# --- golden trajectories of the reference -------------------------------------------------------

GOLDEN = ranger21_refs.load()


def _minigrad_golden(kwargs, steps=ranger21_refs.STEPS, dtype=mg.float64):
    p = mg.tensor(ranger21_refs.START, dtype=dtype, requires_grad=True)
    opt = optim.Ranger21([p], num_epochs=ranger21_refs.EPOCHS,
                         num_batches_per_epoch=ranger21_refs.BATCHES, **kwargs)
    trajectory = []
    for _ in range(steps):
        p.grad = mg.tensor(ranger21_refs.gradient(p.numpy().astype(np.float64)), dtype=dtype)
        opt.step()
        trajectory.append(p.numpy().astype(np.float64))
    return np.array(trajectory)


@pytest.mark.parametrize("kwargs", ranger21_refs.CASES, ids=_id)
def test_golden_trajectory_of_the_reference(kwargs):
    expected = np.array(GOLDEN[_id(kwargs)])
    assert expected.shape == (ranger21_refs.STEPS,) + ranger21_refs.SHAPE
    np.testing.assert_allclose(_minigrad_golden(kwargs), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("index", [0, 9])
def test_golden_trajectory_in_float32(index):
    kwargs = ranger21_refs.CASES[index]
    expected = np.array(GOLDEN[_id(kwargs)])[:10]
    np.testing.assert_allclose(_minigrad_golden(kwargs, 10, mg.float32), expected, rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("kwargs", ranger21_refs.CASES, ids=_id)
def test_golden_trajectory_live(kwargs):
    try:
        ranger21_refs.reference_class()
    except ImportError:
        pytest.skip("torch or the Ranger21 reference is not importable")
    expected = np.array(ranger21_refs.run_reference(kwargs))
    np.testing.assert_allclose(_minigrad_golden(kwargs), expected, rtol=1e-10, atol=1e-12)


def _minigrad_multi(kwargs, steps=ranger21_refs.STEPS):
    params = [mg.tensor(x, dtype=mg.float64, requires_grad=True)
              for x in ranger21_refs.MULTI_START]
    opt = optim.Ranger21(params, num_epochs=ranger21_refs.EPOCHS,
                         num_batches_per_epoch=ranger21_refs.BATCHES, **kwargs)
    trajectory = []
    for _ in range(steps):
        grads = ranger21_refs.multi_gradients([p.numpy() for p in params])
        for p, g in zip(params, grads):
            p.grad = mg.tensor(g, dtype=mg.float64)
        opt.step()
        trajectory.append([p.numpy().copy() for p in params])
    return trajectory


def _assert_multi_close(got, expected):
    assert len(got) == len(expected) == ranger21_refs.STEPS
    for t, (values, wanted) in enumerate(zip(got, expected), start=1):
        for i, (g, e) in enumerate(zip(values, wanted)):
            np.testing.assert_allclose(g, np.array(e).reshape(g.shape), rtol=1e-10,
                                       atol=1e-12, err_msg=f"parameter {i} after step {t}")


@pytest.mark.parametrize("kwargs", ranger21_refs.MULTI_CASES, ids=_id)
def test_golden_trajectory_of_the_reference_on_several_parameters(kwargs):
    _assert_multi_close(_minigrad_multi(kwargs), GOLDEN["multi:" + _id(kwargs)])


@pytest.mark.parametrize("kwargs", ranger21_refs.MULTI_CASES, ids=_id)
def test_golden_trajectory_on_several_parameters_live(kwargs):
    try:
        ranger21_refs.reference_class()
    except ImportError:
        pytest.skip("torch or the Ranger21 reference is not importable")
    _assert_multi_close(_minigrad_multi(kwargs), ranger21_refs.run_reference_multi(kwargs))


def test_defaults_are_the_references():
    try:
        reference = ranger21_refs.reference_class()
    except ImportError:
        pytest.skip("torch or the Ranger21 reference is not importable")
    import inspect
    theirs = {k: v.default for k, v in inspect.signature(reference).parameters.items()
              if v.default is not inspect.Parameter.empty}
    ours = {k: v.default for k, v in inspect.signature(optim.Ranger21).parameters.items()
            if v.default is not inspect.Parameter.empty}
    left_out = {"use_cheb", "logging_active"}
    assert set(theirs) - left_out <= set(ours)
    for key in set(theirs) - left_out:
        assert ours[key] == theirs[key], key


# --- the schedule -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(), dict(num_warmup_iterations=7, warmdown_start_pct=0.4, warmdown_min_lr=1e-3),
    dict(use_warmup=False), dict(warmdown_active=False), dict(betas=(0.9, 0.95)),
], ids=str)
def test_the_schedule_is_the_standalone_ranger21lr(kwargs):
    p = mg.zeros(2, requires_grad=True)
    opt = _make([p], lr=0.1, **kwargs)
    sgd = optim.SGD([mg.zeros(2, requires_grad=True)], lr=0.1)
    schedule = Ranger21LR(sgd, epochs=EPOCHS, steps_per_epoch=BATCHES,
                          beta2=kwargs.get("betas", (0.9, 0.999))[1],
                          **{k: v for k, v in kwargs.items() if k != "betas"})
    group = opt.param_groups[0]
    for step in range(1, EPOCHS * BATCHES + 6):
        assert opt.scheduled_lr(group, step) == pytest.approx(sgd.param_groups[0]["lr"],
                                                              rel=1e-15), step
        sgd.step()
        schedule.step()


def test_default_warmup_follows_the_references_rule():
    p = [mg.zeros(2, requires_grad=True)]
    assert _make(p, lr=0.1).param_groups[0]["num_warmup_iterations"] == 11   # 2000 > 45% of 50
    long = optim.Ranger21(p, lr=0.1, num_epochs=100, num_batches_per_epoch=100)
    assert long.param_groups[0]["num_warmup_iterations"] == 2000           # ceil(2 / 0.001)


# --- Lookahead and its validation load -----------------------------------------------------------

def _train(opt, params, steps):
    curvature, shift = PROBLEM.tensors()[1:]
    for _ in range(steps):
        opt.zero_grad()
        quartic_loss(params, curvature, shift).backward()
        opt.step()


def test_lookahead_load_at_validation_loads_the_slow_weights_at_each_epoch_end():
    params = PROBLEM.tensors()[0]
    opt = _make(params, lr=0.05, lookahead_load_at_validation=True, lookahead_mergetime=4)
    _train(opt, params, BATCHES - 1)
    fast = [p.numpy().copy() for p in params]
    _train(opt, params, 1)  # the epoch's last step: then the slow weights are loaded
    for p in params:
        np.testing.assert_array_equal(p.numpy(), opt.state[p]["slow_param"])
    assert not np.allclose(params[0].numpy(), fast[0])
    opt.clear_and_load_backup()
    reference = PROBLEM.tensors()[0]
    plain = _make(reference, lr=0.05, lookahead_mergetime=4)
    _train(plain, reference, BATCHES)
    for p, q in zip(params, reference):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    with pytest.raises(RuntimeError, match="no backup to load"):
        opt.clear_and_load_backup()


def test_backup_needs_lookahead():
    opt = _make([mg.zeros(2, requires_grad=True)], lr=0.1, lookahead_active=False)
    with pytest.raises(RuntimeError, match="Lookahead is off"):
        opt.backup_and_load_cache()


# --- checkpoints ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(lr=0.05), dict(lr=0.05, use_madgrad=True), dict(lr=0.05, use_adabelief=True),
    dict(lr=0.05, lookahead_active=False, lookahead_load_at_validation=True),
], ids=_id)
def test_state_dict_round_trip_resumes_the_same_trajectory(kwargs):
    straight = PROBLEM.tensors()[0]
    _train(_make(straight, **kwargs), straight, 23)
    first = PROBLEM.tensors()[0]
    opt = _make(first, **kwargs)
    _train(opt, first, 13)
    saved = copy.deepcopy(opt.state_dict())
    assert saved["current_iter"] == 3
    resumed = [mg.tensor(p.numpy(), dtype=mg.float64, requires_grad=True) for p in first]
    again = _make(resumed, **kwargs)
    again.load_state_dict(saved)
    _train(again, resumed, 10)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# --- where the reference's bugs are fixed ---------------------------------------------------------

def test_weight_decay_and_norm_loss_reach_every_parameter():
    # two identical parameters with identical gradients stay identical (the reference decays
    # only the last one)
    a = mg.tensor([[1.0, -2.0, 3.0]], dtype=mg.float64, requires_grad=True)
    b = mg.tensor([[1.0, -2.0, 3.0]], dtype=mg.float64, requires_grad=True)
    opt = _make([a, b], lr=0.1, weight_decay=0.5, normloss_factor=0.5, use_warmup=False)
    for _ in range(3):
        for p in (a, b):
            p.grad = mg.tensor([[0.5, 0.1, -0.2]], dtype=mg.float64)
        opt.step()
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    lone = mg.tensor([[1.0, -2.0, 3.0]], dtype=mg.float64, requires_grad=True)
    no_decay = _make([lone], lr=0.1, weight_decay=0.0, normloss_active=False, use_warmup=False)
    for _ in range(3):
        lone.grad = mg.tensor([[0.5, 0.1, -0.2]], dtype=mg.float64)
        no_decay.step()
    assert not np.allclose(a.numpy(), lone.numpy())


def test_gradients_are_left_alone():
    params = PROBLEM.tensors()[0]
    opt = _make(params, lr=0.05)
    quartic_loss(params, *PROBLEM.tensors()[1:]).backward()
    before = [p.grad.numpy().copy() for p in params]
    opt.step()
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_clipping_is_clip_grads_adaptive_clip(monkeypatch):
    import minigrad.optim.ranger21 as module
    from minigrad.optim import clip_grad
    assert module.adaptive_clip is clip_grad.adaptive_clip
    calls = []
    monkeypatch.setattr(module, "adaptive_clip",
                        lambda *args: calls.append(args[2:]) or clip_grad.adaptive_clip(*args))
    params = PROBLEM.tensors()[0]
    _train(_make(params, lr=0.05, agc_clipping_value=0.2, agc_eps=0.01), params, 2)
    assert calls == [(0.2, 0.01)] * (2 * len(params))


def test_zero_gradients_give_no_decay_and_no_nan():
    p = mg.tensor([[1.0, 2.0, 3.0]], dtype=mg.float64, requires_grad=True)
    opt = _make([p], lr=0.1, normloss_active=False, lookahead_active=False, use_warmup=False)
    p.grad = mg.zeros(1, 3, dtype=mg.float64)
    opt.step()
    np.testing.assert_array_equal(p.numpy(), [[1.0, 2.0, 3.0]])


def test_madgrad_without_softplus_has_no_nan_where_gradients_were_zero():
    p = mg.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=mg.float64, requires_grad=True)
    opt = _make([p], lr=0.1, use_madgrad=True, softplus=False, momentum=0.0, using_gc=False,
                using_normgc=False, use_adaptive_gradient_clipping=False)
    for _ in range(3):
        p.grad = mg.tensor([[0.5, 0.0, -1.0, 0.0]], dtype=mg.float64)
        opt.step()
    assert np.isfinite(p.numpy()).all()


# --- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(num_epochs=None), "needs num_epochs and num_batches_per_epoch"),
    (dict(num_batches_per_epoch=0), "invalid num_batches_per_epoch: 0"),
    (dict(use_madgrad=True, use_adabelief=True), "set at most one of them"),
    (dict(momentum_type="adam"), "invalid momentum_type: 'adam'"),
    (dict(decay_type="l2"), "invalid decay_type: 'l2'"),
    (dict(warmup_type="exponential"), "invalid warmup_type: 'exponential'"),
    (dict(lookahead_mergetime=0), "invalid lookahead_mergetime: 0"),
    (dict(lookahead_blending_alpha=1.5), "invalid lookahead_blending_alpha: 1.5"),
    (dict(beta_softplus=0.0), "invalid beta_softplus: 0.0"),
    (dict(momentum=1.0), "invalid momentum: 1.0"),
    (dict(warmdown_start_pct=1.2), "invalid warmdown_start_pct: 1.2"),
    (dict(num_warmup_iterations=-1), "invalid num_warmup_iterations: -1"),
    (dict(using_gc="yes"), "invalid using_gc: 'yes'"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match="Ranger21" + r".*" + match):
        _make([mg.zeros(2, requires_grad=True)], **{"lr": 0.1, **kwargs})


def test_lr_is_required():
    with pytest.raises(TypeError, match="lr"):
        optim.Ranger21([mg.zeros(2, requires_grad=True)], num_epochs=1, num_batches_per_epoch=1)


# --- convergence --------------------------------------------------------------------------------

def test_minimizes_a_convex_quadratic():
    a = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    b = np.array([1.0, -1.0, 2.0])
    x = mg.zeros(3, dtype=mg.float64, requires_grad=True)
    a_t, b_t = mg.tensor(a), mg.tensor(b)
    steps = 1500
    opt = optim.Ranger21([x], lr=0.05, num_epochs=1, num_batches_per_epoch=steps,
                         weight_decay=0.0, normloss_active=False)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (x @ (a_t @ x)) - (b_t * x).sum()).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a, b), atol=1e-3)


def test_minimizes_rosenbrock():
    # positive-negative momentum (whose noise norm divides the step by about 2.2) and
    # Lookahead make the steps short: a large lr, and the warm-down for the final approach
    x = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
    steps = 3000
    opt = optim.Ranger21([x], lr=0.2, num_epochs=1, num_batches_per_epoch=steps,
                         warmdown_start_pct=0.5, weight_decay=0.0, normloss_active=False)
    for _ in range(steps):
        opt.zero_grad()
        ((1 - x[0]) ** 2 + 100 * (x[1] - x[0] * x[0]) ** 2).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=3e-2)

