"""``backend="nccl"`` in a world of one (``MPI.COMM_SELF``), in the CPU stand-in for CuPy and
NCCL (fake_nccl.py): what goes over NCCL and what over MPI, staging, stream order, the
errors. The same checks on 2 and 3 ranks run in test_multi_rank.py; on a real GPU, the
CUDA cases of the whole suite (``.ci/gpu_check``)."""
import os

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad.distributed import transports
from tests.distributed import fake_nccl
from tests.distributed.mpi import mpi4py_missing

pytestmark = pytest.mark.skipif(mpi4py_missing() is not None, reason=mpi4py_missing() or "")


@pytest.fixture
def nccl_world(monkeypatch):
    from mpi4py import MPI
    fake_nccl.install(monkeypatch)
    fake_nccl.calls.clear()
    dist.init_process_group("nccl", comm=MPI.COMM_SELF)
    yield
    dist.destroy_process_group()


def on_device(t):
    t.array = fake_nccl.DeviceArray(t.array.shape, t.array.dtype)
    return t


def device_tensor(values, dtype=mg.float64):
    t = mg.tensor(values, dtype=dtype)
    out = on_device(mg.zeros(t.shape, dtype=dtype))
    out.array[...] = t.array
    return out


def test_leaving_the_group_releases_the_nccl_communicator(monkeypatch):
    from mpi4py import MPI
    fake_nccl.install(monkeypatch)
    fake_nccl.calls.clear()
    dist.init_process_group("nccl", comm=MPI.COMM_SELF)
    dist.destroy_process_group()
    assert fake_nccl.calls["destroy"] == 1
    assert fake_nccl.calls["communication synchronize"] == 1  # its queued work first


def test_device_arrays_go_over_nccl_and_host_arrays_over_mpi(nccl_world):
    assert dist.get_backend() == "nccl" and fake_nccl.calls["use GPU 0"] == 1
    d = device_tensor([1.0, 2.0])
    dist.all_reduce(d, op=dist.ReduceOp.AVG)
    assert d.tolist() == [1.0, 2.0] and fake_nccl.calls["allReduce"] == 1
    h = mg.tensor([3.0, 4.0])
    dist.all_reduce(h)
    dist.broadcast(h, src=0)
    assert h.tolist() == [3.0, 4.0] and fake_nccl.calls["allReduce"] == 1
    assert fake_nccl.calls["bcast"] == 0


def test_a_strided_device_view_is_made_contiguous_on_the_device_and_written_back(
        nccl_world, monkeypatch):
    base = device_tensor(np.arange(12.0).reshape(4, 3))
    view = base[:, 1]
    copies = []
    real = transports.NCCLTransport.stage

    def spy(self, array):
        buf, back = real(self, array)
        copies.append((type(buf), back is not None))
        return buf, back
    monkeypatch.setattr(transports.NCCLTransport, "stage", spy)
    view.array[...] = 7.0
    dist.all_reduce(view, op=dist.ReduceOp.SUM)
    assert copies == [(fake_nccl.DeviceArray, True)]  # a device copy, never the host
    assert base.array[:, 1].tolist() == [7.0] * 4 and base.array[:, 0].tolist() == \
        [0.0, 3.0, 6.0, 9.0]


def test_waiting_is_stream_order_and_the_buffers_live_until_then(nccl_world):
    d = device_tensor([5.0])
    version = d._version
    work = dist.all_reduce(d, async_op=True)
    request = work._request
    assert request._buffers and fake_nccl.calls["compute waits on communication"] == 0
    request._event.done = False  # the GPU has not finished yet
    assert not work.is_completed() and request._buffers
    work.wait()
    assert fake_nccl.calls["compute waits on communication"] == 1
    assert request._buffers == () and work.is_completed() and d._version > version
    assert work.get_future().value()[0] is d


def test_every_collective_on_device_tensors(nccl_world):
    t = device_tensor([1.0, 2.0])
    dist.broadcast(t, src=0)
    outs = [on_device(mg.zeros(2, dtype=mg.float64))]
    dist.all_gather(outs, t)
    out = on_device(mg.zeros(2, dtype=mg.float64))
    dist.all_gather_into_tensor(out, t)
    scattered = on_device(mg.zeros(2, dtype=mg.float64))
    dist.reduce_scatter(scattered, [t])
    scattered_t = on_device(mg.zeros(2, dtype=mg.float64))
    dist.reduce_scatter_tensor(scattered_t, t, op=dist.ReduceOp.AVG)
    dist.reduce(t, dst=0, op=dist.ReduceOp.MAX)
    for result in (outs[0], out, scattered, scattered_t, t):
        assert result.tolist() == [1.0, 2.0]
    assert {k: fake_nccl.calls[k] for k in ("bcast", "allGather", "reduceScatter", "reduce")} \
        == {"bcast": 1, "allGather": 2, "reduceScatter": 2, "reduce": 1}


def test_what_nccl_cannot_do_is_refused_by_name(nccl_world):
    with pytest.raises(ValueError, match="ReduceOp.BAND.*NCCL"):
        dist.all_reduce(device_tensor([1, 0], dtype=mg.int64), op=dist.ReduceOp.BAND)
    with pytest.raises(TypeError, match="NCCL backend cannot send dtype int16"):
        dist.all_reduce(device_tensor([1, 0], dtype=mg.int16))
    with pytest.raises(TypeError, match="AVG needs a floating tensor"):
        dist.all_reduce(device_tensor([1, 0], dtype=mg.int64), op=dist.ReduceOp.AVG)
    link = dist.process_group.default_group().nccl
    nccl = link.nccl  # NCCL has no bool: sum is "or" (max), product is "and" (min)
    assert link.op(dist.ReduceOp.SUM, np.dtype(bool)) == nccl.NCCL_MAX
    assert link.op(dist.ReduceOp.PRODUCT, np.dtype(bool)) == nccl.NCCL_MIN
    assert link.op(dist.ReduceOp.SUM, np.dtype("float32")) == nccl.NCCL_SUM


def test_a_new_group_gets_its_own_nccl_communicator(nccl_world):
    group = dist.new_group([0])
    assert group.backend == "nccl" and group.nccl is not None
    assert group.nccl.comm is not dist.process_group.default_group().nccl.comm
    d = device_tensor([2.0])
    dist.all_reduce(d, group=group)
    assert d.tolist() == [2.0] and fake_nccl.calls["allReduce"] == 1


def test_one_gpu_per_rank_is_required(monkeypatch):
    from mpi4py import MPI
    fake_nccl.install(monkeypatch, gpus=0)
    with pytest.raises(RuntimeError, match="1 ranks share this machine but it has 0 visible"):
        dist.init_process_group("nccl", comm=MPI.COMM_SELF)
    assert not dist.is_initialized()
    fake_nccl.install(monkeypatch, gpus=1)
    fake_nccl.calls.clear()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # the launcher chose this rank's GPU
    dist.init_process_group("nccl", comm=MPI.COMM_SELF)
    try:
        assert fake_nccl.calls["use GPU 0"] == 1
    finally:
        dist.destroy_process_group()


def test_without_cupy_nccl_is_unavailable_and_says_what_is_missing():
    if dist.is_nccl_available():
        pytest.skip("CuPy with NCCL is installed here")
    with pytest.raises(Exception, match="backend='nccl'"):
        transports._load_cupy_nccl()


# --- the real thing: CuPy's NCCL on this machine's GPU (skipped without one) -----------------
def _real_nccl_missing():
    if mpi4py_missing() is not None:
        return mpi4py_missing()
    return None if dist.is_nccl_available() else "no GPU with CuPy's NCCL bindings here"


@pytest.mark.skipif(_real_nccl_missing() is not None, reason=_real_nccl_missing() or "")
def test_real_nccl_collectives_and_ddp_on_the_gpu():
    from mpi4py import MPI
    dist.init_process_group("nccl", comm=MPI.COMM_SELF)
    link = dist.process_group.default_group().nccl
    used = []

    class Counting:  # NCCL's communicator, counting the calls made of it
        def __getattr__(self, name, real=link.comm):
            used.append(name)
            return getattr(real, name)
    link.comm = Counting()
    try:
        t = mg.tensor([1.0, 2.0, 3.0], device="cuda")
        work = dist.all_reduce(t, op=dist.ReduceOp.AVG, async_op=True)
        work.wait()
        assert t.tolist() == [1.0, 2.0, 3.0]
        view = mg.zeros(4, 3, device="cuda")[:, 1]
        view.array[...] = 2.0
        dist.all_reduce(view)
        dist.broadcast(t, src=0)
        out = mg.zeros(3, device="cuda")
        dist.all_gather_into_tensor(out, t)
        assert out.tolist() == t.tolist() and view.tolist() == [2.0] * 4
        mg.manual_seed(0)
        model = mg.nn.Sequential(mg.nn.Linear(4, 8), mg.nn.Tanh(), mg.nn.Linear(8, 2)).to("cuda")
        mg.manual_seed(0)
        alone = mg.nn.Sequential(mg.nn.Linear(4, 8), mg.nn.Tanh(), mg.nn.Linear(8, 2)).to("cuda")
        ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0001)
        opts = [mg.optim.Adam(m.parameters(), lr=0.01) for m in (ddp, alone)]
        x, y = mg.randn(16, 4, device="cuda"), mg.randint(0, 2, (16,), device="cuda")
        for _ in range(5):
            for net, opt in zip((ddp, alone), opts):
                opt.zero_grad()
                mg.nn.functional.cross_entropy(net(x), y).backward()
                opt.step()
        for a, b in zip(model.parameters(), alone.parameters()):
            assert np.array_equal(a.numpy(), b.numpy())
        assert {"allReduce", "bcast", "allGather"} <= set(used)
        assert used.count("allReduce") >= 2 + 5 * 2  # DDP: 2 or more buckets a step
    finally:
        dist.destroy_process_group()
