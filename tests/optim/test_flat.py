"""Flat storage (minigrad.optim.flat): parameters, gradients and state in one buffer per
group, and one update call per buffer, must change nothing a user can see.

Every optimizer runs the same trajectory with ``flat=True`` (the default) and ``flat=False``,
bit for bit, through the situations that force the per-parameter path: a parameter without
a gradient, a gradient assigned by hand, replaced ``.data``, loaded state, kept gradients.
"""
import copy

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.optim.flat import FLAT_MAX_ELEMENTS, FlatChunk
from tests.optim.catalog import (OPTIMIZERS, assert_same, fill_grads, loss_of, run_step,
                                 snapshot)

SHAPES = [(3, 4), (4,), (), (2, 3, 2)]
NAMES = sorted(OPTIMIZERS)


def make_params(seed=0, dtype=mg.float64):
    rng = np.random.default_rng(seed)
    return [mg.tensor(rng.uniform(-1.0, 1.0, shape), dtype=dtype, requires_grad=True)
            for shape in SHAPES]


def inner(optimizer):
    return getattr(optimizer, "base_optimizer", optimizer)


def chunks_of(optimizer):
    opt = inner(optimizer)
    return [c for group in opt.param_groups
            for c in opt._flat_groups.get(id(group["params"]), ([], []))[0]]


def twin_runs(name, steps, between=None, **kwargs):
    """The same optimizer over equal parameters, flat and not; ``between(i, params)`` may
    disturb both runs alike before step ``i``. Asserts equality after every step."""
    runs = []
    for flat in (True, False):
        params = make_params()
        if name in ("Lookahead",):
            opt = optim.Lookahead(optim.Adam(params, lr=0.05, flat=flat, **kwargs), k=2)
        else:
            opt = OPTIMIZERS[name](params, flat=flat, **kwargs)
        runs.append((params, opt))
    for i in range(steps):
        for params, opt in runs:
            if between is not None and between(i, params, opt) == "skip":
                continue
            run_step(opt, params)
        assert_same(snapshot(*runs[0][::-1]), snapshot(*runs[1][::-1]), f"step {i}")
    return runs


@pytest.mark.parametrize("name", NAMES)
def test_trajectories_are_bit_identical_with_flat_storage_on_and_off(name):
    (params, opt), _ = twin_runs(name, steps=6)
    chunks = chunks_of(opt)
    assert chunks, "the parameters were not flattened"
    for p in params:  # every parameter really lives in the buffer
        assert any(p.array.base is c.param.array for c in chunks)


@pytest.mark.parametrize("name", NAMES)
def test_a_parameter_without_gradient_in_some_steps(name):
    def step_without(i, params, opt):  # steps 2 and 3 leave the second parameter out
        if i not in (2, 3) or isinstance(inner(opt), optim.LBFGS):
            return None
        def gradients_without_the_second():
            loss = fill_grads(params)
            params[1].grad = None
            return loss
        gradients_without_the_second()
        if isinstance(opt, optim.SAM):  # its second pass leaves the parameter out too
            opt.step(gradients_without_the_second)
        else:
            opt.step()
        return "skip"
    twin_runs(name, steps=7, between=step_without)


def test_the_flat_path_makes_one_update_call_per_buffer(monkeypatch):
    params = make_params()
    opt = optim.Adam(params, lr=0.1)
    calls = []
    original = optim.Adam._update
    monkeypatch.setattr(optim.Adam, "_update",
                        lambda self, p, *a: calls.append(p.shape) or original(self, p, *a))
    for _ in range(3):
        run_step(opt, params)
    size = sum(int(np.prod(s)) for s in SHAPES)
    assert calls == [(size,)] * 3
    params[0].grad = None  # one parameter without a gradient: one call per parameter
    fill_grads(params[1:])
    calls.clear()
    opt.step()
    assert len(calls) == 3


def test_rules_that_look_at_a_whole_parameter_are_not_elementwise():
    for cls in (optim.Adafactor, optim.Muon, optim.LBFGS):
        assert not cls.elementwise
    ranger = optim.Ranger([mg.zeros(3, requires_grad=True)])
    assert not ranger.base_optimizer.elementwise  # centralising takes each parameter's mean


@pytest.mark.parametrize("name", ["Adam", "SGD", "RMSprop", "NAdam"])
def test_maximize_and_weight_decay(name):
    twin_runs(name, steps=5, maximize=True, weight_decay=0.1)


def test_adam_amsgrad_decoupled():
    twin_runs("Adam", steps=5, amsgrad=True, weight_decay=0.1, decoupled_weight_decay=True)


def test_hand_assigned_gradient_and_replaced_data():
    def disturb(i, params, opt):
        if i == 2:
            params[0].data = params[0].data * 1.0  # new memory: this parameter leaves the buffer
    twin_runs("Adam", steps=5, between=disturb)


def test_hand_assigned_gradients_take_the_per_parameter_path():
    flat, plain = make_params(), make_params()
    opts = [optim.SGD(ps, lr=0.1, momentum=0.9, flat=f) for ps, f in ((flat, True), (plain, False))]
    for step in range(4):
        for ps, opt in zip((flat, plain), opts):
            for k, p in enumerate(ps):
                p.grad = mg.full(p.shape, 0.1 * (k + step + 1), dtype=mg.float64)
            opt.step()
    assert_same([p.numpy() for p in flat], [p.numpy() for p in plain])


@pytest.mark.parametrize("source_flat,target_flat", [(True, False), (False, True), (True, True)])
def test_state_dict_round_trip_between_flat_and_plain(source_flat, target_flat):
    src_params = make_params()
    src = optim.Adam(src_params, lr=0.05, flat=source_flat)
    for _ in range(3):
        run_step(src, src_params)
    saved = copy.deepcopy(src.state_dict())
    dst_params = [mg.tensor(p.numpy().copy(), requires_grad=True) for p in src_params]
    dst = optim.Adam(dst_params, lr=0.05, flat=target_flat)
    dst.load_state_dict(saved)
    for _ in range(3):
        run_step(src, src_params)
        run_step(dst, dst_params)
    assert_same(snapshot(src, src_params), snapshot(dst, dst_params))
    if target_flat:  # the loaded state was gathered into the buffers
        chunk = chunks_of(dst)[0]
        assert dst.state[dst_params[0]]["exp_avg"].base is chunk.state["exp_avg"]


@pytest.mark.parametrize("keep", ["tensor", "array", "numpy view", "tensor view", "data"])
def test_a_kept_gradient_keeps_its_values_after_zero_grad(keep):
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    loss_of(params).backward()
    g = params[0].grad
    kept = {"tensor": lambda: g, "array": lambda: g.array, "numpy view": lambda: g.numpy()[1:],
            "tensor view": lambda: g[1], "data": lambda: g.data}[keep]()
    del g
    before = np.array(getattr(kept, "array", kept)).copy()
    opt.step()
    opt.zero_grad()
    (3.0 * loss_of(params)).backward()
    assert np.array_equal(np.array(getattr(kept, "array", kept)), before)
    assert chunks_of(opt)[0].intact()  # the next gradients went to a fresh buffer


def test_the_gradient_buffer_is_reused_when_nothing_keeps_a_gradient():
    """Backward writes into the same buffer step after step (no fresh memory), through the
    engine's claims and through a replay's one copy (FlatChunk.take_flat_grad)."""
    import weakref
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    chunk = chunks_of(opt)[0]
    buffers = []  # weak references: holding the buffer would make it "kept"
    for _ in range(3):
        opt.zero_grad()
        loss_of(params).backward()
        buffers.append(weakref.ref(chunk.grad))
        assert all(p.grad.array.base is chunk.grad for p in params)
        opt.step()
    assert all(ref() is chunk.grad for ref in buffers)
    opt.zero_grad()
    assert chunk.take_flat_grad(np.ones(chunk.size))
    assert buffers[0]() is chunk.grad and params[0].grad.numpy().all()


def test_zero_grad_keeps_or_zeroes_like_pytorch():
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    loss_of(params).backward()
    g = params[0].grad
    opt.zero_grad(set_to_none=False)
    assert params[0].grad is not None and not params[0].grad.numpy().any()
    assert not g.numpy().any()  # zeroed in place, as PyTorch's zero_grad(set_to_none=False)
    loss_of(params).backward()
    expected = [p.grad.numpy().copy() for p in params]
    opt.zero_grad(set_to_none=False)
    loss_of(params).backward()
    loss_of(params).backward()  # accumulates into the buffer
    for p, e in zip(params, expected):
        assert np.array_equal(p.grad.numpy(), 2 * e)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_gradient_accumulation_over_two_backwards():
    runs = []
    for flat in (True, False):
        params = make_params()
        opt = optim.Adam(params, lr=0.05, flat=flat)
        for _ in range(4):
            opt.zero_grad()
            loss_of(params).backward()
            (0.5 * loss_of(params)).backward()
            opt.step()
        runs.append([p.numpy().copy() for p in params])
    assert_same(runs[0], runs[1])


def test_module_cast_after_construction_stays_correct():
    runs = []
    for flat in (True, False):
        mg.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, flat=flat)
        x = mg.randn(5, 3, dtype=mg.float64)
        model.double()
        for _ in range(3):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
        runs.append([p.numpy().copy() for p in model.parameters()])
    assert_same(runs[0], runs[1])


def test_a_deep_copy_trains_like_the_original():
    params = make_params()
    opt = optim.Adam(params, lr=0.05)
    run_step(opt, params)
    copied_params, copied = copy.deepcopy((params, opt))
    for _ in range(3):
        run_step(opt, params)
        run_step(copied, copied_params)
    assert_same([p.numpy() for p in params], [p.numpy() for p in copied_params])


def test_groups_dtypes_and_large_parameters_are_split_sensibly():
    small32 = mg.zeros(5, requires_grad=True)
    small64 = mg.zeros(5, dtype=mg.float64, requires_grad=True)
    large = mg.zeros(FLAT_MAX_ELEMENTS + 1, requires_grad=True)
    other = mg.zeros(3, requires_grad=True)
    opt = optim.SGD([{"params": [small32, small64, large]}, {"params": [other], "lr": 0.5}],
                    lr=0.1)
    chunks, loose = opt._flat_groups[id(opt.param_groups[0]["params"])]
    assert [c.dtype for c in chunks] == [np.float32, np.float64] and loose == [large]
    assert large.array.base is None
    for p in (small32, small64, large, other):
        p.grad = None
    (small32.sum() + small64.sum() + large.sum() + other.sum()).backward()
    opt.step()
    assert np.allclose(small32.numpy(), -0.1) and np.allclose(small64.numpy(), -0.1)
    assert np.allclose(large.numpy(), -0.1) and np.allclose(other.numpy(), -0.5)


def test_a_retained_graph_is_refused_after_a_flat_step():
    w = mg.randn(3, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    loss = (w * w).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_flat_chunk_views():
    a, b = mg.ones(2, 3, requires_grad=True), mg.zeros(4, requires_grad=True)
    chunk = FlatChunk([a, b])
    assert chunk.size == 10 and chunk.param.shape == (10,)
    assert a.array.base is chunk.param.array and b.array.base is chunk.param.array
    assert np.array_equal(chunk.param.numpy(), [1] * 6 + [0] * 4)


def test_a_parameter_sharing_memory_keeps_sharing_it():
    array = np.zeros(3, dtype=np.float32)
    shared = mg.from_numpy(array).requires_grad_()
    source = mg.zeros(4)
    made_from = nn.Parameter(source)  # shares source's memory, as in PyTorch
    own = mg.zeros(2, requires_grad=True)
    opt = optim.SGD([shared, made_from, own], lr=1.0)
    chunks, loose = opt._flat_groups[id(opt.param_groups[0]["params"])]
    assert loose == [shared, made_from] and chunks[0].params == [own]
    for p in (shared, made_from, own):
        p.grad = mg.ones(*p.shape)
    opt.step()
    assert np.array_equal(array, [-1, -1, -1]) and np.array_equal(source.numpy(), [-1] * 4)


def test_flattening_keeps_the_version_count():
    p = mg.zeros(3, requires_grad=True)
    with mg.no_grad():
        p.add_(1)
    assert p._version == 1
    optim.SGD([p], lr=0.1)
    assert p._version == 1 and p.array.base is not None
