from collections import OrderedDict

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(mg.ones(4))
        self.register_buffer("steps", mg.zeros((), dtype=mg.int64))
        self.register_buffer("cache", mg.zeros(2), persistent=False)
        self.note = "plain attribute"

    def forward(self, x):
        return self.norm(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.block(x))


def test_registration_and_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "block.scale", "block.fc.weight", "block.fc.bias", "block.norm.weight", "block.norm.bias",
        "head.2.weight", "head.2.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "block.steps", "block.cache", "block.norm.running_mean", "block.norm.running_var",
        "block.norm.num_batches_tracked"]
    assert [n for n, _ in net.named_modules()] == [
        "", "block", "block.fc", "block.norm", "head", "head.0", "head.1", "head.2"]
    assert [type(m).__name__ for m in net.children()] == ["Block", "Sequential"]
    assert len(list(net.modules())) == 8
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.block.named_parameters(recurse=False)] == ["scale"]
    assert net.block.note == "plain attribute" and "note" not in dict(net.named_parameters())


def test_state_dict_keys_share_memory_and_skip_non_persistent_buffers():
    net = Net()
    sd = net.state_dict()
    assert "block.cache" not in sd and "block.steps" in sd
    assert "block.norm.num_batches_tracked" in sd
    assert not any(t.requires_grad for t in sd.values())
    with mg.no_grad():
        net.block.fc.bias[...] = 7.0
    np.testing.assert_array_equal(sd["block.fc.bias"].numpy(), 7.0)
    assert net.state_dict(keep_vars=True)["block.fc.bias"] is net.block.fc.bias


def test_shared_parameter_is_listed_once():
    net = nn.Module()
    net.a = nn.Linear(2, 2)
    net.b = nn.Linear(2, 2)
    net.b.weight = net.a.weight
    assert len(list(net.parameters())) == 3
    net.c = net.a
    assert len(list(net.modules())) == 3 and len(list(net.parameters())) == 3


def test_reassigning_and_deleting_registered_attributes():
    layer = nn.Linear(2, 3)
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="expected an nn.Parameter"):
        layer.weight = mg.randn(3, 2)
    layer.weight = nn.Parameter(mg.zeros(3, 2))
    assert np.all(layer.weight.numpy() == 0)
    del layer.weight
    assert list(layer.parameters()) == [] and not hasattr(layer, "weight")
    block = Block()
    with pytest.raises(TypeError, match="expected a Tensor"):
        block.steps = 3
    block.steps = mg.ones(())
    assert block.state_dict()["steps"].item() == 1


def test_registration_errors():
    class Forgot(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(mg.ones(1))
    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Forgot()
    m = nn.Module()
    with pytest.raises(TypeError, match="wrap it in nn.Parameter"):
        m.register_parameter("w", mg.ones(2))
    with pytest.raises(KeyError, match="'.'"):
        m.register_buffer("a.b", mg.ones(2))
    m.x = 3
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("x", mg.ones(2))
    with pytest.raises(NotImplementedError, match="forward"):
        m(mg.ones(1))


def test_train_eval_propagate():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.head.train(False)
    assert net.training and not net.head[1].training
    with pytest.raises(TypeError, match="bool"):
        net.train("no")


def test_zero_grad_and_requires_grad_():
    net = Net()
    net(mg.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.block.requires_grad_(False)
    assert not net.block.fc.weight.requires_grad and net.head[2].weight.requires_grad


def test_to_dtype_keeps_parameter_identity_and_moves_everything():
    net = Net()
    net(mg.randn(4, 3)).sum().backward()
    params = list(net.parameters())
    assert net.double() is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == mg.float64 and p.grad.dtype == mg.float64 for p in params)
    assert net.block.norm.running_mean.dtype == mg.float64
    assert net.block.norm.num_batches_tracked.dtype == mg.int64  # integers keep their dtype
    assert net.block.steps.dtype == mg.int64
    out = net(mg.randn(4, 3, dtype=mg.float64))
    assert out.dtype == mg.float64
    net.to(dtype=mg.float32)
    assert all(p.dtype == mg.float32 for p in params)
    with pytest.raises(TypeError, match="floating-point"):
        net.to(mg.int64)
    with pytest.raises(ValueError, match="unknown device"):
        net.to("tpu")


def test_to_device_in_place(device):
    net = Net()
    params = list(net.parameters())
    net.to(device)
    assert list(net.parameters()) == params
    assert all(t.device == device for t in (*net.parameters(), *net.buffers()))
    assert net(mg.randn(4, 3, device=device)).device == device


def test_load_state_dict_round_trip_and_strictness():
    source, target = Net(), Net()
    target.load_state_dict(source.state_dict())
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    weight = target.block.fc.weight
    sd = source.state_dict()
    del sd["head.2.bias"]
    sd["extra.weight"] = mg.ones(2)
    with pytest.raises(RuntimeError) as info:
        target.load_state_dict(sd)
    message = str(info.value)
    assert "Missing key(s) in state_dict: 'head.2.bias'" in message
    assert "Unexpected key(s) in state_dict: 'extra.weight'" in message
    result = target.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["head.2.bias"] and result.unexpected_keys == ["extra.weight"]
    assert target.block.fc.weight is weight  # loaded in place


def test_load_state_dict_shape_mismatch_changes_nothing():
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    before = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    sd = {k: mg.zeros(v.shape) for k, v in net.state_dict().items()}
    sd["1.weight"] = mg.zeros(1, 4)
    with pytest.raises(RuntimeError, match=r"size mismatch for 1.weight.*\(1, 4\).*\(1, 3\)"):
        net.load_state_dict(sd, strict=False)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    sd["1.weight"] = "not a tensor"
    with pytest.raises(RuntimeError, match="expected a Tensor"):
        net.load_state_dict(sd)


def test_load_state_dict_casts_to_the_model_dtype():
    net = nn.Linear(2, 2)
    sd = {"weight": mg.ones(2, 2, dtype=mg.float64), "bias": mg.zeros(2, dtype=mg.float64)}
    net.load_state_dict(sd)
    assert net.weight.dtype == mg.float32 and np.all(net.weight.numpy() == 1)


def test_repr_is_nested_like_pytorch():
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.GELU(), nn.Dropout(0.1)))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): GELU(approximate='none')\n"
        "    (1): Dropout(p=0.1, inplace=False)\n"
        "  )\n"
        ")")
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.Parameter(mg.ones(1))).startswith("Parameter containing:\ntensor(")


def test_sequential_indexing_iteration_and_slices():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    x = mg.randn(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in named.named_children()] == ["fc", "act"] and named.fc is named[0]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)


def test_module_list():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    owner = nn.Module()
    owner.blocks = blocks
    assert len(list(owner.parameters())) == 6
    assert [n for n, _ in owner.named_parameters()][:2] == ["blocks.0.weight", "blocks.0.bias"]
    blocks.append(nn.Linear(2, 2))
    blocks.insert(0, nn.Tanh())
    assert len(blocks) == 5 and isinstance(blocks[0], nn.Tanh)
    assert [n for n, _ in blocks.named_children()] == ["0", "1", "2", "3", "4"]
    del blocks[0]
    assert len(blocks) == 4 and isinstance(blocks[0], nn.Linear)
    blocks[1] = nn.ReLU()
    assert isinstance(blocks[1], nn.ReLU) and len(list(owner.parameters())) == 6
    assert isinstance(blocks[1:], nn.ModuleList) and len(blocks[1:]) == 3


def test_parameter_wraps_tensors_and_arrays():
    t = mg.randn(3)
    p = nn.Parameter(t)
    assert p.array is t.array and p.requires_grad and p.is_leaf
    assert not nn.Parameter(mg.ones(2), requires_grad=False).requires_grad
    assert nn.Parameter(np.ones(2)).dtype == np.float64
    assert type(p * 2) is mg.Tensor  # results of ops are plain tensors
    assert nn.Parameter().shape == (0,)


def test_deepcopy_gives_an_independent_model():
    import copy
    net = Net()
    clone = copy.deepcopy(net)
    assert clone.block.fc.weight is not net.block.fc.weight
    assert clone.block.fc.weight is clone.block.fc._parameters["weight"]
    with mg.no_grad():
        clone.block.fc.weight[...] = 0.0
    assert not np.all(net.block.fc.weight.numpy() == 0)


def test_to_missing_cuda_fails_early_with_a_device_error():
    if mg.cuda_is_available():
        pytest.skip("a GPU is present")
    net = Net()
    with pytest.raises(mg.DeviceError, match="cuda"):
        net.to("cuda")
    assert all(p.device == "cpu" for p in net.parameters())


@pytest.mark.parametrize("bad_value, message", [
    (np.full((2, 2), 1e300), "NaN or inf after the cast to float32"),
    (np.array([[1.0, np.nan], [0.0, 0.0]]), "NaN or inf"),
    (np.array([["a", "b"], ["c", "d"]]), "dtype <U1, which can't be converted"),
])
def test_load_state_dict_checks_every_value_before_copying_any(bad_value, message):
    layer = nn.Linear(2, 2)
    before = {k: v.numpy().copy() for k, v in layer.state_dict().items()}
    with pytest.raises(RuntimeError, match=message):
        layer.load_state_dict({"bias": mg.tensor([5.0, 6.0]), "weight": bad_value})
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key])  # bias untouched too


def test_module_dict_and_parameter_list_register_their_entries():
    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.Linear(2, 1)})
            self.scales = nn.ParameterList([mg.ones(3), nn.Parameter(mg.zeros(1))])

        def forward(self, x):
            return self.heads["a"](x) * self.scales[0], self.heads["b"](x) + self.scales[1]
    model = Heads()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["heads.a.weight", "heads.a.bias", "heads.b.weight", "heads.b.bias",
                     "scales.0", "scales.1"]
    assert "a" in model.heads and list(model.heads.keys()) == ["a", "b"] and len(model.scales) == 2
    a, b = model(mg.ones(4, 2))
    (a.sum() + b.sum()).backward()
    assert model.scales[0].grad is not None and model.heads["b"].weight.grad is not None
    assert set(model.state_dict()) == set(names)


def test_to_dtype_of_a_view_parameter_leaves_the_old_memory():
    """A parameter viewing another tensor's memory gets memory of its own when .double()
    converts it: it is no longer that tensor's view (no version counter or base shared with
    the old float32 memory, which is not kept alive through it)."""
    storage = mg.zeros(6)
    layer = nn.Linear(3, 1)
    layer.weight = nn.Parameter(storage[:3].reshape(1, 3))
    assert layer.weight._base is storage
    layer.double()
    assert layer.weight._base is None and layer.weight.dtype == mg.float64
    with mg.no_grad():
        layer.weight.add_(1.0)
    assert storage.numpy().tolist() == [0.0] * 6
    assert storage._version == 0
