"""QSGD: unbiased stochastic quantisation (Alistarh, Grubic, Li, Tomioka & Vojnovic 2017,
"QSGD: Communication-Efficient SGD via Gradient Quantization and Encoding", NeurIPS).

The flat bucket is cut into chunks of ``bucket_size`` entries (the paper's "bucketing"; the
last chunk may be shorter). For a chunk ``v`` with ``s`` levels each entry becomes::

    Q(v_i) = ||v||_2 * sign(v_i) * xi_i / s
    xi_i = l + 1 with probability a - l, else l,   a = s |v_i| / ||v||_2,  l = floor(a)

so ``E[Q(v_i)] = v_i``: the quantisation is unbiased, and needs no error feedback. Each
rank sends ``sign(v_i) xi_i`` as one int8 per entry (``s`` <= 127) plus one norm per
chunk in the bucket's dtype, by allgather; every rank decodes all messages in rank order and
averages them. The paper's Elias coding of the levels is not done (it would shrink the
message further for small ``s``).

Randomness: each rank draws its uniforms from its own generator, seeded with
``(random_seed, rank)`` at the first step (``state.generator``), so ranks round
independently and a run repeats exactly.

Bytes per bucket of ``n`` entries: ``n`` + ``ceil(n / bucket_size)`` floats sent, ``N``
times that received.
"""
from __future__ import annotations

import math
from typing import Any

import numpy

from minigrad import backend

from . import _comm

__all__ = ["QSGDCompressor", "QSGDState", "qsgd_hook"]


class QSGDCompressor:
    """Stochastic quantisation of a 1-D array to ``num_levels`` levels per chunk of
    ``bucket_size`` entries (see the module docstring)."""

    def __init__(self, num_levels: int, bucket_size: int) -> None:
        for name, value, high in (("num_levels", num_levels, 127),
                                  ("bucket_size", bucket_size, None)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 \
                    or (high is not None and value > high):
                bound = f"in [1, {high}]" if high else ">= 1"
                raise ValueError(f"{name} must be an int {bound}, got {value!r}")
        self.num_levels = num_levels
        self.bucket_size = bucket_size

    def _chunks(self, n: int) -> tuple[int, int]:
        chunks = max(1, math.ceil(n / self.bucket_size))
        return chunks, chunks * self.bucket_size - n

    def compress(self, array: Any, uniforms: Any) -> tuple[Any, Any]:
        """(int8 levels with their signs, one norm per chunk); ``uniforms`` are ``n`` draws
        from U[0, 1) in the array's dtype."""
        xp = backend.xp(backend.device_of(array))
        n = array.shape[0]
        chunks, pad = self._chunks(n)
        v = xp.concatenate([array, xp.zeros(pad, dtype=array.dtype)]).reshape(chunks, -1)
        norms = xp.sqrt((v * v).sum(axis=1))
        s = array.dtype.type(self.num_levels)
        scale = xp.where(norms > 0, s / xp.where(norms > 0, norms, 1), 0).astype(array.dtype)
        a = (xp.abs(v) * scale[:, None]).reshape(-1)[:n]
        level = xp.floor(a)
        level += uniforms < (a - level)
        xp.minimum(level, s, out=level)  # a can pass s by a rounding when |v_i| = ||v||
        q = (xp.sign(array) * level).astype(numpy.int8)
        return q, norms

    def decompress(self, q: Any, norms: Any, n: int) -> Any:
        """The decoded array, in the norms' dtype."""
        xp = backend.xp(backend.device_of(q))
        chunks, pad = self._chunks(n)
        per_entry = xp.repeat(norms / norms.dtype.type(self.num_levels), self.bucket_size)[:n]
        return q.astype(norms.dtype) * per_entry


class QSGDState(_comm.CommState):
    """State of :func:`qsgd_hook`: ``QSGDState(process_group=None, num_levels=16,
    bucket_size=512, random_seed=0)``. ``num_levels`` is the paper's ``s`` (at most 127,
    since a level and its sign travel as one int8); ``bucket_size`` is the length of the
    chunks that each get their own norm (smaller: less variance, more norms sent; 512 is a
    choice here, not a number from the paper). Byte counters as every hook state;
    ``generator`` is this rank's seeded generator (made at the first step)."""

    def __init__(self, process_group: Any = None, num_levels: int = 16,
                 bucket_size: int = 512, random_seed: int = 0) -> None:
        super().__init__(process_group)
        if isinstance(random_seed, bool) or not isinstance(random_seed, int) or random_seed < 0:
            raise ValueError(f"random_seed must be an int >= 0, got {random_seed!r}")
        self.compressor = QSGDCompressor(num_levels, bucket_size)
        self.num_levels, self.bucket_size, self.random_seed = num_levels, bucket_size, random_seed
        self.generator: Any = None

    def uniforms(self, n: int, dtype: Any, device: str) -> Any:
        if self.generator is None:
            rank = _comm.rank(self.process_group)
            self.generator = backend.xp(device).random.default_rng([self.random_seed, rank])
        if dtype in (numpy.float32, numpy.float64):
            return self.generator.random(n, dtype=dtype)
        return self.generator.random(n, dtype=numpy.float32).astype(dtype)  # float16 buckets


def qsgd_hook(state: QSGDState, bucket: Any) -> Any:
    """QSGD (see the module docstring): the bucket becomes the mean over ranks of their
    quantised gradients."""
    if not isinstance(state, QSGDState):
        raise TypeError(f"qsgd_hook needs a QSGDState, got {type(state).__name__}")
    buffer = _comm.check_bucket(bucket, "qsgd_hook")
    xp = backend.xp(buffer.device)
    p = buffer.array
    n = p.shape[0]
    group = state.process_group
    size = _comm.world_size(group)
    q, norms = state.compressor.compress(p, state.uniforms(n, p.dtype, buffer.device))
    message = xp.concatenate([norms.view(numpy.uint8), q.view(numpy.uint8)])  # norms first: aligned
    state.account(bucket, message.nbytes, message.nbytes * size,
                  n * _comm.dense_itemsize(bucket, buffer))
    gathered = _comm.all_gather(message, group, size)
    p[...] = 0
    for r in range(size):
        row = xp.ascontiguousarray(gathered[r])
        split = norms.nbytes
        p += state.compressor.decompress(row[split:].view(numpy.int8), row[:split].view(p.dtype), n)
    p /= size
    return _comm.completed_future(buffer)
