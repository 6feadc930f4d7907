"""What every communication hook shares: the transport, the byte accounting and the
per-parameter views of a bucket.

The hooks reach the collectives only through :func:`dist`, which returns
``minigrad.distributed`` (imported at the first call, so importing a hook module needs no
MPI). A test can point it at an in-process stand-in with the same functions
(``all_reduce``, ``all_gather``, ``get_world_size``, ``get_rank``, ``Future``) to run N ranks
as N threads; the hooks' code is the same either way.

Bytes accounting (every state class derives from :class:`CommState`):

- ``bytes_sent``: the payload this rank hands to collectives, summed over all steps: the
  size of every tensor it passes to ``all_reduce`` (whose result has the same size) and of
  the one tensor it contributes to each ``all_gather``.
- ``bytes_received``: the payload it gets back: the same as sent for an ``all_reduce``, N
  times the contribution for an ``all_gather`` (which is why gathering schemes stop paying
  off as N grows).
- ``dense_bytes``: what the plain ``allreduce_hook`` would have sent for the same buckets:
  the bucket's element count times the item size of the parameters' dtype (4 for float32,
  8 for float64).
- ``last_step_bytes_sent`` / ``last_step_dense_bytes``: the same for the last finished step
  (a step ends with the bucket whose ``is_last()`` is true); ``steps`` counts them.
- ``compression_ratio``: ``dense_bytes / bytes_sent``.

These count the algorithm's messages, not the wire traffic of a particular MPI
implementation (a ring allreduce moves about 2 (N-1)/N times the message per rank).
"""
from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy

from minigrad import backend
from minigrad.tensor import Tensor, wrap


def dist() -> ModuleType:
    """The collectives module the hooks call: ``minigrad.distributed``."""
    import minigrad.distributed as distributed
    return distributed


def group_of(state: Any) -> Any:
    """The process group a hook's first argument names: a state's ``process_group``, or the
    argument itself (a group or None, as PyTorch's default hooks take)."""
    return state.process_group if isinstance(state, CommState) else state


def world_size(group: Any) -> int:
    return int(dist().get_world_size(group))


def rank(group: Any) -> int:
    return int(dist().get_rank(group))


def all_reduce_async(tensor: Tensor, group: Any) -> Any:
    """Start a sum-allreduce of ``tensor`` in place; returns the Work."""
    return dist().all_reduce(tensor, group=group, async_op=True)


def all_reduce(tensor: Tensor, group: Any) -> Tensor:
    """Sum ``tensor`` over the group in place and return it."""
    dist().all_reduce(tensor, group=group, async_op=False)
    return tensor


def all_gather(array: Any, group: Any, size: int) -> Any:
    """Every rank's ``array`` (1-D, the same length and dtype everywhere), stacked in rank
    order into a ``(size, len)`` array of the same array library."""
    xp = backend.xp(backend.device_of(array))
    device = backend.device_of(array)
    out = xp.empty((size, array.shape[0]), dtype=array.dtype)
    dist().all_gather([wrap(out[i], device) for i in range(size)], wrap(array, device),
                      group=group, async_op=False)
    return out


def completed_future(value: Any) -> Any:
    """A Future that already holds ``value``."""
    fut = dist().Future()
    fut.set_result(value)
    return fut


def check_bucket(bucket: Any, hook: str) -> Tensor:
    """The bucket's flat gradient, checked to be a 1-D floating tensor."""
    buffer = bucket.buffer()
    if not isinstance(buffer, Tensor):
        raise TypeError(f"{hook}: bucket.buffer() must be a minigrad Tensor, got "
                        f"{type(buffer).__name__}")
    if buffer.ndim != 1 or buffer.dtype.kind != "f":
        raise TypeError(f"{hook}: bucket.buffer() must be a 1-D floating tensor, got shape "
                        f"{tuple(buffer.shape)} and dtype {buffer.dtype}")
    return buffer


def dense_itemsize(bucket: Any, buffer: Tensor) -> int:
    """The item size of the gradients' own dtype (the parameters'), which is what the dense
    allreduce sends even when a wrapper has cast the buffer to 16 bits."""
    params = list(bucket.parameters()) if hasattr(bucket, "parameters") else []
    return int(params[0].dtype.itemsize) if params else int(buffer.dtype.itemsize)


def parameter_views(bucket: Any, array: Any) -> list[Any]:
    """Views of the flat ``array`` shaped as the bucket's parameters, in their order (the
    layout PyTorch's ``GradBucket.gradients()`` has)."""
    views, offset = [], 0
    for p in bucket.parameters():
        n = int(p.numel())
        views.append(array[offset:offset + n].reshape(tuple(p.shape)))
        offset += n
    if offset != array.shape[0]:
        raise ValueError(f"bucket {bucket.index()}: its parameters hold {offset} elements but "
                         f"its buffer has {array.shape[0]}")
    return views


class CommState:
    """Byte counters of a communication hook (see the module docstring for what they count).

    ``process_group`` is the group the hook communicates in (None: the default group).
    """

    def __init__(self, process_group: Any = None) -> None:
        self.process_group = process_group
        self.bytes_sent = 0
        self.bytes_received = 0
        self.dense_bytes = 0
        self.steps = 0
        self.last_step_bytes_sent = 0
        self.last_step_dense_bytes = 0
        self._step_sent = 0
        self._step_dense = 0
        # bucket -> {id(memory dict): (that dict, its entry before this step)}
        self._before: dict[int, dict[int, tuple[dict[int, Any], Any]]] = {}

    def _remember(self, bucket: Any, memory: dict[int, Any]) -> None:
        """Note ``memory``'s entry for ``bucket`` before the step replaces it (with a new
        array: the old one stays as it was), for :meth:`finish_step` to put back."""
        key = bucket.index()
        self._before.setdefault(key, {}).setdefault(id(memory), (memory, memory.get(key)))

    def finish_step(self, bucket: Any, result: Any) -> None:
        """End the bucket's step. A step whose ``result`` (the averaged gradient every rank
        gets) is not finite (some rank's gradient held a NaN or inf: the optimizer will
        refuse it) gets the memory it replaced (residuals, velocities, warm-start factors)
        put back, so that the NaN is not carried into every later step; every rank sees
        the same result, so all of them keep their memory alike."""
        before = self._before.pop(bucket.index(), None)
        if not before or _finite(result):
            return
        key = bucket.index()
        for memory, old in before.values():
            if old is None:
                memory.pop(key, None)
            else:
                memory[key] = old

    def account(self, bucket: Any, sent: int, received: int, dense: int) -> None:
        """Add one bucket's bytes; the bucket whose ``is_last()`` is true ends the step."""
        self.bytes_sent += int(sent)
        self.bytes_received += int(received)
        self.dense_bytes += int(dense)
        self._step_sent += int(sent)
        self._step_dense += int(dense)
        if bucket.is_last():
            self.last_step_bytes_sent, self.last_step_dense_bytes = self._step_sent, self._step_dense
            self._step_sent = self._step_dense = 0
            self.steps += 1

    @property
    def compression_ratio(self) -> float:
        """Dense bytes over bytes sent, over all steps so far (0.0 before any)."""
        return self.dense_bytes / self.bytes_sent if self.bytes_sent else 0.0

    def bytes_summary(self) -> dict[str, Any]:
        """The counters as a dict (for logging)."""
        return {"steps": self.steps, "bytes_sent": self.bytes_sent,
                "bytes_received": self.bytes_received, "dense_bytes": self.dense_bytes,
                "last_step_bytes_sent": self.last_step_bytes_sent,
                "last_step_dense_bytes": self.last_step_dense_bytes,
                "compression_ratio": self.compression_ratio}


def _finite(array: Any) -> bool:
    """Whether every entry of the 1-D ``array`` is finite (a dot product first, the exact
    test only when that overflows or is not finite)."""
    xp = backend.xp(backend.device_of(array))
    with numpy.errstate(all="ignore"):
        if math.isfinite(float(xp.dot(array, array))):
            return True
    return bool(xp.isfinite(array).all())


def account(state: Any, bucket: Any, sent: int, received: int, dense: int) -> None:
    """Count bytes when the hook's state keeps counters (a bare process group does not)."""
    if isinstance(state, CommState):
        state.account(bucket, sent, received, dense)


class ErrorFeedbackState(CommState):
    """A :class:`CommState` with a per-bucket residual (error-feedback memory).

    With ``use_error_feedback`` the hook compresses ``p = g + e`` instead of the gradient
    ``g`` and keeps ``e = p - C(p)`` (``C(p)`` what this rank sent, decompressed) for the next
    step, so every part of every gradient is sent eventually: summed over steps, what was
    sent plus the residual left equals the sum of the gradients. ``error_dict`` maps a
    bucket's index to its residual (its own array, the bucket's length and dtype).

    A step whose averaged result is not finite leaves the residual as it was (see
    :meth:`CommState.finish_step`).
    """

    def __init__(self, process_group: Any = None, use_error_feedback: bool = True) -> None:
        super().__init__(process_group)
        if not isinstance(use_error_feedback, bool):
            raise TypeError(f"use_error_feedback must be a bool, got {use_error_feedback!r}")
        self.use_error_feedback = use_error_feedback
        self.error_dict: dict[int, Any] = {}

    def add_error(self, bucket: Any, array: Any) -> None:
        """``array += e`` for this bucket's residual (none before its first step)."""
        if not self.use_error_feedback:
            return
        error = self.error_dict.get(bucket.index())
        if error is not None:
            if error.shape != array.shape or error.dtype != array.dtype:
                raise ValueError(f"bucket {bucket.index()}: the residual kept from the last step "
                                 f"has shape {error.shape} and dtype {error.dtype}, the bucket now "
                                 f"{array.shape} and {array.dtype}; call reset_error() after "
                                 "changing the buckets")
            array += error

    def keep_error(self, bucket: Any, residual: Any) -> None:
        if self.use_error_feedback:
            self._remember(bucket, self.error_dict)
            self.error_dict[bucket.index()] = residual

    def reset_error(self) -> None:
        """Forget every residual."""
        self.error_dict.clear()
        self._before.clear()
