"""SAdam / SAMSGrad (Tong, Liang & Bi 2019): against an independent NumPy transcription of its
equations (50 steps, float64, every option), against golden trajectories of the authors'
Sadam.py (tests/optim/golden/sadam_refs.py; run live when torch and Sadam.py are
importable), the softplus calibration against its formula and torch, the state_dict round
trip, and convergence on a convex quadratic and Rosenbrock."""
import copy
import functools
import math
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim.sadam import SOFTPLUS_THRESHOLD, softplus_
from tests.optim.golden import sadam_refs
from tests.optim.problems import (QuarticProblem, assert_trajectories_close,
                                  minigrad_trajectory, reference_trajectory)

STEPS = 50
SHAPES = [(3, 2), (2, 4), (4,), ()]
PROBLEM = QuarticProblem.random(SHAPES, seed=5, spread=1.5)


def _softplus(x, beta):
    x = np.asarray(x, dtype=float)
    return np.where(beta * x > 20.0, x, np.log1p(np.exp(np.minimum(beta * x, 20.0))) / beta)


def ref_sadam(p, g, s, t, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              amsgrad=True, partial=0.25, transformer="softplus", grad_transf="square",
              smooth=50.0, maximize=False):
    b1, b2 = betas
    g = (-g if maximize else g) + weight_decay * p
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * (g * g if grad_transf == "square" else np.abs(g))
    second = s["v"]
    if amsgrad:
        s["vmax"] = second = np.maximum(s.get("vmax", 0.0), s["v"])
    d = np.sqrt(second) if grad_transf == "square" else second
    d = _softplus(d, smooth) if transformer == "softplus" else (d + eps) ** (2 * partial)
    return p - lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * s["m"] / d


CASES = [
    dict(),
    dict(lr=0.05, amsgrad=False),
    dict(lr=0.05, betas=(0.8, 0.99), smooth=5.0, weight_decay=0.1, maximize=True),
    dict(lr=0.05, grad_transf="abs"),
    dict(lr=0.05, grad_transf="abs", amsgrad=False, smooth=200.0),
    dict(lr=0.05, transformer="Padam", partial=0.125, eps=1e-3),
    dict(lr=0.02, transformer="Padam", partial=0.5, amsgrad=False, weight_decay=0.05),
    dict(lr=0.02, transformer="Padam", partial=0.25, grad_transf="abs", maximize=True),
    dict(lr=0.05, transformer="Padam", partial=0.0),   # no adaptivity: momentum SGD
]


def _id(kwargs):
    return sadam_refs.case_id(kwargs)


def _sign(kwargs):
    return -1.0 if kwargs.get("maximize") else 1.0


@pytest.mark.parametrize("kwargs", CASES, ids=_id)
def test_matches_numpy_reference_step_by_step(kwargs, device):
    optimizer, trajectory = minigrad_trajectory(PROBLEM, lambda ps: optim.SAdam(ps, **kwargs),
                                                STEPS, device, sign=_sign(kwargs))
    expected = reference_trajectory(PROBLEM, functools.partial(ref_sadam, **kwargs), STEPS,
                                    _sign(kwargs))
    assert_trajectories_close(trajectory, expected)
    state = optimizer.state[optimizer.param_groups[0]["params"][0]]
    assert ("max_exp_avg_sq" in state) == kwargs.get("amsgrad", True)


def test_defaults_are_the_authors():
    opt = optim.SAdam([mg.zeros(2, requires_grad=True)])
    expected = dict(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=True,
                    partial=0.25, transformer="softplus", grad_transf="square", smooth=50.0,
                    maximize=False)
    assert opt.defaults == expected


# --- golden trajectories of the authors' code -----------------------------------------------------

GOLDEN = sadam_refs.load()


def _minigrad_golden(kwargs, steps=sadam_refs.STEPS, dtype=mg.float64):
    p = mg.tensor(sadam_refs.START, dtype=dtype, requires_grad=True)
    opt = optim.SAdam([p], **kwargs)
    trajectory = []
    for _ in range(steps):
        p.grad = mg.tensor(sadam_refs.gradient(p.numpy().astype(np.float64)), dtype=dtype)
        opt.step()
        trajectory.append(p.numpy().astype(np.float64))
    return np.array(trajectory)


@pytest.mark.parametrize("kwargs", sadam_refs.CASES, ids=_id)
def test_golden_trajectory_of_the_authors_code(kwargs):
    expected = np.array(GOLDEN[_id(kwargs)])
    assert expected.shape == (sadam_refs.STEPS, 4)
    np.testing.assert_allclose(_minigrad_golden(kwargs), expected, rtol=1e-10, atol=1e-12)


def test_golden_trajectory_in_float32():
    kwargs = sadam_refs.CASES[0]
    expected = np.array(GOLDEN[_id(kwargs)])[:10]
    np.testing.assert_allclose(_minigrad_golden(kwargs, 10, mg.float32), expected, rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("kwargs", sadam_refs.CASES, ids=_id)
def test_golden_trajectory_live(kwargs):
    try:
        sadam_refs.reference_class()
    except ImportError:
        pytest.skip("torch or the authors' Sadam.py is not importable")
    expected = np.array(sadam_refs.run_reference(kwargs))
    np.testing.assert_allclose(_minigrad_golden(kwargs), expected, rtol=1e-10, atol=1e-12)


# --- the softplus calibration ------------------------------------------------------------------

@pytest.mark.parametrize("beta", [1.0, 5.0, 50.0])
def test_softplus_is_log1p_exp_below_the_threshold_and_the_identity_above(beta):
    x = np.array([0.0, 1e-4, 0.01, 0.3, 0.39, 0.41, 1.0, 3.0, 1e3, 1e300])
    expected = _softplus(x, beta)
    got = x.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in exp for huge entries
        assert softplus_(got, beta) is got
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    assert got[0] == pytest.approx(math.log(2) / beta, rel=1e-15)
    above = beta * x > SOFTPLUS_THRESHOLD
    np.testing.assert_array_equal(got[above], x[above])
    assert np.all(got >= x) and np.all(got > 0)


def test_softplus_in_float32_and_0d():
    x = np.array([0.0, 0.5, 2.0], dtype=np.float32)
    softplus_(x, 50.0)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, _softplus([0.0, 0.5, 2.0], 50.0), rtol=1e-6)
    z = np.array(0.01)
    softplus_(z, 50.0)
    assert z.shape == () and float(z) == pytest.approx(math.log1p(math.exp(0.5)) / 50)


def test_softplus_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.linspace(0.0, 2.0, 101)
    for beta in (1.0, 50.0):
        expected = torch.nn.functional.softplus(torch.tensor(x), beta=beta).numpy()
        got = x.copy()
        np.testing.assert_allclose(softplus_(got, beta), expected, rtol=1e-14)


# --- checkpoints, validation -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(lr=0.05), dict(lr=0.05, amsgrad=False,
                                                        transformer="Padam")], ids=_id)
def test_state_dict_round_trip_resumes_the_same_trajectory(kwargs):
    def run(params, opt, steps):
        curvature, shift = PROBLEM.tensors()[1:]
        from tests.optim.problems import quartic_loss
        for _ in range(steps):
            opt.zero_grad()
            quartic_loss(params, curvature, shift).backward()
            opt.step()
    params = PROBLEM.tensors()[0]
    straight = optim.SAdam(params, **kwargs)
    run(params, straight, 20)
    first = PROBLEM.tensors()[0]
    opt = optim.SAdam(first, **kwargs)
    run(first, opt, 8)
    saved = copy.deepcopy(opt.state_dict())
    resumed = [mg.tensor(p.numpy(), dtype=mg.float64, requires_grad=True) for p in first]
    opt2 = optim.SAdam(resumed, **kwargs)
    opt2.load_state_dict(saved)
    run(resumed, opt2, 12)
    for a, b in zip(params, resumed):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("kwargs, match", [
    (dict(smooth=0.0), "invalid smooth: 0.0"),
    (dict(partial=0.75), r"invalid partial: 0.75 .*\[0, 0.5\]"),
    (dict(transformer="log2"), "invalid transformer: 'log2' .*'softplus', 'Padam'"),
    (dict(grad_transf="cube"), "invalid grad_transf"),
    (dict(amsgrad=1), "invalid amsgrad: 1"),
    (dict(betas=(0.9, 1.0)), "invalid betas"),
])
def test_bad_hyperparameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match="SAdam: " + match):
        optim.SAdam([mg.zeros(2, requires_grad=True)], **kwargs)


# --- convergence -------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(lr=0.05), dict(lr=0.05, amsgrad=False)], ids=_id)
def test_minimizes_a_convex_quadratic(kwargs):
    a = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    b = np.array([1.0, -1.0, 2.0])
    x = mg.zeros(3, dtype=mg.float64, requires_grad=True)
    a_t, b_t = mg.tensor(a), mg.tensor(b)
    opt = optim.SAdam([x], **kwargs)
    for _ in range(1500):
        opt.zero_grad()
        (0.5 * (x @ (a_t @ x)) - (b_t * x).sum()).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a, b), atol=1e-3)


@pytest.mark.parametrize("kwargs", [dict(lr=0.02), dict(lr=0.02, amsgrad=False)], ids=_id)
def test_minimizes_rosenbrock(kwargs):
    x = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
    opt = optim.SAdam([x], **kwargs)
    for _ in range(3000):
        opt.zero_grad()
        ((1 - x[0]) ** 2 + 100 * (x[1] - x[0] * x[0]) ** 2).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=2e-2)
