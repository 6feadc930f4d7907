"""A stand-in for CuPy's NCCL world on the CPU, to run ``backend="nccl"``'s code without a GPU.

- ``DeviceArray``: a NumPy array that plays a CuPy one: it has ``.data.ptr`` (its address).
- ``device_numpy``: NumPy whose functions return ``DeviceArray``s, playing the ``cupy``
  module, with ``cuda.Stream``/``Event``/``get_current_stream``/``Device``/``runtime`` that
  record what was asked of them (nothing runs asynchronously on the CPU).
- ``Communicator``: NCCL's ``NcclCommunicator`` API (``allReduce(sendptr, recvptr, count,
  datatype, op, stream)``, ...) carried out over an mpi4py communicator on the memory the
  addresses point to, with its own table of NCCL's datatype and operation numbers, and a
  count of the calls of each kind.

``install(monkeypatch_or_none)`` points minigrad's NCCL transport at this world; with
``all_arrays=True`` every array minigrad makes is a DeviceArray, so whole models (DDP's
buckets, the optimizer's flat buffers) take the NCCL path.

This checks the plumbing (addresses, counts, datatypes, roots, stream order, write-back)
against the bindings' documented signatures; it cannot check NCCL or CUDA themselves.
"""
from __future__ import annotations

import collections
import ctypes
import types

import numpy as np

from tests.numpy_standin import ConvertingNumpy

# NCCL's enums (nccl.h): ncclDataType_t and ncclRedOp_t
DTYPES = {0: np.int8, 1: np.uint8, 2: np.int32, 3: np.uint32, 4: np.int64, 5: np.uint64,
          6: np.float16, 7: np.float32, 8: np.float64}
NAMES = {"NCCL_INT8": 0, "NCCL_UINT8": 1, "NCCL_INT32": 2, "NCCL_UINT32": 3, "NCCL_INT64": 4,
         "NCCL_UINT64": 5, "NCCL_FLOAT16": 6, "NCCL_FLOAT32": 7, "NCCL_FLOAT64": 8,
         "NCCL_SUM": 0, "NCCL_PROD": 1, "NCCL_MAX": 2, "NCCL_MIN": 3, "NCCL_AVG": 4}


class _Pointer:
    def __init__(self, ptr):
        self.ptr = ptr


class DeviceArray(np.ndarray):
    """A NumPy array posing as a CuPy array: ``.data.ptr`` is its address."""

    @property
    def data(self):
        return _Pointer(self.ctypes.data)


def _device(x):
    """A result in "device memory": a fresh DeviceArray that owns its memory (a view would
    look shared to the optimizer's flat storage), as cupy.asarray copies host data."""
    if isinstance(x, np.ndarray) and not isinstance(x, DeviceArray):
        out = DeviceArray(x.shape, x.dtype)
        out[...] = x
        return out
    return x


calls = collections.Counter()  # what the fake CUDA and NCCL were asked to do, by name


class Event:
    def __init__(self, stream):
        self.stream, self.done = stream, True
        calls["record"] += 1


class Stream:
    def __init__(self, non_blocking=False, name="communication"):
        self.name, self.ptr, self.waited_on = name, id(self), []

    def record(self):
        return Event(self)

    def wait_event(self, event):
        self.waited_on.append(event)
        calls[f"{self.name} waits on {event.stream.name}"] += 1

    def synchronize(self):
        calls[f"{self.name} synchronize"] += 1


compute_stream = Stream(name="compute")


class _Device:
    def __init__(self, index):
        self.index = index

    def use(self):
        calls[f"use GPU {self.index}"] += 1


def _cuda_namespace(gpus):
    runtime = types.SimpleNamespace(getDeviceCount=lambda: gpus)
    return types.SimpleNamespace(Stream=Stream, Event=Event, Device=_Device, runtime=runtime,
                                 get_current_stream=lambda: compute_stream)


class DeviceNumpy(ConvertingNumpy):
    """NumPy whose functions return DeviceArrays: the stand-in for the ``cupy`` module."""
    ndarray = DeviceArray

    def __init__(self, gpus):
        super().__init__("device_numpy", _device)
        self.cuda = _cuda_namespace(gpus)


def _at(ptr, count, datatype):
    dtype = np.dtype(DTYPES[datatype])
    raw = (ctypes.c_byte * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(raw, dtype=dtype)


class Communicator:
    """``NcclCommunicator(ndev, unique_id, rank)``'s calls, carried out over ``mpi_comm``."""

    def __init__(self, mpi_comm, ndev, unique_id, rank):
        from mpi4py import MPI
        self.MPI, self.mpi = MPI, mpi_comm
        assert isinstance(unique_id, tuple) and len(unique_id) == 128, unique_id
        assert mpi_comm.allgather(unique_id) == [unique_id] * mpi_comm.Get_size(), \
            "the ranks were given different NCCL ids"
        assert (ndev, rank) == (mpi_comm.Get_size(), mpi_comm.Get_rank())
        self.ops = {0: MPI.SUM, 1: MPI.PROD, 2: MPI.MAX, 3: MPI.MIN}

    def destroy(self):
        calls["destroy"] += 1

    def _check(self, stream):
        assert isinstance(stream, int) and stream != compute_stream.ptr, \
            "NCCL must run on the transport's own stream"

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        self._check(stream)
        calls["allReduce"] += 1
        recv = _at(recvbuf, count, datatype)
        send = self.MPI.IN_PLACE if sendbuf == recvbuf else _at(sendbuf, count, datatype)
        self.mpi.Allreduce(send, recv, self.ops[op])

    def bcast(self, buff, count, datatype, root, stream):
        self._check(stream)
        calls["bcast"] += 1
        self.mpi.Bcast(_at(buff, count, datatype), root)

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):
        self._check(stream)
        calls["allGather"] += 1
        self.mpi.Allgather(_at(sendbuf, count, datatype),
                           _at(recvbuf, count * self.mpi.Get_size(), datatype))

    def reduceScatter(self, sendbuf, recvbuf, recvcount, datatype, op, stream):
        self._check(stream)
        calls["reduceScatter"] += 1
        self.mpi.Reduce_scatter_block(_at(sendbuf, recvcount * self.mpi.Get_size(), datatype),
                                      _at(recvbuf, recvcount, datatype), self.ops[op])

    def reduce(self, sendbuf, recvbuf, count, datatype, op, root, stream):
        self._check(stream)
        calls["reduce"] += 1
        mine = self.mpi.Get_rank() == root
        if sendbuf == recvbuf:  # in place, as NCCL allows
            buf = _at(recvbuf, count, datatype)
            self.mpi.Reduce(self.MPI.IN_PLACE if mine else buf, buf if mine else None,
                            self.ops[op], root)
        else:
            self.mpi.Reduce(_at(sendbuf, count, datatype),
                            _at(recvbuf, count, datatype) if mine else None, self.ops[op], root)


def nccl_module():
    counter = iter(range(1, 1 << 30))
    module = types.SimpleNamespace(available=True, **NAMES)
    module.get_unique_id = lambda: (next(counter),) + (0,) * 127
    return module


def install(monkeypatch=None, gpus=4, all_arrays=False):
    """Point minigrad's NCCL transport at this world (with ``monkeypatch``, for the length of
    a test; without, for the rest of the process, as a worker script does)."""
    from minigrad import backend
    from minigrad.distributed import transports
    cupy, nccl = DeviceNumpy(gpus), nccl_module()

    def communicator(self, comm, size, unique_id, rank):
        return Communicator(comm, size, unique_id, rank)
    patches = [(transports, "_load_cupy_nccl", lambda: (cupy, nccl)),
               (transports.NCCLTransport, "_communicator", communicator)]
    if all_arrays:
        patches.append((backend, "xp", lambda device: cupy))
    for owner, name, value in patches:
        if monkeypatch is None:
            setattr(owner, name, value)
        else:
            monkeypatch.setattr(owner, name, value)
    return cupy
