"""Lookahead: slow weights, sync timing, the inner optimizer's param_groups, checkpoints."""
import copy

import numpy as np
import pytest

import minigrad as mg
from minigrad.optim.adam import Adam
from minigrad.optim.lookahead import Lookahead
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.sgd import SGD

START = np.array([[1.0, -2.0], [0.5, 3.0]])


def new_param(values=START, dtype=mg.float64):
    return mg.tensor(values, dtype=dtype, requires_grad=True)


def step(optimizer, params):
    optimizer.zero_grad()
    sum(((p - 0.25) ** 2).sum() for p in params).backward()
    return optimizer.step()


def test_slow_weights_start_as_a_copy_and_are_pulled_every_k_steps():
    p = new_param()
    inner = SGD([p], lr=0.1)
    optimizer = Lookahead(inner, k=3, alpha=0.4)
    assert optimizer.state[p]["slow_param"] is not p.array
    slow = optimizer.state[p]["slow_param"].copy()
    np.testing.assert_array_equal(slow, START)
    fast = START.copy()
    for t in range(1, 7):
        step(optimizer, [p])
        fast = fast - 0.1 * 2 * (fast - 0.25)
        if t % 3 == 0:
            slow = slow + 0.4 * (fast - slow)
            fast = slow.copy()
        np.testing.assert_allclose(p.numpy(), fast, rtol=1e-14)
        assert optimizer.steps_since_sync == t % 3


def test_alpha_one_gives_back_the_inner_optimizer():
    p, q = new_param(), new_param()
    wrapped = Lookahead(Adam([p], lr=0.05), k=2, alpha=1.0)
    alone = Adam([q], lr=0.05)
    for _ in range(7):
        step(wrapped, [p])
        step(alone, [q])
    np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-14)


def test_param_groups_and_defaults_are_the_inner_optimizers():
    p = new_param()
    inner = SGD([p], lr=0.1)
    optimizer = Lookahead(inner)
    assert isinstance(optimizer, Optimizer)
    assert optimizer.param_groups is inner.param_groups
    assert optimizer.defaults is inner.defaults
    optimizer.param_groups[0]["lr"] = 0.0  # what an lr scheduler does
    before = p.numpy().copy()
    step(optimizer, [p])
    np.testing.assert_array_equal(p.numpy(), before)
    assert "Lookahead(k=5, alpha=0.5" in repr(optimizer) and "SGD" in repr(optimizer)


def test_an_lr_scheduler_drives_the_inner_optimizer():
    lr_scheduler = pytest.importorskip("minigrad.optim.lr_scheduler")
    p = new_param()
    optimizer = Lookahead(SGD([p], lr=0.1))
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        step(optimizer, [p])
        scheduler.step()
        lrs.append(optimizer.base_optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(lrs, [0.1, 0.05, 0.05, 0.025, 0.025])


def test_step_returns_the_closure_loss_and_zero_grad_delegates():
    p = new_param()
    optimizer = Lookahead(SGD([p], lr=0.1))

    def closure():
        optimizer.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss

    assert optimizer.step(closure).item() == pytest.approx((START ** 2).sum())
    optimizer.zero_grad()
    assert p.grad is None


def test_add_param_group_copies_the_new_slow_weights():
    p, q = new_param(), new_param(START[0])
    optimizer = Lookahead(SGD([p], lr=0.1), k=2, alpha=0.5)
    step(optimizer, [p])
    optimizer.add_param_group({"params": [q], "lr": 0.2})
    np.testing.assert_array_equal(optimizer.state[q]["slow_param"], START[0])
    step(optimizer, [p, q])  # the sync: q was stepped once since it joined
    fast = START[0] - 0.2 * 2 * (START[0] - 0.25)
    np.testing.assert_allclose(q.numpy(), START[0] + 0.5 * (fast - START[0]), rtol=1e-14)


def test_state_dict_holds_the_inner_state_and_the_slow_weights():
    p = new_param()
    optimizer = Lookahead(SGD([p], lr=0.1, momentum=0.9), k=4)
    for _ in range(3):
        step(optimizer, [p])
    state_dict = optimizer.state_dict()
    assert state_dict["param_groups"][0]["lr"] == 0.1
    assert set(state_dict["state"][0]) == {"step", "momentum_buffer"}
    np.testing.assert_array_equal(state_dict["slow_params"][0], START)
    assert state_dict["steps_since_sync"] == 3


def test_load_state_dict_casts_slow_weights_and_checks_them():
    p = new_param()
    optimizer = Lookahead(SGD([p], lr=0.1), k=4)
    step(optimizer, [p])
    checkpoint = copy.deepcopy(optimizer.state_dict())

    q = new_param(p.numpy(), dtype=mg.float32)
    restored = Lookahead(SGD([q], lr=0.1), k=4)
    restored.load_state_dict(checkpoint)
    assert restored.state[q]["slow_param"].dtype == np.float32
    assert restored.steps_since_sync == 1
    np.testing.assert_allclose(restored.state[q]["slow_param"], START, rtol=1e-7)

    with pytest.raises(ValueError, match="no 'slow_params' entry"):
        restored.load_state_dict(SGD([q], lr=0.1).state_dict())
    two = Lookahead(SGD([new_param(), new_param()], lr=0.1))
    with pytest.raises(ValueError, match="slow weights for 1 parameters, this optimizer has 2"):
        two.load_state_dict(checkpoint)
    wrong_shape = Lookahead(SGD([new_param(START[0])], lr=0.1))
    with pytest.raises(ValueError, match="has shape"):
        wrong_shape.load_state_dict(checkpoint)
