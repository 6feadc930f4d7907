"""The engine's hooks that DistributedDataParallel stands on (no MPI needed):
``Tensor.register_post_accumulate_grad_hook`` and ``engine.queue_callback``."""
import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import engine


def test_post_accumulate_hook_sees_the_accumulated_grad_once_per_backward():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append((t is w, t.grad.tolist())))
    (w * w).sum().backward()       # w reaches the loss twice: one hook call, with the sum
    assert seen == [(True, [2.0, 4.0])]
    (3 * w).sum().backward()       # accumulated into the existing grad first
    assert seen[-1] == (True, [5.0, 7.0])
    assert len(seen) == 2


def test_hooks_run_in_registration_order_and_remove_takes_one_out():
    w = mg.tensor([1.0], requires_grad=True)
    calls = []
    first = w.register_post_accumulate_grad_hook(lambda t: calls.append("a"))
    w.register_post_accumulate_grad_hook(lambda t: calls.append("b"))
    w.sum().backward()
    first.remove()
    first.remove()  # twice is harmless
    w.sum().backward()
    assert calls == ["a", "b", "b"]


def test_hook_not_run_by_autograd_grad_nor_for_leaves_outside_inputs():
    w = mg.tensor([1.0], requires_grad=True)
    v = mg.tensor([2.0], requires_grad=True)
    calls = []
    w.register_post_accumulate_grad_hook(lambda t: calls.append("w"))
    mg.autograd.grad((w * v).sum(), [w])  # returns gradients, accumulates nothing
    (w * v).sum().backward(inputs=[v])
    assert calls == [] and w.grad is None


def test_hooks_fire_in_reverse_layer_order_through_a_network():
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    order = []
    for name, p in model.named_parameters():
        p.register_post_accumulate_grad_hook(lambda t, name=name: order.append(name))
    model(mg.randn(5, 3)).sum().backward()
    assert set(order) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert max(order.index("2.weight"), order.index("2.bias")) < \
        min(order.index("0.weight"), order.index("0.bias"))


def test_hook_sees_a_grad_in_its_flat_optimizer_home():
    model = nn.Linear(3, 2)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    homes = []
    model.weight.register_post_accumulate_grad_hook(lambda t: homes.append(t.grad.array.base))
    model(mg.randn(4, 3)).sum().backward()
    chunk = opt._flat_groups[id(opt.param_groups[0]["params"])][0][0]
    assert homes == [chunk.grad]


def test_post_accumulate_hook_refused_on_non_leaf_and_non_callable():
    w = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (w * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="callable"):
        w.register_post_accumulate_grad_hook(3)


def test_queue_callback_runs_once_after_all_gradients_in_order():
    a = mg.tensor([1.0], requires_grad=True)
    b = mg.tensor([2.0], requires_grad=True)
    events = []

    def hook(t):
        events.append("hook")
        if t is a:  # reached once per backward
            engine.queue_callback(lambda: events.append(("first", a.grad is not None and
                                                         b.grad is not None)))
            engine.queue_callback(lambda: (events.append("second"),
                                           engine.queue_callback(lambda: events.append("third"))))
    a.register_post_accumulate_grad_hook(hook)
    b.register_post_accumulate_grad_hook(hook)
    (a * b).sum().backward()
    assert events == ["hook", "hook", ("first", True), "second", "third"]
    (a * b).sum().backward()  # callbacks belong to one backward: queued again, run again
    assert events.count("second") == 2


def test_queue_callback_outside_backward_raises():
    with pytest.raises(RuntimeError, match="during a backward"):
        engine.queue_callback(lambda: None)


def test_a_failed_backward_drops_its_callbacks():
    w = mg.tensor([1.0], requires_grad=True)
    ran = []

    def hook(t):
        engine.queue_callback(lambda: ran.append(1))
        raise ValueError("boom")
    w.register_post_accumulate_grad_hook(hook)
    with pytest.raises(ValueError, match="boom"):
        w.sum().backward()
    assert ran == []
    with pytest.raises(RuntimeError):  # and the engine is out of its backward again
        engine.queue_callback(lambda: None)


def test_no_hooks_leaves_backward_as_it_was():
    x = mg.tensor(np.arange(3.0), requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 4.0]
    assert mg.Tensor._post_accumulate_grad_hooks is None


def test_a_leaf_used_at_several_depths_is_accumulated_once_with_its_whole_gradient():
    w = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    inner = (w * 3.0).tanh()
    ((w * inner).sum() + w.sum() + (inner * inner).sum()).backward()
    t = np.tanh(3 * np.array([1.0, -2.0]))
    expect = t + np.array([1.0, -2.0]) * 3 * (1 - t ** 2) + 1 + 2 * t * 3 * (1 - t ** 2)
    assert len(seen) == 1 and np.allclose(seen[0], expect, rtol=1e-12)


def test_callbacks_queued_in_concurrent_backwards_stay_with_their_own_pass():
    """Each thread's backward runs the callbacks its own hooks queued, and only those, at
    its own end (the queue is per thread)."""
    ran, threads_of = {0: [], 1: []}, {}
    both_running, first_done = threading.Barrier(2), threading.Event()

    def work(k):
        threads_of[k] = threading.get_ident()
        w = mg.tensor([1.0, 2.0], requires_grad=True)

        def hook(param):
            both_running.wait(timeout=10)
            engine.queue_callback(lambda: ran[k].append(threading.get_ident()))
            if k == 1:  # thread 1's pass ends only after thread 0's has
                first_done.wait(timeout=10)
        w.register_post_accumulate_grad_hook(hook)
        (w * w).sum().backward()
        if k == 0:
            first_done.set()

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ran == {0: [threads_of[0]], 1: [threads_of[1]]}
