"""ScheduleFreeAdamW's train/eval weight swap, warmup, and checkpoints taken in eval mode."""
import copy

import numpy as np
import pytest

import minigrad as mg
from minigrad.optim.schedule_free import ScheduleFreeAdamW

START = np.array([[1.0, -2.0], [0.5, 3.0]])


def new_param(values=START):
    return mg.tensor(values, dtype=mg.float64, requires_grad=True)


def train(optimizer, p, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        ((p - 0.25) ** 2 + 0.1 * p ** 4).sum().backward()
        optimizer.step()


def test_a_new_optimizer_is_in_eval_mode_and_refuses_to_step():
    p = new_param()
    optimizer = ScheduleFreeAdamW([p])
    assert optimizer.param_groups[0]["train_mode"] is False
    ((p - 0.25) ** 2).sum().backward()
    with pytest.raises(RuntimeError, match=r"call optimizer.train\(\)"):
        optimizer.step()
    optimizer.train()
    optimizer.step()
    assert optimizer.param_groups[0]["k"] == 1


def test_switching_modes_before_the_first_step_changes_nothing():
    p = new_param()
    optimizer = ScheduleFreeAdamW([p])
    optimizer.train()
    optimizer.eval()
    np.testing.assert_array_equal(p.numpy(), START)


def test_eval_puts_the_average_in_the_parameters_and_train_restores_y():
    p = new_param()
    optimizer = ScheduleFreeAdamW([p], lr=0.1)
    optimizer.train()
    train(optimizer, p, 8)
    y, z = p.numpy().copy(), optimizer.state[p]["z"].copy()
    optimizer.eval()
    x = p.numpy().copy()
    np.testing.assert_allclose(y, 0.9 * x + 0.1 * z, rtol=1e-13)  # y = b1 x + (1 - b1) z
    optimizer.eval()  # already in eval mode: no second swap
    np.testing.assert_array_equal(p.numpy(), x)
    optimizer.train()
    np.testing.assert_allclose(p.numpy(), y, rtol=1e-13)


def test_warmup_raises_the_learning_rate_linearly():
    p = new_param()
    optimizer = ScheduleFreeAdamW([p], lr=0.1, warmup_steps=4)
    optimizer.train()
    lrs = []
    for _ in range(6):
        train(optimizer, p, 1)
        lrs.append(optimizer.param_groups[0]["scheduled_lr"])
    np.testing.assert_allclose(lrs, [0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    assert optimizer.param_groups[0]["lr_max"] == pytest.approx(0.1)


def test_checkpoint_in_eval_mode_resumes_the_same_run():
    p = new_param()
    optimizer = ScheduleFreeAdamW([p], lr=0.1, weight_decay=0.01)
    optimizer.train()
    train(optimizer, p, 6)
    optimizer.eval()
    checkpoint, weights = copy.deepcopy(optimizer.state_dict()), p.numpy().copy()
    optimizer.train()
    train(optimizer, p, 6)

    q = new_param(weights)
    resumed = ScheduleFreeAdamW([q], lr=0.1, weight_decay=0.01)
    resumed.load_state_dict(checkpoint)
    assert resumed.param_groups[0]["train_mode"] is False and resumed.param_groups[0]["k"] == 6
    resumed.train()
    train(resumed, q, 6)
    np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-13)
