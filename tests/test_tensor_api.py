"""The parts of PyTorch's tensor surface that programs touch first: .data, constructors,
dtype and device names, grad_fn, and the Python protocols."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


# --- .data and .array ----------------------------------------------------------------------

def test_data_is_a_tensor_sharing_memory_outside_the_graph():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    d = w.data
    assert isinstance(d, mg.Tensor) and not d.requires_grad and d.is_leaf
    assert d.array is w.array and isinstance(w.array, np.ndarray)
    d[0] = 5.0
    assert w.numpy()[0] == 5.0
    assert (d * w).grad_fn is not None and (d * 2).grad_fn is None


def test_assigning_data_replaces_values_of_the_same_parameter():
    layer = nn.Linear(3, 2)
    weight = layer.weight
    optimizer = mg.optim.SGD(layer.parameters(), lr=0.1)
    layer.weight.data = mg.zeros(2, 3, dtype=mg.float64)  # dtype may change, as in PyTorch
    assert layer.weight is weight and weight.dtype == mg.float64 and weight.requires_grad
    weight.data = np.ones((4, 3), dtype=np.float32)        # an array works too; shape may change
    assert weight.shape == (4, 3) and weight.dtype == mg.float32
    assert optimizer.param_groups[0]["params"][0] is weight


def test_parameter_of_a_tensor_shares_memory_and_keeps_dtype():
    t = mg.tensor([1.0, 2.0], dtype=mg.float64)
    p = nn.Parameter(t)
    assert p.array is t.array and p.dtype == mg.float64 and p.requires_grad
    q = nn.Parameter(mg.randn(()))
    assert q.shape == () and q.dtype == mg.float32


# --- constructors --------------------------------------------------------------------------

def test_legacy_constructors():
    assert mg.Tensor([1, 2]).dtype == mg.float32  # always the default float dtype
    assert mg.Tensor(2, 3).shape == (2, 3)
    assert mg.FloatTensor([1, 2]).dtype == mg.float32
    assert mg.LongTensor([1, 2]).dtype == mg.int64
    assert mg.DoubleTensor(3).shape == (3,) and mg.BoolTensor([1, 0]).dtype == mg.bool
    np.testing.assert_array_equal(mg.LongTensor([3, 4]).numpy(), [3, 4])


def test_creation_functions():
    assert mg.empty(2, 3).shape == (2, 3) and mg.empty((4,)).dtype == mg.float32
    np.testing.assert_array_equal(mg.full_like(mg.zeros(2, dtype=mg.int64), 7).numpy(), [7, 7])
    np.testing.assert_allclose(mg.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(mg.logspace(0, 2, 3).numpy(), [1, 10, 100], rtol=1e-6)
    np.testing.assert_allclose(mg.logspace(0, 3, 4, base=2).numpy(), [1, 2, 4, 8])
    like = mg.zeros(3, 4, dtype=mg.float64)
    assert mg.randn_like(like).shape == (3, 4) and mg.rand_like(like).dtype == mg.float64
    p = mg.randperm(10)
    assert p.dtype == mg.int64 and sorted(p.tolist()) == list(range(10))
    assert mg.randint(5, (3,)).shape == (3,) and mg.randint(2, 5, (4, 2)).numpy().min() >= 2
    with pytest.raises(ValueError, match="steps must be a non-negative int"):
        mg.linspace(0, 1, -1)


def test_from_numpy_and_as_tensor_share_memory():
    a = np.arange(3.0)
    t = mg.from_numpy(a)
    np.add(a, 1, out=a)
    np.testing.assert_array_equal(t.numpy(), [1, 2, 3])
    t.add_(1)
    np.testing.assert_array_equal(a, [2, 3, 4])
    assert mg.as_tensor(a).array is a
    assert mg.as_tensor(a, dtype=mg.float32).array is not a
    assert mg.as_tensor([1, 2]).dtype == mg.int64
    assert np.asarray(t) is not None and np.asarray(t).tolist() == [2, 3, 4]
    with pytest.raises(TypeError, match="expects a numpy.ndarray"):
        mg.from_numpy([1, 2])


def test_dtype_aliases():
    assert (mg.float, mg.double, mg.half) == (mg.float32, mg.float64, mg.float16)
    assert (mg.long, mg.int, mg.bool) == (mg.int64, mg.int32, mg.bool_)
    t = mg.tensor([1.5, 2.5])
    assert t.type() == "minigrad.FloatTensor" and t.type(mg.long).dtype == mg.int64
    assert t.long().dtype == mg.int64 and t.int().dtype == mg.int32 and t.half().dtype == mg.half
    assert t.bool().dtype == mg.bool and t.double().dtype == mg.float64


# --- devices -------------------------------------------------------------------------------

def test_device_objects_work_wherever_a_device_name_does():
    cpu = mg.device("cpu")
    assert cpu == "cpu" and cpu.type == "cpu" and repr(cpu) == "device(type='cpu')"
    t = mg.zeros(2, device=cpu)
    assert t.device == "cpu" and t.device.type == "cpu" and not t.is_cuda
    assert t.to(mg.device("cpu")) is t
    assert nn.Linear(2, 2).to(cpu).weight.device == "cpu"
    assert f"Using {cpu} device" == "Using cpu device"
    with pytest.raises(ValueError, match="unknown device"):
        mg.device("tpu")
    with pytest.raises(ValueError, match="one GPU"):
        mg.device("cuda:1")


def test_cuda_queries_answer_without_a_gpu():
    assert isinstance(mg.cuda.is_available(), bool)
    assert mg.cuda.device_count() >= int(mg.cuda.is_available())
    if not mg.cuda.is_available():
        with pytest.raises(mg.DeviceError):
            mg.zeros(1, device="cuda")


# --- graph and protocols -------------------------------------------------------------------

def test_grad_fn_names_the_op_and_links_its_inputs():
    x = mg.ones(2, requires_grad=True)
    y = x * 2
    z = (y + 1).sum()
    assert x.grad_fn is None and mg.ones(2).grad_fn is None
    assert z.grad_fn.name() == "SumBackward0" and repr(y.grad_fn) == "<MulBackward0 object>"
    add_node = z.grad_fn.next_functions[0][0]
    assert add_node.name() == "AddBackward0"
    mul_node = add_node.next_functions[0][0]
    assert mul_node == y.grad_fn
    assert mul_node.next_functions[0][0].name() == "AccumulateGrad"
    assert mul_node.next_functions[0][0].variable is x
    z.backward()
    assert z.grad_fn.name() == "SumBackward0"  # the name outlives the freed graph


def test_index_and_format_of_one_element_tensors():
    assert [10, 20, 30][mg.tensor(1)] == 20
    assert list(range(10))[mg.tensor(2):mg.tensor(5)] == [2, 3, 4]
    loss = mg.tensor(0.123456789)
    assert f"{loss:>7f}" == "0.123457" and f"{loss:.2f}" == "0.12"
    assert f"{mg.tensor([1.0, 2.0])}" == "tensor([1., 2.])"
    with pytest.raises(TypeError, match="only integer tensors"):
        [1, 2][mg.tensor(1.0)]


def test_methods_people_call_on_tensors():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert x.dim() == 2 and x.nelement() == 4 and x.size(1) == 2 and x.element_size() == 4
    c = x.clone()
    assert c.array is not x.array and c.grad_fn.name() == "CloneBackward0"
    assert x.t().shape == (2, 2) and x.T.shape == (2, 2) and x.contiguous() is x
    assert x.new_zeros(3).dtype == mg.float32 and x.new_ones((2, 1)).shape == (2, 1)
    assert x.new_tensor([1, 2]).dtype == mg.float32 and x.new_full((2,), 3.0).tolist() == [3, 3]
    assert x.is_floating_point() and x.detach().is_leaf
    x.foo = "programs may tag tensors"
    assert x.foo == "programs may tag tensors"
    mask = mg.tensor([True, False])
    assert (~mask).tolist() == [False, True] and (mask & ~mask).tolist() == [False, False]
    assert (mask | ~mask).tolist() == [True, True]


def test_backward_with_inputs_only_fills_those():
    a, b = mg.ones(2, requires_grad=True), mg.ones(2, requires_grad=True)
    (a * b * 3).sum().backward(inputs=[a])
    assert a.grad.tolist() == [3, 3] and b.grad is None


def test_module_paths_that_pytorch_programs_import():
    from minigrad.nn import init, utils  # noqa: F401
    from minigrad.optim import lr_scheduler  # noqa: F401
    from minigrad.utils.data import DataLoader, Dataset, TensorDataset
    assert DataLoader is mg.data.DataLoader and Dataset is mg.data.Dataset
    assert TensorDataset is mg.data.TensorDataset
    with mg.inference_mode():
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()


def test_functions_take_pytorchs_argument_names_alpha_and_out():
    a, b = mg.tensor([[1.0, 2.0]]), mg.tensor([[3.0], [4.0]])
    out = mg.empty(1)
    assert mg.matmul(a, b, out=out) is out and out.shape == (1, 1) and out.item() == 11.0
    same = mg.zeros(1, 2)
    memory = same.array
    mg.mul(a, a, out=same)
    assert same.array is memory and same.tolist() == [[1.0, 4.0]] and same._version == 1
    assert mg.add(input=a, other=a, alpha=2).tolist() == [[3.0, 6.0]]
    assert mg.sub(a, 1, alpha=3).tolist() == [[-2.0, -1.0]]
    assert mg.exp(mg.zeros(2), out=mg.empty(2)).tolist() == [1.0, 1.0]
    w = mg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic"):
        mg.mul(w, 2, out=mg.empty(2))


def test_gradients_accumulate_into_the_same_grad_tensor():
    w = mg.ones(3, requires_grad=True)
    (w * 2).sum().backward()
    grad = w.grad
    (w * 3).sum().backward()
    assert w.grad is grad and grad.tolist() == [5.0, 5.0, 5.0]
    w.grad.zero_()
    (w * 1).sum().backward()
    assert w.grad is grad and grad.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("name, call", [
    ("sum", lambda x, kw: x.sum(**kw)), ("mean", lambda x, kw: x.mean(**kw)),
    ("prod", lambda x, kw: x.prod(**kw)), ("std", lambda x, kw: x.std(**kw)),
    ("var", lambda x, kw: x.var(**kw)), ("amax", lambda x, kw: x.amax(**kw)),
    ("logsumexp", lambda x, kw: x.logsumexp(**kw)), ("cumsum", lambda x, kw: x.cumsum(**kw)),
    ("argmax", lambda x, kw: x.argmax(**kw)), ("softmax", lambda x, kw: x.softmax(**kw)),
    ("log_softmax", lambda x, kw: mg.nn.functional.log_softmax(x, **kw)),
    ("squeeze", lambda x, kw: x.unsqueeze(**kw).squeeze(**kw)),
    ("split", lambda x, kw: mg.cat(x.split(1, **kw), **kw)),
    ("chunk", lambda x, kw: mg.stack(x.chunk(3, **kw), **kw)),
    ("unbind", lambda x, kw: mg.stack(x.unbind(**kw), **kw)),
    ("sort", lambda x, kw: x.sort(**kw).values), ("topk", lambda x, kw: x.topk(2, **kw).values),
    ("index_select", lambda x, kw: x.index_select(index=mg.tensor([2, 0]), **kw)),
    ("gather", lambda x, kw: x.gather(index=mg.tensor([[0], [2]]), **kw)),
])
def test_every_dim_argument_also_takes_numpys_axis(name, call):
    x = mg.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]])
    np.testing.assert_allclose(call(x, {"dim": 1}).numpy(), call(x, {"axis": 1}).numpy())
    with pytest.raises(TypeError, match="dim or axis"):
        call(x, {"dim": 1, "axis": 1})


def test_python_numbers_promote_as_in_pytorch():
    flags = [mg.tensor(True), mg.tensor(True), mg.tensor(False)]
    count = sum(flags)          # 0 + bool tensors: counts, not logical or
    assert count.dtype == mg.int64 and count.item() == 2
    assert (count / 4).dtype == mg.float32 and (count / 4).item() == 0.5
    assert (mg.tensor([1, 2]) / 2).tolist() == [0.5, 1.0]
    assert (mg.tensor([1, 2]) / mg.tensor([2, 4])).dtype == mg.float32
    assert (mg.tensor([True]) + 1).dtype == mg.int64 and (mg.tensor([True]) * 2.5).dtype == mg.float32
    assert (mg.tensor([1, 2]) * 3).dtype == mg.int64 and (mg.tensor([3]) // 2).tolist() == [1]


def test_full_takes_its_dtype_from_the_value():
    assert mg.full((2,), 7).dtype == mg.int64 and mg.full((2,), 7.0).dtype == mg.float32
    assert mg.full((1,), True).dtype == mg.bool and mg.full((1,), 7, dtype=mg.float64).dtype == mg.float64


def test_assigning_a_grad_that_does_not_fit_is_refused():
    w = mg.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"assigned grad has shape \(1,\).*\(3,\)"):
        w.grad = mg.ones(1)
    with pytest.raises(TypeError, match="assigned grad has dtype float64"):
        w.grad = mg.ones(3, dtype=mg.float64)
    with pytest.raises(TypeError, match="Tensor or None"):
        w.grad = [1.0, 2.0, 3.0]
    w.grad = mg.ones(3)
    assert w.grad.tolist() == [1.0, 1.0, 1.0]
    w.grad = None
    assert w.grad is None


def test_triangles_grids_normalize_and_isclose():
    from minigrad.autograd import gradcheck
    m = mg.tensor(np.arange(1.0, 13.0).reshape(3, 4), dtype=mg.float64, requires_grad=True)
    np.testing.assert_array_equal(mg.tril(m).numpy(), np.tril(m.numpy()))
    np.testing.assert_array_equal(m.triu(1).numpy(), np.triu(m.numpy(), 1))
    np.testing.assert_array_equal(m.tril(-1).numpy(), np.tril(m.numpy(), -1))
    assert gradcheck(lambda t: mg.tril(t, 1) * t, (m,))
    assert gradcheck(lambda t: mg.triu(t) * t, (m,))
    u = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    v = mg.tensor([3.0, 4.0, 5.0], dtype=mg.float64, requires_grad=True)
    gi, gj = mg.meshgrid(u, v, indexing="ij")
    xi, yi = np.meshgrid(u.numpy(), v.numpy(), indexing="ij")
    np.testing.assert_array_equal(gi.numpy(), xi)
    np.testing.assert_array_equal(gj.numpy(), yi)
    gx, gy = mg.meshgrid(u, v, indexing="xy")
    xx, yx = np.meshgrid(u.numpy(), v.numpy(), indexing="xy")
    np.testing.assert_array_equal(gx.numpy(), xx)
    np.testing.assert_array_equal(gy.numpy(), yx)
    assert gradcheck(lambda a, b: [g * g for g in mg.meshgrid(a, b, indexing="xy")], (u, v))
    x = mg.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=mg.float64, requires_grad=True)
    np.testing.assert_allclose(mg.nn.functional.normalize(x).numpy(), [[0.6, 0.8], [0.0, 0.0]])
    y = mg.tensor([[3.0, 4.0], [1.0, -2.0]], dtype=mg.float64, requires_grad=True)
    assert gradcheck(lambda t: mg.nn.functional.normalize(t, dim=1), (y,))
    assert mg.isclose(mg.tensor([1.0, 2.0]), mg.tensor([1.0 + 1e-9, 2.1])).tolist() == [True, False]
    std, mean = mg.std_mean(mg.tensor([1.0, 3.0]))
    assert mean.item() == 2.0 and abs(std.item() - 2 ** 0.5) < 1e-6
    with pytest.raises(ValueError, match="indexing"):
        mg.meshgrid(u, v, indexing="yx")
