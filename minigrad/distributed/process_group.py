"""The process group: which processes train together, over MPI (mpi4py).

Processes are started by an MPI launcher, ``mpiexec -n N python -m mpi4py script.py``
(the ``-m mpi4py`` form aborts every rank when one raises, instead of leaving the others
waiting in a collective), and :func:`init_process_group` takes rank and world size from
MPI's world communicator. A script started alone (no ``mpiexec``) is a world of one
process: the same script runs unchanged on one or N processes.

mpi4py is imported only here, when a group is made, so ``import minigrad`` never needs it;
``pip install minigrad[dist]`` installs it with the MPICH wheel (which brings ``mpiexec``).
"""
from __future__ import annotations

from typing import Any, Sequence

from minigrad.errors import DeviceError


def _mpi() -> Any:
    """The ``mpi4py.MPI`` module, or an ImportError saying how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            "minigrad.distributed needs mpi4py (and an MPI library): install the 'dist' "
            "extra, pip install 'minigrad[dist]' (mpi4py and the MPICH wheel), or "
            "pip install mpi4py mpich") from error
    return MPI


class ProcessGroup:
    """A set of ranks that run collectives together: an MPI communicator ``comm``, and with
    ``backend="nccl"`` an NCCL communicator over the same ranks (made collectively, so every
    member must construct its group at the same point).

    ``rank()`` and ``size()`` are this process's rank in the group and the group's size;
    ``ranks`` are the members' ranks in the default (world) group."""

    def __init__(self, comm: Any, backend: str, ranks: Sequence[int] | None = None) -> None:
        from minigrad.distributed.transports import MPITransport, NCCLTransport
        self.comm, self.backend = comm, backend
        self.ranks = list(range(comm.Get_size())) if ranks is None else list(ranks)
        self._rank, self._size = comm.Get_rank(), comm.Get_size()
        self.mpi = MPITransport(comm)
        self.nccl = NCCLTransport(comm) if backend == "nccl" else None

    def transport(self, array: Any) -> Any:
        """What carries ``array``: NCCL for GPU memory in an NCCL group, MPI otherwise."""
        if self.nccl is not None and self.nccl.owns(array):
            return self.nccl
        return self.mpi

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size

    def group_rank(self, global_rank: int, what: str = "src") -> int:
        """The rank in this group of the process with default-group rank ``global_rank``."""
        try:
            return self.ranks.index(global_rank)
        except ValueError:
            raise ValueError(f"{what}={global_rank} is not a member of this process group "
                             f"(ranks {self.ranks})") from None

    def __repr__(self) -> str:
        return f"ProcessGroup(backend={self.backend!r}, rank={self._rank}, size={self._size})"


_default: ProcessGroup | None = None
BACKENDS = ("mpi", "nccl")


def init_process_group(backend: str | None = "mpi", init_method: str | None = None,
                       timeout: Any = None, world_size: int = -1, rank: int = -1,
                       store: Any = None, group_name: str = "", *,
                       comm: Any = None) -> None:
    """Join the default process group (PyTorch's call; the process is started by MPI).

    ``backend``: ``"mpi"`` (host memory; CuPy arrays are staged through the host) or
    ``"nccl"``: CuPy arrays go GPU to GPU over NCCL (CuPy's bindings; NCCL's id is
    broadcast over MPI), NumPy arrays over MPI; each rank takes the GPU its rank among the
    ranks of its machine names (one GPU per rank). Rank and world size come from MPI;
    ``world_size`` and ``rank``, when given, must agree with it. ``comm``: an mpi4py
    communicator to use instead of ``MPI.COMM_WORLD`` (``MPI.COMM_SELF`` gives a group of
    one, for tests). ``init_method``, ``store``, ``timeout`` and ``group_name`` are accepted
    for PyTorch programs and unused: MPI has already connected the processes.

    In a job of several ranks, each rank's BLAS gets an equal share of its machine's cores
    (unless ``OMP_NUM_THREADS`` is set), as torchrun does: thread pools as wide as the
    machine in every rank fight for the cores.
    """
    global _default
    if _default is not None:
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialised (call destroy_process_group() first)")
    backend = "mpi" if backend is None else str(backend).lower()
    if backend not in BACKENDS:
        raise ValueError(f"init_process_group: backend must be one of {BACKENDS}, got "
                         f"{backend!r} (gloo is PyTorch's own; MPI plays its part here)")
    MPI = _mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    if backend == "nccl":
        from minigrad.distributed.transports import use_local_gpu
        use_local_gpu(comm)
    group = ProcessGroup(comm, backend)
    for name, given, actual in (("world_size", world_size, group.size()),
                                ("rank", rank, group.rank())):
        if given is not None and given != -1 and given != actual:
            raise ValueError(f"init_process_group: {name}={given} but MPI started this "
                             f"process with {name} {actual}; leave {name} unset under mpiexec")
    _default = group
    if group.size() > 1:
        from minigrad.distributed.launch import share_the_cores
        share_the_cores(comm)


def is_initialized() -> bool:
    return _default is not None


def is_available() -> bool:
    """Whether mpi4py can be imported (the distributed package is then usable)."""
    try:
        _mpi()
    except ImportError:
        return False
    return True


def is_mpi_available() -> bool:
    return is_available()


def is_nccl_available() -> bool:
    """Whether ``backend="nccl"`` can work here: CuPy with its NCCL bindings and a GPU."""
    from minigrad.distributed.transports import _load_cupy_nccl
    try:
        _load_cupy_nccl()
    except (ImportError, DeviceError):
        return False
    return True


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    """Leave ``group`` (the default one when None), releasing its NCCL communicator (MPI
    itself is finalised when the process exits)."""
    global _default
    target = _default if group is None else group
    if target is not None and target.nccl is not None:
        target.nccl.close()
    if group is None or group is _default:
        _default = None


def default_group() -> ProcessGroup:
    if _default is None:
        raise RuntimeError("the default process group is not initialised: call "
                           "minigrad.distributed.init_process_group() first")
    return _default


def resolve(group: ProcessGroup | None) -> ProcessGroup:
    if group is None:
        return default_group()
    if not isinstance(group, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup from new_group() or None, got "
                        f"{type(group).__name__}")
    return group


def get_rank(group: ProcessGroup | None = None) -> int:
    """This process's rank (0 .. world size - 1); -1 in a group it is not a member of."""
    return resolve(group).rank()


def get_world_size(group: ProcessGroup | None = None) -> int:
    return resolve(group).size()


def get_backend(group: ProcessGroup | None = None) -> str:
    return resolve(group).backend


def barrier(group: ProcessGroup | None = None, async_op: bool = False,
            device_ids: Any = None) -> Any:
    """Wait until every rank of the group has reached this call."""
    from minigrad.distributed.futures import Work
    g = resolve(group)
    if async_op:
        return Work(g.comm.Ibarrier(), None, [])
    g.comm.Barrier()
    return None


def new_group(ranks: Sequence[int] | None = None, timeout: Any = None,
              backend: str | None = None) -> ProcessGroup | None:
    """A group of the given default-group ranks (all of them when None). Every rank must
    call it, as in PyTorch; a rank outside ``ranks`` gets None."""
    world = default_group()
    members = list(range(world.size())) if ranks is None else sorted(int(r) for r in ranks)
    if len(set(members)) != len(members) or any(not 0 <= r < world.size() for r in members):
        raise ValueError(f"new_group: ranks must be distinct ranks of the world group "
                         f"(0 .. {world.size() - 1}), got {list(ranks or [])}")
    MPI = _mpi()
    member = world.rank() in members
    comm = world.comm.Split(0 if member else MPI.UNDEFINED, members.index(world.rank())
                            if member else 0)
    return ProcessGroup(comm, world.backend, members) if member else None
