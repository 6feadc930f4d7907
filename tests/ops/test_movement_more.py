"""expand, repeat, split, chunk, unbind, gather and index_select: values against NumPy,
gradients by finite differences, views that share memory with their base, the errors."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import ShapeError


def leaf(shape, device="cpu", seed=0):
    values = np.random.default_rng(seed).standard_normal(shape)
    return mg.tensor(values, dtype=mg.float64, device=device, requires_grad=True)


def sees_base_writes(view, base):
    """True when an in-place write to ``base`` shows in ``view`` (they share memory)."""
    before = view.numpy().copy()
    with mg.no_grad():
        base.add_(1.0)
    return np.array_equal(view.numpy(), before + 1.0)


def index(values, device="cpu"):
    return mg.tensor(values, dtype=mg.int64, device=device)


# --- expand ------------------------------------------------------------------------------

EXPANDS = {
    "stretch_ones": ((3, 1), (3, 4), (3, 4)),
    "minus_one_keeps": ((3, 1), (-1, 5), (3, 5)),
    "new_leading": ((3, 1), (2, 3, 4), (2, 3, 4)),
    "tuple_argument": ((1, 4), ((2, 4),), (2, 4)),
    "scalar": ((), (2, 3), (2, 3)),
}


@pytest.mark.parametrize("name", EXPANDS)
def test_expand_values_and_gradients(device, name):
    shape, sizes, result = EXPANDS[name]
    x = leaf(shape, device)
    out = x.expand(*sizes)
    assert out.shape == result
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to(x.numpy(), result))
    assert gradcheck(lambda t: t.expand(*sizes), (x,))
    assert gradgradcheck(lambda t: t.expand(*sizes) ** 2, (x,))


def test_expand_is_a_view_and_expand_as_works():
    base = mg.zeros(3, 1)
    view = base.expand(3, 4)
    assert sees_base_writes(view, base)
    assert view.grad_fn is None and base.expand_as(mg.ones(2, 3, 4)).shape == (2, 3, 4)
    x = leaf((3, 1))
    assert x.expand(3, 2).grad_fn.name() == "ExpandBackward0"


def test_expand_errors_name_the_shapes():
    x = mg.ones(3, 1)
    with pytest.raises(ShapeError, match=r"expanded size \(4\) must match the existing size "
                                         r"\(3\) at non-singleton dimension 0"):
        x.expand(4, 2)
    with pytest.raises(ShapeError, match=r"number of sizes provided \(1\)"):
        x.expand(3)
    with pytest.raises(ShapeError, match="-1 isn't allowed in a leading, new dimension 0"):
        x.expand(-1, 3, 2)
    with pytest.raises(ShapeError, match="-2 isn't allowed in dimension 1"):
        x.expand(3, -2)
    with pytest.raises(TypeError, match="sizes must be ints"):
        x.expand(3, 2.0)


# --- repeat ------------------------------------------------------------------------------

@pytest.mark.parametrize("sizes", [(2, 3), (1, 1), (2, 1, 2), (3, 0), ((2, 2),)], ids=str)
def test_repeat_is_numpys_tile(device, sizes):
    x = leaf((2, 3), device)
    flat = sizes[0] if isinstance(sizes[0], tuple) else sizes
    out = x.repeat(*sizes)
    np.testing.assert_array_equal(out.numpy(), np.tile(x.numpy(), flat))
    assert gradcheck(lambda t: t.repeat(*sizes), (x,))
    if out.numel():  # gradgradcheck can't take an empty output (its empty cotangent)
        assert gradgradcheck(lambda t: t.repeat(*sizes) ** 2, (x,))


def test_repeat_gradient_sums_the_tiles_and_copies():
    x = leaf((2,))
    x.repeat(3, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    base = mg.zeros(2)
    copy = base.repeat(2)
    assert not sees_base_writes(copy, base)


def test_repeat_errors():
    with pytest.raises(ShapeError, match=r"number of repeat dims \(1\) can not be smaller than "
                                         r"the number of dimensions of the tensor \(2\)"):
        mg.ones(2, 3).repeat(2)
    with pytest.raises(ShapeError, match="non-negative ints"):
        mg.ones(2).repeat(-1)


# --- split, chunk, unbind ----------------------------------------------------------------

SPLITS = {
    "even": (2, 0, [2, 2, 2]),
    "last_smaller": (4, 0, [4, 2]),
    "bigger_than_dim": (10, 0, [6]),
    "sections": ([1, 3, 2], 0, [1, 3, 2]),
    "with_empty_section": ([0, 4, 2], 0, [0, 4, 2]),
    "along_dim_1": (2, 1, [2, 1]),
    "negative_dim": ((1, 2), -1, [1, 2]),
}


@pytest.mark.parametrize("name", SPLITS)
def test_split_sizes_values_and_gradients(device, name):
    how, dim, sizes = SPLITS[name]
    x = leaf((6, 3), device)
    pieces = x.split(how, dim)
    assert isinstance(pieces, tuple) and [p.shape[dim] for p in pieces] == sizes
    expected = np.split(x.numpy(), np.cumsum(sizes)[:-1], axis=dim)
    for piece, ref in zip(pieces, expected):
        np.testing.assert_array_equal(piece.numpy(), ref)
    weights = [float(k + 1) for k in range(len(sizes))]  # each piece counts differently
    assert gradcheck(lambda t: [p * w for p, w in zip(t.split(how, dim), weights)], (x,))
    assert gradgradcheck(lambda t: [p * p for p in t.split(how, dim) if p.numel()], (x,))


def test_split_pieces_are_views_of_the_base():
    base = mg.zeros(4, 2)
    pieces = base.split(2)
    assert all(sees_base_writes(p, base) for p in pieces)
    assert all(sees_base_writes(p, base) for p in base.chunk(2, 1))
    assert all(sees_base_writes(p, base) for p in base.unbind(1))


def test_split_of_an_empty_dimension_gives_one_empty_piece():
    pieces = mg.ones(0, 3).split(2)
    assert len(pieces) == 1 and pieces[0].shape == (0, 3)
    assert len(mg.ones(0).split(0)) == 1


def test_split_errors():
    x = mg.ones(5, 2)
    with pytest.raises(ValueError, match=r"sections \[2, 2\] must be non-negative and sum "
                                         "exactly to 5"):
        x.split([2, 2])
    with pytest.raises(ValueError, match="sum exactly to 5"):
        x.split([6, -1])
    with pytest.raises(ValueError, match="split_size must be non-negative"):
        x.split(-1)
    with pytest.raises(ValueError, match="split_size can only be 0 if the dimension size is 0"):
        x.split(0)
    with pytest.raises(ShapeError, match="split: dim 2 is out of range for a tensor with 2"):
        x.split(1, 2)
    with pytest.raises(ShapeError, match="at least one dimension"):
        mg.tensor(1.0).split(1)
    with pytest.raises(TypeError, match="an int or a list of ints"):
        x.split(1.5)


@pytest.mark.parametrize("size, chunks, sizes", [(5, 3, [2, 2, 1]), (6, 4, [2, 2, 2]),
                                                 (6, 3, [2, 2, 2]), (2, 5, [1, 1]),
                                                 (7, 1, [7]), (0, 3, [0, 0, 0])])
def test_chunk_sizes_are_pytorchs(size, chunks, sizes):
    x = mg.arange(size * 2).reshape(size, 2)
    pieces = x.chunk(chunks)
    assert [p.shape[0] for p in pieces] == sizes
    if size:
        np.testing.assert_array_equal(np.concatenate([p.numpy() for p in pieces]), x.numpy())


def test_chunk_sizes_match_torch():
    torch = pytest.importorskip("torch")
    for size in range(0, 9):
        for chunks in range(1, 7):
            ours = [p.shape for p in mg.ones(size, 2).chunk(chunks)]
            theirs = [tuple(p.shape) for p in torch.ones(size, 2).chunk(chunks)]
            assert ours == theirs, (size, chunks)


def test_chunk_gradients_and_errors(device):
    x = leaf((5, 4), device)
    assert gradcheck(lambda t: [p * (k + 1.0) for k, p in enumerate(t.chunk(3, 1))], (x,))
    assert gradgradcheck(lambda t: [p * p for p in t.chunk(2)], (x,))
    with pytest.raises(ValueError, match="chunks must be an int greater than 0, got 0"):
        x.chunk(0)
    with pytest.raises(ShapeError, match="at least one dimension"):
        mg.tensor(1.0).chunk(1)
    with pytest.raises(ShapeError, match="chunk: dim -3 is out of range"):
        x.chunk(2, -3)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unbind_values_and_gradients(device, dim):
    x = leaf((2, 3, 4), device)
    pieces = x.unbind(dim)
    assert len(pieces) == x.shape[dim]
    for k, piece in enumerate(pieces):
        np.testing.assert_array_equal(piece.numpy(), np.take(x.numpy(), k, axis=dim))
    assert gradcheck(lambda t: [p * (k + 1.0) for k, p in enumerate(t.unbind(dim))], (x,))
    assert gradgradcheck(lambda t: [p * p for p in t.unbind(dim)], (x,))


def test_unbind_of_a_vector_gives_0d_views_and_errors():
    base = mg.zeros(3)
    elements = base.unbind()
    assert all(e.shape == () for e in elements)
    assert all(sees_base_writes(e, base) for e in elements)
    assert sees_base_writes(base[1], base)  # integer indexing gives a 0-d view too
    with pytest.raises(ShapeError, match="0-d tensor"):
        mg.tensor(1.0).unbind()
    with pytest.raises(ShapeError, match="unbind: dim 1 is out of range"):
        base.unbind(1)


# --- gather ------------------------------------------------------------------------------

GATHERS = {
    "dim0": (0, [[0, 1, 2, 0], [2, 2, 1, 0]]),
    "dim1_with_repeats": (1, [[0, 0, 3], [1, 1, 1], [3, 2, 0]]),
    "negative_dim": (-1, [[1], [0], [3]]),
    "index_smaller_elsewhere": (0, [[2, 1]]),
}


@pytest.mark.parametrize("name", GATHERS)
def test_gather_values_and_gradients(device, name):
    dim, idx = GATHERS[name]
    x = leaf((3, 4), device)
    i = index(idx, device)
    out = x.gather(dim, i)
    a, ia = x.numpy(), np.array(idx)
    region = a[tuple(slice(0, n) if d != dim % 2 else slice(None) for d, n in enumerate(ia.shape))]
    np.testing.assert_array_equal(out.numpy(), np.take_along_axis(region, ia, dim))
    np.testing.assert_array_equal(mg.ops.gather(x, dim, i).numpy(), out.numpy())
    assert gradcheck(lambda t: t.gather(dim, i), (x,))
    assert gradgradcheck(lambda t: t.gather(dim, i) ** 2, (x,))


def test_gather_gradient_accumulates_repeated_indices():
    x = leaf((2, 3))
    x.gather(1, index([[0, 0, 0], [2, 1, 2]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3, 0, 0], [0, 1, 2]])
    assert x.gather(0, index([[1, 0, 1]])).grad_fn.name() == "GatherBackward0"


def test_gather_takes_a_list_and_a_0d_input():
    x = leaf((2, 2))
    expected = x.numpy()[[0, 1], [1, 0]][:, None]
    np.testing.assert_array_equal(x.gather(1, [[1], [0]]).numpy(), expected)
    s = mg.tensor(2.5, dtype=mg.float64, requires_grad=True)
    assert s.gather(0, index(0)).item() == 2.5
    assert gradgradcheck(lambda t: t.gather(0, index([0, 0])) ** 2, (s,))


def test_gather_errors():
    x = mg.ones(3, 4)
    with pytest.raises(TypeError, match="gather: index must be an integer tensor.*float32"):
        x.gather(0, mg.zeros(3, 4))
    with pytest.raises(ShapeError, match=r"same number of dimensions as input, got index shape "
                                         r"\(3,\) and input shape \(3, 4\)"):
        x.gather(0, index([0, 1, 2]))
    with pytest.raises(IndexError, match="gather: index 3 is out of bounds for dimension 0 "
                                         "with size 3"):
        x.gather(0, index([[3]]))
    with pytest.raises(IndexError, match="index -1 is out of bounds for dimension 1"):
        x.gather(1, index([[-1]]))
    with pytest.raises(ShapeError, match=r"larger than input shape \(3, 4\) at dimension 1"):
        x.gather(0, index([[0] * 5]))
    with pytest.raises(ShapeError, match="gather: dim 2 is out of range"):
        x.gather(2, index([[0]]))


# --- index_select ------------------------------------------------------------------------

@pytest.mark.parametrize("dim, idx", [(0, [2, 0, 2]), (1, [3, 1]), (-1, [0, 0, 0, 0, 1]),
                                      (1, [])], ids=str)
def test_index_select_values_and_gradients(device, dim, idx):
    x = leaf((3, 4), device)
    i = index(idx, device)
    out = x.index_select(dim, i)
    np.testing.assert_array_equal(out.numpy(), np.take(x.numpy(), np.array(idx, dtype=int), dim))
    assert gradcheck(lambda t: t.index_select(dim, i), (x,))
    if out.numel():  # gradgradcheck can't take an empty output (its empty cotangent)
        assert gradgradcheck(lambda t: t.index_select(dim, i) ** 2, (x,))


def test_index_select_repeats_accumulate_and_0d_forms():
    x = leaf((3,))
    x.index_select(0, index([1, 1, 2, 1])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 3, 1])
    assert x.index_select(0, index(2)).shape == (1,)  # a 0-d index is one index
    s = mg.tensor(4.0)
    assert s.index_select(0, index([0])).shape == ()


def test_index_select_errors():
    x = mg.ones(3, 4)
    with pytest.raises(ShapeError, match=r"index must be 1-D \(or 0-d\), got shape \(1, 2\)"):
        x.index_select(0, index([[0, 1]]))
    with pytest.raises(TypeError, match="index_select: index must be an integer tensor"):
        x.index_select(0, mg.tensor([0.0]))
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 1 with size 4"):
        x.index_select(1, index([0, 4]))
    with pytest.raises(IndexError, match="index -1 is out of bounds"):
        x.index_select(0, index([-1]))
    with pytest.raises(ShapeError, match="index_select: dim 2 is out of range"):
        x.index_select(2, index([0]))
