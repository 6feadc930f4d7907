"""Large updates on the CPU run slice by slice (Optimizer._update_in_slices): the results are
those of one whole-array update, bit for bit, for every rule that allows slicing."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim.optimizer import Optimizer
from tests.optim.catalog import OPTIMIZERS, assert_same, run_step, snapshot

SHAPES = [(5, 7), (21,), (3,)]  # with slices of 4: 9 slices (35 > 8 * 4), whole, whole


def sliceable_names():
    names = []
    for name, make in OPTIMIZERS.items():
        opt = make([mg.tensor([1.0], requires_grad=True)])
        inner = getattr(opt, "optimizer", opt)
        if type(inner)._sliceable is not Optimizer._sliceable:
            names.append(name)
    return names


NAMES = sliceable_names()


def trajectory(name, slice_size, monkeypatch, flat, steps=10):
    monkeypatch.setattr(Optimizer, "UPDATE_SLICE", slice_size)
    rng = np.random.default_rng(0)
    params = [mg.tensor(rng.uniform(-1, 1, s), requires_grad=True) for s in SHAPES]
    opt = OPTIMIZERS[name](params, flat=flat)
    calls = []
    inner = getattr(opt, "optimizer", opt)
    real = inner._update
    monkeypatch.setattr(inner, "_update", lambda *a: (calls.append(a[0].array.size),
                                                      real(*a))[1])
    shots = []
    for _ in range(steps):
        run_step(opt, params)
        shots.append(snapshot(opt, params))
    return shots, calls


def test_the_rules_that_must_allow_slicing_do():
    assert {"Adam", "AdamW", "SGD"} <= set(NAMES)


@pytest.mark.parametrize("flat", [False, True], ids=["per-parameter", "flat"])
@pytest.mark.parametrize("name", NAMES)
def test_sliced_updates_equal_whole_ones_bit_for_bit(name, flat, monkeypatch):
    whole, whole_calls = trajectory(name, 1 << 30, monkeypatch, flat)
    sliced, sliced_calls = trajectory(name, 4, monkeypatch, flat)
    assert 4 in sliced_calls and 4 not in whole_calls  # it did slice (after SGD's 1st step)
    assert_same(sliced, whole)


def test_a_rule_that_creates_state_is_not_sliced(monkeypatch):
    """Lion is not declared sliceable: its updates stay whole."""
    if "Lion" in NAMES:
        pytest.skip("Lion declares slicing")
    _, calls = trajectory("Lion", 4, monkeypatch, False)
    assert max(calls) == 35


def test_a_state_buffer_of_another_layout_keeps_the_update_whole(monkeypatch):
    monkeypatch.setattr(Optimizer, "UPDATE_SLICE", 4)
    p = mg.tensor(np.linspace(-1, 1, 35).reshape(5, 7), requires_grad=True)
    opt = optim.Adam([p], lr=0.1, flat=False)
    p.grad = mg.ones(5, 7, dtype=mg.float64)
    opt.step()
    state = opt.state[p]
    state["exp_avg"] = np.asfortranarray(state["exp_avg"])  # replaced by hand, F-ordered
    sizes = []
    real = opt._update
    monkeypatch.setattr(opt, "_update", lambda *a: (sizes.append(a[0].array.size), real(*a)))
    opt.step()
    assert sizes == [35]
