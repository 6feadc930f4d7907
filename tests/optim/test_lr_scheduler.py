"""LR schedulers: long runs against closed forms written here, PyTorch's recursive forms where
they differ, the golden sequences of the reference (torch 2.13), state dicts, param groups,
the step-order warning and argument checks."""
import copy
import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad.optim import lr_scheduler as sched
from minigrad.optim.adam import Adam
from minigrad.optim.sgd import SGD
from tests.optim.golden import ranger21_lr_refs, warmup_schedule_refs

RANGER21_GOLDEN = json.loads(ranger21_lr_refs.OUTPUT.read_text())
WARMUP_GOLDEN = json.loads(warmup_schedule_refs.OUTPUT.read_text())

BASES = (0.1, 0.02)  # two param groups with different base lrs


def make_sgd(lrs=BASES, momentum=0.9):
    groups = [{"params": [mg.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return SGD(groups, lr=lrs[0], momentum=momentum)


def run(make_scheduler, steps, optimizer=None):
    """The lrs of every group at t = 0 .. steps-1, stepping in the documented order."""
    optimizer = make_sgd() if optimizer is None else optimizer
    scheduler = make_scheduler(optimizer)
    history = [[group["lr"] for group in optimizer.param_groups]]
    assert scheduler.get_last_lr() == history[0]
    for _ in range(steps - 1):
        optimizer.step()
        scheduler.step()
        history.append([group["lr"] for group in optimizer.param_groups])
        assert scheduler.get_last_lr() == history[-1]
    return np.array(history)


# --- closed forms, written independently of the library, over 120 steps --------------------

def cawr_closed(b, t, T_0=10, T_mult=2, eta_min=1e-4):
    length, start = T_0, 0
    while t >= start + length:
        start, length = start + length, length * T_mult
    return eta_min + (b - eta_min) * (1 + math.cos(math.pi * (t - start) / length)) / 2


def cyclic_closed(b, t, peak=0.3, half=7, scale=lambda cycle, t: 1.0):
    """Smith (2017), the symmetric triangle: x = |t/s - 2 cycle + 1|."""
    cycle = math.floor(1 + t / (2 * half))
    x = abs(t / half - 2 * cycle + 1)
    return b + (peak - b) * max(0.0, 1 - x) * scale(cycle, t)


def one_cycle_closed(b_max, t, total=120, pct=0.25, div=25.0, final_div=1e4):
    start, low = b_max / div, b_max / div / final_div
    warm = pct * total - 1
    cos = lambda a, z, f: z + (a - z) * (1 + math.cos(math.pi * f)) / 2
    if t <= warm:
        return cos(start, b_max, t / warm)
    return cos(b_max, low, (t - warm) / (total - 1 - warm))


def warm_then(b, t, warmup, after):
    return b * (t + 1) / (warmup + 1) if t < warmup else after(b, t - warmup)


CLOSED_FORMS = {
    "LambdaLR": (lambda o: sched.LambdaLR(o, lambda t: 1 / (1 + 0.05 * t) ** 0.5),
                 lambda b, t: b / (1 + 0.05 * t) ** 0.5),
    "MultiplicativeLR": (lambda o: sched.MultiplicativeLR(o, lambda t: 0.99 if t % 2 else 0.97),
                         lambda b, t: b * math.prod(0.99 if i % 2 else 0.97
                                                    for i in range(1, t + 1))),
    "StepLR": (lambda o: sched.StepLR(o, 7, 0.5), lambda b, t: b * 0.5 ** (t // 7)),
    "MultiStepLR": (lambda o: sched.MultiStepLR(o, [30, 10, 80, 30], 0.3),
                    lambda b, t: b * 0.3 ** sum(m <= t for m in [10, 30, 30, 80])),
    "ConstantLR": (lambda o: sched.ConstantLR(o, 0.25, 20),
                   lambda b, t: b * (0.25 if t < 20 else 1.0)),
    "LinearLR-warmup": (lambda o: sched.LinearLR(o, 0.2, 0.9, 40),
                        lambda b, t: b * (0.2 + 0.7 * min(t, 40) / 40)),
    "LinearLR-decay": (lambda o: sched.LinearLR(o, 1.0, 0.0, 50),
                       lambda b, t: b * (1 - min(t, 50) / 50)),
    "ExponentialLR": (lambda o: sched.ExponentialLR(o, 0.97), lambda b, t: b * 0.97 ** t),
    "ExponentialDecayLR": (lambda o: sched.ExponentialDecayLR(o, 0.03),
                           lambda b, t: b * math.exp(-0.03 * t)),
    "InverseTimeLR": (lambda o: sched.InverseTimeLR(o, 0.1), lambda b, t: b / (1 + 0.1 * t)),
    "PolynomialLR": (lambda o: sched.PolynomialLR(o, 60, 1.5),
                     lambda b, t: b * (1 - min(t, 60) / 60) ** 1.5),
    "CosineAnnealingLR": (lambda o: sched.CosineAnnealingLR(o, 30, 1e-3),
                          lambda b, t: 1e-3 + (b - 1e-3) * (1 + math.cos(math.pi * t / 30)) / 2),
    "CosineAnnealingWarmRestarts": (lambda o: sched.CosineAnnealingWarmRestarts(o, 10, 2, 1e-4),
                                    cawr_closed),
    "CyclicLR-triangular": (lambda o: sched.CyclicLR(o, list(BASES), 0.3, 7), cyclic_closed),
    "CyclicLR-triangular2": (
        lambda o: sched.CyclicLR(o, list(BASES), 0.3, 7, mode="triangular2"),
        lambda b, t: cyclic_closed(b, t, scale=lambda cycle, t: 0.5 ** (cycle - 1))),
    "CyclicLR-exp_range": (
        lambda o: sched.CyclicLR(o, list(BASES), 0.3, 7, mode="exp_range", gamma=0.99),
        lambda b, t: cyclic_closed(b, t, scale=lambda cycle, t: 0.99 ** t)),
    "OneCycleLR": (lambda o: sched.OneCycleLR(o, list(BASES), total_steps=120, pct_start=0.25),
                   one_cycle_closed),
    "warmup_cosine": (
        lambda o: sched.warmup_cosine(o, 10, 120, eta_min=1e-3),
        lambda b, t: warm_then(b, t, 10, lambda b, s: 1e-3 + (b - 1e-3)
                               * (1 + math.cos(math.pi * s / 110)) / 2)),
    "warmup_linear": (lambda o: sched.warmup_linear(o, 15, 120, end_factor=0.1),
                      lambda b, t: warm_then(b, t, 15, lambda b, s: b * (1 - 0.9 * s / 105))),
}



# the warm-up schedules of recent recipes, written from their papers / reference code
def wsd_closed(b, t, W, S, D, shape, s=None, e=0.0):
    s = 1 / (W + 1) if s is None else s
    if t < W:
        return b * (s + (1 - s) * t / W)
    if t < W + S:
        return b
    if t < W + S + D:
        p = (t - W - S) / D
        g = {"linear": 1 - p, "cos": 0.5 * (1 + math.cos(math.pi * p)),
             "1-sqrt": 1 - math.sqrt(p)}[shape]
        return b * (e + (1 - e) * g)
    return b * e


def inverse_sqrt_closed(b, t, W, init=0.0):
    """fairseq's inverse_sqrt: linear from init to b over W updates, then b * sqrt(W / t)."""
    return init + (b - init) * t / W if t < W else b * math.sqrt(W / t)


def ranger21_closed(b, t, N, W, K, m):
    """Ranger21's lr at its step s = t + 1: linear warm-up over W steps, linear warm-down
    from step K to m at step N (counted so that step K already lowers the lr)."""
    s = t + 1
    lr = b * min(1.0, s / W) if s <= W else b
    if s >= K:
        lr = max(m, b - (b - m) * min(1.0, (s - K + 1) / (N - K + 1)))
    return lr


CLOSED_FORMS.update({
    "WSD-1-sqrt": (lambda o: sched.WarmupStableDecayLR(o, 10, 60, 40),
                   lambda b, t: wsd_closed(b, t, 10, 60, 40, "1-sqrt")),
    "WSD-linear": (lambda o: sched.WarmupStableDecayLR(o, 7, 50, 30, "linear", start_factor=0.0,
                                                       end_factor=0.1),
                   lambda b, t: wsd_closed(b, t, 7, 50, 30, "linear", 0.0, 0.1)),
    "WSD-cos": (lambda o: sched.WarmupStableDecayLR(o, 0, 33, 77, "cos", end_factor=0.01),
                lambda b, t: wsd_closed(b, t, 0, 33, 77, "cos", e=0.01)),
    "InverseSqrtLR": (lambda o: sched.InverseSqrtLR(o, 25),
                      lambda b, t: inverse_sqrt_closed(b, t, 25)),
    "InverseSqrtLR-init": (lambda o: sched.InverseSqrtLR(o, 16, warmup_init_lr=[1e-3, 1e-4]),
                           lambda b, t: inverse_sqrt_closed(b, t, 16,
                                                            1e-3 if b == BASES[0] else 1e-4)),
    # N = 120 steps: Ranger21's warm-up ceil(2 / (1 - 0.999)) = 2000 > 45% of N, so
    # int(0.22 * 120) = 26 steps; warm-down from int(0.72 * 120) = 86
    "Ranger21LR": (lambda o: sched.Ranger21LR(o, total_steps=120),
                   lambda b, t: ranger21_closed(b, t, 120, 26, 86, 3e-5)),
    # 12 epochs of 10 steps: the warm-down starts at int(0.72 * 12 * 10) = int(86.39...) = 86;
    # the warm-up is ceil(2 / (1 - 0.9)) = ceil(20.000000000000004) = 21 steps, as Ranger21's
    "Ranger21LR-epochs": (lambda o: sched.Ranger21LR(o, epochs=12, steps_per_epoch=10,
                                                     beta2=0.9, warmdown_min_lr=1e-3),
                          lambda b, t: ranger21_closed(b, t, 120, 21, 86, 1e-3)),
    # 0.72 * 5 * 15 = 53.99999999999999: Ranger21 starts the warm-down at 53, not 54 (and
    # the given total_steps=75 rounds 0.72 * 75 = 54.0 to 54)
    "Ranger21LR-rounding": (lambda o: sched.Ranger21LR(o, epochs=5, steps_per_epoch=15,
                                                       num_warmup_iterations=0),
                            lambda b, t: ranger21_closed(b, t, 75, 0, 53, 3e-5)),
    "Ranger21LR-total": (lambda o: sched.Ranger21LR(o, total_steps=75, num_warmup_iterations=0),
                         lambda b, t: ranger21_closed(b, t, 75, 0, 54, 3e-5)),
    "Ranger21LR-given-warmup": (
        lambda o: sched.Ranger21LR(o, total_steps=100, num_warmup_iterations=13,
                                   warmdown_start_pct=0.5, warmdown_min_lr=0.0),
        lambda b, t: ranger21_closed(b, t, 100, 13, 50, 0.0)),
})

@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_lrs_follow_the_closed_form_for_every_group(name):
    make, closed = CLOSED_FORMS[name]
    steps = 120
    lrs = run(make, steps)
    expected = [[closed(b, t) for b in BASES] for t in range(steps)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-9, atol=1e-15)


# --- Ranger21's own schedule (tests/optim/golden/ranger21_lr_refs.py) ----------------------

def _ranger21_lr(kwargs):
    """Ranger21LR with the reference optimizer's arguments."""
    kwargs = dict(kwargs)
    mapped = dict(epochs=kwargs.pop("num_epochs"),
                  steps_per_epoch=kwargs.pop("num_batches_per_epoch"))
    if "betas" in kwargs:
        mapped["beta2"] = kwargs.pop("betas")[1]
    return lambda o: sched.Ranger21LR(o, **mapped, **kwargs)


def _ranger21_steps(kwargs):
    return kwargs["num_epochs"] * kwargs["num_batches_per_epoch"]


@pytest.mark.parametrize("name", ranger21_lr_refs.CASES)
def test_ranger21_lr_matches_the_reference_optimizers_lrs(name):
    kwargs = ranger21_lr_refs.CASES[name]
    golden = RANGER21_GOLDEN["lrs"][name]
    lrs = run(_ranger21_lr(kwargs), _ranger21_steps(kwargs), make_sgd(lrs=(ranger21_lr_refs.LR,)))
    np.testing.assert_allclose(lrs[:, 0], golden, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", ranger21_lr_refs.LIVE)
def test_ranger21_lr_matches_the_reference_live(name):
    pytest.importorskip("torch")
    pytest.importorskip("ranger21")
    kwargs = ranger21_lr_refs.CASES[name]
    lrs = run(_ranger21_lr(kwargs), _ranger21_steps(kwargs), make_sgd(lrs=(ranger21_lr_refs.LR,)))
    np.testing.assert_allclose(lrs[:, 0], ranger21_lr_refs.run_reference(name), rtol=1e-15,
                               atol=0)

# --- WSD and inverse sqrt against transformers (tests/optim/golden/warmup_schedule_refs.py) -

def _warmup_schedule(name):
    _, _, cls, kwargs = warmup_schedule_refs.CASES[name]
    return lambda o: getattr(sched, cls)(o, **kwargs)


@pytest.mark.parametrize("name", warmup_schedule_refs.CASES)
def test_warmup_schedules_match_transformers_golden(name):
    lrs = run(_warmup_schedule(name), warmup_schedule_refs.STEPS)
    np.testing.assert_allclose(lrs, WARMUP_GOLDEN["lrs"][name], rtol=1e-14, atol=1e-17)


@pytest.mark.parametrize("name", warmup_schedule_refs.CASES)
def test_warmup_schedules_match_transformers_live(name):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    lrs = run(_warmup_schedule(name), warmup_schedule_refs.STEPS)
    np.testing.assert_allclose(lrs, warmup_schedule_refs.run_reference(name), rtol=1e-14,
                               atol=1e-17)

# --- golden sequences (torch 2.13, reference §9.3) ------------------------------------------

GOLDEN = {
    "StepLR": (lambda o: sched.StepLR(o, step_size=3, gamma=0.5),
               [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125,
                0.00625]),
    "MultiStepLR": (lambda o: sched.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.1),
                    [0.1, 0.1, 0.01, 0.01, 0.01, 0.0001, 0.0001, 0.0001]),
    "ConstantLR": (lambda o: sched.ConstantLR(o, factor=0.5, total_iters=4),
                   [0.05, 0.05, 0.05, 0.05, 0.1, 0.1, 0.1]),
    "LinearLR-up": (lambda o: sched.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4),
                    [0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.1]),
    "LinearLR-down": (lambda o: sched.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=5),
                      [0.1, 0.082, 0.064, 0.046, 0.028, 0.01, 0.01, 0.01]),
    "ExponentialLR": (lambda o: sched.ExponentialLR(o, gamma=0.9),
                      [0.1, 0.09, 0.081, 0.0729, 0.06561, 0.059049, 0.0531441]),
    "PolynomialLR": (lambda o: sched.PolynomialLR(o, total_iters=6, power=2.0),
                     [0.1, 0.06944444444, 0.04444444444, 0.025, 0.01111111111, 0.002777777778,
                      0.0, 0.0, 0.0]),
    "CosineAnnealingLR": (lambda o: sched.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
                          [0.1, 0.09140576475, 0.06890576475, 0.04109423525, 0.01859423525, 0.01,
                           0.01859423525, 0.04109423525, 0.06890576475, 0.09140576475, 0.1,
                           0.09140576475, 0.06890576475]),
    "CosineAnnealingWarmRestarts": (
        lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001),
        [0.1, 0.07525, 0.02575, 0.1, 0.09336825749, 0.07525, 0.0505, 0.02575, 0.007631742513,
         0.1, 0.0983133284, 0.09336825749, 0.08550178567]),
    "CyclicLR-triangular": (
        lambda o: sched.CyclicLR(o, 0.01, 0.1, step_size_up=3, step_size_down=2),
        [0.01, 0.04, 0.07, 0.1, 0.055, 0.01, 0.04, 0.07, 0.1, 0.055, 0.01, 0.04]),
    "CyclicLR-triangular2": (
        lambda o: sched.CyclicLR(o, 0.01, 0.1, step_size_up=3, step_size_down=2,
                                 mode="triangular2"),
        [0.01, 0.04, 0.07, 0.1, 0.055, 0.01, 0.025, 0.04, 0.055, 0.0325, 0.01, 0.0175]),
    "CyclicLR-exp_range": (
        lambda o: sched.CyclicLR(o, 0.01, 0.1, step_size_up=3, step_size_down=2,
                                 mode="exp_range", gamma=0.9),
        [0.01, 0.037, 0.0586, 0.07561, 0.0395245, 0.01, 0.02594323, 0.038697814,
         0.0487420489, 0.02743392201, 0.01, 0.01941431788]),
    "OneCycleLR": (
        lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=20),
        [0.004, 0.01316718427, 0.03716718427, 0.06683281573, 0.09083281573, 0.1,
         0.09874640062, 0.0950484632, 0.08909161776, 0.08117456539, 0.07169430018,
         0.06112620219, 0.0500002, 0.03887419781, 0.02830609982, 0.01882583461, 0.01090878224,
         0.004951936799, 0.001253999376, 4e-07]),
    "OneCycleLR-three-phase-linear": (
        lambda o: sched.OneCycleLR(o, max_lr=0.1, total_steps=20, three_phase=True,
                                   anneal_strategy="linear"),
        [0.004, 0.0232, 0.0424, 0.0616, 0.0808, 0.1, 0.0808, 0.0616, 0.0424, 0.0232, 0.004,
         0.0035556, 0.0031112, 0.0026668, 0.0022224, 0.001778, 0.0013336, 0.0008892, 0.0004448,
         4e-07]),
    "MultiplicativeLR": (lambda o: sched.MultiplicativeLR(o, lambda e: 0.95),
                         [0.1, 0.095, 0.09025, 0.0857375, 0.081450625]),
    "LambdaLR": (lambda o: sched.LambdaLR(o, lambda t: 1 / (1 + 0.5 * t)),
                 [0.1, 0.06666666667, 0.05, 0.04, 0.03333333333, 0.02857142857, 0.025,
                  0.02222222222]),
    "InverseTimeLR": (lambda o: sched.InverseTimeLR(o, 0.5),
                      [0.1, 0.06666666667, 0.05, 0.04, 0.03333333333, 0.02857142857, 0.025,
                       0.02222222222]),
    "SequentialLR-exp": (
        lambda o: sched.SequentialLR(o, [sched.LinearLR(o, 0.1, 1.0, 3),
                                         sched.ExponentialLR(o, 0.9)], milestones=[3]),
        [0.01, 0.04, 0.07, 0.1, 0.09, 0.081, 0.0729, 0.06561, 0.059049]),
    "SequentialLR-cos": (
        lambda o: sched.SequentialLR(o, [sched.LinearLR(o, 0.1, 1.0, 3),
                                         sched.CosineAnnealingLR(o, 5)], milestones=[3]),
        [0.01, 0.04, 0.07, 0.1, 0.0904508497, 0.0654508497, 0.0345491503, 0.0095491503, 0.0,
         0.0095491503, 0.0345491503]),
    "ChainedScheduler-constant": (
        lambda o: sched.ChainedScheduler([sched.ConstantLR(o, 0.1, 2),
                                          sched.ExponentialLR(o, 0.9)]),
        [0.01, 0.009, 0.081, 0.0729, 0.06561, 0.059049, 0.0531441]),
    "ChainedScheduler-cos": (
        lambda o: sched.ChainedScheduler([sched.CosineAnnealingLR(o, 4),
                                          sched.ExponentialLR(o, 0.5)]),
        [0.1, 0.0426776695, 0.0125, 0.0018305826, 0.0, 0.0073223305, 0.0125]),
}


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_sequences(name):
    make, expected = GOLDEN[name]
    lrs = run(make, len(expected), make_sgd(lrs=(0.1,)))[:, 0]
    np.testing.assert_allclose(lrs, expected, rtol=1e-8, atol=1e-12)


def test_one_cycle_cycles_momentum_and_refuses_to_overstep():
    optimizer = make_sgd(lrs=(0.1,))
    scheduler = sched.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)
    expected = [(0.004, 0.95), (0.052, 0.9), (0.1, 0.85), (0.09504846, 0.85495156),
                (0.08117457, 0.86882551), (0.0611262, 0.88887395), (0.0388742, 0.91112605),
                (0.01882583, 0.93117449), (0.00495194, 0.94504844), (4e-07, 0.95)]
    for t, (lr, momentum) in enumerate(expected):
        if t:
            optimizer.step()
            scheduler.step()
        group = optimizer.param_groups[0]
        assert group["lr"] == pytest.approx(lr, rel=1e-6)
        assert group["momentum"] == pytest.approx(momentum, rel=1e-6)
    scheduler.step()  # t = total_steps is still accepted, as in PyTorch
    with pytest.raises(ValueError, match="Tried to step 11 times. The specified number of "
                                         "total steps is 10"):
        scheduler.step()


def test_one_cycle_cycles_adams_beta1():
    p = mg.zeros(2, requires_grad=True)
    optimizer = Adam([p], lr=0.1)
    sched.OneCycleLR(optimizer, max_lr=0.1, total_steps=10)
    assert optimizer.param_groups[0]["betas"] == (0.95, 0.999)


def test_cyclic_lr_moves_momentum_against_the_lr_and_turns_it_on():
    optimizer = make_sgd(lrs=(0.1,), momentum=0.0)
    scheduler = sched.CyclicLR(optimizer, 0.01, 0.1, step_size_up=2)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["momentum"]) == (0.01, 0.9)  # PyTorch's gotcha, kept
    for _ in range(9):
        optimizer.step()
        scheduler.step()
        assert group["momentum"] == pytest.approx(0.9 - 0.1 * (group["lr"] - 0.01) / 0.09)
    optimizer = make_sgd(lrs=(0.1,), momentum=0.0)
    sched.CyclicLR(optimizer, 0.01, 0.1, cycle_momentum=False)
    assert optimizer.param_groups[0]["momentum"] == 0.0


def test_cyclic_lr_custom_scale_function():
    half = run(lambda o: sched.CyclicLR(o, 0.01, 0.1, 4, scale_fn=lambda x: 0.5 ** x,
                                        scale_mode="iterations", cycle_momentum=False), 40)
    full = run(lambda o: sched.CyclicLR(o, 0.01, 0.1, 4, cycle_momentum=False), 40)
    decay = 0.5 ** np.arange(40)[:, None]
    np.testing.assert_allclose(half - 0.01, (full - 0.01) * decay, atol=1e-15)
    scale = Decay(0.9)
    scheduler = sched.CyclicLR(make_sgd(), 0.01, 0.1, scale_fn=scale)
    assert scheduler.state_dict()["scale_fn"] == [{"rate": 0.9}]
    with pytest.raises(ValueError, match="invalid scale_mode: 'epoch' .*'cycle', 'iterations'"):
        sched.CyclicLR(make_sgd(), 0.01, 0.1, scale_fn=scale, scale_mode="epoch")


# --- the recursive form where it differs from the closed one --------------------------------

def test_cosine_annealing_carries_a_manual_lr_change_like_pytorch():
    optimizer = make_sgd(lrs=(0.1,))
    scheduler = sched.CosineAnnealingLR(optimizer, T_max=4)
    group = optimizer.param_groups[0]
    lrs = [group["lr"]]
    for t in range(1, 6):
        optimizer.step()
        scheduler.step()
        if t == 1:
            group["lr"] *= 0.5
        lrs.append(group["lr"])
    np.testing.assert_allclose(lrs, [0.1, 0.0426776695, 0.025, 0.0073223305, 0.0, 0.0146446609],
                               rtol=1e-8, atol=1e-12)
    with pytest.warns(UserWarning, match="deprecated"):
        scheduler.step(3)  # the closed form ignores the halving
    assert group["lr"] == pytest.approx(0.014644660940672627, rel=1e-12)


def test_cosine_annealing_recursion_over_many_periods_with_manual_changes():
    """PyTorch's documented recursion, transcribed, with the lr scaled by hand at times."""
    T, eta, base = 7, 0.002, 0.1
    optimizer = make_sgd(lrs=(base,))
    scheduler = sched.CosineAnnealingLR(optimizer, T, eta)
    group = optimizer.param_groups[0]
    lr = base
    for t in range(1, 150):
        optimizer.step()
        scheduler.step()
        if (t - 1 - T) % (2 * T) == 0:
            lr = lr + (base - eta) * (1 - math.cos(math.pi / T)) / 2
        else:
            lr = eta + (lr - eta) * (1 + math.cos(math.pi * t / T)) / (
                1 + math.cos(math.pi * (t - 1) / T))
        assert group["lr"] == pytest.approx(lr, rel=1e-9, abs=1e-15)
        if t % 23 == 0:
            group["lr"] *= 0.8
            lr *= 0.8


def test_chained_forms_compose_with_a_second_scheduler_and_keep_the_first_initial_lr():
    optimizer = make_sgd(lrs=(0.1,))
    sched.ConstantLR(optimizer, 0.5, 2)
    second = sched.ExponentialLR(optimizer, 0.9)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert second.base_lrs == [0.1]


def test_warm_restarts_with_fractional_epochs():
    optimizer = make_sgd()
    scheduler = sched.CosineAnnealingWarmRestarts(optimizer, T_0=2, T_mult=2, eta_min=0.0)
    for epoch in range(14):
        for i in range(4):
            optimizer.step()
            scheduler.step(epoch + i / 4)
            expected = [cawr_closed(b, epoch + i / 4, T_0=2, T_mult=2, eta_min=0.0)
                        for b in BASES]
            np.testing.assert_allclose(scheduler.get_last_lr(), expected, rtol=1e-12)
            assert scheduler.last_epoch == epoch
    with pytest.raises(ValueError, match="epoch must be a number >= 0"):
        scheduler.step(-1)


def test_step_with_an_epoch_jumps_to_the_closed_form():
    optimizer = make_sgd()
    scheduler = sched.StepLR(optimizer, step_size=3, gamma=0.5)
    optimizer.step()
    with pytest.warns(UserWarning, match="deprecated"):
        scheduler.step(7)
    np.testing.assert_allclose(scheduler.get_last_lr(), [b * 0.25 for b in BASES])
    multiplicative = sched.MultiplicativeLR(optimizer, lambda t: 0.5)
    with pytest.warns(UserWarning, match="deprecated"):
        multiplicative.step(3)
    np.testing.assert_allclose(multiplicative.get_last_lr(), [b / 8 for b in BASES])  # from base


# --- ReduceLROnPlateau ----------------------------------------------------------------------

def test_reduce_on_plateau_golden():
    optimizer = make_sgd(lrs=(0.1,))
    scheduler = sched.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=2,
                                        threshold=1e-4, threshold_mode="rel", cooldown=1,
                                        min_lr=0.02)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.9, 0.89995, 0.8] + [0.85] * 6
    lrs, bad, cooldown = [], [], []
    for metric in metrics:
        optimizer.step()
        scheduler.step(metric)
        lrs.append(scheduler.get_last_lr()[0])
        bad.append(scheduler.num_bad_epochs)
        cooldown.append(scheduler.cooldown_counter)
    assert lrs == pytest.approx([0.1] * 4 + [0.05] * 5 + [0.025] * 4)
    assert bad == [0, 0, 1, 2, 0, 0, 0, 1, 2, 0, 0, 1, 2]
    assert cooldown == [0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0]
    for _ in range(12):  # keeps reducing, never below min_lr
        scheduler.step(mg.tensor(2.0))
    assert scheduler.get_last_lr() == [0.02]


def test_reduce_on_plateau_max_mode_absolute_threshold_and_per_group_min_lr():
    optimizer = make_sgd()
    scheduler = sched.ReduceLROnPlateau(optimizer, mode="max", factor=0.1, patience=1,
                                        threshold=0.1, threshold_mode="abs",
                                        min_lr=[0.05, 0.0])
    for metric, expected in [(1.0, BASES), (1.05, BASES), (1.2, BASES), (1.25, BASES),
                             (1.28, (0.05, 0.002))]:
        optimizer.step()
        scheduler.step(metric)
        np.testing.assert_allclose(scheduler.get_last_lr(), expected)
    assert scheduler.best == 1.2


# --- state dicts ----------------------------------------------------------------------------

ROUND_TRIP = {name: GOLDEN[name][0] for name in
              ["StepLR", "CosineAnnealingWarmRestarts", "CyclicLR-triangular2", "OneCycleLR",
               "SequentialLR-cos", "ChainedScheduler-cos", "MultiStepLR", "LinearLR-up"]}
ROUND_TRIP["InverseTimeLR"] = lambda o: sched.InverseTimeLR(o, 0.2)
for _name in ("WSD-cos", "InverseSqrtLR-init", "Ranger21LR-epochs"):
    ROUND_TRIP[_name] = CLOSED_FORMS[_name][0]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_state_dict_round_trip_mid_schedule(name):
    make, steps, cut = ROUND_TRIP[name], 19, 8
    reference = run(make, steps)
    optimizer = make_sgd()
    scheduler = make(optimizer)
    for _ in range(cut):
        optimizer.step()
        scheduler.step()
    saved_opt, saved = optimizer.state_dict(), scheduler.state_dict()
    assert "optimizer" not in saved
    resumed_opt = make_sgd(lrs=(0.5, 0.5))
    resumed = make(resumed_opt)
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved)
    lrs = [[g["lr"] for g in resumed_opt.param_groups]]
    for _ in range(steps - cut - 1):
        resumed_opt.step()
        resumed.step()
        lrs.append(resumed.get_last_lr())
    np.testing.assert_allclose(lrs, reference[cut:], rtol=1e-12)


def step_both(optimizer, scheduler):
    optimizer.step()
    if isinstance(scheduler, sched.ReduceLROnPlateau):
        scheduler.step(1.0)
    else:
        scheduler.step()


def test_reduce_on_plateau_skips_reductions_smaller_than_eps():
    optimizer = make_sgd(lrs=(4e-8, 1e-8))
    scheduler = sched.ReduceLROnPlateau(optimizer, factor=0.5, patience=0, eps=1e-8)
    for _ in range(3):
        optimizer.step()
        scheduler.step(1.0)
    # 4e-8 -> 2e-8 (a change of 2e-8 > eps); changes of 1e-8 or less are skipped
    assert scheduler.get_last_lr() == [2e-8, 1e-8]


@pytest.mark.parametrize("name", [*GOLDEN, "ReduceLROnPlateau"])
def test_state_dicts_survive_a_file_round_trip(name, tmp_path):
    """Scheduler state dicts hold only what mg.save stores (no Counter, no functions)."""
    from minigrad.serialization import load, save
    make = GOLDEN[name][0] if name in GOLDEN else lambda o: sched.ReduceLROnPlateau(o)
    optimizer = make_sgd()
    scheduler = make(optimizer)
    for _ in range(3):
        step_both(optimizer, scheduler)
    save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
         tmp_path / "checkpoint")
    saved = load(tmp_path / "checkpoint")
    resumed_opt = make_sgd()
    resumed = make(resumed_opt)
    resumed_opt.load_state_dict(saved["optimizer"])
    resumed.load_state_dict(saved["scheduler"])
    for _ in range(4):
        step_both(optimizer, scheduler)
        step_both(resumed_opt, resumed)
        assert resumed.get_last_lr() == pytest.approx(scheduler.get_last_lr(), rel=1e-12)


def test_reduce_on_plateau_state_dict_round_trip():
    optimizer = make_sgd()
    scheduler = sched.ReduceLROnPlateau(optimizer, patience=0)
    for metric in (1.0, 2.0, 0.5):
        optimizer.step()
        scheduler.step(metric)
    other = sched.ReduceLROnPlateau(make_sgd(), patience=0)
    other.load_state_dict(scheduler.state_dict())
    assert (other.best, other.num_bad_epochs, other.last_epoch) == (0.5, 0, 3)


class Decay:
    """A callable object: its attributes are state that a state dict keeps."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, t):
        return self.rate ** t


def test_lambda_state_dict_keeps_callable_objects_and_skips_functions():
    scheduler = sched.LambdaLR(make_sgd(), [Decay(0.5), lambda t: 1.0])
    saved = scheduler.state_dict()
    assert saved["lr_lambdas"] == [{"rate": 0.5}, None]
    other_decay = Decay(0.9)
    other = sched.LambdaLR(make_sgd(), [other_decay, lambda t: 2.0])
    other.load_state_dict(saved)
    assert other_decay.rate == 0.5 and other.lr_lambdas[0] is other_decay


# --- the step-order warning and duck-typed optimizers ---------------------------------------

ALL_SCHEDULERS = {**{name: make for name, (make, _) in GOLDEN.items()},
                  "ExponentialDecayLR": lambda o: sched.ExponentialDecayLR(o, 0.1),
                  "warmup_cosine": lambda o: sched.warmup_cosine(o, 2, 10),
                  **{name: CLOSED_FORMS[name][0] for name in
                     ("WSD-linear", "InverseSqrtLR-init", "Ranger21LR")}}


@pytest.mark.parametrize("name", ALL_SCHEDULERS)
def test_step_before_optimizer_step_warns_once(name):
    optimizer = make_sgd()
    scheduler = ALL_SCHEDULERS[name](optimizer)
    with pytest.warns(UserWarning, match=r"before `optimizer.step\(\)`") as record:
        scheduler.step()
    assert len([w for w in record if "before `optimizer.step" in str(w.message)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scheduler.step()


@pytest.mark.parametrize("name", ALL_SCHEDULERS)
def test_no_warning_in_the_right_order(name):
    optimizer = make_sgd()
    scheduler = ALL_SCHEDULERS[name](optimizer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            optimizer.step()
            scheduler.step()


def test_reduce_on_plateau_warns_too():
    scheduler = sched.ReduceLROnPlateau(make_sgd())
    with pytest.warns(UserWarning, match="before `optimizer.step"):
        scheduler.step(1.0)


class Wrapper:
    """An optimizer wrapper in the style of Lookahead: it exposes param_groups and step."""

    def __init__(self, inner):
        self.inner = inner
        self.param_groups = inner.param_groups
        self.steps = 0

    def step(self):
        self.steps += 1
        self.inner.step()


def test_schedulers_drive_any_object_with_param_groups():
    wrapper = Wrapper(make_sgd())
    scheduler = sched.StepLR(wrapper, step_size=2, gamma=0.5)
    with pytest.warns(UserWarning, match="before `optimizer.step"):
        scheduler.step()
    wrapper = Wrapper(make_sgd())
    scheduler = sched.warmup_cosine(wrapper, 3, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(4):
            wrapper.step()
            scheduler.step()
    assert wrapper.steps == 4
    cosine_at_1_of_7 = (1 + math.cos(math.pi / 7)) / 2
    assert wrapper.inner.param_groups[1]["lr"] == pytest.approx(BASES[1] * cosine_at_1_of_7)


def test_schedulers_drive_lookahead():
    from minigrad.optim.lookahead import Lookahead
    optimizer = Lookahead(make_sgd(), k=2)
    scheduler = sched.OneCycleLR(optimizer, max_lr=0.4, total_steps=10)
    with pytest.warns(UserWarning, match="before `optimizer.step"):
        scheduler.step()
    for t in range(2, 10):
        optimizer.step()
        scheduler.step()
        inner = optimizer.base_optimizer.param_groups
        assert [g["lr"] for g in inner] == pytest.approx([one_cycle_closed(0.4, t, 10, 0.3)] * 2)
        assert 0.85 <= inner[0]["momentum"] == inner[1]["momentum"] <= 0.95


def test_a_deep_copied_optimizer_records_its_own_steps():
    optimizer = make_sgd()
    sched.ExponentialLR(optimizer, 0.9)
    clone = copy.deepcopy(optimizer)
    clone.step()
    assert clone._opt_called is True and optimizer._opt_called is False


# --- argument checks ------------------------------------------------------------------------

class NoGroups:
    param_groups = []


class PlainGroups:
    def __init__(self):
        self.param_groups = [{"lr": 0.1, "params": []}]


@pytest.mark.parametrize("build, error, match", [
    (lambda o: sched.CosineAnnealingLR(o, T_max=-5), ValueError, "CosineAnnealingLR: invalid T_max: -5 .*integer >= 1"),
    (lambda o: sched.StepLR(o, step_size=0), ValueError, "StepLR: invalid step_size: 0 .*integer >= 1"),
    (lambda o: sched.StepLR(o, 2, gamma=-0.5), ValueError, "StepLR: invalid gamma: -0.5 .*finite number > 0"),
    (lambda o: sched.MultiStepLR(o, [3, -1]), ValueError, r"MultiStepLR: invalid milestones: \[3, -1\] .*integer >= 0"),
    (lambda o: sched.ConstantLR(o, factor=0.0), ValueError, r"ConstantLR: invalid factor: 0.0 .*in \(0, 1\]"),
    (lambda o: sched.ConstantLR(o, factor=1.5), ValueError, r"ConstantLR: invalid factor: 1.5 .*in \(0, 1\]"),
    (lambda o: sched.LinearLR(o, start_factor=0.0), ValueError, "start_factor"),
    (lambda o: sched.LinearLR(o, end_factor=1.2), ValueError, "end_factor"),
    (lambda o: sched.PolynomialLR(o, total_iters=0), ValueError, "total_iters"),
    (lambda o: sched.InverseTimeLR(o, -1.0), ValueError, "InverseTimeLR: invalid decay_rate: -1.0 .*finite number >= 0"),
    (lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=0), ValueError, "T_mult"),
    (lambda o: sched.CyclicLR(o, 0.01, 0.1, mode="triangle"), ValueError, "CyclicLR: invalid mode: 'triangle'"),
    (lambda o: sched.CyclicLR(o, [0.01], 0.1), ValueError, "expected 2 values of base_lr"),
    (lambda o: sched.CyclicLR(o, 0.01, 0.1, step_size_up=0), ValueError, "step_size_up"),
    (lambda o: sched.OneCycleLR(o, 0.1), ValueError, "needs total_steps"),
    (lambda o: sched.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.5), ValueError, "pct_start"),
    (lambda o: sched.OneCycleLR(o, 0.1, 10, anneal_strategy="exp"), ValueError, "anneal_strategy"),
    (lambda o: sched.ReduceLROnPlateau(o, factor=1.0), ValueError, r"ReduceLROnPlateau: invalid factor: 1.0 .*in \[0, 1\)"),
    (lambda o: sched.ReduceLROnPlateau(o, mode="avg"), ValueError, "invalid mode: 'avg' .*'min', 'max'"),
    (lambda o: sched.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError, "threshold_mode"),
    (lambda o: sched.LambdaLR(o, 0.5), TypeError, "lr_lambda must be a function"),
    (lambda o: sched.ExponentialLR(o, 0.9, last_epoch=5), KeyError, "initial_lr"),
    (lambda o: sched.SequentialLR(o, [sched.StepLR(o, 2), sched.StepLR(o, 3)], [2, 4]),
     ValueError, "one milestone fewer"),
    (lambda o: sched.SequentialLR(o, [sched.StepLR(o, 2), sched.ReduceLROnPlateau(o)], [2]),
     ValueError, "ReduceLROnPlateau"),
    (lambda o: sched.SequentialLR(o, [sched.StepLR(make_sgd(), 2), sched.StepLR(o, 3)], [2]),
     ValueError, "different optimizer"),
    (lambda o: sched.ChainedScheduler([]), ValueError, "at least one scheduler"),
    (lambda o: sched.warmup_cosine(o, 10, 10), ValueError, "warmup_cosine: invalid total_steps: 10 .*> warmup_steps"),
    (lambda o: sched.warmup_linear(o, 0, 10), ValueError, "warmup_linear: invalid warmup_steps: 0"),
    (lambda o: sched.WarmupStableDecayLR(o, -1, 5, 5), ValueError, "WarmupStableDecayLR: invalid warmup_steps: -1 .*integer >= 0"),
    (lambda o: sched.WarmupStableDecayLR(o, 1, 5, 5, "exp"), ValueError, "invalid anneal_strategy: 'exp' .*'linear', 'cos', '1-sqrt'"),
    (lambda o: sched.WarmupStableDecayLR(o, 1, 5, 5, end_factor=1.5), ValueError, "end_factor"),
    (lambda o: sched.WarmupStableDecayLR(o, 1, 5, 5, start_factor=-0.1), ValueError, "start_factor"),
    (lambda o: sched.InverseSqrtLR(o, 0), ValueError, "InverseSqrtLR: invalid warmup_steps: 0 .*integer >= 1"),
    (lambda o: sched.InverseSqrtLR(o, 5, warmup_init_lr=[0.1]), ValueError, "expected 2 values of warmup_init_lr"),
    (lambda o: sched.InverseSqrtLR(o, 5, warmup_init_lr=-1.0), ValueError, "invalid warmup_init_lr"),
    (lambda o: sched.Ranger21LR(o), ValueError, "Ranger21LR needs total_steps"),
    (lambda o: sched.Ranger21LR(o, epochs=3), ValueError, "Ranger21LR needs total_steps"),
    (lambda o: sched.Ranger21LR(o, 100, beta2=1.0), ValueError, r"Ranger21LR: invalid beta2: 1.0 .*\[0, 1\)"),
    (lambda o: sched.Ranger21LR(o, 100, warmdown_start_pct=1.2), ValueError, "warmdown_start_pct"),
    (lambda o: sched.Ranger21LR(o, 100, warmdown_min_lr=-1e-5), ValueError, "warmdown_min_lr"),
])
def test_bad_arguments_raise_clear_errors(build, error, match):
    with pytest.raises(error, match=match):
        build(make_sgd())


def test_optimizers_without_groups_or_momentum_are_rejected():
    with pytest.raises(ValueError, match="no param groups"):
        sched.StepLR(NoGroups(), 3)
    with pytest.raises(TypeError, match="needs an optimizer .* got list"):
        sched.StepLR([], 3)
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        sched.OneCycleLR(PlainGroups(), 0.1, total_steps=10)
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        sched.CyclicLR(PlainGroups(), 0.01, 0.1)
    sched.OneCycleLR(PlainGroups(), 0.1, total_steps=10, cycle_momentum=False)


def test_get_last_lr_returns_a_copy():
    scheduler = sched.StepLR(make_sgd(), 3)
    scheduler.get_last_lr().append(1.0)
    assert len(scheduler.get_last_lr()) == 2


# --- PyTorch, where installed ---------------------------------------------------------------

TORCH_CASES = [
    ("StepLR", dict(step_size=4, gamma=0.7)),
    ("MultiStepLR", dict(milestones=[3, 9, 9, 20], gamma=0.5)),
    ("ConstantLR", dict(factor=0.3, total_iters=6)),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.6, total_iters=13)),
    ("ExponentialLR", dict(gamma=0.95)),
    ("PolynomialLR", dict(total_iters=17, power=0.7)),
    ("CosineAnnealingLR", dict(T_max=9, eta_min=0.003)),
    ("CosineAnnealingWarmRestarts", dict(T_0=4, T_mult=3, eta_min=0.001)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=[0.2, 0.05], step_size_up=5, step_size_down=3,
                      mode="exp_range", gamma=0.97)),
    ("OneCycleLR", dict(max_lr=[0.3, 0.1], total_steps=40, pct_start=0.4, three_phase=True)),
]


@pytest.mark.parametrize("name, kwargs", TORCH_CASES)
def test_matches_torch_with_a_hand_change_of_the_lr(name, kwargs):
    torch = pytest.importorskip("torch")
    theirs_opt = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": lr}
                                  for lr in BASES], lr=BASES[0], momentum=0.9)
    theirs = getattr(torch.optim.lr_scheduler, name)(theirs_opt, **kwargs)
    ours_opt = make_sgd()
    ours = getattr(sched, name)(ours_opt, **kwargs)
    for t in range(40):
        for mine, their in zip(ours_opt.param_groups, theirs_opt.param_groups):
            assert mine["lr"] == pytest.approx(their["lr"], rel=1e-12, abs=1e-18)
            assert mine["momentum"] == pytest.approx(their["momentum"], rel=1e-12)
        if t == 15:  # the recursive forms carry this; both libraries must agree
            for group in (*ours_opt.param_groups, *theirs_opt.param_groups):
                group["lr"] *= 0.5
        theirs_opt.step()
        theirs.step()
        ours_opt.step()
        ours.step()


def test_reduce_on_plateau_matches_torch():
    torch = pytest.importorskip("torch")
    kwargs = dict(mode="max", factor=0.3, patience=2, threshold=0.01, cooldown=2, min_lr=0.001)
    theirs_opt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **kwargs)
    ours_opt = make_sgd(lrs=(0.1,))
    ours = sched.ReduceLROnPlateau(ours_opt, **kwargs)
    metrics = np.random.default_rng(0).normal(size=80).cumsum() * 0.1
    for metric in metrics:
        theirs_opt.step()
        ours_opt.step()
        theirs.step(float(metric))
        ours.step(float(metric))
        assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], rel=1e-12)


# --- the example ----------------------------------------------------------------------------

def test_plot_schedulers_example_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "curves.png"
    result = subprocess.run([sys.executable, str(root / "examples" / "plot_schedulers.py"),
                             "--out", str(out)], cwd=root, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
