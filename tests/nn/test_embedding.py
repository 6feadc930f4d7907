"""nn.Embedding and F.embedding: lookups, accumulated gradients of repeated indices,
padding_idx, scale_grad_by_freq, max_norm, from_pretrained, errors, and PyTorch."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import DeviceError, ShapeError
import minigrad.nn.functional as F

INDICES = np.array([[0, 2, 4], [2, 2, 1]])  # row 2 three times, row 3 never


def _weight(device="cpu", rows=5, cols=3, seed=0):
    table = np.random.default_rng(seed).standard_normal((rows, cols))
    return mg.tensor(table, requires_grad=True, device=device)


def _expected_grad(g, indices, rows, padding_idx=None, by_freq=False):
    """The gradient of the table, by NumPy: each row sums the output gradients at its
    positions (divided by its count with by_freq); the padding row gets none."""
    flat, g = indices.reshape(-1), g.reshape(-1, g.shape[-1])
    scale = np.ones(flat.size)
    if by_freq:
        scale = 1.0 / np.bincount(flat, minlength=rows)[flat]
    if padding_idx is not None:
        scale = scale * (flat != padding_idx)
    grad = np.zeros((rows, g.shape[1]))
    np.add.at(grad, flat, g * scale[:, None])
    return grad


@pytest.mark.parametrize("options", [dict(), dict(padding_idx=2), dict(padding_idx=-1),
                                     dict(scale_grad_by_freq=True),
                                     dict(padding_idx=0, scale_grad_by_freq=True)])
def test_embedding_values_and_gradients_against_numpy(device, options):
    weight = _weight(device)
    indices = mg.tensor(INDICES, device=device)
    fn = lambda w: F.embedding(indices, w, **options)
    out = fn(weight)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.numpy(), weight.numpy()[INDICES])
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(mg.tensor(g, device=device))
    padding = options.get("padding_idx")
    expected = _expected_grad(g, INDICES, 5, None if padding is None else padding % 5,
                              options.get("scale_grad_by_freq", False))
    np.testing.assert_allclose(weight.grad.numpy(), expected, rtol=1e-15)
    # the backward is differentiable again (w.r.t. the output gradient) with every option;
    # padding_idx and scale_grad_by_freq make the gradient differ from the derivative on
    # purpose, so finite differences check the plain lookup (and padding below)
    assert gradgradcheck(fn, (weight,))
    if not options:
        assert gradcheck(fn, (weight,))


@pytest.mark.parametrize("padding_idx", [0, 2, -1])
def test_padding_gradient_is_the_derivative_with_the_padding_row_held_fixed(padding_idx):
    """Rows other than padding_idx get exactly the derivative of the lookup, which finite
    differences check on a table whose padding row is a constant."""
    row = padding_idx % 5
    rest = _weight(rows=4)
    fixed = mg.tensor(np.full((1, 3), 7.0))
    indices = mg.tensor(INDICES)
    fn = lambda r: F.embedding(indices, mg.cat([r[:row], fixed, r[row:]]),
                               padding_idx=padding_idx)
    assert gradcheck(fn, (rest,))


def test_embedding_takes_any_index_shape_and_integer_dtype():
    weight = _weight()
    assert F.embedding(mg.tensor(3), weight).shape == (3,)
    assert F.embedding(mg.zeros(0, dtype=mg.int64), weight).shape == (0, 3)
    deep = np.arange(24).reshape(2, 3, 4) % 5
    out = F.embedding(mg.tensor(deep, dtype=mg.int32), weight)
    np.testing.assert_array_equal(out.numpy(), weight.numpy()[deep])
    out.sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy(),
                                  np.bincount(deep.ravel(), minlength=5)[:, None] * np.ones(3))


def test_max_norm_renormalises_looked_up_rows_in_place():
    table = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0], [1.0, 0.0]])
    weight = mg.tensor(table.copy(), requires_grad=True)
    out = F.embedding(mg.tensor([0, 1, 0]), weight, max_norm=2.0)
    expected = table.copy()
    expected[0] *= 2.0 / (5.0 + 1e-7)  # row 1 is short enough; rows 2 and 3 are not looked up
    np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-15)
    np.testing.assert_allclose(out.numpy(), expected[[0, 1, 0]], rtol=1e-15)
    assert weight.is_leaf and weight.requires_grad
    out.sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy(), [[2, 2], [1, 1], [0, 0], [0, 0]])
    F.embedding(mg.tensor([2]), weight, max_norm=1.0, norm_type=1.0)  # |6| + |8| = 14
    np.testing.assert_allclose(weight.numpy()[2], table[2] / (14 + 1e-7), rtol=1e-15)


def test_module_initialises_from_the_standard_normal_with_a_zero_padding_row():
    mg.manual_seed(0)
    layer = nn.Embedding(1000, 64, padding_idx=3)
    values = layer.weight.numpy()
    assert layer.weight.shape == (1000, 64) and layer.weight.requires_grad
    np.testing.assert_array_equal(values[3], 0.0)
    rest = np.delete(values, 3, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1.0) < 0.01
    assert nn.Embedding(4, 2, dtype=mg.float64).weight.dtype == mg.float64
    assert nn.Embedding(4, 2, padding_idx=-1).padding_idx == 3


def test_padding_row_stays_zero_through_training():
    layer = nn.Embedding(6, 4, padding_idx=0)
    optimizer = mg.optim.SGD(layer.parameters(), lr=0.5)
    indices = mg.tensor([[0, 1, 2], [0, 0, 5]])
    for _ in range(3):
        optimizer.zero_grad()
        (layer(indices) ** 2).sum().backward()
        np.testing.assert_array_equal(layer.weight.grad.numpy()[0], 0.0)
        optimizer.step()
    np.testing.assert_array_equal(layer.weight.numpy()[0], 0.0)


def test_module_forward_passes_its_options():
    layer = nn.Embedding(5, 3, padding_idx=1, scale_grad_by_freq=True)
    indices = mg.tensor(INDICES)
    out = layer(indices)
    np.testing.assert_array_equal(out.numpy(), layer.weight.numpy()[INDICES])
    out.sum().backward()
    np.testing.assert_allclose(layer.weight.grad.numpy(),
                               _expected_grad(np.ones((2, 3, 3)), INDICES, 5, 1, True))
    assert list(layer.state_dict()) == ["weight"]


def test_module_repr_as_pytorch():
    assert repr(nn.Embedding(10, 3)) == "Embedding(10, 3)"
    assert repr(nn.Embedding(10, 3, padding_idx=0, max_norm=1.0, norm_type=1.0,
                             scale_grad_by_freq=True)) == \
        "Embedding(10, 3, padding_idx=0, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True)"


def test_from_pretrained_shares_and_freezes():
    table = mg.tensor(np.arange(12.0).reshape(4, 3))
    frozen = nn.Embedding.from_pretrained(table, padding_idx=1)
    assert not frozen.weight.requires_grad and frozen.padding_idx == 1
    np.testing.assert_array_equal(frozen.weight.numpy()[1], [3, 4, 5])  # left as given
    table.array[0, 0] = 100.0
    assert frozen.weight.numpy()[0, 0] == 100.0  # shared, not copied
    trained = nn.Embedding.from_pretrained(table, freeze=False, max_norm=50.0)
    assert trained.weight.requires_grad and trained.max_norm == 50.0
    np.testing.assert_array_equal(frozen(mg.tensor([2, 0])).numpy(), table.numpy()[[2, 0]])
    weight = mg.ones(4, 3)
    assert nn.Embedding(4, 3, _weight=weight).weight.requires_grad
    assert not nn.Embedding(4, 3, _weight=weight, _freeze=True).weight.requires_grad


def test_embedding_errors():
    weight = _weight()
    with pytest.raises(IndexError, match=r"index 5 is out of range for 5 embeddings "
                                         r"\(valid: 0..4\)"):
        F.embedding(mg.tensor([0, 5]), weight)
    with pytest.raises(IndexError, match=r"index -1 is out of range"):
        F.embedding(mg.tensor([-1, 2]), weight)  # no wrapping around
    with pytest.raises(TypeError, match="integer indices"):
        F.embedding(mg.tensor([0.0, 1.0]), weight)
    with pytest.raises(TypeError, match="Tensors"):
        F.embedding([0, 1], weight)
    with pytest.raises(ShapeError, match="2-D"):
        F.embedding(mg.tensor([0]), mg.ones(5))
    with pytest.raises(ValueError, match=r"padding_idx must be within num_embeddings.*-5..4, "
                                         r"got 5"):
        F.embedding(mg.tensor([0]), weight, padding_idx=5)
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(5, 3, padding_idx=-6)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        nn.Embedding(5, 3, sparse=True)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        F.embedding(mg.tensor([0]), weight, sparse=True)
    with pytest.raises(ShapeError, match=r"_weight must be a Tensor of shape \(5, 3\)"):
        nn.Embedding(5, 3, _weight=mg.ones(3, 5))
    with pytest.raises(ShapeError, match="2-D"):
        nn.Embedding.from_pretrained(mg.ones(5))
    with pytest.raises(ValueError, match="num_embeddings"):
        nn.Embedding(-1, 3)
    indices = mg.tensor([0])
    indices.device = "cuda"  # claims another device: rejected before any array code runs
    with pytest.raises(DeviceError):
        F.embedding(indices, weight)


@pytest.mark.parametrize("options", [dict(), dict(padding_idx=2), dict(padding_idx=-2),
                                     dict(scale_grad_by_freq=True),
                                     dict(padding_idx=4, scale_grad_by_freq=True)])
def test_embedding_matches_torch(options):
    torch = pytest.importorskip("torch")
    table = np.random.default_rng(2).standard_normal((5, 3))
    weight = mg.tensor(table, requires_grad=True)
    tweight = torch.tensor(table, requires_grad=True)
    out = F.embedding(mg.tensor(INDICES), weight, **options)
    tout = torch.nn.functional.embedding(torch.tensor(INDICES), tweight, **options)
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    g = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(mg.tensor(g))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(weight.grad.numpy(), tweight.grad.numpy(), rtol=1e-14,
                               atol=1e-15)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_max_norm_matches_torch(norm_type):
    torch = pytest.importorskip("torch")
    table = np.random.default_rng(4).standard_normal((6, 4)) * 2
    weight, tweight = mg.tensor(table.copy()), torch.tensor(table.copy())
    for indices in ([[0, 2, 2], [5, 0, 1]], [3, 3]):
        out = F.embedding(mg.tensor(indices), weight, max_norm=1.5, norm_type=norm_type)
        tout = torch.nn.functional.embedding(torch.tensor(indices), tweight, max_norm=1.5,
                                             norm_type=norm_type)
        np.testing.assert_allclose(out.numpy(), tout.numpy(), rtol=1e-14)
        np.testing.assert_allclose(weight.numpy(), tweight.numpy(), rtol=1e-14)


def test_module_defaults_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Embedding(7, 2, padding_idx=3), torch.nn.Embedding(7, 2, padding_idx=3)
    assert repr(ours) == repr(theirs)
    np.testing.assert_array_equal(ours.weight.numpy()[3], theirs.weight.detach().numpy()[3])
    frozen = torch.nn.Embedding.from_pretrained(torch.ones(3, 2))
    assert nn.Embedding.from_pretrained(mg.ones(3, 2)).weight.requires_grad == \
        frozen.weight.requires_grad
