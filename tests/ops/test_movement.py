"""Shape, indexing, joining and device/dtype ops."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import ShapeError


def leaf(shape, device, seed=0):
    values = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(values, dtype=mg.float64, device=device, requires_grad=True)


SHAPE_OPS = {
    "reshape": (lambda x: x.reshape(4, -1), lambda a: a.reshape(4, -1)),
    "reshape_tuple": (lambda x: x.reshape((3, 8)), lambda a: a.reshape(3, 8)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    "transpose": (lambda x: x.transpose(0, -1), lambda a: a.swapaxes(0, -1)),
    "T": (lambda x: x.T, lambda a: a.T),
    "flatten": (lambda x: x.flatten(1), lambda a: a.reshape(2, -1)),
    "unsqueeze": (lambda x: x.unsqueeze(-1), lambda a: a[..., None]),
    "squeeze": (lambda x: x.reshape(2, 1, 12).squeeze(1), lambda a: a.reshape(2, 12)),
    "broadcast_to": (lambda x: x.broadcast_to(5, 2, 3, 4), lambda a: np.broadcast_to(a, (5, 2, 3, 4))),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_ops(name, device):
    op, reference = SHAPE_OPS[name]
    x = leaf((2, 3, 4), device)
    np.testing.assert_array_equal(op(x).numpy(), reference(x.numpy()))
    assert gradcheck(op, (x,))
    assert gradgradcheck(op, (x,))


INDICES = {
    "int": 1,
    "negative_int": -1,
    "slice": slice(1, None),
    "step_slice": (slice(None), slice(None, None, 2)),
    "mixed": (0, slice(1, 3)),
    "ellipsis": (Ellipsis, 1),
    "int_array_with_repeats": np.array([0, 2, 0, 0]),
    "list_with_repeats": [1, 1, 3],
    "two_int_arrays": (np.array([0, 2, 2]), np.array([1, 1, 3])),
    "bool_mask": np.array([True, False, True]),
    "newaxis": (None, slice(0, 2)),
}


@pytest.mark.parametrize("name", INDICES)
def test_getitem_values_and_gradients(name, device):
    index = INDICES[name]
    x = leaf((3, 4), device) if name != "list_with_repeats" else leaf((4, 2), device)
    np.testing.assert_array_equal(x[index].numpy(), x.numpy()[index])
    assert gradcheck(lambda t: t[index], (x,))
    assert gradgradcheck(lambda t: t[index] * t[index], (x,))


def test_repeated_indices_accumulate():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_indexing_with_tensors_and_boolean_tensor_masks():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    rows = mg.tensor([2, 0])
    np.testing.assert_array_equal(x[rows].numpy(), [[5, 6], [1, 2]])
    picked = x[x > 2.5]
    np.testing.assert_array_equal(picked.numpy(), [3, 4, 5, 6])
    picked.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [1, 1], [1, 1]])


def test_index_out_of_range_names_the_shape():
    with pytest.raises(IndexError, match=r"shape \(3,\)"):
        mg.ones(3)[5]


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis, device):
    a, b, c = leaf((2, 3), device, 1), leaf((2, 3), device, 2), leaf((2, 3), device, 3)
    np.testing.assert_array_equal(mg.concatenate([a, b, c], axis).numpy(),
                                  np.concatenate([a.numpy(), b.numpy(), c.numpy()], axis))
    np.testing.assert_array_equal(mg.stack([a, b, c], axis).numpy(),
                                  np.stack([a.numpy(), b.numpy(), c.numpy()], axis))
    assert gradcheck(lambda *ts: mg.concatenate(ts, axis), (a, b, c))
    assert gradcheck(lambda *ts: mg.stack(ts, axis) ** 2, (a, b, c))


def test_concatenate_of_unequal_sizes_along_the_axis():
    a, b = leaf((2, 3), "cpu", 1), leaf((4, 3), "cpu", 2)
    assert gradcheck(lambda a, b: mg.cat([a, b]) * mg.arange(6).reshape(6, 1), (a, b))


def test_joining_mismatched_shapes_names_them():
    with pytest.raises(ShapeError, match=r"\[\(2, 3\), \(2, 4\)\]"):
        mg.concatenate([mg.ones(2, 3), mg.ones(2, 4)])
    with pytest.raises(ShapeError, match="one shape"):
        mg.stack([mg.ones(2), mg.ones(3)])


def test_reshape_to_a_wrong_size_is_a_clear_error():
    with pytest.raises(ShapeError, match=r"shape \(2, 3\) \(6 elements\) into shape \(4,\)"):
        mg.ones(2, 3).reshape(4)


def test_dtype_conversion_is_differentiable():
    x = mg.tensor([1.5, -2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == mg.float64
    (y * y).sum().backward()
    assert x.grad.dtype == mg.float32
    np.testing.assert_allclose(x.grad.numpy(), [3.0, -4.0])
    assert x.to(mg.float32) is x
    as_int = x.to(mg.int64)
    assert as_int.dtype == mg.int64 and not as_int.requires_grad


def test_setitem_without_grad_and_its_guard():
    x = mg.zeros(3)
    x[1] = 5.0
    np.testing.assert_array_equal(x.numpy(), [0, 5, 0])
    w = mg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        w[0] = 1.0
    with mg.no_grad():
        w[0] = 1.0
    assert w.numpy()[0] == 1.0
