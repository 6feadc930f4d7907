"""How backward behaves: accumulation, graph lifetime, grad mode, errors, deep graphs."""
import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.errors import ShapeError


def test_gradients_accumulate_over_two_backward_calls(device):
    w = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    (w * 3.0).sum().backward()
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [3 + 2, 3 + 4])


def test_retain_graph_allows_a_second_backward(device):
    x = mg.tensor(2.0, device=device, requires_grad=True)
    y = x * x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 12.0)


def test_second_backward_through_a_freed_graph_is_a_clear_error():
    x = mg.tensor(2.0, requires_grad=True)
    y = (x * x).exp()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_backward_frees_the_graph_so_intermediates_are_released():
    x = mg.ones(1000, requires_grad=True)
    hidden = x.exp()
    probe = weakref.ref(hidden)
    loss = (hidden * 2.0).sum()
    del hidden
    assert probe() is not None  # the graph holds it until backward
    loss.backward()
    gc.collect()
    assert probe() is None


def test_a_shared_node_in_a_diamond_gets_both_contributions(device):
    x = mg.tensor(3.0, device=device, requires_grad=True)
    shared = x * x           # used by both branches
    y = shared.exp() + shared * 2.0
    y.backward()
    # dy/dx = (e^{x^2} + 2) * 2x
    assert x.grad.item() == pytest.approx((np.exp(9.0) + 2) * 6.0)


def test_no_grad_records_nothing_and_enable_grad_overrides_it():
    w = mg.ones(2, requires_grad=True)
    with mg.no_grad():
        y = w * 2.0
        with mg.enable_grad():
            z = w * 2.0
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and not z.is_leaf
    assert mg.is_grad_enabled()

    @mg.no_grad()
    def infer(t):
        return t * 3.0
    assert not infer(w).requires_grad


def test_detach_shares_data_but_cuts_the_graph():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    d = (w * 2.0).detach()
    assert not d.requires_grad and d.is_leaf
    out = (w * d).sum()
    out.backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0])  # d treated as a constant


def test_a_100000_op_chain_needs_no_recursion():
    x = mg.tensor(1.0, dtype=mg.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 100_000, rel=1e-9)


def test_non_scalar_backward_needs_a_gradient():
    y = mg.ones(3, requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"non-scalar tensor \(shape \(3,\)\)"):
        y.backward()
    y.backward(mg.tensor([1.0, 0.0, 2.0]))


def test_gradient_of_the_wrong_shape_names_both_shapes():
    y = mg.ones(3, requires_grad=True) * 2.0
    with pytest.raises(ShapeError, match=r"\(2,\).*\(3,\)"):
        y.backward(mg.ones(2))


def test_backward_on_a_tensor_without_grad_is_a_clear_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.ones(2).sum().backward()


def test_only_float_tensors_can_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        mg.tensor([1, 2], requires_grad=True)


def test_leaf_gradients_never_share_memory():
    a = mg.ones(3, requires_grad=True)
    b = mg.ones(3, requires_grad=True)
    (a + b).sum().backward()  # add passes one gradient array to both leaves
    a.grad.array *= 10.0
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0, 1.0])
    c = mg.ones(3, requires_grad=True)
    seed = mg.ones(3)
    (c * 1.0).backward(seed)
    c.grad.array[0] = 7.0
    assert seed.numpy()[0] == 1.0


def test_retain_grad_keeps_a_non_leaf_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])


def test_grad_returns_gradients_without_touching_dot_grad(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    w = mg.tensor([3.0, 4.0], device=device, requires_grad=True)
    y = (x * w).sum()
    gx, gw = mg.autograd.grad(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(gw.numpy(), [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_grad_of_an_unused_input():
    x = mg.ones(2, requires_grad=True)
    unused = mg.ones(2, requires_grad=True)
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        mg.autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = mg.autograd.grad(y, [x, unused], allow_unused=True)
    assert gu is None


def test_grad_with_respect_to_an_intermediate():
    x = mg.tensor(3.0, requires_grad=True)
    h = x * x
    y = h * h
    (gh,) = mg.autograd.grad(y, h)
    assert gh.item() == pytest.approx(2 * 9.0)


def test_create_graph_gives_differentiable_gradients():
    x = mg.tensor(2.0, requires_grad=True)
    y = x ** 3
    (dy,) = mg.autograd.grad(y, x, create_graph=True)
    assert dy.requires_grad
    (d2y,) = mg.autograd.grad(dy, x)
    assert dy.item() == pytest.approx(12.0) and d2y.item() == pytest.approx(12.0)


def test_backward_with_create_graph_then_differentiate_the_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0])


def test_without_create_graph_backward_builds_no_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x.exp() * x).sum().backward()
    assert not x.grad.requires_grad and x.grad.is_leaf


def test_backward_with_create_graph_warns_about_keeping_graphs():
    import warnings
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(UserWarning, match=r"create_graph=True\) keeps the graph"):
        (w * w).sum().backward(create_graph=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mg.autograd.grad((w * w).sum(), w, create_graph=True)  # no .grad: no warning
