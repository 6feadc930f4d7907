"""Top-k sparsification with error feedback.

Stich, Cordonnier & Jaggi 2018, "Sparsified SGD with Memory" (NeurIPS), and Lin, Han, Mao,
Wang & Dally 2018, "Deep Gradient Compression" (ICLR): each rank adds its residual to the
gradient, ``p = g + e``, sends only the ``k`` entries of largest magnitude as (index, value)
pairs and keeps the rest, ``e = p - topk(p)``, for the next step. Every rank gathers all
ranks' pairs and averages the sparse vectors, so all ranks get the same gradient.

The selection is over the whole bucket (not layer by layer), with ``k = ceil(ratio * n)``
for a bucket of ``n`` elements. The residual accumulates gradients, not ``lr * g``: with a
constant learning rate the two are the same algorithm. Deep Gradient Compression's sparsity
warm-up is ``warmup_steps``: over those first steps the fraction sent falls exponentially,
25%, 6.25%, 1.5625%, 0.39% for a quarter of them each (never below ``compress_ratio``), as the
paper's 75% -> 99.9% sparsity over its first four epochs.

The rest of Deep Gradient Compression, on request (its section 3):

- ``momentum`` (momentum correction): each rank keeps a velocity ``u = m u + g`` and
  accumulates and sparsifies it, ``p = u + e``, instead of the gradient, so that momentum acts
  on every entry at every step rather than only on the entries that happen to be sent. The
  optimizer then runs without momentum (``SGD(momentum=0)``): the momentum is in the hook.
- ``momentum_masking`` (momentum factor masking, on by default with ``momentum``): the
  velocity is zeroed where entries were sent, so a sent entry's stale momentum is not applied
  again.
- ``clip_norm`` (local gradient clipping): each rank scales its bucket's gradient to a norm
  of at most ``clip_norm / sqrt(N)`` before anything else, so that the N ranks' sum is
  clipped to about ``clip_norm``.

Bytes: ``k`` int32 indices and ``k`` values in the bucket's dtype sent per bucket,
``N`` times that received (an allgather).
"""
from __future__ import annotations

import math
from typing import Any

import numpy

from minigrad import backend

from . import _comm

__all__ = ["TopKCompressor", "TopKState", "topk_hook"]


class TopKCompressor:
    """Keeps the ``k = ceil(ratio * n)`` entries of largest magnitude of a 1-D array."""

    def __init__(self, ratio: float) -> None:
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) \
                or not 0 < ratio <= 1 or math.isnan(ratio):
            raise ValueError(f"compress_ratio must be a number in (0, 1], got {ratio!r}")
        self.ratio = float(ratio)

    def k(self, n: int) -> int:
        return min(n, max(1, math.ceil(self.ratio * n)))

    def compress(self, array: Any) -> tuple[Any, Any]:
        """(indices as int32, in increasing order; their values)."""
        xp = backend.xp(backend.device_of(array))
        n = array.shape[0]
        k = self.k(n)
        if k == n:
            idx = xp.arange(n)
        else:
            idx = xp.argpartition(xp.abs(array), n - k)[n - k:]
            idx.sort()
        return idx.astype(numpy.int32), array[idx]

    @staticmethod
    def decompress(indices: Any, values: Any, n: int, out: Any = None) -> Any:
        """The dense array with ``values`` at ``indices`` (added into ``out`` when given)."""
        xp = backend.xp(backend.device_of(values))
        if out is None:
            out = xp.zeros(n, dtype=values.dtype)
            out[indices] = values
        else:
            out[indices] += values  # indices are distinct within one rank's message
        return out


class TopKState(_comm.ErrorFeedbackState):
    """State of :func:`topk_hook`: ``TopKState(process_group=None, compress_ratio=0.01,
    use_error_feedback=True, warmup_steps=0, momentum=0.0, momentum_masking=True,
    clip_norm=None)``. ``compress_ratio`` is the fraction of each bucket's entries sent (after
    the warm-up); ``momentum``, ``momentum_masking`` and ``clip_norm`` are Deep Gradient
    Compression's (see the module docstring), ``velocity_dict`` its velocities. Byte counters as
    every hook state (``bytes_sent``, ``dense_bytes``, ``compression_ratio``, ...);
    ``error_dict`` holds the residuals."""

    def __init__(self, process_group: Any = None, compress_ratio: float = 0.01,
                 use_error_feedback: bool = True, warmup_steps: int = 0,
                 momentum: float = 0.0, momentum_masking: bool = True,
                 clip_norm: float | None = None) -> None:
        super().__init__(process_group, use_error_feedback)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or \
                warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or \
                not 0 <= momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
        if not isinstance(momentum_masking, bool):
            raise TypeError(f"momentum_masking must be a bool, got {momentum_masking!r}")
        if clip_norm is not None and (isinstance(clip_norm, bool) or
                                      not isinstance(clip_norm, (int, float)) or
                                      not 0 < clip_norm < math.inf):
            raise ValueError(f"clip_norm must be a finite number > 0 or None, got {clip_norm!r}")
        self.compressor = TopKCompressor(compress_ratio)
        self.compress_ratio = self.compressor.ratio
        self.warmup_steps = warmup_steps
        self.momentum, self.momentum_masking, self.clip_norm = float(momentum), \
            momentum_masking, clip_norm
        self.velocity_dict: dict[int, Any] = {}  # bucket index -> its velocity (momentum)

    def reset_error(self) -> None:
        """Forget every residual and velocity."""
        super().reset_error()
        self.velocity_dict.clear()

    def ratio_at(self, step: int) -> float:
        """The fraction sent at ``step`` (0 first): Deep Gradient Compression's warm-up."""
        if step >= self.warmup_steps:
            return self.compress_ratio
        return max(self.compress_ratio, 0.25 ** (1 + 4 * step // self.warmup_steps))


def topk_hook(state: TopKState, bucket: Any) -> Any:
    """Top-k sparsification with error feedback (see the module docstring)."""
    if not isinstance(state, TopKState):
        raise TypeError(f"topk_hook needs a TopKState, got {type(state).__name__}")
    buffer = _comm.check_bucket(bucket, "topk_hook")
    group = state.process_group
    size = _comm.world_size(group)
    p = buffer.array
    n = p.shape[0]
    if state.clip_norm is not None:
        _clip_(p, state.clip_norm / math.sqrt(size))
    velocity = None
    if state.momentum:
        previous = state.velocity_dict.get(bucket.index())
        if previous is None:
            velocity = p.copy()
        elif previous.shape != p.shape or previous.dtype != p.dtype:
            raise ValueError(f"bucket {bucket.index()}: the velocity kept from the last step has "
                             f"shape {previous.shape} and dtype {previous.dtype}, the bucket now "
                             f"{p.shape} and {p.dtype}; call reset_error() after changing the "
                             "buckets")
        else:
            velocity = previous * state.momentum  # a new array: the old one is kept as it was
            velocity += p
        state._remember(bucket, state.velocity_dict)
        state.velocity_dict[bucket.index()] = velocity
        p[...] = velocity
    state.add_error(bucket, p)
    state.compressor.ratio = state.ratio_at(state.steps)
    indices, values = state.compressor.compress(p)
    if velocity is not None and state.momentum_masking:
        velocity[indices] = 0
    if state.use_error_feedback:
        residual = p.copy()
        residual[indices] = 0  # exactly p - topk(p): the kept entries are p's own
        state.keep_error(bucket, residual)
    sent = indices.nbytes + values.nbytes
    state.account(bucket, sent, sent * size, n * _comm.dense_itemsize(bucket, buffer))
    all_indices = _comm.all_gather(indices, group, size)
    all_values = _comm.all_gather(values, group, size)
    p[...] = 0
    for r in range(size):
        TopKCompressor.decompress(all_indices[r], all_values[r], n, out=p)
    p /= size
    state.finish_step(bucket, p)
    return _comm.completed_future(buffer)


def _clip_(array: Any, max_norm: float) -> None:
    """Scale ``array`` in place to an L2 norm of at most ``max_norm`` (on the device: the
    factor is exactly 1 when the norm is within it)."""
    xp = backend.xp(backend.device_of(array))
    norm = xp.sqrt(xp.dot(array, array))
    array *= xp.minimum(1.0, max_norm / xp.maximum(norm, numpy.finfo(array.dtype).tiny))
