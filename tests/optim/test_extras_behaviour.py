"""Behaviour every optimizer of the extras set shares with torch.optim's: convergence on a
convex quadratic, exact resumption from a mid-run state_dict, per-group learning rates,
parameters without a gradient left alone, maximize, and hyper-parameter validation.
"""
import copy

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

SHAPES = [(3, 2), (4,), ()]
_rng = np.random.default_rng(3)
START = [_rng.uniform(-1, 1, shape) for shape in SHAPES]
TARGET = [_rng.uniform(-1, 1, shape) for shape in SHAPES]
CURVATURE = [_rng.uniform(0.5, 2, shape) for shape in SHAPES]


def _schedule_free(params, **kwargs):
    optimizer = ScheduleFreeAdamW(params, **kwargs)
    optimizer.train()
    return optimizer


# name -> (make(params, **overrides), default keyword arguments for these tests)
OPTIMIZERS = {
    "FTRL": (FTRL, dict(lr=1.0, l2=0.01)),
    "Lion": (Lion, dict(lr=0.03)),
    "AdaBelief": (AdaBelief, dict(lr=0.05, weight_decay=0.01)),
    "ScheduleFreeAdamW": (_schedule_free, dict(lr=0.1, warmup_steps=5)),
    "Muon": (Muon, dict(lr=0.01, weight_decay=0.0, adamw_lr=0.05, adamw_weight_decay=0.0)),
    "Lookahead": (lambda ps, **kw: Lookahead(SGD(ps, **kw), k=4, alpha=0.5),
                  dict(lr=0.1, momentum=0.5)),
    "Ranger": (Ranger, dict(lr=0.1)),
}
# centralised gradients hardly move the mean of a weight's row, which this target needs
CONVERGENCE_OVERRIDES = {"Ranger": dict(use_gc=False)}
ALL = sorted(OPTIMIZERS)
WITH_MAXIMIZE = [name for name in ALL if name != "Lookahead"]


def make(name, params, **overrides):
    factory, kwargs = OPTIMIZERS[name]
    return factory(params, **{**kwargs, **overrides})


def new_params(values=START, dtype=mg.float64):
    return [mg.tensor(v, dtype=dtype, requires_grad=True) for v in values]


def quadratic(params, sign=1.0):
    """sign * sum(0.5 h (p - target)^2): convex, minimum at TARGET."""
    dtype = params[0].dtype
    return sum(sign * (0.5 * mg.tensor(h, dtype=dtype) * (p - mg.tensor(c, dtype=dtype)) ** 2).sum()
               for p, h, c in zip(params, CURVATURE, TARGET))


def train(optimizer, params, steps, sign=1.0):
    for _ in range(steps):
        optimizer.zero_grad()
        quadratic(params, sign).backward()
        optimizer.step()


def inner_state(optimizer):
    return optimizer.base_optimizer.state if isinstance(optimizer, Lookahead) else optimizer.state


@pytest.mark.parametrize("name", ALL)
def test_converges_on_a_convex_quadratic(name):
    params = new_params()
    optimizer = make(name, params, **CONVERGENCE_OVERRIDES.get(name, {}))
    initial = quadratic(params).item()
    train(optimizer, params, 300)
    if isinstance(optimizer, ScheduleFreeAdamW):
        optimizer.eval()  # the average x is the point that converges
    assert quadratic(params).item() < 1e-3 * initial


@pytest.mark.parametrize("name", ALL)
def test_resuming_from_a_mid_run_state_dict_continues_identically(name):
    params = new_params()
    optimizer = make(name, params)
    train(optimizer, params, 9)
    checkpoint = copy.deepcopy(optimizer.state_dict())
    saved_values = [p.numpy().copy() for p in params]
    train(optimizer, params, 11)

    resumed_params = new_params(saved_values)
    resumed = make(name, resumed_params)
    resumed.load_state_dict(checkpoint)
    train(resumed, resumed_params, 11)
    for p, q in zip(params, resumed_params):
        np.testing.assert_array_equal(q.numpy(), p.numpy())


@pytest.mark.parametrize("name", ALL)
def test_param_groups_use_their_own_learning_rate(name):
    base_lr = OPTIMIZERS[name][1]["lr"]
    params = new_params()
    grouped = make(name, [{"params": params[:1], "lr": base_lr / 3}, {"params": params[1:]}])
    alone = new_params()
    separate = [make(name, alone[:1], lr=base_lr / 3), make(name, alone[1:])]
    for _ in range(12):
        grouped.zero_grad()
        quadratic(params).backward()
        grouped.step()
        for optimizer in separate:
            optimizer.zero_grad()
        quadratic(alone).backward()
        for optimizer in separate:
            optimizer.step()
    assert [g["lr"] for g in grouped.param_groups] == [base_lr / 3, base_lr]
    for p, q in zip(params, alone):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ALL)
def test_parameters_without_grad_are_skipped(name):
    params = new_params()
    frozen = mg.tensor(np.full((2, 2), 0.7), dtype=mg.float64, requires_grad=True)
    optimizer = make(name, params + [frozen])
    train(optimizer, params, 12)
    assert frozen.grad is None
    np.testing.assert_array_equal(frozen.numpy(), np.full((2, 2), 0.7))
    assert frozen not in inner_state(optimizer)
    assert all(inner_state(optimizer)[p]["step"] == 12 for p in params)


@pytest.mark.parametrize("name", ALL)
def test_float32_parameters_and_state_stay_float32_and_track_float64(name):
    single, double = new_params(dtype=mg.float32), new_params()
    optimizer = make(name, single)
    train(optimizer, single, 20)
    train(make(name, double), double, 20)
    for p, q in zip(single, double):
        assert p.dtype == mg.float32
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=1e-5)
    for state in [*inner_state(optimizer).values(), *optimizer.state.values()]:  # + slow weights
        for value in state.values():
            assert getattr(value, "dtype", np.float32) == np.float32


@pytest.mark.parametrize("name", WITH_MAXIMIZE)
def test_maximize_on_the_negated_loss_is_minimizing_the_loss(name):
    params, flipped = new_params(), new_params()
    train(make(name, params), params, 15)
    train(make(name, flipped, maximize=True), flipped, 15, sign=-1.0)
    for p, q in zip(params, flipped):
        np.testing.assert_array_equal(q.numpy(), p.numpy())


INVALID = [
    ("FTRL", dict(lr=0.0), "lr"),
    ("FTRL", dict(lr=-1.0), "lr"),
    ("FTRL", dict(lr_power=0.5), "lr_power"),
    ("FTRL", dict(initial_accumulator_value=-0.1), "initial_accumulator_value"),
    ("FTRL", dict(l1=-1.0), "l1"),
    ("FTRL", dict(l2=-1.0), "l2"),
    ("FTRL", dict(l2_shrinkage=-1.0), "l2_shrinkage"),
    ("FTRL", dict(beta=-1.0), "beta"),
    ("Lion", dict(lr=-0.1), "lr"),
    ("Lion", dict(betas=(1.0, 0.99)), "betas"),
    ("Lion", dict(weight_decay=-1.0), "weight_decay"),
    ("AdaBelief", dict(eps=-1e-8), "eps"),
    ("AdaBelief", dict(betas=(0.9,)), "betas"),
    ("AdaBelief", dict(weight_decay=-0.1), "weight_decay"),
    ("ScheduleFreeAdamW", dict(betas=(0.0, 0.999)), "betas"),
    ("ScheduleFreeAdamW", dict(warmup_steps=-1), "warmup_steps"),
    ("ScheduleFreeAdamW", dict(warmup_steps=2.5), "warmup_steps"),
    ("ScheduleFreeAdamW", dict(r=-1.0), "r"),
    ("ScheduleFreeAdamW", dict(weight_lr_power=-2.0), "weight_lr_power"),
    ("Muon", dict(momentum=1.0), "momentum"),
    ("Muon", dict(ns_steps=0), "ns_steps"),
    ("Muon", dict(ns_coefficients=(3.4, -4.7)), "ns_coefficients"),
    ("Muon", dict(adjust_lr_fn="spectral"), "adjust_lr_fn"),
    ("Muon", dict(adamw_betas=(0.9, 1.0)), "adamw_betas"),
    ("Muon", dict(adamw_lr=-1.0), "adamw_lr"),
    ("Muon", dict(weight_decay=-0.1), "weight_decay"),
    ("Ranger", dict(lr=-0.1), "lr"),
    ("Ranger", dict(betas=(0.95, 1.5)), "betas"),
    ("Ranger", dict(k=0), "k"),
    ("Ranger", dict(alpha=1.5), "alpha"),
]


@pytest.mark.parametrize("name, kwargs, argument", INVALID,
                         ids=[f"{n}-{a}-{i}" for i, (n, _, a) in enumerate(INVALID)])
def test_invalid_hyper_parameters_raise_naming_the_argument(name, kwargs, argument):
    with pytest.raises(ValueError, match=f"invalid {argument}:"):
        make(name, new_params(), **kwargs)


@pytest.mark.parametrize("kwargs, argument", [(dict(k=0), "k"), (dict(k=2.5), "k"),
                                              (dict(alpha=-0.5), "alpha")])
def test_invalid_lookahead_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"invalid {argument}:"):
        Lookahead(SGD(new_params(), lr=0.1), **kwargs)


def test_lookahead_needs_an_optimizer():
    with pytest.raises(TypeError, match="base_optimizer must be a minigrad Optimizer"):
        Lookahead(new_params())
