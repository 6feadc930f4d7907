"""FTRL-Proximal: its special cases and the sparsity its L1 term is used for."""
import numpy as np

import minigrad as mg
from minigrad.optim.ftrl import FTRL


def test_a_fixed_learning_rate_is_dual_averaging():
    # lr_power = 0 and no regularisation: p_t = -lr * (g_1 + ... + g_t), whatever p_0 was
    grads = np.random.default_rng(0).standard_normal((5, 3, 2))
    p = mg.tensor(np.full((3, 2), 4.0), dtype=mg.float64, requires_grad=True)
    optimizer = FTRL([p], lr=0.3, lr_power=0.0)
    for t, g in enumerate(grads, start=1):
        p.grad = mg.tensor(g, dtype=mg.float64)
        optimizer.step()
        np.testing.assert_allclose(p.numpy(), -0.3 * grads[:t].sum(axis=0), rtol=1e-13)


def test_l1_keeps_weakly_driven_coordinates_exactly_zero():
    scale = np.array([0.01, 0.02, 1.0, -2.0])  # the first two see small gradients
    p = mg.tensor(np.zeros(4), dtype=mg.float64, requires_grad=True)
    optimizer = FTRL([p], lr=0.5, l1=0.5)
    rng = np.random.default_rng(1)
    for _ in range(10):
        p.grad = mg.tensor(scale * (1.0 + 0.1 * rng.standard_normal(4)), dtype=mg.float64)
        optimizer.step()
    weights = p.numpy()
    assert weights[0] == 0.0 and weights[1] == 0.0
    assert weights[2] < 0.0 < weights[3]
    assert (np.abs(optimizer.state[p]["linear"][:2]) <= 0.5).all()


def test_state_holds_the_accumulator_and_the_linear_term():
    p = mg.tensor([1.0, -1.0], dtype=mg.float64, requires_grad=True)
    optimizer = FTRL([p], lr=0.1, initial_accumulator_value=0.3)
    p.grad = mg.tensor([2.0, 0.5], dtype=mg.float64)
    optimizer.step()
    state = optimizer.state[p]
    assert set(state) == {"step", "accumulator", "linear"} and state["step"] == 1
    np.testing.assert_allclose(state["accumulator"], [4.3, 0.55])
    sigma = (np.sqrt([4.3, 0.55]) - np.sqrt(0.3)) / 0.1
    np.testing.assert_allclose(state["linear"], np.array([2.0, 0.5]) - sigma * [1.0, -1.0])
