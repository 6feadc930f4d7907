"""In-place ops: what they write, what they record, and what PyTorch's safety rules refuse."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import gradcheck
from minigrad.errors import ShapeError


def _x(values, requires_grad=False):
    return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


# --- writes --------------------------------------------------------------------------------

@pytest.mark.parametrize("method, args, expected", [
    ("add_", (2.0,), [3.0, 0.0, 5.0]),
    ("sub_", (2.0,), [-1.0, -4.0, 1.0]),
    ("mul_", (2.0,), [2.0, -4.0, 6.0]),
    ("div_", (2.0,), [0.5, -1.0, 1.5]),
    ("pow_", (2.0,), [1.0, 4.0, 9.0]),
    ("neg_", (), [-1.0, 2.0, -3.0]),
    ("abs_", (), [1.0, 2.0, 3.0]),
    ("relu_", (), [1.0, 0.0, 3.0]),
    ("clamp_", (-1.0, 2.0), [1.0, -1.0, 2.0]),
    ("fill_", (7.0,), [7.0, 7.0, 7.0]),
    ("zero_", (), [0.0, 0.0, 0.0]),
    ("copy_", (mg.tensor([4.0, 5.0, 6.0]),), [4.0, 5.0, 6.0]),
    ("masked_fill_", (mg.tensor([True, False, True]), 0.0), [0.0, -2.0, 0.0]),
])
def test_in_place_methods_write_into_the_same_memory(method, args, expected):
    t = _x([1.0, -2.0, 3.0])
    memory = t.array
    assert getattr(t, method)(*args) is t
    assert t.array is memory
    np.testing.assert_allclose(t.numpy(), expected)
    assert t._version == 1


def test_augmented_assignment_is_in_place():
    t = _x([1.0, 2.0])
    alias = t
    t += 1
    t -= 0.5
    t *= 4
    t /= 2
    assert t is alias
    np.testing.assert_allclose(alias.numpy(), [3.0, 5.0])
    assert t._version == 4


def test_add_with_alpha_and_broadcasting_operand():
    t = mg.zeros(2, 3, dtype=mg.float64)
    t.add_(mg.tensor([1.0, 2.0, 3.0], dtype=mg.float64), alpha=-2)
    np.testing.assert_allclose(t.numpy(), [[-2, -4, -6]] * 2)


def test_in_place_result_must_keep_shape_and_dtype():
    t = mg.zeros(3)
    with pytest.raises(ShapeError, match=r"shape \(2, 3\).*\(3,\)"):
        t.add_(mg.zeros(2, 3))
    ints = mg.tensor([1, 2])
    with pytest.raises(TypeError, match="float.*int64"):
        ints.add_(0.5)
    ints.add_(1)  # int into int is fine
    np.testing.assert_array_equal(ints.numpy(), [2, 3])


def test_random_fills_are_seeded_and_in_place():
    mg.manual_seed(3)
    a = mg.zeros(1000).uniform_(-2, 2)
    mg.manual_seed(3)
    b = mg.empty(1000).uniform_(-2, 2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert -2 <= a.numpy().min() and a.numpy().max() < 2
    n = mg.zeros(20000).normal_(3.0, 0.5)
    assert abs(n.numpy().mean() - 3.0) < 0.02 and abs(n.numpy().std() - 0.5) < 0.02
    with pytest.raises(TypeError, match="floating-point"):
        mg.zeros(3, dtype=mg.int64).normal_()


def test_setitem_writes_and_tracks_versions():
    t = mg.zeros(2, 3)
    t[0] = 1.0
    t[:, 2] = mg.tensor([5.0, 6.0])
    t[mg.tensor([1]), mg.tensor([0])] = -1.0
    np.testing.assert_array_equal(t.numpy(), [[1, 1, 5], [-1, 0, 6]])
    assert t._version == 3
    with pytest.raises(ShapeError, match="does not fit"):
        t[0] = mg.zeros(4)


# --- PyTorch's rules -----------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    lambda w: w.add_(1.0), lambda w: w.mul_(2.0), lambda w: w.zero_(), lambda w: w.normal_(),
    lambda w: w.__setitem__(0, 1.0), lambda w: w.__iadd__(1.0), lambda w: w.copy_(w.detach()),
])
def test_leaf_that_requires_grad_refuses_in_place_change_in_grad_mode(change):
    w = mg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        change(w)
    np.testing.assert_array_equal(w.numpy(), [1, 1, 1])
    with mg.no_grad():
        change(w)
    assert w.is_leaf and w.requires_grad and w._version == 1


def test_view_of_a_leaf_that_requires_grad_is_refused():
    w = mg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf tensor"):
        w[0:2].add_(1.0)
    with pytest.raises(RuntimeError, match="view of a leaf tensor"):
        w.view(3).mul_(2.0)


def test_in_place_change_of_a_view_in_the_graph_is_refused_clearly():
    x = _x([1.0, 2.0], requires_grad=True)
    h = x * 2
    with pytest.raises(RuntimeError, match="view .* not supported while the graph is recorded"):
        h.reshape(2, 1).add_(1.0)


def test_hand_written_gradient_descent_updates_the_parameters():
    """The first thing the optimisation literature teaches, in the three ways people write it."""
    target = mg.tensor([3.0, -1.0])
    for style in ("no_grad", "data", "data_method"):
        w = mg.zeros(2, requires_grad=True)
        for _ in range(100):
            loss = ((w - target) ** 2).sum()
            loss.backward()
            if style == "no_grad":
                with mg.no_grad():
                    w -= 0.1 * w.grad
            elif style == "data":
                w.data -= 0.1 * w.grad
            else:
                w.data.add_(w.grad, alpha=-0.1)
            w.grad.zero_()
        np.testing.assert_allclose(w.numpy(), [3.0, -1.0], atol=1e-5, err_msg=style)
        assert w.is_leaf and w.requires_grad


# --- recorded in-place ops -----------------------------------------------------------------

@pytest.mark.parametrize("name, fn", [
    ("add_ tensor", lambda x, y: (x * 1).add_(y)),
    ("mul_ tensor", lambda x, y: (x * 1).mul_(y)),
    ("div_ tensor", lambda x, y: (x * 1).div_(y + 3)),
    ("pow_", lambda x, y: (x * 1).pow_(2)),
    ("sub_ then relu_", lambda x, y: (x * 2).sub_(y).relu_()),
    ("exp output changed", lambda x, y: x.exp().mul_(y)),
    ("clamp_", lambda x, y: (x * 1).clamp_(-0.5, 0.5)),
    ("setitem", lambda x, y: _setitem(x * 1, slice(0, 2), y[1:3] * 3)),
    ("setitem advanced", lambda x, y: _setitem(x * 1, mg.tensor([0, 3]), y[0])),
    ("masked_fill_", lambda x, y: (x * y).masked_fill_(x.detach() > 0, 0.0)),
    ("copy_ from graph", lambda x, y: (x * 1).copy_(y * y)),
    ("in place on a plain tensor", lambda x, y: mg.zeros(4, dtype=mg.float64).add_(x * y)),
])
def test_recorded_in_place_ops_have_correct_gradients(name, fn):
    x = _x([0.7, -1.3, 0.2, 2.1], requires_grad=True)
    y = _x([0.4, 1.1, -0.6, 0.3], requires_grad=True)
    assert gradcheck(fn, (x, y))


def _setitem(t, index, value):
    t[index] = value
    return t


def test_ops_recorded_before_a_change_still_see_the_old_value():
    x = _x([1.0, 2.0], requires_grad=True)
    h = x * 1
    before = h * 2  # recorded while h was x
    h.mul_(10)      # h is now 10 x
    (before.sum() + h.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 12.0])
    assert h.grad_fn.name() == "MulBackward0"


def test_a_plain_tensor_that_becomes_part_of_the_graph_keeps_earlier_uses_constant():
    w = _x([2.0, 3.0], requires_grad=True)
    buffer = mg.ones(2, dtype=mg.float64)
    early = buffer + w * 2      # buffer is a constant here
    buffer.mul_(w)              # buffer = w now, and requires grad
    assert buffer.requires_grad and not buffer.is_leaf
    (early.sum() + buffer.sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), [3.0, 3.0])


# --- the version check ---------------------------------------------------------------------

def test_changing_a_saved_input_makes_backward_refuse():
    x = _x([1.0, 2.0], requires_grad=True)
    a = x * 1
    b = a * a       # mul saves a
    a.add_(1.0)
    with pytest.raises(RuntimeError, match=r"modified by an in-place operation.*MulBackward0"):
        b.sum().backward()


def test_changing_a_saved_output_makes_backward_refuse():
    x = _x([1.0, 2.0], requires_grad=True)
    y = x.exp()     # exp's backward uses its output
    with mg.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="output .* saved by ExpBackward0"):
        y.sum().backward()


def test_a_direct_change_under_no_grad_is_allowed_where_no_rule_needs_the_value():
    x = _x([1.0, 2.0], requires_grad=True)
    y = x * 3
    with mg.no_grad():
        y.mul_(2.0)  # PyTorch's semantics: the graph still says y = 3 x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_changing_a_tensor_no_rule_needs_is_allowed():
    x = _x([1.0, 2.0], requires_grad=True)
    c = mg.ones(2, dtype=mg.float64)
    y = x + c       # add saves nothing
    z = x * 3       # mul by a constant saves only the constant
    c.add_(5.0)
    with mg.no_grad():
        x.mul_(1.0)
    (y.sum() + z.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])


def test_a_write_through_a_view_is_seen_by_the_saved_base():
    w = _x([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x = _x([[1.0], [1.0]], requires_grad=True)
    y = w @ x       # saves w
    with mg.no_grad():
        w.T[0].mul_(2.0)   # the same memory as w
    assert w._version == 1
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


def test_writes_through_data_are_not_tracked_as_in_pytorch():
    w = _x([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    w.data.mul_(2.0)
    y.backward()    # PyTorch computes with the new values too
    np.testing.assert_allclose(w.grad.numpy(), [4.0, 8.0])


def test_optimizer_step_counts_as_an_in_place_change():
    model = mg.nn.Sequential(mg.nn.Linear(2, 2), mg.nn.Linear(2, 1))
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1)
    loss = (model(mg.ones(1, 2)) ** 2).sum()  # the second layer saves its weight
    loss.backward(retain_graph=True)
    optimizer.step()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_a_view_changed_after_its_base_moved_on_is_refused_at_backward():
    x = _x([1.0, 2.0], requires_grad=True)
    h = x * 3
    view = h[0:1]
    h.mul_(2.0)         # the view's values change, its graph does not
    with pytest.raises(RuntimeError, match="used by MulBackward0 after the tensor it views was changed in place"):
        (view * 5).sum().backward()


def test_uses_of_a_view_from_before_the_change_stay_correct():
    x = _x([1.0, 2.0], requires_grad=True)
    h = x * 3
    first = h[0:1].sum()
    h.mul_(2.0)
    (first + h.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [9.0, 6.0])


def test_writing_into_a_broadcast_view_is_refused_clearly():
    wide = mg.ones(3, 1).expand(3, 4)
    with pytest.raises(RuntimeError, match="broadcast view"):
        wide.add_(1.0)
    copy = wide.clone()
    copy.add_(1.0)
    assert copy.tolist() == [[2.0] * 4] * 3


def test_a_buffer_changed_in_place_every_step_keeps_no_history_after_backward():
    w = _x([0.5, 2.0], requires_grad=True)
    buffer = mg.ones(2, dtype=mg.float64)
    for _ in range(50):
        buffer.mul_(w)       # recorded: buffer's graph grows by one node
        buffer.sum().backward()
        buffer = buffer.detach()
        assert buffer._history is None
    h = w * 1
    h.mul_(2.0)
    h.sum().backward()
    assert h._history is None and w.grad is not None
