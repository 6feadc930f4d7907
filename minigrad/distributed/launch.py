"""Running one script on every rank: rank-0-only output, and aborting all ranks on an error.

Under ``mpiexec`` an exception on one rank leaves the others waiting forever in their next
collective. ``python -m mpi4py script.py`` aborts the whole job when a rank raises;
:func:`abort_on_exception` does the same for a script started with plain ``python``, by
chaining ``sys.excepthook`` to ``MPI.COMM_WORLD.Abort(1)`` after the traceback is printed.
"""
from __future__ import annotations

import functools
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
