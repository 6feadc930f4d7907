"""Running one script on every rank: rank-0-only output, and aborting all ranks on an error.

Under ``mpiexec`` an exception on one rank leaves the others waiting forever in their next
collective. ``python -m mpi4py script.py`` aborts the whole job when a rank raises;
:func:`abort_on_exception` does the same for a script started with plain ``python``, by
chaining ``sys.excepthook`` to ``MPI.COMM_WORLD.Abort(1)`` after the traceback is printed.
"""
from __future__ import annotations

import ctypes
import functools
import os
import sys
from typing import Any, Callable, TypeVar

from minigrad.distributed import process_group as _pg

F = TypeVar("F", bound=Callable[..., Any])


def is_main_process() -> bool:
    """True on rank 0, and in a process that joined no group (a script run alone)."""
    return not _pg.is_initialized() or _pg.get_rank() == 0


def rank_zero_only(fn: F) -> F:
    """A decorator: ``fn`` runs on rank 0 only (elsewhere the call returns None), for
    logging, checkpoints and progress bars."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs) if is_main_process() else None
    return wrapper  # type: ignore[return-value]


_installed: list[Any] = []


def abort_on_exception() -> None:
    """Make an uncaught exception on any rank print its traceback and then abort every rank
    of the job (``MPI.COMM_WORLD.Abort(1)``), instead of leaving them blocked. Idempotent;
    does nothing in a world of one process."""
    if _installed:
        return
    MPI = _pg._mpi()
    if MPI.COMM_WORLD.Get_size() == 1:
        return
    previous = sys.excepthook

    def hook(kind: Any, value: Any, tb: Any) -> None:
        try:
            sys.stderr.write(f"[rank {MPI.COMM_WORLD.Get_rank()}] uncaught exception, aborting "
                             "all ranks\n")
            previous(kind, value, tb)
            sys.stderr.flush()
        finally:
            MPI.COMM_WORLD.Abort(1)
    _installed.append(previous)
    sys.excepthook = hook


_BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                 "openblas_set_num_threads64_", "openblas_set_num_threads",
                 "MKL_Set_Num_Threads", "bli_thread_set_num_threads")


def limit_blas_threads(threads: int) -> bool:
    """Set the thread count of the BLAS library NumPy loaded (OpenBLAS, MKL or BLIS), found
    among the libraries of this process (Linux). True if one was set.

    Ranks that share a machine each start a BLAS thread pool as wide as the machine; their
    threads then fight for the cores (and spin while waiting), which was seen to make the
    digits MLP 30 times slower on 2 ranks of 2 cores. Setting ``OMP_NUM_THREADS`` before
    Python starts does the same from outside."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps
                            if "blas" in line.lower() or "mkl_rt" in line.lower()})
    except OSError:
        return False
    done = False
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _BLAS_SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                done = True
                break
    return done


def share_the_cores(comm: object) -> None:
    """What ``init_process_group`` does for a job of several ranks, unless the user set
    ``OMP_NUM_THREADS`` (as torchrun does): give each rank's BLAS an equal share of the
    cores of its machine (at least one thread)."""
    if "OMP_NUM_THREADS" in os.environ:
        return
    MPI = _pg._mpi()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)  # type: ignore[attr-defined]
    try:
        ranks_here = local.Get_size()
    finally:
        local.Free()
    limit_blas_threads(max(1, (os.cpu_count() or 1) // ranks_here))
