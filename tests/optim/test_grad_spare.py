"""zero_grad() keeps a gradient array nothing else refers to as its parameter's spare, and
Linear's backward computes the next weight gradient into it (no fresh memory each step):
the same numbers, and a gradient the user kept keeps its values."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def model_and_optimizer(flat=False):
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    return model, mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, flat=flat)


def train(model, opt, steps, keep=None):
    """Train ``steps`` steps; for each, whether the last layer's weight gradient was computed
    into its spare (the array of the step before), and what ``keep`` kept of the gradient."""
    rng = np.random.default_rng(0)
    reused, kept = [], []
    weight = model[2].weight
    for _ in range(steps):
        opt.zero_grad()
        spare = weight._grad_spare
        x = mg.tensor(rng.standard_normal((4, 5)), dtype=mg.float32)
        y = mg.tensor(rng.integers(0, 3, 4))
        nn.functional.cross_entropy(model(x), y).backward()
        reused.append(spare is not None and weight.grad.array is spare)
        del spare
        if keep is not None:
            kept.append(keep(weight))
        opt.step()
    return reused, kept


def test_the_weight_gradient_reuses_its_array_and_the_numbers_do_not_change(monkeypatch):
    model, opt = model_and_optimizer()
    reused, _ = train(model, opt, 4)
    assert reused == [False, True, True, True]  # from the second step on
    values = [p.numpy().copy() for p in model.parameters()]
    monkeypatch.setattr(mg.optim.optimizer, "_keep_spare", lambda p: None)
    model, opt = model_and_optimizer()
    reused, _ = train(model, opt, 4)
    assert not any(reused)
    for a, b in zip(values, model.parameters()):
        assert np.array_equal(a, b.numpy())


@pytest.mark.parametrize("keep", [lambda w: w.grad, lambda w: w.grad.numpy(),
                                  lambda w: w.grad.array[1:], lambda w: w.grad.detach()],
                         ids=["tensor", "numpy", "view", "detached"])
def test_a_kept_gradient_keeps_its_values(keep):
    model, opt = model_and_optimizer()
    snapshots = []

    def keep_and_copy(weight):
        snapshots.append(weight.grad.numpy().copy())
        return keep(weight)
    reused, kept = train(model, opt, 3, keep=keep_and_copy)
    assert not any(reused)  # what the user holds is never computed into
    for k, snap in zip(kept, snapshots):
        now = k.numpy() if isinstance(k, mg.Tensor) else k
        assert np.array_equal(now, snap[1:] if now.shape != snap.shape else snap)


def test_flat_parameters_and_a_graph_of_gradients_use_no_spare():
    model, opt = model_and_optimizer(flat=True)  # small parameters live in the flat buffer
    train(model, opt, 2)
    assert all(p._grad_spare is None for p in model.parameters())
    model, opt = model_and_optimizer()
    train(model, opt, 2)
    opt.zero_grad()
    w = model[2].weight
    assert w._grad_spare is not None
    x = mg.randn(4, 5)
    with pytest.warns(UserWarning, match="create_graph"):  # a gradient with a graph: no spare
        (model(x) ** 2).sum().backward(create_graph=True)
    assert w.grad.requires_grad and w._grad_spare is None
    opt.zero_grad()
    assert w._grad_spare is None  # that gradient had a graph: its array is not kept


def test_the_weight_is_not_among_the_tensors_the_backward_needs():
    """Its gradient needs the input only: an in-place change of the weight after the forward
    pass is not refused (the spare is found through the node, not saved with the rule)."""
    model, opt = model_and_optimizer()
    train(model, opt, 2)
    opt.zero_grad()
    layer = nn.Linear(5, 7)
    out = layer(mg.randn(4, 5)).sum()
    with mg.no_grad():
        layer.weight.mul_(2.0)
    out.backward()
    assert layer.weight.grad is not None


def test_a_weight_replaced_by_one_of_another_shape_gets_a_fresh_gradient():
    """The spare kept for the old shape is not used (PyTorch lets .data change shape)."""
    model, opt = model_and_optimizer()
    layer = model[2]
    x = mg.randn(4, 7)
    layer(x).sum().backward()
    opt.zero_grad()
    assert layer.weight._grad_spare is not None
    with mg.no_grad():
        layer.weight.data = mg.randn(5, 7)
        layer.bias.data = mg.zeros(5)
    layer(x).sum().backward()
    assert layer.weight.grad.shape == (5, 7) and layer.weight._grad_spare is None
    np.testing.assert_array_equal(layer.weight.grad.numpy(), np.ones((5, 1)) * x.numpy().sum(0))
