"""Ranger and its gradient-centralization step."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.optim.gradient_centralization import centralize_gradient
from minigrad.optim.lookahead import Lookahead
from minigrad.optim.radam import RAdam
from minigrad.optim.ranger import Ranger


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 5), (4, 2, 3, 3)])
def test_centralized_gradient_has_zero_mean_per_output_unit(shape):
    grad = np.random.default_rng(0).standard_normal(shape) + 5.0
    before = grad.copy()
    centred = centralize_gradient(grad)
    np.testing.assert_allclose(centred.reshape(shape[0], -1).mean(axis=1), 0.0, atol=1e-14)
    np.testing.assert_allclose(grad - centred, np.broadcast_to(
        before.reshape(shape[0], -1).mean(axis=1).reshape((-1,) + (1,) * (len(shape) - 1)),
        shape), rtol=1e-14)
    np.testing.assert_array_equal(grad, before)  # the input is left alone


@pytest.mark.parametrize("shape, conv_only", [((5,), False), ((), False), ((3, 4), True),
                                              ((2, 3, 4), True)])
def test_vectors_and_non_conv_weights_pass_through(shape, conv_only):
    grad = np.random.default_rng(1).standard_normal(shape)
    assert centralize_gradient(grad, conv_only) is grad


def test_conv_only_still_centres_convolution_filters():
    grad = np.random.default_rng(2).standard_normal((4, 2, 3, 3))
    centred = centralize_gradient(grad, conv_only=True)
    np.testing.assert_allclose(centred.mean(axis=(1, 2, 3)), 0.0, atol=1e-14)


def test_defaults_are_the_original_rangers():
    optimizer = Ranger([mg.zeros(2, 2, requires_grad=True)])
    group = optimizer.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == \
        (1e-3, (0.95, 0.999), 1e-5, 0.0)
    assert group["use_gc"] is True and group["gc_conv_only"] is False
    assert group["decoupled_weight_decay"] is True
    assert (optimizer.k, optimizer.alpha) == (6, 0.5)
    assert isinstance(optimizer.base_optimizer, RAdam)


def _train(optimizer, params, steps, rng_seed=3):
    rng = np.random.default_rng(rng_seed)
    for _ in range(steps):
        for p in params:
            p.grad = mg.tensor(rng.standard_normal(p.shape) + 2.0, dtype=mg.float64)
        optimizer.step()


def test_centralized_momentum_steps_keep_each_rows_mean_of_a_weight_matrix():
    # the first 5 steps are un-rectified (momentum SGD), a linear map of centred gradients;
    # later the elementwise Adam scaling lets the row means drift
    start = np.random.default_rng(4).standard_normal((3, 5))
    w = mg.tensor(start, dtype=mg.float64, requires_grad=True)
    _train(Ranger([w], lr=0.05), [w], 5)
    assert np.abs(w.numpy() - start).max() > 0.1
    np.testing.assert_allclose(w.numpy().mean(axis=1), start.mean(axis=1), atol=1e-12)


def test_without_centralization_ranger_is_radam_inside_lookahead():
    start = np.random.default_rng(5).standard_normal((3, 5))
    w = mg.tensor(start, dtype=mg.float64, requires_grad=True)
    v = mg.tensor(start, dtype=mg.float64, requires_grad=True)
    ranger = Ranger([w], lr=0.05, weight_decay=0.1, use_gc=False)
    composed = Lookahead(RAdam([v], lr=0.05, betas=(0.95, 0.999), eps=1e-5, weight_decay=0.1,
                               decoupled_weight_decay=True), k=6, alpha=0.5)
    _train(ranger, [w], 14)
    _train(composed, [v], 14)
    np.testing.assert_array_equal(w.numpy(), v.numpy())


def test_centralization_can_be_switched_off_per_group_and_leaves_grad_alone():
    start = np.random.default_rng(6).standard_normal((3, 5))
    w = mg.tensor(start, dtype=mg.float64, requires_grad=True)
    u = mg.tensor(start, dtype=mg.float64, requires_grad=True)
    optimizer = Ranger([{"params": [w]}, {"params": [u], "use_gc": False}], lr=0.05)
    _train(optimizer, [w, u], 1)
    grad = u.grad.numpy().copy()
    assert optimizer.param_groups[1]["use_gc"] is False
    np.testing.assert_allclose(w.numpy().mean(axis=1), start.mean(axis=1), atol=1e-12)
    assert np.abs(u.numpy().mean(axis=1) - start.mean(axis=1)).max() > 1e-3
    np.testing.assert_array_equal(u.grad.numpy(), grad)
