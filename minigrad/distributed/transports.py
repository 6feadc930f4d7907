"""How a process group moves bytes: over MPI (host memory) or over NCCL (GPU memory).

A :class:`~minigrad.distributed.process_group.ProcessGroup` holds an :class:`MPITransport`
always and, with ``backend="nccl"``, an :class:`NCCLTransport` too; each collective asks the
group which one carries the array at hand (:meth:`ProcessGroup.transport`). CuPy arrays of
an NCCL group go GPU to GPU; everything else (NumPy arrays, and CuPy arrays of an MPI group,
copied through the host) goes over MPI. This is PyTorch's default pairing of a CPU and a
CUDA backend in one group.

A transport's operations take contiguous buffers it has prepared itself (:meth:`stage`) and
return a request with ``Wait()`` and ``Test()``, MPI's names, which
:class:`~minigrad.distributed.futures.Work` drives; ``None`` when the call has already
finished. NCCL's requests complete in stream order: ``Wait()`` makes the current CUDA stream
wait for the communication and returns at once, as ``work.wait()`` does in PyTorch, so no
collective makes the host wait for the GPU.
"""
from __future__ import annotations

import os
from types import ModuleType
import enum
import importlib
from typing import Any, Callable

import numpy as np

from minigrad import backend
from minigrad.errors import DeviceError


class ReduceOp(enum.Enum):
    """How ``all_reduce`` combines the ranks' values (PyTorch's ``ReduceOp``)."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"

Request = Any  # an object with Wait() and Test(), or None for a finished call
WriteBack = Callable[[], None]


def _host_stage(array: Any) -> tuple[Any, WriteBack | None]:
    """A contiguous NumPy array holding ``array``'s values, and what copies it back into
    ``array`` (None when it is ``array`` itself)."""
    if isinstance(array, np.ndarray) and array.flags.c_contiguous:
        return array, None
    host = np.ascontiguousarray(backend.to_device(array, "cpu"))
    device = backend.device_of(array)

    def back() -> None:
        array[...] = backend.to_device(host, device).reshape(array.shape)
    return host, back


class MPITransport:
    """Collectives over an mpi4py communicator, on host buffers."""

    name = "mpi"

    def __init__(self, comm: Any) -> None:
        from minigrad.distributed.process_group import _mpi
        self.comm, self.MPI = comm, _mpi()

    xp = np
    stage = staticmethod(_host_stage)

    def local(self, array: Any) -> Any:
        """``array``'s values in host memory (itself when it is a NumPy array)."""
        return backend.to_device(array, "cpu")

    def op(self, op: ReduceOp, dtype: np.dtype) -> Any:
        MPI = self.MPI
        return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX, ReduceOp.BAND: MPI.BAND,
                ReduceOp.BOR: MPI.BOR, ReduceOp.BXOR: MPI.BXOR}[op]

    def all_reduce(self, buf: Any, op: Any, async_op: bool) -> Request:
        if async_op:
            return self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op)
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op)
        return None

    def broadcast(self, buf: Any, root: int, async_op: bool) -> Request:
        if async_op:
            return self.comm.Ibcast(buf, root)
        self.comm.Bcast(buf, root)
        return None

    def all_gather(self, send: Any, recv: Any, async_op: bool) -> Request:
        if async_op:
            return self.comm.Iallgather(send, recv)
        self.comm.Allgather(send, recv)
        return None

    def reduce_scatter(self, send: Any, recv: Any, op: Any, async_op: bool) -> Request:
        if async_op:
            return self.comm.Ireduce_scatter_block(send, recv, op)
        self.comm.Reduce_scatter_block(send, recv, op)
        return None

    def reduce(self, buf: Any, op: Any, root: int, async_op: bool) -> Request:
        mine = self.comm.Get_rank() == root
        send, recv = (self.MPI.IN_PLACE, buf) if mine else (buf, None)
        if async_op:
            return self.comm.Ireduce(send, recv, op, root)
        self.comm.Reduce(send, recv, op, root)
        return None


def _load_cupy_nccl() -> tuple[ModuleType, ModuleType]:
    """CuPy and its NCCL bindings, or an ImportError saying what to install."""
    try:
        cupy = backend._load_cupy()
    except DeviceError as error:
        raise DeviceError(f"backend='nccl' needs one CUDA GPU per rank: {error}") from None
    try:
        nccl = importlib.import_module("cupy.cuda.nccl")
    except ImportError as error:
        raise ImportError("backend='nccl' needs CuPy built with NCCL: pip install "
                          "nvidia-nccl-cu12 (or the wheel matching your CUDA), or use "
                          "backend='mpi'") from error
    if not getattr(nccl, "available", True):
        raise ImportError("backend='nccl': this CuPy was built without NCCL; install the "
                          "nvidia-nccl wheel matching your CUDA, or use backend='mpi'")
    return cupy, nccl


class _StreamRequest:
    """An NCCL call enqueued on the communication stream: done when its event has fired.
    It keeps the buffers alive until then (CuPy's memory pool would otherwise hand them to
    the next allocation while NCCL still reads them)."""

    def __init__(self, cupy: ModuleType, event: Any, buffers: tuple[Any, ...]) -> None:
        self._cupy, self._event, self._buffers = cupy, event, buffers

    def Wait(self) -> None:
        self._cupy.cuda.get_current_stream().wait_event(self._event)
        self._buffers = ()

    def Test(self) -> bool:
        if not self._event.done:
            return False
        self._buffers = ()
        return True


class NCCLTransport:
    """Collectives over an NCCL communicator, on CuPy buffers, one GPU per rank.

    Made collectively by every rank of ``comm`` (an mpi4py communicator): rank 0 draws
    NCCL's unique id and MPI broadcasts it, as ChainerMN did. Every call runs on this
    transport's own CUDA stream, after the work already queued on the caller's stream, so
    that communication overlaps the computation that follows it (DDP's buckets during
    backward)."""

    name = "nccl"

    def __init__(self, comm: Any) -> None:
        self.cupy, self.nccl = _load_cupy_nccl()
        self.xp = self.cupy
        rank, size = comm.Get_rank(), comm.Get_size()
        unique_id = comm.bcast(self.nccl.get_unique_id() if rank == 0 else None, root=0)
        self.comm = self._communicator(comm, size, unique_id, rank)
        self.stream = self.cupy.cuda.Stream(non_blocking=True)
        n = self.nccl
        self._dtypes = {np.dtype(name): getattr(n, code) for name, code in (
            ("int8", "NCCL_INT8"), ("uint8", "NCCL_UINT8"), ("bool", "NCCL_UINT8"),
            ("int32", "NCCL_INT32"), ("uint32", "NCCL_UINT32"), ("int64", "NCCL_INT64"),
            ("uint64", "NCCL_UINT64"), ("float16", "NCCL_FLOAT16"),
            ("float32", "NCCL_FLOAT32"), ("float64", "NCCL_FLOAT64"))}

    def _communicator(self, comm: Any, size: int, unique_id: tuple, rank: int) -> Any:
        """NCCL's communicator for this rank of ``size`` (``comm``, the MPI group it mirrors,
        is for stand-ins that carry NCCL's calls over MPI in tests)."""
        return self.nccl.NcclCommunicator(size, unique_id, rank)

    def close(self) -> None:
        """Release the NCCL communicator (after the work queued on it)."""
        if self.comm is not None:
            self.stream.synchronize()
            self.comm.destroy()
            self.comm = None

    def owns(self, array: Any) -> bool:
        """Whether ``array`` is GPU memory, which this transport carries."""
        return isinstance(array, self.cupy.ndarray)

    def local(self, array: Any) -> Any:
        """``array``'s values in GPU memory (itself when it is a CuPy array)."""
        return array if self.owns(array) else self.cupy.asarray(array)

    def stage(self, array: Any) -> tuple[Any, WriteBack | None]:
        if array.flags.c_contiguous:
            return array, None
        dense = self.cupy.ascontiguousarray(array)

        def back() -> None:
            array[...] = dense
        return dense, back

    def op(self, op: ReduceOp, dtype: np.dtype) -> int:
        n = self.nccl
        if dtype == np.bool_:  # NCCL has no bool: or / and are max / min of 0 and 1
            table = {ReduceOp.SUM: n.NCCL_MAX, ReduceOp.MAX: n.NCCL_MAX,
                     ReduceOp.PRODUCT: n.NCCL_MIN, ReduceOp.MIN: n.NCCL_MIN}
        else:
            table = {ReduceOp.SUM: n.NCCL_SUM, ReduceOp.AVG: n.NCCL_SUM,
                     ReduceOp.PRODUCT: n.NCCL_PROD, ReduceOp.MIN: n.NCCL_MIN,
                     ReduceOp.MAX: n.NCCL_MAX}
        if op not in table:
            raise ValueError(f"ReduceOp.{op.name} on a {dtype} CUDA tensor is not supported by "
                             "the NCCL backend (NCCL has sum, product, min and max); reduce a "
                             "host copy over MPI instead")
        return table[op]

    def _dtype(self, array: Any) -> int:
        try:
            return self._dtypes[array.dtype]
        except KeyError:
            raise TypeError(f"the NCCL backend cannot send dtype {array.dtype} (it sends "
                            f"{', '.join(sorted(map(str, self._dtypes)))})") from None

    def _launch(self, call: Callable[[int], None], *buffers: Any) -> Request:
        self.stream.wait_event(self.cupy.cuda.get_current_stream().record())
        call(self.stream.ptr)
        return _StreamRequest(self.cupy, self.stream.record(), buffers)

    def all_reduce(self, buf: Any, op: int, async_op: bool) -> Request:
        ptr, kind = buf.data.ptr, self._dtype(buf)
        return self._launch(lambda s: self.comm.allReduce(ptr, ptr, buf.size, kind, op, s), buf)

    def broadcast(self, buf: Any, root: int, async_op: bool) -> Request:
        ptr, kind = buf.data.ptr, self._dtype(buf)
        return self._launch(lambda s: self.comm.bcast(ptr, buf.size, kind, root, s), buf)

    def all_gather(self, send: Any, recv: Any, async_op: bool) -> Request:
        kind = self._dtype(send)
        return self._launch(lambda s: self.comm.allGather(
            send.data.ptr, recv.data.ptr, send.size, kind, s), send, recv)

    def reduce_scatter(self, send: Any, recv: Any, op: int, async_op: bool) -> Request:
        kind = self._dtype(send)
        return self._launch(lambda s: self.comm.reduceScatter(
            send.data.ptr, recv.data.ptr, recv.size, kind, op, s), send, recv)

    def reduce(self, buf: Any, op: int, root: int, async_op: bool) -> Request:
        ptr, kind = buf.data.ptr, self._dtype(buf)
        return self._launch(lambda s: self.comm.reduce(ptr, ptr, buf.size, kind, op, root, s),
                            buf)


def use_local_gpu(comm: Any) -> int:
    """Make this rank's current CUDA device the one its local rank names (rank r of the ranks
    sharing its machine takes GPU r, NCCL needs one GPU per rank), and return its index."""
    from minigrad.distributed.process_group import _mpi
    cupy, _ = _load_cupy_nccl()
    local = comm.Split_type(_mpi().COMM_TYPE_SHARED)
    try:
        local_rank, ranks_here = local.Get_rank(), local.Get_size()
    finally:
        local.Free()
    visible = cupy.cuda.runtime.getDeviceCount()
    if visible == 1 and "CUDA_VISIBLE_DEVICES" in os.environ:
        local_rank = 0  # the launcher gave each rank its own GPU
    elif ranks_here > visible:
        raise RuntimeError(f"init_process_group(backend='nccl'): {ranks_here} ranks share this "
                           f"machine but it has {visible} visible GPU(s); NCCL needs one GPU "
                           "per rank (start fewer ranks, or use backend='mpi')")
    cupy.cuda.Device(local_rank).use()
    return local_rank
