"""PowerSGD (Vogels, Karimireddy & Jaggi 2019, "PowerSGD: Practical Low-Rank Gradient
Compression for Distributed Optimization", NeurIPS), as PyTorch's ``powerSGD_hook`` and
``PowerSGDState`` (same arguments, defaults and steps).

Each gradient of a parameter with shape ``(n, ...)`` is viewed as an ``n x m`` matrix ``M``
and replaced by a rank-``r`` approximation computed with one step of subspace (power)
iteration, warm-started from the last step's factor::

    M = g + e                      (error feedback: e is this rank's residual)
    P = M Q;         P = allreduce_sum(P);   P = orthonormalise(P)
    Q = M^T P;       Q = allreduce_sum(Q) / N
    M' = P Q^T       (the same on every rank: the mean of P P^T M over ranks)
    e = M - M'       (this rank's residual, kept for its next step)

Only ``(n + m) r`` numbers per matrix travel instead of ``n m``. A matrix is compressed only
when ``(n + m) r * min_compression_rate < n m``; the others (every 1-D tensor: biases,
norms' weights) are averaged by one allreduce, uncompressed. For the first
``start_powerSGD_iter`` steps every bucket is averaged by plain allreduce
(:func:`allreduce_hook`), since early training is sensitive to compression.

``Q`` starts as a standard normal matrix drawn from a seed that ``state.rng`` (a
``numpy.random.RandomState(random_seed)``, as in PyTorch) hands out, on the CPU, so every rank
draws the same ``Q``; the normal draws come from NumPy, not torch, so the factors differ
from PyTorch's run with the same seed. With ``warm_start`` the averaged ``Q`` of each bucket
is kept and orthonormalised again at the next step; without, a new ``Q`` is drawn each step.

Orthonormalisation is Gram-Schmidt for ``r <= 2`` (and for float16), a QR factorisation
otherwise, as in PyTorch. One deviation: with ``orthogonalization_epsilon=0`` a column of
zeros (a layer whose gradient is zero) stays zero here, which is what PyTorch's code means to
do, while PyTorch divides 0 by 0 and spreads NaN into the model.

Bytes per step: ``(uncompressed elements + sum of (n + m) r) * itemsize`` per bucket once
PowerSGD runs (the whole bucket before). ``state.compression_stats()`` gives PyTorch's
element counts (``(rate, numel before, numel after)``, counted while PowerSGD runs), and the
byte counters are those of every hook state (``bytes_sent``, ``dense_bytes``,
``compression_ratio``, ...).
"""
from __future__ import annotations

import logging
import math
from typing import Any

import numpy

from minigrad import backend

from . import _comm
from . import default_hooks as default

__all__ = ["PowerSGDState", "powerSGD_hook", "batched_powerSGD_hook"]

logger = logging.getLogger(__name__)


def _orthogonalize(matrices: Any, epsilon: float = 0) -> None:
    """Orthonormalise the columns of each ``n x r`` matrix of a ``(B, n, r)`` array in
    place (``r <= n``)."""
    if matrices.ndim != 3 or matrices.shape[2] > matrices.shape[1]:
        raise ValueError(f"_orthogonalize expects (batch, n, r) with r <= n, got {matrices.shape}")
    rank = matrices.shape[2]
    if rank <= 2 or matrices.dtype == numpy.float16:
        _orthogonalize_gram_schmidt(matrices, epsilon)
    else:
        xp = backend.xp(backend.device_of(matrices))
        for b in range(matrices.shape[0]):
            q, _ = xp.linalg.qr(matrices[b])
            matrices[b] = q


def _orthogonalize_gram_schmidt(matrices: Any, epsilon: float = 0) -> None:
    xp = backend.xp(backend.device_of(matrices))
    cols = matrices.shape[2]
    for i in range(cols):
        col = matrices[:, :, i:i + 1]
        norm = xp.sqrt((col * col).sum(axis=1, keepdims=True))
        if epsilon == 0:
            col /= xp.where(norm > 0, norm, 1)  # a zero column stays zero (no 0/0)
        else:
            col /= norm + epsilon
        if i + 1 < cols:
            rest = matrices[:, :, i + 1:]
            rest -= (col * rest).sum(axis=1, keepdims=True) * col


def _should_compress(num_rows: int, num_cols: int, matrix_approximation_rank: int,
                     min_compression_rate: float) -> tuple[bool, int, int]:
    """(compress?, elements uncompressed, elements compressed): compress when
    ``(n + m) r * min_compression_rate < n m``, as PyTorch."""
    uncompressed = num_rows * num_cols
    compressed = (num_rows + num_cols) * matrix_approximation_rank
    return compressed * min_compression_rate < uncompressed, uncompressed, compressed


def _int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
            or math.isinf(value):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


class PowerSGDState(_comm.CommState):
    """Hyperparameters and state of :func:`powerSGD_hook`, as PyTorch's ``PowerSGDState``.

    - ``matrix_approximation_rank`` (1): the rank ``r`` of the approximation; lower is
      stronger compression. PyTorch suggests trying 1, 2, 4, ...
    - ``start_powerSGD_iter`` (1000): steps of plain allreduce before PowerSGD starts (about
      10% of training is PyTorch's suggestion). Must be > 1 when ``use_error_feedback`` or
      ``warm_start`` is on, as in PyTorch.
    - ``min_compression_rate`` (2): a matrix is compressed only if it shrinks by more.
    - ``use_error_feedback`` (True), ``warm_start`` (True): keep each rank's residual /
      reuse the last ``Q``.
    - ``orthogonalization_epsilon`` (0): added to each column's norm before dividing.
    - ``random_seed`` (0): seeds ``rng``, which seeds each fresh ``Q``; must be the same on
      every rank.
    - ``compression_stats_logging_frequency`` (10000): steps between two ``logging`` INFO
      lines of compression statistics.
    - ``batch_tensors_with_same_shape`` (False): compress same-shaped matrices of a bucket
      in one batched product (the same values; faster with many equal layers).

    State: ``iter`` (steps seen, counted at each step's last bucket), ``error_dict``,
    ``p_memory_dict``, ``q_memory_dict`` (per bucket index), ``rng``,
    ``total_numel_before_compression``, ``total_numel_after_compression``, and the byte
    counters of every hook state.
    """

    def __init__(self, process_group: Any, matrix_approximation_rank: int = 1,
                 start_powerSGD_iter: int = 1_000, min_compression_rate: float = 2,
                 use_error_feedback: bool = True, warm_start: bool = True,
                 orthogonalization_epsilon: float = 0, random_seed: int = 0,
                 compression_stats_logging_frequency: int = 10_000,
                 batch_tensors_with_same_shape: bool = False) -> None:
        super().__init__(process_group)
        self.matrix_approximation_rank = _int("matrix_approximation_rank",
                                              matrix_approximation_rank, 1)
        self.start_powerSGD_iter = _int("start_powerSGD_iter", start_powerSGD_iter, 0)
        self.min_compression_rate = _number("min_compression_rate", min_compression_rate)
        self.use_error_feedback = _flag("use_error_feedback", use_error_feedback)
        self.warm_start = _flag("warm_start", warm_start)
        self.orthogonalization_epsilon = _number("orthogonalization_epsilon",
                                                 orthogonalization_epsilon)
        self.batch_tensors_with_same_shape = _flag("batch_tensors_with_same_shape",
                                                   batch_tensors_with_same_shape)
        if (use_error_feedback or warm_start) and start_powerSGD_iter <= 1:
            raise ValueError("start_powerSGD_iter must be > 1 when use_error_feedback or "
                             f"warm_start is on (got {start_powerSGD_iter}), as in PyTorch: the "
                             "first steps run plain allreduce")
        self.rng = numpy.random.RandomState(_int("random_seed", random_seed, 0))
        self.error_dict: dict[int, Any] = {}
        self.p_memory_dict: dict[int, Any] = {}
        self.q_memory_dict: dict[int, Any] = {}
        self.iter = 0
        self.total_numel_before_compression = 0
        self.total_numel_after_compression = 0
        self.compression_stats_logging_frequency = max(
            1, _int("compression_stats_logging_frequency", compression_stats_logging_frequency, 0))
        self.next_stats_report = 0

    def maybe_increase_iter(self, bucket: Any) -> None:
        """Count a step at its last bucket (``bucket.is_last()``)."""
        if bucket.is_last():
            self.iter += 1
            if self.iter == self.start_powerSGD_iter:
                logger.info("Start to apply PowerSGD after %s iterations.", self.iter)

    def compression_stats(self) -> tuple[float, int, int]:
        """(elements before / after compression, elements before, elements after), over the
        steps PowerSGD has run (rate 0 before any)."""
        after = self.total_numel_after_compression
        rate = self.total_numel_before_compression / after if after > 0 else 0
        return rate, self.total_numel_before_compression, after


def _report_compression_stats(bucket: Any, state: PowerSGDState) -> None:
    if bucket.is_last() and state.iter >= state.next_stats_report:
        rate, before, after = state.compression_stats()
        logger.info("Compression stats: iter %s, total before compression %s, total after "
                    "compression %s, rate %s", state.iter, before, after, rate)
        state.next_stats_report = state.iter + state.compression_stats_logging_frequency


def _compressing(state: PowerSGDState, bucket: Any, name: str) -> Any:
    """The bucket's flat gradient Tensor when PowerSGD compresses at this step; None during
    the first ``start_powerSGD_iter`` steps (counted here), where the plain allreduce runs."""
    if not isinstance(state, PowerSGDState):
        raise TypeError(f"{name} needs a PowerSGDState, got {type(state).__name__}")
    buffer = _comm.check_bucket(bucket, name)
    if state.iter < state.start_powerSGD_iter:
        state.maybe_increase_iter(bucket)
        return None
    return buffer


def _add_residual(state: PowerSGDState, index: int, values: Any) -> Any:
    """With error feedback, add (in place) the residual kept for bucket ``index`` from the
    last step to ``values`` (a first step keeps a zero one) and return a copy of the sum, the
    input the residual of this step is measured against; None without error feedback."""
    if not state.use_error_feedback:
        return None
    error = state.error_dict.get(index)
    state._remember(_Index(index), state.error_dict)  # replaced below or at the end
    if error is None:
        state.error_dict[index] = backend.xp(backend.device_of(values)).zeros_like(values)
    else:
        if error.shape != values.shape or error.dtype != values.dtype:
            raise ValueError(f"bucket {index}: the residual kept from the last step has "
                             f"shape {error.shape} and dtype {error.dtype}, the bucket now "
                             f"needs {values.shape} and {values.dtype}")
        values += error
    return values.copy()


def powerSGD_hook(state: PowerSGDState, bucket: Any) -> Any:
    """PowerSGD (see the module docstring): ``ddp_model.register_comm_hook(
    PowerSGDState(process_group=None, matrix_approximation_rank=1, start_powerSGD_iter=10),
    powerSGD_hook)``."""
    buffer = _compressing(state, bucket, "powerSGD_hook")
    if buffer is None:
        return default.allreduce_hook(state, bucket)
    group = state.process_group

    size = _comm.world_size(group)
    xp = backend.xp(buffer.device)
    flat = buffer.array
    dtype = flat.dtype
    index = bucket.index()
    flat_copy = _add_residual(state, index, flat)

    # Step I: which matrices are worth compressing.
    to_compress, uncompressed = [], []
    total_p = total_q = 0
    for view in _comm.parameter_views(bucket, flat):
        if view.ndim == 0:
            uncompressed.append(view.reshape(1))
            state.total_numel_before_compression += 1
            state.total_numel_after_compression += 1
            continue
        matrix = view.reshape(view.shape[0], -1)
        n, m = matrix.shape
        r = min(n, m, state.matrix_approximation_rank)
        worth, before, after = _should_compress(n, m, r, state.min_compression_rate)
        state.total_numel_before_compression += before
        if worth:
            to_compress.append(matrix)
            total_p += n * r
            total_q += m * r
            state.total_numel_after_compression += after
        else:
            uncompressed.append(view)
            state.total_numel_after_compression += before
    _report_compression_stats(bucket, state)

    # Step II: the uncompressed tensors, averaged by one allreduce.
    uncompressed_memory = (xp.concatenate([t.reshape(-1) for t in uncompressed])
                           if uncompressed else xp.empty(0, dtype=dtype))
    nbytes = (uncompressed_memory.size + total_p + total_q) * dtype.itemsize
    state.account(bucket, nbytes, nbytes, flat.size * _comm.dense_itemsize(bucket, buffer))

    # Step III: the factors, in one contiguous P and one Q memory per bucket.
    need_random_q = not state.warm_start or index not in state.p_memory_dict
    _fresh_factors(state, bucket, copy=not need_random_q)
    if need_random_q:
        state.p_memory_dict[index] = xp.empty(total_p, dtype=dtype)
        state.q_memory_dict[index] = xp.empty(total_q, dtype=dtype)
    p_memory, q_memory = state.p_memory_dict[index], state.q_memory_dict[index]
    if p_memory.size != total_p or q_memory.size != total_q:
        raise ValueError(f"bucket {index}: the warm-start factors have {p_memory.size} + "
                         f"{q_memory.size} elements, the bucket now needs {total_p} + {total_q}")

    by_shape: dict[tuple[int, ...], list[Any]] = {}
    for matrix in to_compress:
        by_shape.setdefault(matrix.shape, []).append(matrix)
    batches: list[tuple[Any, list[Any] | None]] = []  # (B, n, m) matrices; the stacked originals
    for same in by_shape.values():
        if state.batch_tensors_with_same_shape and len(same) > 1:
            batches.append((xp.stack(same), same))
        else:
            batches.extend((matrix[None], None) for matrix in same)
    ps, qs = [], []
    p_at = q_at = 0
    for batch, _ in batches:
        b, n, m = batch.shape
        r = min(n, m, state.matrix_approximation_rank)
        ps.append(p_memory[p_at:p_at + b * n * r].reshape(b, n, r))
        qs.append(q_memory[q_at:q_at + b * m * r].reshape(b, m, r))
        p_at += b * n * r
        q_at += b * m * r

    if need_random_q:
        # The same seed on every rank; a new one at every fresh start.
        draws = numpy.random.default_rng(state.rng.randint(1_000_000_000))
        for q in qs:
            normal: Any = draws.standard_normal(q.shape, dtype=numpy.float64 if dtype == numpy.float64
                                                else numpy.float32)
            q[...] = xp.asarray(normal.astype(dtype))
            _orthogonalize(q, state.orthogonalization_epsilon)
    else:
        for q in qs:
            _orthogonalize(q, state.orthogonalization_epsilon)

    for (batch, _), q, p in zip(batches, qs, ps):
        xp.matmul(batch, q, out=p)

    work = _comm.all_reduce_async(_wrap(uncompressed_memory, buffer.device), group)
    work.wait()
    uncompressed_memory /= size
    at = 0
    for t in uncompressed:
        t[...] = uncompressed_memory[at:at + t.size].reshape(t.shape)
        at += t.size

    _comm.all_reduce(_wrap(p_memory, buffer.device), group)  # no division: P is orthonormalised
    for p in ps:
        _orthogonalize(p, state.orthogonalization_epsilon)
    for (batch, _), p, q in zip(batches, ps, qs):
        xp.matmul(batch.transpose(0, 2, 1), p, out=q)
    _comm.all_reduce(_wrap(q_memory, buffer.device), group)
    q_memory /= size

    for (batch, originals), p, q in zip(batches, ps, qs):
        xp.matmul(p, q.transpose(0, 2, 1), out=batch)
        if originals is not None:
            for i, original in enumerate(originals):
                original[...] = batch[i]

    if state.use_error_feedback:
        state.error_dict[index] = flat_copy - flat
    if not state.warm_start:
        state.p_memory_dict.clear()
        state.q_memory_dict.clear()
    state.finish_step(bucket, flat)
    state.maybe_increase_iter(bucket)
    return _comm.completed_future(buffer)


class _Index:
    """A stand-in for a bucket where only its index is known (for ``_remember``)."""

    def __init__(self, index: int) -> None:
        self._index = index

    def index(self) -> int:
        return self._index


def _fresh_factors(state: PowerSGDState, bucket: Any, copy: bool) -> None:
    """Note the kept P and Q memories (or their absence) before the step, and with
    ``copy`` make this step's memories copies of them, which the step then changes in
    place, so that the kept ones can be put back (see ``finish_step``)."""
    index = bucket.index()
    for memory in (state.p_memory_dict, state.q_memory_dict):
        state._remember(bucket, memory)
        if copy:
            memory[index] = memory[index].copy()


def batched_powerSGD_hook(state: PowerSGDState, bucket: Any) -> Any:
    """PowerSGD on the whole bucket at once, as PyTorch's ``batched_powerSGD_hook``: the
    flat bucket of ``L`` entries, zero-padded to ``s * s`` with ``s = ceil(sqrt(L))``, is
    one ``s x s`` matrix compressed to rank ``r``, so only ``2 s r`` numbers travel. Faster
    than :func:`powerSGD_hook` but usually much less accurate for ``r`` > 1, since the
    square matrix cuts across the layers (PyTorch's advice: prefer :func:`powerSGD_hook`).
    The same state (error feedback, warm start, ``start_powerSGD_iter``) applies; the
    residual has the padded length. ``min_compression_rate`` is not used."""
    buffer = _compressing(state, bucket, "batched_powerSGD_hook")
    if buffer is None:
        return default.allreduce_hook(state, bucket)
    group = state.process_group

    size = _comm.world_size(group)
    xp = backend.xp(buffer.device)
    flat = buffer.array
    dtype = flat.dtype
    length = flat.shape[0]
    side = math.isqrt(length - 1) + 1 if length > 1 else 1
    rank = min(side, state.matrix_approximation_rank)
    state.total_numel_before_compression += length
    state.total_numel_after_compression += side * rank * 2
    _report_compression_stats(bucket, state)
    nbytes = 2 * side * rank * dtype.itemsize
    state.account(bucket, nbytes, nbytes, length * _comm.dense_itemsize(bucket, buffer))

    padded = xp.zeros(side * side, dtype=dtype)
    padded[:length] = flat
    index = bucket.index()
    padded_copy = _add_residual(state, index, padded)
    matrix = padded.reshape(side, side)

    fresh = not state.warm_start or index not in state.p_memory_dict
    _fresh_factors(state, bucket, copy=not fresh)
    if fresh:
        state.p_memory_dict[index] = xp.empty((side, rank), dtype=dtype)
        draws = numpy.random.default_rng(state.rng.randint(1_000_000_000))
        normal: Any = draws.standard_normal((side, rank), dtype=numpy.float64
                                            if dtype == numpy.float64 else numpy.float32)
        state.q_memory_dict[index] = xp.asarray(normal.astype(dtype))
    p, q = state.p_memory_dict[index], state.q_memory_dict[index]
    _orthogonalize(q[None], state.orthogonalization_epsilon)
    xp.matmul(matrix, q, out=p)
    _comm.all_reduce(_wrap(p, buffer.device), group)
    _orthogonalize(p[None], state.orthogonalization_epsilon)
    xp.matmul(matrix.T, p, out=q)
    _comm.all_reduce(_wrap(q, buffer.device), group)
    q /= size
    xp.matmul(p, q.T, out=matrix)
    if state.use_error_feedback:
        state.error_dict[index] = padded_copy - padded
    if not state.warm_start:
        state.p_memory_dict.clear()
        state.q_memory_dict.clear()
    flat[...] = padded[:length]
    state.finish_step(bucket, flat)
    state.maybe_increase_iter(bucket)
    return _comm.completed_future(buffer)


def _wrap(array: Any, device: str) -> Any:
    from minigrad.tensor import wrap
    return wrap(array, device)
