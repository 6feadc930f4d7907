"""minigrad.distributed inside the test process: a world of one (``MPI.COMM_SELF``) for the
process group, DDP's buckets and hooks; the sampler, DataLoader's sampler=, Future and
SyncBatchNorm need no MPI at all."""
import json
import os

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad import nn
from minigrad.autograd.gradcheck import gradcheck
from minigrad.data import DataLoader, DistributedSampler, TensorDataset
from minigrad.distributed.ddp import FIRST_BUCKET_BYTES
from minigrad.errors import DeviceError
from tests.distributed.mpi import mpi4py_missing

HERE = os.path.dirname(os.path.abspath(__file__))
needs_mpi4py = pytest.mark.skipif(mpi4py_missing() is not None, reason=mpi4py_missing() or "")


@pytest.fixture
def world_of_one():
    from mpi4py import MPI
    dist.init_process_group("mpi", comm=MPI.COMM_SELF)
    yield
    dist.destroy_process_group()


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(),
                         nn.Linear(8, 3))


# --- the process group -----------------------------------------------------------------------
@needs_mpi4py
def test_group_of_one_and_its_errors(world_of_one):
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert dist.get_backend() == "mpi"
    with pytest.raises(RuntimeError, match="already"):
        dist.init_process_group()
    t = mg.tensor([1.0, 2.0])
    assert dist.all_reduce(t, op=dist.ReduceOp.AVG) is None and t.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="ReduceOp"):
        dist.all_reduce(t, op="sum")
    with pytest.raises(TypeError, match="Tensor"):
        dist.all_reduce(np.ones(2))
    with pytest.raises(ValueError, match="src=1 is not a member"):
        dist.broadcast(t, src=1)
    with pytest.raises(TypeError, match="floating"):
        dist.all_reduce(mg.tensor([1, 2]), op=dist.ReduceOp.AVG)
    with pytest.raises(ValueError, match="one tensor per rank"):
        dist.all_gather([t, t], t)
    assert dist.new_group([0]).size() == 1


def test_without_a_group_calls_say_what_to_do():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="backend"):
        dist.init_process_group("gloo")
    if not dist.is_nccl_available():
        with pytest.raises(DeviceError, match="backend='nccl' needs one CUDA GPU per rank"):
            dist.init_process_group("nccl")
    assert not dist.is_initialized()


def test_missing_mpi4py_names_the_extra(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_mpi(name, *args, **kwargs):
        if name.startswith("mpi4py"):
            raise ImportError("no mpi4py")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_mpi)
    with pytest.raises(ImportError, match=r"minigrad\[dist\]"):
        dist.init_process_group()
    assert not dist.is_available()


@needs_mpi4py
def test_async_work_and_its_future(world_of_one):
    t = mg.tensor([3.0])
    work = dist.all_reduce(t, async_op=True)
    assert isinstance(work, dist.Work)
    assert work.wait() and work.is_completed()
    assert work.get_future().value()[0] is t
    chained = work.get_future().then(lambda f: f.value()[0] + 1)
    assert chained.done() and chained.wait().tolist() == [4.0]


# --- Future -----------------------------------------------------------------------------------
def test_future_then_set_result_and_errors():
    fut = dist.Future()
    calls = []
    child = fut.then(lambda f: calls.append(f.value()) or f.value() * 2)
    grandchild = child.then(lambda f: f.value() + 1)
    assert not fut.done() and not child.done()
    with pytest.raises(RuntimeError, match="before the future is done"):
        fut.value()
    fut.set_result(5)
    assert calls == [5] and child.wait() == 10 and grandchild.wait() == 11
    with pytest.raises(RuntimeError, match="already"):
        fut.set_result(6)
    late = fut.then(lambda f: f.value() - 1)  # then on a done future runs at once
    assert late.done() and late.value() == 4
    with pytest.raises(RuntimeError, match="nothing will complete"):
        dist.Future().wait()


def test_future_callback_error_reaches_whoever_waits():
    fut = dist.Future()
    child = fut.then(lambda f: 1 / 0)
    fut.set_result(1)
    with pytest.raises(ZeroDivisionError):
        child.wait()


def test_future_returned_by_a_callback_is_unwrapped():
    inner, outer = dist.Future(), dist.Future()
    inner.set_result("x")
    chained = outer.then(lambda f: inner)
    outer.set_result(None)
    assert chained.wait() == "x"


# --- DistributedDataParallel in a world of one ------------------------------------------------
@needs_mpi4py
def test_buckets_are_in_reverse_order_and_capped(world_of_one):
    model = mlp()
    params = list(model.parameters())
    small = dist.DistributedDataParallel(model, bucket_cap_mb=100 / 2**20)  # 100 bytes
    buckets = small._buckets
    assert len(buckets) > 2
    flat = [p for b in buckets for p in reversed(b.params)]
    assert flat == list(reversed(params))  # reverse order over buckets, forward within
    for b in buckets[:-1]:
        assert b.nbytes() >= 100 and b.nbytes() - b.params[0].array.nbytes < 100
    one = dist.DistributedDataParallel(mlp())
    assert len(one._buckets) == 1  # 25 MB holds it all
    assert FIRST_BUCKET_BYTES == 2**20


@needs_mpi4py
def test_buckets_never_mix_dtypes(world_of_one):
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3, dtype=mg.float64))
    ddp = dist.DistributedDataParallel(model)
    assert sorted(str(b.params[0].dtype) for b in ddp._buckets) == ["float32", "float64"]
    assert all(len({p.dtype for p in b.params}) == 1 for b in ddp._buckets)


@needs_mpi4py
def test_bucket_cap_and_device_ids_are_checked(world_of_one):
    with pytest.raises(ValueError, match="bucket_cap_mb"):
        dist.DistributedDataParallel(mlp(), bucket_cap_mb=0)
    with pytest.raises(ValueError, match="device_ids"):
        dist.DistributedDataParallel(mlp(), device_ids=[0, 1])
    with pytest.raises(TypeError, match="nn.Module"):
        dist.DistributedDataParallel(lambda x: x)


def _step(ddp, opt, x, y):
    opt.zero_grad()
    nn.CrossEntropyLoss()(ddp(x), y).backward()
    opt.step()


@needs_mpi4py
def test_ddp_reduces_in_place_in_the_optimizers_flat_buffer(world_of_one):
    model = mlp()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=100 / 2**20)
    opt = mg.optim.SGD(ddp.parameters(), lr=0.1)
    chunk = opt._flat_groups[id(opt.param_groups[0]["params"])][0][0]
    seen = []

    def spy(state, bucket):
        seen.append(np.shares_memory(bucket.buffer().array, chunk.grad))
        return dist.allreduce_hook(state, bucket)
    ddp.register_comm_hook(None, spy)
    x, y = mg.randn(6, 4), mg.tensor([0, 1, 2, 0, 1, 2])
    renewals = []
    renew = chunk._new_grad_buffer
    chunk._new_grad_buffer = lambda: (renewals.append(1), renew())
    for _ in range(3):
        _step(ddp, opt, x, y)
    assert seen and all(seen)
    assert renewals == []  # the optimizer's buffer was reused: DDP kept no reference to it
    assert all(b.buffer is None for b in ddp._buckets)  # nothing gathered


@needs_mpi4py
def test_ddp_in_a_world_of_one_is_the_plain_model(world_of_one):
    mg.manual_seed(1)
    ref = mlp()
    mg.manual_seed(1)
    model = mlp()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=100 / 2**20)
    opt_ref, opt = mg.optim.Adam(ref.parameters(), lr=0.01), mg.optim.Adam(ddp.parameters(),
                                                                            lr=0.01)
    for k in range(5):
        x, y = mg.randn(6, 4), mg.tensor([0, 1, 2, 0, 1, k % 3])
        _step(ref, opt_ref, x, y)
        _step(ddp, opt, x, y)
    for a, b in zip(ref.parameters(), model.parameters()):
        assert np.array_equal(a.array, b.array)
    assert list(ddp.state_dict()) == ["module." + k for k in ref.state_dict()]


@needs_mpi4py
def test_without_optimizer_buffers_ddp_gives_the_grad_homes(world_of_one):
    model = mlp()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=100 / 2**20)
    opt = mg.optim.SGD(ddp.parameters(), lr=0.1, flat=False)
    seen = []

    def spy(state, bucket):
        seen.append(any(bucket.buffer().array.base is b.buffer for b in ddp._buckets))
        return dist.allreduce_hook(state, bucket)
    ddp.register_comm_hook(None, spy)
    x, y = mg.randn(6, 4), mg.tensor([0, 1, 2, 0, 1, 2])
    _step(ddp, opt, x, y)
    buffers = [id(b.buffer) for b in ddp._buckets]
    for _ in range(2):
        _step(ddp, opt, x, y)
    assert seen and all(seen)  # every bucket reduced in its own buffer, in place
    assert [id(b.buffer) for b in ddp._buckets] == buffers  # reused, not renewed
    assert all(b.scratch is None for b in ddp._buckets)  # nothing gathered
    for b in ddp._buckets:
        for p in b.params:
            assert p.grad.array.base is b.buffer
    # a gradient kept from a step keeps its values: the next backward takes a new buffer
    opt.zero_grad()
    ddp(x).sum().backward()
    kept = model[0].weight.grad
    values = kept.array.copy()
    opt.zero_grad()
    (2 * ddp(x).sum()).backward()
    assert np.array_equal(kept.array, values)
    assert np.allclose(model[0].weight.grad.array, 2 * values)


@needs_mpi4py
def test_gathered_buckets_copy_back_or_become_views(world_of_one):
    for as_view in (False, True):
        mg.manual_seed(3)
        model = mlp()
        ddp = dist.DistributedDataParallel(model, bucket_cap_mb=100 / 2**20,
                                           gradient_as_bucket_view=as_view)
        ddp._use_homes = False  # no homes of its own: every bucket is gathered
        opt = mg.optim.SGD(ddp.parameters(), lr=0.1, flat=False)
        x = mg.ones(2, 4)
        expect = mg.autograd.grad(model(x).sum(), list(model.parameters()))
        for _ in range(2):
            opt.zero_grad()
            ddp(x).sum().backward()
        assert all(b.scratch is not None and b.buffer is None for b in ddp._buckets)
        views = [any(np.shares_memory(p.grad.array, b.scratch) for b in ddp._buckets)
                 for p in model.parameters()]
        assert all(views) if as_view else not any(views)
        for g, p in zip(expect, model.parameters()):
            assert np.allclose(p.grad.array, g.array)


@needs_mpi4py
def test_a_bucket_mostly_of_a_large_parameter_takes_the_homes_of_its_small_ones(world_of_one):
    def make():
        mg.manual_seed(4)
        return nn.Sequential(nn.Linear(300, 300), nn.Tanh(), nn.Linear(300, 2))  # 90000 > 65536
    ref, model = make(), make()
    ddp = dist.DistributedDataParallel(model)  # one bucket: all four parameters
    opt_ref = mg.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt = mg.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)  # flat: all but the weight
    for k in range(3):
        x = mg.randn(3, 300)
        for m, o in ((ref, opt_ref), (ddp, opt)):
            o.zero_grad()
            m(x).sum().backward()
            o.step()
    (bucket,) = ddp._buckets
    assert bucket.buffer is not None and bucket.scratch is None  # in place, nothing gathered
    assert all(p.grad.array.base is bucket.buffer for p in model.parameters())
    for a, b in zip(ref.parameters(), model.parameters()):
        assert np.array_equal(a.array, b.array)  # the optimizer stepped them one by one


@needs_mpi4py
def test_comm_hook_value_is_written_back_and_hook_errors(world_of_one):
    model = mlp()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=100 / 2**20)
    seen = []

    def triple(state, bucket):
        seen.append((state, bucket.index(), bucket.is_last(), bucket.buffer().shape))
        assert [g.shape for g in bucket.gradients()] == [p.shape for p in bucket.parameters()]
        fut = dist.Future()
        fut.set_result(bucket.buffer() * 3)
        return fut
    ddp.register_comm_hook("state", triple)
    with pytest.raises(RuntimeError, match="once"):
        ddp.register_comm_hook(None, triple)
    x = mg.randn(3, 4)
    plain = mg.autograd.grad(model(x).sum(), list(model.parameters()))  # no accumulation
    ddp(x).sum().backward()
    n = len(ddp._buckets)
    assert [s[1] for s in seen] == list(range(n)) and [s[2] for s in seen][-1]
    assert all(s[0] == "state" for s in seen)
    for g, p in zip(plain, model.parameters()):
        assert np.allclose(p.grad.array, 3 * g.array, rtol=1e-6)


@needs_mpi4py
def test_a_hook_returning_no_future_is_refused(world_of_one):
    ddp = dist.DistributedDataParallel(nn.Linear(2, 2))
    ddp.register_comm_hook(None, lambda state, bucket: bucket.buffer())
    with pytest.raises(TypeError, match="Future"):
        ddp(mg.ones(1, 2)).sum().backward()
    ddp2 = dist.DistributedDataParallel(nn.Linear(2, 2))

    def wrong_size(state, bucket):
        fut = dist.Future()
        fut.set_result(mg.zeros(1))
        return fut
    ddp2.register_comm_hook(None, wrong_size)
    with pytest.raises(TypeError, match="entries"):
        ddp2(mg.ones(1, 2)).sum().backward()



@needs_mpi4py
def test_ddp_recovers_from_a_backward_that_raised_midway(world_of_one):
    model = mlp()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=100 / 2**20)
    calls, failing = [], [True]

    def flaky(state, bucket):
        calls.append(bucket.index())
        if failing[0] and len(calls) == 2:
            failing[0] = False
            raise RuntimeError("lost")
        return dist.allreduce_hook(state, bucket)
    ddp.register_comm_hook(None, flaky)
    x = mg.randn(2, 4)
    with pytest.raises(RuntimeError, match="lost"):
        ddp(x).sum().backward()
    model.zero_grad()
    calls.clear()
    expect = mg.autograd.grad(model(x).sum(), list(model.parameters()))
    ddp(x).sum().backward()  # every bucket again, from the first, and all written back
    assert calls == list(range(len(ddp._buckets)))
    for g, p in zip(expect, model.parameters()):
        assert np.allclose(p.grad.array, g.array)


@needs_mpi4py
def test_no_sync_skips_the_hooks_and_the_next_backward_reduces_the_sum(world_of_one):
    model = mlp()
    ddp = dist.DistributedDataParallel(model)
    calls = []

    def counting(state, bucket):
        calls.append(bucket.index())
        return dist.allreduce_hook(state, bucket)
    ddp.register_comm_hook(None, counting)
    x = mg.randn(2, 4)
    with ddp.no_sync():
        ddp(x).sum().backward()
        ddp(x).sum().backward()
    assert calls == [] and ddp.require_backward_grad_sync
    ddp(x).sum().backward()
    assert calls == [0]


@needs_mpi4py
def test_unused_parameter_gets_a_zero_gradient(world_of_one):
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x)
    model = TwoHeads()
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=1 / 2**20)
    ddp(mg.ones(1, 2)).sum().backward()
    assert model.b.weight.grad is not None and not model.b.weight.grad.array.any()


# --- DistributedSampler -----------------------------------------------------------------------
def test_sampler_matches_torchs_split_and_padding():
    refs = json.load(open(os.path.join(HERE, "golden", "sampler_refs.json")))
    for case in refs["cases"]:
        data = list(range(case["n"]))
        for rank, share in enumerate(case["shares"]):
            s = DistributedSampler(data, case["num_replicas"], rank, shuffle=False,
                                   drop_last=case["drop_last"])
            assert list(s) == share and len(s) == len(share), case


def test_sampler_shuffles_by_seed_and_epoch_the_same_on_every_rank():
    data = list(range(13))

    def shares(epoch, seed=0):
        out = []
        for rank in range(3):
            s = DistributedSampler(data, 3, rank, seed=seed)
            s.set_epoch(epoch)
            out.append(list(s))
        return out
    e0, e1 = shares(0), shares(1)
    assert e0 == shares(0) and e0 != e1 and e0 != shares(0, seed=1)
    order = np.random.default_rng(0).permutation(13).tolist()
    padded = order + order[:2]
    assert e0 == [padded[r::3] for r in range(3)]


def test_sampler_arguments_are_checked():
    with pytest.raises(ValueError, match="Invalid rank 3"):
        DistributedSampler(range(4), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))
    with pytest.raises(TypeError, match="__len__"):
        DistributedSampler(iter(range(4)), 1, 0)


@needs_mpi4py
def test_sampler_defaults_come_from_the_group(world_of_one):
    s = DistributedSampler(range(5), shuffle=False)
    assert (s.num_replicas, s.rank, list(s)) == (1, 0, [0, 1, 2, 3, 4])


def test_dataloader_takes_a_sampler():
    ds = TensorDataset(mg.arange(10), mg.arange(10) * 2)
    sampler = DistributedSampler(ds, num_replicas=4, rank=1, shuffle=False)
    loader = DataLoader(ds, batch_size=2, sampler=sampler)
    assert list(sampler) == [1, 5, 9] and len(loader) == 2
    assert [b[0].tolist() for b in loader] == [[1, 5], [9]]
    assert [b[1].tolist() for b in loader] == [[2, 10], [18]]
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=2, sampler=sampler,
                                              drop_last=True)] == [[1, 5]]
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=3, sampler=[9, 0, 4, 4])] == \
        [[9, 0, 4], [4]]
    collated = DataLoader(list(range(10)), batch_size=2, sampler=sampler)
    assert [b.tolist() for b in collated] == [[1, 5], [9]]
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=sampler, shuffle=True)
    with pytest.raises(TypeError, match="sampler"):
        DataLoader(ds, sampler=5)


# --- SyncBatchNorm ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 3), (6, 3, 4)])
def test_sync_batchnorm_alone_is_batchnorm_bit_for_bit(shape):
    x = mg.randn(*shape, dtype=mg.float64)
    bn, sbn = nn.BatchNorm1d(3, dtype=mg.float64), nn.SyncBatchNorm(3, dtype=mg.float64)
    for layer in (bn, sbn):
        layer.weight.array[...] = [0.5, 2.0, -1.0]
    xa, xb = x.detach().requires_grad_(), x.detach().requires_grad_()
    ya, yb = bn(xa), sbn(xb)
    assert np.array_equal(ya.array, yb.array)
    (ya * ya).sum().backward()
    (yb * yb).sum().backward()
    assert np.array_equal(xa.grad.array, xb.grad.array)
    assert np.array_equal(bn.weight.grad.array, sbn.weight.grad.array)
    assert np.array_equal(bn.running_var.array, sbn.running_var.array)
    bn.eval(), sbn.eval()
    assert np.array_equal(bn(x).array, sbn(x).array)


@needs_mpi4py
def test_sync_batchnorm_synced_path_gradcheck_and_matches_batchnorm(world_of_one, monkeypatch):
    # force the synchronised forward in a world of one: the same numbers as BatchNorm, and
    # its (allreduce-wrapped) graph passes a float64 finite-difference check
    monkeypatch.setattr(nn.SyncBatchNorm, "_world", lambda self: 2)
    for shape in [(5, 3), (4, 3, 2), (3, 3, 2, 2)]:
        sbn = nn.SyncBatchNorm(3, dtype=mg.float64)
        sbn.weight.array[...] = [0.5, 2.0, -1.0]
        sbn.bias.array[...] = [0.1, 0.0, 0.3]
        x = mg.randn(*shape, dtype=mg.float64, requires_grad=True)
        assert gradcheck(lambda x, w, b: sbn(x), (x, sbn.weight, sbn.bias))
        bn = nn.BatchNorm1d(3, dtype=mg.float64)
        bn.weight.array[...] = [0.5, 2.0, -1.0]
        bn.bias.array[...] = [0.1, 0.0, 0.3]
        flat = x.reshape(shape[0], 3, -1) if len(shape) > 3 else x
        expect = bn(flat).reshape(shape)
        assert np.allclose(sbn(x).array, expect.array, rtol=0, atol=1e-12)


def test_convert_sync_batchnorm_keeps_parameters_buffers_and_mode():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3),
                          nn.Sequential(nn.BatchNorm1d(3, momentum=None, affine=False)))
    model[1].running_mean.array[...] = 7.0
    model.eval()
    weight = model[1].weight
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert type(model[1]) is nn.SyncBatchNorm and type(model[2][0]) is nn.SyncBatchNorm
    assert model[1].weight is weight and model[1].running_mean.tolist() == [7.0] * 3
    assert model[2][0].momentum is None and model[2][0].weight is None
    assert not model[1].training
    alone = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm1d(4))
    assert isinstance(alone, nn.SyncBatchNorm)


def test_sync_batchnorm_checks_its_input():
    with pytest.raises(mg.errors.ShapeError, match=r"\(N, 3, \.\.\.\)"):
        nn.SyncBatchNorm(3)(mg.randn(4, 2))


def test_rank_zero_only_runs_alone_and_on_rank_zero(monkeypatch):
    calls = []
    log = dist.rank_zero_only(lambda x: calls.append(x) or x)
    assert dist.is_main_process() and log(1) == 1  # no group: a script run alone
    from minigrad.distributed import process_group as pg
    monkeypatch.setattr(pg, "is_initialized", lambda: True)
    monkeypatch.setattr(pg, "get_rank", lambda group=None: 1)
    assert not dist.is_main_process() and log(2) is None
    assert calls == [1]


def test_pytorch_import_paths():
    from minigrad.nn.parallel import DistributedDataParallel
    from minigrad.utils.data import DistributedSampler as FromUtils
    assert DistributedDataParallel is dist.DistributedDataParallel is \
        mg.nn.parallel.DistributedDataParallel
    assert FromUtils is DistributedSampler
    assert mg.nn.SyncBatchNorm is nn.SyncBatchNorm


def _blas_threads():
    import ctypes
    from minigrad.distributed.launch import _BLAS_SETTERS
    try:
        paths = sorted({line.split()[-1] for line in open("/proc/self/maps")
                        if "blas" in line.lower()})
    except OSError:
        return None
    for path in paths:
        lib = ctypes.CDLL(path)
        for name in _BLAS_SETTERS:
            getter = getattr(lib, name.replace("set", "get"), None)
            if getter is not None:
                return getter
    return None


def test_limit_blas_threads_sets_numpys_blas():
    from minigrad.distributed.launch import limit_blas_threads
    getter = _blas_threads()
    if getter is None:
        pytest.skip("no OpenBLAS found among this process's libraries")
    before = getter()
    try:
        assert limit_blas_threads(1) and getter() == 1
    finally:
        limit_blas_threads(before)
    assert getter() == before


@needs_mpi4py
def test_share_the_cores_leaves_an_explicit_omp_num_threads_alone(monkeypatch):
    from mpi4py import MPI
    from minigrad.distributed import launch
    calls = []
    monkeypatch.setattr(launch, "limit_blas_threads", lambda n: calls.append(n))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    launch.share_the_cores(MPI.COMM_SELF)
    monkeypatch.delenv("OMP_NUM_THREADS")
    launch.share_the_cores(MPI.COMM_SELF)  # one rank on this machine: all its cores
    assert calls == [max(1, os.cpu_count() or 1)]


@needs_mpi4py
def test_mg_compile_keeps_a_ddp_step_eager_and_says_why(world_of_one):
    mg.manual_seed(0)
    model = mlp()
    ddp = dist.DistributedDataParallel(model)
    opt = mg.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    x, y = mg.randn(6, 4), mg.tensor([0, 1, 2, 0, 1, 2])

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(ddp(x), y)
        loss.backward()
        opt.step()
        return loss
    compiled = mg.compile(step)
    with pytest.warns(RuntimeWarning, match="DistributedDataParallel ran in the step"):
        for _ in range(3):
            compiled()
    assert compiled.stats["replay"] == 0 and compiled.disabled


@needs_mpi4py
def test_train_with_nccl_but_no_gpu_exits_naming_the_flag_and_what_is_missing(capsys):
    from minigrad import train
    if dist.is_nccl_available():
        pytest.skip("CuPy with NCCL is installed here")
    with pytest.raises(SystemExit, match="--dist-backend nccl: backend='nccl' needs one CUDA "
                                         "GPU per rank"):
        train.main(["--distributed", "--dist-backend", "nccl", "--epochs", "1"])
    assert not dist.is_initialized()
