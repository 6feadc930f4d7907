"""The GPU kernels of BatchNorm and LayerNorm (minigrad.nn.functional.normalization) and of
cross-entropy's gradient (minigrad.nn.functional.loss) against the array path.

On the CPU each kernel's body is compiled as C++ for the host (tests/kernel_emulator.py) and
the layers run with it in place of the array calls: outputs, running statistics and every
gradient must be the same bit for bit, in float32 and float64, for each layout the layers
take. A backward that builds a graph (``create_graph``) keeps the tensor ops, so that it can
be differentiated again. On a GPU the layers' own tests (test_normalization.py, test_loss.py,
run on "cuda") take the kernels.
"""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.nn.functional import normalization
from tests import kernel_emulator
from tests.kernel_emulator import kernels_on_the_host

pytestmark = pytest.mark.skipif(not kernel_emulator.available(),
                                reason="no C++ compiler to run the kernels on the host")

KERNELS = {"norm_center", "norm_affine", "norm_backward_products", "norm_backward_input"}
OURS = KERNELS | {"cross_entropy_grad"}

LAYERS = {  # name: (layer maker, input shape)
    "BatchNorm1d (N, C)": (lambda: nn.BatchNorm1d(5), (7, 5)),
    "BatchNorm1d (N, C, L)": (lambda: nn.BatchNorm1d(3), (4, 3, 6)),
    "LayerNorm (N, D)": (lambda: nn.LayerNorm(5), (6, 5)),
    "LayerNorm (N, A, B, D) over (B, D)": (lambda: nn.LayerNorm((4, 5)), (2, 3, 4, 5)),
}


def _run(name, dtype, create_graph=False):
    """Output, running statistics, gradients (and, with ``create_graph``, the gradient of
    the input's gradient) of one training step of the layer, on the host."""
    make, shape = LAYERS[name]
    mg.manual_seed(3)
    layer = make().to(dtype=dtype)
    rng = np.random.default_rng(4)
    with mg.no_grad():  # weights and biases away from 1 and 0, so that each one counts
        for p in layer.parameters():
            p.copy_(mg.tensor(rng.uniform(0.5, 1.5, p.shape), dtype=dtype))
    x = mg.tensor(rng.standard_normal(shape) * 3 + 1, dtype=dtype, requires_grad=True)
    upstream = mg.tensor(rng.standard_normal(shape), dtype=dtype)
    out = layer(x)
    (out * upstream).sum().backward(create_graph=create_graph)
    results = [out.numpy(), x.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()]
    results += [b.numpy() for b in layer.buffers() if b.dtype.kind == "f"]
    if create_graph:
        (x.grad * x.grad).sum().backward()
        results += [p.grad.numpy() for p in layer.parameters()]
    return results


def _same_bits(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        assert g.tobytes() == e.tobytes()


@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
@pytest.mark.parametrize("name", list(LAYERS))
def test_the_kernels_give_the_array_path_bit_for_bit(name, dtype):
    expected = _run(name, dtype)
    with kernels_on_the_host() as launches:
        got = _run(name, dtype)
    assert set(launches) == KERNELS, launches  # each ran, once per step
    assert all(count == 1 for count in launches.values())
    _same_bits(got, expected)


@pytest.mark.filterwarnings("ignore:backward\\(create_graph=True\\) keeps the graph")
@pytest.mark.parametrize("name", list(LAYERS))
def test_a_backward_that_builds_a_graph_keeps_the_tensor_ops(name):
    expected = _run(name, mg.float64, create_graph=True)
    with kernels_on_the_host() as launches:
        got = _run(name, mg.float64, create_graph=True)
    assert set(launches) == {"norm_center", "norm_affine"}  # forward only
    _same_bits(got, expected)


@pytest.mark.parametrize("layer", [nn.LayerNorm(5, elementwise_affine=False),
                                   nn.LayerNorm(5, bias=False),
                                   nn.BatchNorm1d(5, affine=False)])
def test_without_a_weight_and_a_bias_the_array_path_runs(layer):
    x = mg.randn(4, 5, requires_grad=True)
    with kernels_on_the_host() as launches:
        layer(x).sum().backward()
    assert not launches


def test_a_weight_of_another_dtype_takes_the_array_path():
    x = mg.randn(4, 5, requires_grad=True)
    weight = mg.ones(5, dtype=mg.float64, requires_grad=True)
    bias = mg.zeros(5, dtype=mg.float64, requires_grad=True)
    with kernels_on_the_host() as launches:
        out = mg.nn.functional.layer_norm(x, 5, weight, bias)
        out.sum().backward()
    assert not launches and out.dtype == mg.float64


def test_the_kernels_are_declared_once_each():
    declared = [k.name for k in mg.kernels.ElementwiseKernel.registry if k.name in OURS]
    assert sorted(declared) == sorted(OURS)
    assert normalization.NORM_AFFINE.name == "norm_affine"


# --- cross-entropy -------------------------------------------------------------------------

TARGETS = {"plain": [0, 3, 1, 4, 2, 2, 0], "some ignored": [0, -100, 1, 4, -100, 2, 0],
           "all ignored": [-100] * 7}


def _cross_entropy(dtype, target, reduction, create_graph=False, **options):
    rng = np.random.default_rng(6)
    x = mg.tensor(rng.standard_normal((7, 5)) * 4, dtype=dtype, requires_grad=True)
    loss = F.cross_entropy(x, mg.tensor(TARGETS[target]), reduction=reduction, **options)
    upstream = mg.tensor(rng.standard_normal(loss.shape), dtype=dtype)
    (loss * upstream).sum().backward(create_graph=create_graph)
    return [loss.numpy(), x.grad.numpy()]


@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_cross_entropy_kernel_gives_the_array_path_bit_for_bit(reduction, target, dtype):
    expected = _cross_entropy(dtype, target, reduction)
    with kernels_on_the_host() as launches:
        got = _cross_entropy(dtype, target, reduction)
    assert launches == {"cross_entropy_grad": 1}
    _same_bits(got, expected)


@pytest.mark.filterwarnings("ignore:backward\\(create_graph=True\\) keeps the graph")
@pytest.mark.parametrize("options", [{"weight": mg.tensor([1.0, 2.0, 0.5, 1.0, 3.0])},
                                     {"label_smoothing": 0.1}, {"create_graph": True}])
def test_cross_entropy_with_weights_smoothing_or_a_graph_keeps_the_array_path(options):
    expected = _cross_entropy(mg.float32, "some ignored", "mean", **options)
    with kernels_on_the_host() as launches:
        got = _cross_entropy(mg.float32, "some ignored", "mean", **options)
    assert not launches
    _same_bits(got, expected)


@pytest.mark.parametrize("target", ["plain", "some ignored"])
def test_the_cross_entropy_kernel_where_checks_are_deferred(target):
    """As on the GPU: each sample's factor (1 counted, 0 ignored) comes from the device."""
    from minigrad import backend
    with backend.force_deferred_checks():
        expected = _cross_entropy(mg.float32, target, "mean")
        with kernels_on_the_host() as launches:
            got = _cross_entropy(mg.float32, target, "mean")
    assert launches == {"cross_entropy_grad": 1}
    _same_bits(got, expected)


def test_a_deferred_bad_target_makes_its_row_of_the_kernel_gradient_nan():
    from minigrad import backend
    x = mg.randn(3, 4, requires_grad=True)
    with pytest.raises(ValueError, match="target contains class 7"):
        with backend.force_deferred_checks(), kernels_on_the_host() as launches:
            F.cross_entropy(x, mg.tensor([1, 7, 0])).backward()
            assert launches == {"cross_entropy_grad": 1}
            grad = x.grad.array
            assert np.isnan(grad[1]).all() and np.isfinite(grad[[0, 2]]).all()
