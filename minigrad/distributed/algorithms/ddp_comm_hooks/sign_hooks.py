"""One-bit (sign) compression: 1-bit SGD, EF-signSGD and signSGD with majority vote.

Every rank sends one bit per gradient entry (``p >= 0``, so an exact 0 counts as positive),
packed eight to a byte, plus a few floats per parameter tensor, with an allgather; every rank
decodes all messages in rank order, so all ranks get the same bits.

- :func:`onebit_sgd_hook` — 1-bit SGD (Seide, Fu, Droppo, Li & Yu 2014, "1-Bit Stochastic
  Gradient Descent and its Application to Data-Parallel Distributed Training of Speech
  DNNs", Interspeech): an entry is sent as its sign, decoded as the mean of the tensor's
  non-negative entries or the mean of its negative entries (two floats per tensor), and the
  quantisation error is fed back into the next step. The paper quantises column by column;
  here the two reconstruction values are per parameter tensor.
- :func:`ef_signsgd_hook` — EF-signSGD (Karimireddy, Rebjock, Stich & Jaggi 2019, "Error
  Feedback Fixes SignSGD and other Gradient Compression Schemes", ICML): the scaled sign
  ``(||p||_1 / d) sign(p)`` of ``p = g + e``, per parameter tensor of ``d`` entries (one
  float per tensor), with error feedback ``e = p - (||p||_1 / d) sign(p)``.
- :func:`signsgd_majority_vote_hook` — signSGD with majority vote (Bernstein, Zhao,
  Azizzadenesheli & Anandkumar 2018, "signSGD with Majority Vote is Communication
  Efficient and Fault Tolerant", ICLR 2019): the result is ``sign(sum over ranks of
  sign(g))``, entries in {-1, 0, +1} (0 where an even number of ranks tie), so the
  optimizer sees only a direction and its learning rate sets the step size (as for
  ``optim.SignSGD``). With ``momentum`` > 0 each rank votes with the sign of its momentum
  ``m = momentum m + (1 - momentum) g`` (Signum). No error feedback, no scale. A NaN or
  inf in any rank's gradient makes the whole bucket NaN on every rank.

The error feedback acts on gradients (``p = g + e``), not on ``lr * g`` as in
Karimireddy et al.; with a constant learning rate the two are the same algorithm.

Bytes per bucket of ``n`` entries in ``T`` tensors: ``ceil(n / 8)`` plus ``2 T`` floats
(1-bit SGD) or ``T`` floats (EF-signSGD) in the bucket's dtype, or plus one byte (majority
vote: whether the rank's gradient held a NaN or inf, which makes the result NaN on every
rank rather than a silent vote); ``N`` times that received. A NaN or inf in the scaled
schemes travels in the tensor's floats, so it reaches every rank too.
"""
from __future__ import annotations

import math
from typing import Any

import numpy

from minigrad import backend

from . import _comm

__all__ = ["SignCompressor", "OneBitState", "onebit_sgd_hook", "EFSignSGDState",
           "ef_signsgd_hook", "MajorityVoteState", "signsgd_majority_vote_hook"]


class SignCompressor:
    """Encodes a flat array as sign bits plus, per segment (parameter tensor), the value a
    set bit and a clear bit decode to.

    ``mode="scaled_sign"``: both are ``+-mean(|p|)`` over the segment (one float sent);
    ``mode="onebit"``: the mean of the segment's non-negative entries and the mean of its
    negative entries (two floats sent; a side with no entries decodes to 0);
    ``mode="sign"``: +1 and -1 (nothing but the bits sent).
    """

    MODES = ("scaled_sign", "onebit", "sign")

    def __init__(self, mode: str) -> None:
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode

    def floats_per_segment(self) -> int:
        return {"scaled_sign": 1, "onebit": 2, "sign": 0}[self.mode]

    def compress(self, array: Any, sizes: list[int]) -> tuple[Any, Any]:
        """(packed bits as uint8, the segments' floats) for a 1-D ``array`` whose segments
        have ``sizes`` elements."""
        xp = backend.xp(backend.device_of(array))
        bits = array >= 0
        packed = xp.packbits(bits)
        if self.mode == "sign":
            return packed, xp.empty(0, dtype=array.dtype)
        floats = xp.empty((len(sizes), self.floats_per_segment()), dtype=array.dtype)
        offset = 0
        for j, size in enumerate(sizes):
            seg, seg_bits = array[offset:offset + size], bits[offset:offset + size]
            if self.mode == "scaled_sign":
                floats[j, 0] = xp.abs(seg).sum() / size
            else:  # on the device, without reading the count back (a side may be empty: 0)
                npos = seg_bits.sum()
                floats[j, 0] = xp.where(seg_bits, seg, 0).sum() / xp.maximum(npos, 1)
                floats[j, 1] = xp.where(seg_bits, 0, seg).sum() / xp.maximum(size - npos, 1)
            offset += size
        return packed, floats.reshape(-1)

    def decompress(self, packed: Any, floats: Any, sizes: list[int], dtype: Any) -> Any:
        """The decoded flat array."""
        xp = backend.xp(backend.device_of(packed))
        n = sum(sizes)
        bits = xp.unpackbits(packed)[:n].astype(bool)
        if self.mode == "sign":
            return xp.where(bits, dtype.type(1), dtype.type(-1)).astype(dtype)
        floats = floats.reshape(len(sizes), self.floats_per_segment())
        pos = xp.repeat(floats[:, 0], sizes)
        neg = -pos if self.mode == "scaled_sign" else xp.repeat(floats[:, 1], sizes)
        return xp.where(bits, pos, neg)


def _segments(bucket: Any, n: int) -> list[int]:
    sizes = [int(p.numel()) for p in bucket.parameters()]
    if sum(sizes) != n:
        raise ValueError(f"bucket {bucket.index()}: its parameters hold {sum(sizes)} elements "
                         f"but its buffer has {n}")
    return sizes


def _gather_messages(state: Any, bucket: Any, packed: Any, floats: Any, n: int,
                     dense_itemsize: int) -> tuple[Any, Any, int]:
    """All ranks' (packed, floats), sent as one byte message per rank."""
    xp = backend.xp(backend.device_of(packed))
    group = state.process_group
    size = _comm.world_size(group)
    message = xp.concatenate([packed, xp.ascontiguousarray(floats).view(numpy.uint8)])
    state.account(bucket, message.nbytes, message.nbytes * size, n * dense_itemsize)
    gathered = _comm.all_gather(message, group, size)
    nbits = packed.shape[0]
    return gathered[:, :nbits], xp.ascontiguousarray(gathered[:, nbits:]), size


class _SignState(_comm.ErrorFeedbackState):
    mode = "scaled_sign"

    def __init__(self, process_group: Any = None, use_error_feedback: bool = True) -> None:
        super().__init__(process_group, use_error_feedback)
        self.compressor = SignCompressor(self.mode)


class OneBitState(_SignState):
    """State of :func:`onebit_sgd_hook`: ``OneBitState(process_group=None,
    use_error_feedback=True)``; byte counters and ``error_dict`` as every hook state."""
    mode = "onebit"


class EFSignSGDState(_SignState):
    """State of :func:`ef_signsgd_hook`: ``EFSignSGDState(process_group=None,
    use_error_feedback=True)`` (without error feedback it is scaled signSGD); byte counters
    and ``error_dict`` as every hook state."""
    mode = "scaled_sign"


def _error_feedback_sign_hook(state: _SignState, bucket: Any, name: str) -> Any:
    buffer = _comm.check_bucket(bucket, name)
    p = buffer.array
    n = p.shape[0]
    sizes = _segments(bucket, n)
    state.add_error(bucket, p)
    compressor = state.compressor
    packed, floats = compressor.compress(p, sizes)
    if state.use_error_feedback:
        state.keep_error(bucket, p - compressor.decompress(packed, floats, sizes, p.dtype))
    all_packed, all_floats, size = _gather_messages(state, bucket, packed, floats, n,
                                                    _comm.dense_itemsize(bucket, buffer))
    p[...] = 0
    for r in range(size):
        p += compressor.decompress(all_packed[r], all_floats[r].view(p.dtype), sizes, p.dtype)
    p /= size
    state.finish_step(bucket, p)
    return _comm.completed_future(buffer)


def onebit_sgd_hook(state: OneBitState, bucket: Any) -> Any:
    """1-bit SGD with error feedback (see the module docstring); the result is the mean over
    ranks of the decoded messages."""
    if not isinstance(state, OneBitState):
        raise TypeError(f"onebit_sgd_hook needs a OneBitState, got {type(state).__name__}")
    return _error_feedback_sign_hook(state, bucket, "onebit_sgd_hook")


def ef_signsgd_hook(state: EFSignSGDState, bucket: Any) -> Any:
    """EF-signSGD (see the module docstring); the result is the mean over ranks of the
    scaled signs."""
    if not isinstance(state, EFSignSGDState):
        raise TypeError(f"ef_signsgd_hook needs an EFSignSGDState, got {type(state).__name__}")
    return _error_feedback_sign_hook(state, bucket, "ef_signsgd_hook")


class MajorityVoteState(_comm.CommState):
    """State of :func:`signsgd_majority_vote_hook`: ``MajorityVoteState(process_group=None,
    momentum=0.0)``. With ``momentum`` in (0, 1) each rank votes with the sign of its
    exponential moving average of gradients (Signum; ``momentum_dict`` holds them per
    bucket). Byte counters as every hook state."""

    def __init__(self, process_group: Any = None, momentum: float = 0.0) -> None:
        super().__init__(process_group)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) \
                or not 0 <= momentum < 1 or math.isnan(momentum):
            raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self.momentum_dict: dict[int, Any] = {}
        self.compressor = SignCompressor("sign")


def signsgd_majority_vote_hook(state: MajorityVoteState, bucket: Any) -> Any:
    """signSGD with majority vote (see the module docstring): the bucket becomes
    ``sign(sum_r sign(g_r))``."""
    if not isinstance(state, MajorityVoteState):
        raise TypeError(f"signsgd_majority_vote_hook needs a MajorityVoteState, got "
                        f"{type(state).__name__}")
    buffer = _comm.check_bucket(bucket, "signsgd_majority_vote_hook")
    xp = backend.xp(buffer.device)
    p = buffer.array
    n = p.shape[0]
    vote = p
    if state.momentum:
        previous = state.momentum_dict.get(bucket.index())
        m = xp.zeros_like(p) if previous is None else previous * state.momentum  # a new array
        m += (1 - state.momentum) * p
        state._remember(bucket, state.momentum_dict)
        state.momentum_dict[bucket.index()] = m
        vote = m
    packed, _ = state.compressor.compress(vote, [n])
    # One more byte says whether this rank's gradient had a NaN or inf, which a sign bit
    # cannot carry: then every rank's result is NaN, as an allreduce's would be.
    bad = (~xp.isfinite(vote).all()).astype(numpy.uint8).reshape(1)
    all_packed, flags, size = _gather_messages(state, bucket, packed, bad, n,
                                               _comm.dense_itemsize(bucket, buffer))
    total = xp.zeros(n, dtype=numpy.int32)
    for r in range(size):
        total += xp.unpackbits(all_packed[r])[:n].astype(numpy.int32)
    # total = number of +1 votes; the sum of signs is 2 total - N.
    p[...] = xp.where(flags.any(), p.dtype.type(numpy.nan), xp.sign(2 * total - size))
    state.finish_step(bucket, p)
    return _comm.completed_future(buffer)
