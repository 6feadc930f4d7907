"""prod, std, norm, logsumexp, cumsum, max/min in PyTorch's three forms, amax/amin, sort,
topk and softmax: values against NumPy, gradients by finite differences, the errors."""
import math
import warnings

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.autograd import gradcheck, gradgradcheck
from minigrad.errors import ShapeError


def leaf(values_or_shape, device="cpu", seed=0):
    if isinstance(values_or_shape, tuple):
        values = np.random.default_rng(seed).standard_normal(values_or_shape)
    else:
        values = np.asarray(values_or_shape, dtype=np.float64)
    return mg.tensor(values, dtype=mg.float64, device=device, requires_grad=True)


def grad_of(fn, x):
    x.grad = None
    fn(x).sum().backward()
    return x.grad.numpy()


# --- max / min: value, (values, indices), elementwise, NumPy's axis= ------------------------

def test_max_without_dim_is_the_value_of_the_whole_tensor(device):
    x = leaf((3, 4), device)
    out = x.max()
    assert out.shape == () and out.item() == x.numpy().max()
    assert mg.min(x).item() == x.numpy().min()


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_return_values_and_indices(device, largest, dim, keepdim):
    x = leaf((3, 4), device)
    fn = mg.Tensor.max if largest else mg.Tensor.min
    out = fn(x, dim, keepdim)
    assert isinstance(out, tuple) and type(out).__name__ == ("max" if largest else "min")
    values, indices = out
    assert values is out.values and indices is out.indices
    arg = (np.argmax if largest else np.argmin)(x.numpy(), axis=dim)
    ref = (np.max if largest else np.min)(x.numpy(), axis=dim, keepdims=keepdim)
    np.testing.assert_array_equal(values.numpy(), ref)
    np.testing.assert_array_equal(indices.numpy(), np.expand_dims(arg, dim) if keepdim else arg)
    assert indices.dtype == mg.int64 and not indices.requires_grad
    same = fn(x, dim=dim, keepdim=keepdim)  # dim= as a keyword: the same form
    np.testing.assert_array_equal(same.indices.numpy(), indices.numpy())
    assert gradcheck(lambda t: fn(t, dim, keepdim).values, (x,))
    assert gradgradcheck(lambda t: fn(t, dim, keepdim).values ** 2, (x,))


def test_max_with_dim_sends_the_gradient_to_the_returned_index_only():
    x = leaf([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    values, indices = x.max(1)
    np.testing.assert_array_equal(indices.numpy(), [1, 0])  # the first of tied maxima
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])
    assert values.grad_fn.name() == "MaxBackward0"


def test_max_with_dim_matches_torch_on_ties():
    torch = pytest.importorskip("torch")
    data = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0], [5.0, 5.0, 5.0]])
    ours = mg.tensor(data, requires_grad=True)
    theirs = torch.tensor(data, requires_grad=True)
    ours.max(1).values.sum().backward()
    theirs.max(1).values.sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    np.testing.assert_array_equal(ours.min(0).indices.numpy(), theirs.min(0).indices.numpy())


def test_max_without_dim_shares_ties_evenly():
    x = leaf([4.0, 1.0, 4.0, 4.0])
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 / 3, 0, 1 / 3, 1 / 3])


def test_max_of_two_tensors_is_elementwise(device):
    a, b = leaf((3, 4), device, 1), leaf((3, 4), device, 2)
    for fn, ref in ((mg.max, np.maximum), (mg.min, np.minimum)):
        np.testing.assert_array_equal(fn(a, b).numpy(), ref(a.numpy(), b.numpy()))
    np.testing.assert_array_equal(a.max(b).numpy(), mg.maximum(a, b).numpy())
    np.testing.assert_array_equal(a.min(other=b).numpy(), mg.minimum(a, b).numpy())
    assert gradcheck(lambda s, t: s.max(t), (a, b))
    tied = leaf([1.0, 2.0])
    tied.max(mg.tensor([1.0, 0.0], dtype=mg.float64)).sum().backward()
    np.testing.assert_array_equal(tied.grad.numpy(), [0.5, 1.0])  # a tie splits evenly


def test_max_with_numpy_axis_gives_values_only(device):
    x = leaf((2, 3, 4), device)
    out = x.max(axis=(0, 2))
    assert isinstance(out, mg.Tensor)
    np.testing.assert_array_equal(out.numpy(), x.numpy().max(axis=(0, 2)))
    np.testing.assert_array_equal(x.min(axis=1, keepdims=True).numpy(),
                                  x.numpy().min(axis=1, keepdims=True))


def test_max_of_a_0d_tensor_along_dim_0():
    values, indices = mg.tensor(3.0).max(0)
    assert values.shape == () and values.item() == 3.0 and indices.item() == 0


def test_max_min_errors():
    x = mg.ones(2, 3)
    with pytest.raises(TypeError, match="amax/amin"):
        x.max((0, 1))
    with pytest.raises(TypeError, match="dim or axis"):
        x.max(0, axis=1)
    with pytest.raises(TypeError, match="elementwise"):
        x.max(mg.ones(2, 3), keepdim=True)
    with pytest.raises(ShapeError, match="max: dim 2 is out of range for a tensor with 2"):
        x.max(2)
    with pytest.raises(IndexError, match="has size 0"):
        mg.ones(2, 0).min(1)
    with pytest.raises(ValueError, match="empty tensor"):
        mg.ones(0).max()
    with pytest.raises(TypeError, match="dim must be an int"):
        x.max(1.5)


# --- amax / amin -----------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [None, 0, (0, 2), (-1,), ()], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_amax_amin_values_and_gradients(device, dim, keepdim):
    x = leaf((2, 3, 4), device)
    axis = None if dim == () else dim
    np.testing.assert_array_equal(x.amax(dim, keepdim).numpy(),
                                  x.numpy().max(axis=axis, keepdims=keepdim))
    np.testing.assert_array_equal(x.amin(dim, keepdim).numpy(),
                                  x.numpy().min(axis=axis, keepdims=keepdim))
    assert gradcheck(lambda t: t.amax(dim, keepdim), (x,))
    assert gradgradcheck(lambda t: t.amin(dim, keepdim) ** 2, (x,))


def test_amax_ties_share_the_gradient_evenly():
    x = leaf([[2.0, 2.0, 1.0], [0.0, 3.0, 3.0]])
    np.testing.assert_array_equal(grad_of(lambda t: t.amax(1), x), [[0.5, 0.5, 0], [0, 0.5, 0.5]])
    np.testing.assert_array_equal(grad_of(lambda t: t.amin(dim=(0, 1)), x),
                                  [[0, 0, 0], [1, 0, 0]])
    assert x.amax(0).grad_fn.name() == "AmaxBackward0"


# --- prod ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_prod_values_and_gradients(device, dim, keepdim):
    x = leaf((3, 4), device)
    np.testing.assert_allclose(x.prod(dim, keepdim).numpy(),
                               x.numpy().prod(axis=dim, keepdims=keepdim), rtol=1e-13)
    assert gradcheck(lambda t: t.prod(dim, keepdim), (x,))
    assert gradgradcheck(lambda t: t.prod(dim, keepdim), (x,))


ZEROS = {
    "one": [[1.5, 0.0, 3.0], [2.0, -1.0, 0.5]],
    "two_in_a_row": [[0.0, 0.0, 3.0], [2.0, 0.0, 0.5]],
    "three_in_a_row": [[0.0, 0.0, 0.0], [2.0, 0.7, 0.5]],
}


@pytest.mark.parametrize("case", ZEROS)
@pytest.mark.parametrize("dim", [None, 1])
def test_prod_gradients_with_zeros(device, case, dim):
    x = leaf(ZEROS[case], device)
    assert gradcheck(lambda t: t.prod(dim), (x,))
    assert gradgradcheck(lambda t: t.prod(dim), (x,))


def test_prod_gradient_at_a_zero_is_the_product_of_the_others():
    x = leaf([2.0, 0.0, 3.0, -1.5])
    np.testing.assert_array_equal(grad_of(lambda t: t.prod(), x), [0.0, -9.0, 0.0, 0.0])
    y = leaf([0.0, 4.0, 0.0])
    np.testing.assert_array_equal(grad_of(lambda t: t.prod(), y), [0.0, 0.0, 0.0])


def test_prod_numpy_axis_and_dtype():
    x = leaf((2, 3, 4))
    np.testing.assert_allclose(x.prod(axis=(0, 2)).numpy(), x.numpy().prod(axis=(0, 2)))
    ints = mg.tensor([[1, 2], [3, 4]])
    np.testing.assert_array_equal(ints.prod(1).numpy(), [2, 12])
    assert ints.prod(dtype=mg.float64).dtype == mg.float64


# --- std -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [None, 0, (0, 2), -1], ids=str)
@pytest.mark.parametrize("unbiased", [True, False])
def test_std_values_and_gradients(device, dim, unbiased):
    x = leaf((2, 3, 4), device)
    np.testing.assert_allclose(x.std(dim, unbiased).numpy(),
                               x.numpy().std(axis=dim, ddof=int(unbiased)), rtol=1e-12)
    assert gradcheck(lambda t: t.std(dim, unbiased), (x,))
    assert gradgradcheck(lambda t: t.std(dim, unbiased, True), (x,))


def test_std_spellings():
    x = leaf((3, 5))
    np.testing.assert_allclose(x.std(axis=1, keepdims=True).numpy(),
                               x.numpy().std(axis=1, ddof=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(x.std(1, correction=2).numpy(), x.numpy().std(axis=1, ddof=2),
                               rtol=1e-12)
    np.testing.assert_allclose(x.std(False).numpy(), x.numpy().std(), rtol=1e-12)  # unbiased
    np.testing.assert_allclose(x.var(False).numpy(), x.numpy().var(), rtol=1e-12)


# --- norm ------------------------------------------------------------------------------------

NORMS = ["fro", 1, 2, 3, 0.5, math.inf, -math.inf]


@pytest.mark.parametrize("p", NORMS, ids=str)
@pytest.mark.parametrize("dim", [None, 1, (0, 1)], ids=str)
def test_norm_values_and_gradients(device, p, dim):
    x = leaf((3, 4), device)
    a = x.numpy()
    order = 2 if p == "fro" else p
    if dim is None or dim == (0, 1):
        expected = np.linalg.norm(a.ravel(), ord=order)
    else:
        expected = np.linalg.norm(a, ord=order, axis=dim)
    np.testing.assert_allclose(x.norm(p, dim).numpy(), expected, rtol=1e-12)
    assert gradcheck(lambda t: t.norm(p, dim), (x,))
    assert gradgradcheck(lambda t: t.norm(p, dim, True), (x,))


def test_norm_zero_counts_nonzeros_with_zero_gradient():
    x = leaf([[1.0, 0.0, 2.0], [0.0, 0.0, -3.0]])
    np.testing.assert_array_equal(x.norm(0, 1).numpy(), [2.0, 1.0])
    np.testing.assert_array_equal(grad_of(lambda t: t.norm(0), x), np.zeros((2, 3)))


@pytest.mark.parametrize("p", ["fro", 2, 3, 1, 0.5])
def test_norm_gradient_at_zero_is_zero(p):
    x = leaf(np.zeros((2, 3)))
    np.testing.assert_array_equal(grad_of(lambda t: t.norm(p, 1), x), np.zeros((2, 3)))


def test_norm_keepdim_dtype_and_errors():
    x = leaf((3, 4))
    assert x.norm(dim=1, keepdim=True).shape == (3, 1)
    assert mg.tensor([3, 4]).norm(dtype=mg.float64).item() == 5.0
    with pytest.raises(TypeError, match="floating-point"):
        mg.tensor([3, 4]).norm()
    with pytest.raises(ValueError, match="'nuc' is not supported"):
        x.norm("nuc")
    with pytest.raises(TypeError, match="p must be a number"):
        x.norm([2])


def test_norm_matches_torch():
    torch = pytest.importorskip("torch")
    data = np.random.default_rng(3).standard_normal((3, 4))
    data[0, 1] = 0.0
    for p in [2, 1, 3, 0.5, math.inf]:
        ours, theirs = mg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        ours.norm(p, 1).sum().backward()
        theirs.norm(p, 1).sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


# --- logsumexp -------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [None, 0, (0, 2), -1], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_values_and_gradients(device, dim, keepdim):
    x = leaf((2, 3, 4), device)
    expected = np.log(np.exp(x.numpy()).sum(axis=dim, keepdims=keepdim))
    np.testing.assert_allclose(x.logsumexp(dim, keepdim).numpy(), expected, rtol=1e-12)
    assert gradcheck(lambda t: t.logsumexp(dim, keepdim), (x,))
    assert gradgradcheck(lambda t: t.logsumexp(dim, keepdim), (x,))


def test_logsumexp_is_stable_and_handles_infinities():
    big = mg.tensor([[1e4, 1e4], [-1e4, -1e4 + math.log(3.0)]], dtype=mg.float64)
    np.testing.assert_allclose(big.logsumexp(1).numpy(),
                               [1e4 + math.log(2.0), -1e4 + math.log(4.0)], rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no log(0) RuntimeWarning
        assert mg.tensor([-math.inf, -math.inf]).logsumexp(0).item() == -math.inf
    assert mg.tensor([math.inf, 1.0]).logsumexp(0).item() == math.inf
    assert mg.tensor([1, 2]).logsumexp(0).dtype == mg.float32  # integers are promoted


# --- cumsum ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_values_and_gradients(device, dim):
    x = leaf((3, 4), device)
    np.testing.assert_allclose(x.cumsum(dim).numpy(), np.cumsum(x.numpy(), axis=dim),
                               rtol=1e-13)
    assert gradcheck(lambda t: t.cumsum(dim), (x,))
    assert gradgradcheck(lambda t: t.cumsum(dim) ** 2, (x,))


def test_cumsum_gradient_is_the_reversed_running_sum():
    x = leaf([1.0, 2.0, 3.0])
    weights = mg.tensor([1.0, 10.0, 100.0], dtype=mg.float64)
    (x.cumsum(0) * weights).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [111.0, 110.0, 100.0])


def test_cumsum_spellings_dtypes_and_errors():
    ints = mg.tensor([[1, 2], [3, 4]], dtype=mg.int32)
    assert ints.cumsum(1).dtype == mg.int64  # as PyTorch
    np.testing.assert_array_equal(mg.tensor([True, True, False]).cumsum(0).numpy(), [1, 2, 2])
    np.testing.assert_array_equal(ints.cumsum(axis=0).numpy(), [[1, 2], [4, 6]])
    assert ints.cumsum(0, dtype=mg.float64).dtype == mg.float64
    assert mg.tensor(2.0).cumsum(0).item() == 2.0
    with pytest.raises(TypeError, match="missing required argument 'dim'"):
        ints.cumsum()
    with pytest.raises(ShapeError, match="cumsum: dim 2 is out of range"):
        ints.cumsum(2)


# --- sort, argsort, topk ---------------------------------------------------------------------

@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_values_indices_and_gradients(device, dim, descending):
    x = leaf((3, 4), device)
    values, indices = x.sort(dim, descending)
    a = x.numpy()
    order = np.argsort(-a if descending else a, axis=dim, kind="stable")
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(a, order, dim))
    np.testing.assert_array_equal(x.argsort(dim, descending).numpy(), order)
    assert gradcheck(lambda t: t.sort(dim, descending).values, (x,))
    assert gradgradcheck(lambda t: t.sort(dim, descending).values ** 2, (x,))


def test_sort_is_stable_both_ways_and_puts_nan_last():
    x = mg.tensor([2.0, 1.0, 2.0, 1.0, 2.0])
    assert x.sort().indices.tolist() == [1, 3, 0, 2, 4]
    assert x.sort(descending=True, stable=True).indices.tolist() == [0, 2, 4, 1, 3]
    y = mg.tensor([1.0, math.nan, 0.0])
    assert y.sort().indices.tolist() == [2, 0, 1]
    assert y.sort(descending=True).indices.tolist() == [1, 0, 2]
    assert type(x.sort()).__name__ == "sort" and x.sort().values.grad_fn is None


def test_sort_gradient_follows_the_values():
    x = leaf([3.0, 1.0, 2.0])
    (x.sort().values * mg.tensor([1.0, 10.0, 100.0], dtype=mg.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [100.0, 1.0, 10.0])


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, -1])
def test_topk_values_indices_and_gradients(device, largest, dim):
    x = leaf((4, 5), device)
    values, indices = x.topk(3, dim, largest)
    ref = x.sort(dim, descending=largest)
    take = (slice(None),) * (dim % 2) + (slice(0, 3),)
    np.testing.assert_array_equal(values.numpy(), ref.values.numpy()[take])
    np.testing.assert_array_equal(indices.numpy(), ref.indices.numpy()[take])
    assert type(x.topk(1)).__name__ == "topk"
    assert gradcheck(lambda t: t.topk(3, dim, largest).values, (x,))
    assert gradgradcheck(lambda t: t.topk(2, dim, largest, False).values ** 2, (x,))


def test_sort_and_topk_edge_cases_and_errors():
    scalar = mg.tensor(5.0)
    assert scalar.sort().values.shape == () and scalar.sort().indices.item() == 0
    assert scalar.topk(1).values.item() == 5.0
    assert mg.ones(3, 4).topk(0).values.shape == (3, 0)
    with pytest.raises(IndexError, match="k=5 is out of range for dimension 1 of size 4"):
        mg.ones(3, 4).topk(5)
    with pytest.raises(IndexError, match="out of range"):
        mg.ones(3, 4).topk(-1)
    with pytest.raises(TypeError, match="k must be an int"):
        mg.ones(3).topk(1.0)
    with pytest.raises(ShapeError, match="sort: dim 2 is out of range"):
        mg.ones(3, 4).sort(2)


# --- softmax and log_softmax -----------------------------------------------------------------

@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_values_and_gradients(device, fn, dim):
    x = leaf((3, 4), device)
    a = x.numpy()
    log_p = a - a.max(axis=dim, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=dim, keepdims=True))
    expected = log_p if fn == "log_softmax" else np.exp(log_p)
    for out in (getattr(x, fn)(dim), getattr(F, fn)(x, dim), getattr(F, fn)(x, axis=dim),
                getattr(x, fn)(dim=dim)):
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-15)
    assert gradcheck(lambda t: getattr(t, fn)(dim), (x,))
    assert gradgradcheck(lambda t: getattr(t, fn)(dim), (x,))


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("ndim, implicit", [(0, 0), (1, 0), (2, 1), (3, 0), (4, 1)])
def test_softmax_without_dim_warns_and_takes_pytorchs_dim(fn, ndim, implicit):
    x = leaf((2, 3, 4, 5)[:ndim])
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {fn} has been "
                                         "deprecated") as caught:
        out = getattr(F, fn)(x)
    np.testing.assert_allclose(out.numpy(), getattr(x, fn)(implicit).numpy(), rtol=1e-15)
    with pytest.warns(UserWarning, match="Implicit dimension") as by_method:
        getattr(x, fn)()
    module = mg.nn.Softmax(None) if fn == "softmax" else mg.nn.LogSoftmax(None)
    with pytest.warns(UserWarning, match="Implicit dimension") as by_module:
        module(x)
    for record in (caught, by_method, by_module):  # each names the caller's line
        assert record[0].filename == __file__


def test_softmax_dtype_casts_first_and_integers_need_it():
    x = mg.tensor([[1.0, 2.0, 3.0]])
    out = x.softmax(1, dtype=mg.float64)
    assert out.dtype == mg.float64
    assert F.log_softmax(mg.tensor([1, 2]), 0, dtype=mg.float64).dtype == mg.float64
    with pytest.raises(TypeError, match="softmax needs a floating-point tensor"):
        mg.tensor([1, 2]).softmax(0)
    with pytest.raises(TypeError, match="dim or axis"):
        x.softmax(0, axis=1)
    with pytest.raises(ShapeError, match="log_softmax: dim 2 is out of range"):
        x.log_softmax(2)
    assert mg.tensor(3.0).softmax(0).item() == 1.0 and mg.tensor(3.0).log_softmax(0).item() == 0


def test_softmax_stays_importable_from_nn_functional():
    from minigrad.nn.functional import activation
    from minigrad.ops import reduce
    assert activation.softmax is reduce.softmax is F.softmax
    assert activation.log_softmax is reduce.log_softmax is F.log_softmax
    assert activation.softmax_node is reduce.softmax_node
    assert activation.log_softmax_node is reduce.log_softmax_node
