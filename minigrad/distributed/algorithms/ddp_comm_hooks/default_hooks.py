"""The default hook (a plain averaging allreduce) and the 16-bit casting hooks, as PyTorch's
``torch.distributed.algorithms.ddp_comm_hooks.default_hooks``.

Each hook takes ``(state, bucket)`` and returns a ``minigrad.distributed.Future`` whose value
is the bucket's averaged flat gradient. ``state`` is a process group or None (the default
group), as in PyTorch, or a :class:`DefaultState`, which also counts the bytes sent (see
:mod:`._comm` for what the counters mean).

bfloat16 has no NumPy dtype, so it is emulated: a float32 value is rounded to its top 16 bits
(sign, 8 exponent bits, 7 mantissa bits) with round-to-nearest-even, carried as ``uint16``
bit patterns and widened back by appending 16 zero bits (:func:`to_bfloat16_bits`,
:func:`from_bfloat16_bits`, :func:`round_to_bfloat16`). float64 values are first rounded to
float32, as ``torch.Tensor.to(torch.bfloat16)`` does.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy

from minigrad import backend
from minigrad.tensor import Tensor, wrap

from . import _comm

__all__ = ["DefaultState", "allreduce_hook", "fp16_compress_hook", "bf16_compress_hook",
           "fp16_compress_wrapper", "bf16_compress_wrapper", "to_bfloat16_bits",
           "from_bfloat16_bits", "round_to_bfloat16"]

Hook = Callable[[Any, Any], Any]


class DefaultState(_comm.CommState):
    """The state of :func:`allreduce_hook`, :func:`fp16_compress_hook` and
    :func:`bf16_compress_hook` when bytes should be counted: ``DefaultState(process_group)``
    in place of the bare group. Counters: ``bytes_sent``, ``bytes_received``,
    ``dense_bytes``, ``last_step_bytes_sent``, ``last_step_dense_bytes``, ``steps``,
    ``compression_ratio``."""


# --- bfloat16, emulated --------------------------------------------------------------------
def to_bfloat16_bits(array: Any) -> Any:
    """The bfloat16 nearest to each value (ties to even), as ``uint16`` bit patterns.

    float64 input is rounded to float32 first. Values past bfloat16's largest finite value
    (about 3.39e38) round to infinity, as IEEE rounding does; NaN stays NaN (quiet).
    """
    xp = backend.xp(backend.device_of(array))
    single = xp.ascontiguousarray(array, dtype=numpy.float32)
    bits = single.view(numpy.uint32)
    # Adding 0x7FFF plus the lowest kept bit, then dropping 16 bits, rounds half to even.
    rounded = (bits + (numpy.uint32(0x7FFF) + ((bits >> 16) & numpy.uint32(1)))) >> 16
    nan = xp.isnan(single)
    rounded = xp.where(nan, (bits >> 16) | numpy.uint32(0x0040), rounded)
    return rounded.astype(numpy.uint16)


def from_bfloat16_bits(bits: Any) -> Any:
    """float32 values of ``uint16`` bfloat16 bit patterns (exact)."""
    xp = backend.xp(backend.device_of(bits))
    return (xp.asarray(bits, dtype=numpy.uint32) << 16).view(numpy.float32)


def round_to_bfloat16(array: Any) -> Any:
    """``array`` rounded to bfloat16 precision, returned as float32."""
    return from_bfloat16_bits(to_bfloat16_bits(array))


# --- hooks -----------------------------------------------------------------------------------
def allreduce_hook(state: Any, bucket: Any) -> Any:
    """Average the bucket over all ranks with one allreduce (divide by the world size, then
    sum): what DDP does without a hook, as PyTorch's ``allreduce_hook``.

    Bytes: the whole bucket in its own dtype."""
    buffer = _comm.check_bucket(bucket, "allreduce_hook")
    group = _comm.group_of(state)
    buffer.array /= _comm.world_size(group)
    nbytes = buffer.numel() * buffer.dtype.itemsize
    _comm.account(state, bucket, nbytes, nbytes, buffer.numel() * _comm.dense_itemsize(bucket, buffer))
    work = _comm.all_reduce_async(buffer, group)
    return work.get_future().then(lambda fut: buffer)


def fp16_compress_hook(state: Any, bucket: Any) -> Any:
    """Cast the bucket to float16, divide by the world size (in float16) and allreduce it in
    float16, then copy the sum back into the bucket in its own dtype, as PyTorch's
    ``fp16_compress_hook``. Halves the bytes of float32 gradients (quarters float64's).

    float16 keeps 11 significant bits (relative error at most 2**-11 per rounding) and
    covers about 6e-8 (subnormal) to 65504: smaller gradients flush towards zero and larger
    ones become inf, which the optimizer's ``on_nonfinite`` check then sees. No loss scaling
    is done. Bytes: 2 per element.
    """
    buffer = _comm.check_bucket(bucket, "fp16_compress_hook")
    group = _comm.group_of(state)
    xp = backend.xp(buffer.device)
    compressed = buffer.array.astype(numpy.float16)
    compressed /= numpy.float16(_comm.world_size(group))
    nbytes = compressed.size * 2
    _comm.account(state, bucket, nbytes, nbytes, buffer.numel() * _comm.dense_itemsize(bucket, buffer))
    sent = wrap(compressed, buffer.device)
    work = _comm.all_reduce_async(sent, group)

    def decompress(fut: Any) -> Tensor:
        xp.copyto(buffer.array, sent.array, casting="unsafe")
        return buffer
    return work.get_future().then(decompress)


def bf16_compress_hook(state: Any, bucket: Any) -> Any:
    """Cast the bucket to (emulated) bfloat16, divide by the world size in bfloat16, and
    average: PyTorch's ``bf16_compress_hook`` on CPU hardware.

    Each rank sends its ``uint16`` bit patterns (2 bytes per element) with an allgather,
    because MPI has no bfloat16 sum; every rank then adds the N contributions in float32 in
    rank order (so all ranks get the same bits) and rounds the sum to bfloat16 once, which is
    at least as accurate as a bfloat16 ring allreduce. bfloat16 keeps float32's range with 8
    significant bits (relative error at most 2**-8 per rounding). Bytes: 2 per element sent,
    2 N per element received.
    """
    buffer = _comm.check_bucket(bucket, "bf16_compress_hook")
    group = _comm.group_of(state)
    size = _comm.world_size(group)
    xp = backend.xp(buffer.device)
    bits = to_bfloat16_bits(from_bfloat16_bits(to_bfloat16_bits(buffer.array)) / numpy.float32(size))
    nbytes = bits.size * 2
    _comm.account(state, bucket, nbytes, nbytes * size,
                  buffer.numel() * _comm.dense_itemsize(bucket, buffer))
    gathered = _comm.all_gather(bits, group, size)
    total = from_bfloat16_bits(gathered[0]).copy()
    for i in range(1, size):
        total += from_bfloat16_bits(gathered[i])
    xp.copyto(buffer.array, round_to_bfloat16(total), casting="unsafe")
    return _comm.completed_future(buffer)


# --- wrappers ---------------------------------------------------------------------------------
class _CastBucket:
    """The bucket as the wrapped hook sees it: the same index, parameters and position, with
    ``buffer()`` the narrowed copy (``gradients()`` views of it)."""

    def __init__(self, bucket: Any, buffer: Tensor) -> None:
        self._bucket, self._buffer = bucket, buffer

    def buffer(self) -> Tensor:
        return self._buffer

    def set_buffer(self, tensor: Tensor) -> None:
        backend.xp(self._buffer.device).copyto(self._buffer.array, tensor.array.reshape(-1),
                                               casting="unsafe")

    def gradients(self) -> list[Tensor]:
        return [wrap(v, self._buffer.device)
                for v in _comm.parameter_views(self._bucket, self._buffer.array)]

    def index(self) -> int:
        return self._bucket.index()

    def is_last(self) -> bool:
        return self._bucket.is_last()

    def parameters(self) -> list[Tensor]:
        return self._bucket.parameters()


def _cast_wrapper(hook: Hook, name: str, cast: Callable[[Any], Any], dtype: Any) -> Hook:
    # PyTorch's wrappers swap the bucket's buffer with set_buffer; here the wrapped hook gets
    # a stand-in bucket instead, so the real bucket's buffer is never replaced.
    def wrapped(state: Any, bucket: Any) -> Any:
        original = _comm.check_bucket(bucket, name)
        narrow = wrap(cast(original.array), original.device)
        fut = hook(state, _CastBucket(bucket, narrow))

        def decompress(fut: Any) -> Tensor:
            value = fut.value()
            value = value[0] if isinstance(value, (list, tuple)) else value
            backend.xp(original.device).copyto(original.array, value.array.reshape(-1),
                                               casting="unsafe")
            return original
        return fut.then(decompress)
    wrapped.__name__ = f"{name}({getattr(hook, '__name__', 'hook')})"
    wrapped.__doc__ = f"{getattr(hook, '__name__', 'hook')} run on the bucket cast to {dtype}."
    return wrapped


def fp16_compress_wrapper(hook: Hook) -> Hook:
    """``hook`` run on the bucket cast to float16, its result cast back to the bucket's dtype,
    as PyTorch's ``fp16_compress_wrapper`` (so ``fp16_compress_wrapper(powerSGD_hook)``
    sends PowerSGD's factors in 16 bits). ``fp16_compress_wrapper(allreduce_hook)`` gives
    the same values as :func:`fp16_compress_hook`."""
    return _cast_wrapper(hook, "fp16_compress_wrapper",
                         lambda a: a.astype(numpy.float16), "float16")


def bf16_compress_wrapper(hook: Hook) -> Hook:
    """``hook`` run on the bucket rounded to bfloat16 precision, its result cast back, as
    PyTorch's ``bf16_compress_wrapper``. NumPy has no bfloat16 dtype, so the inner hook sees
    a float32 buffer holding bfloat16 values and still sends 4 bytes per element: this
    wrapper reproduces the rounding, not the bandwidth saving."""
    return _cast_wrapper(hook, "bf16_compress_wrapper", round_to_bfloat16, "bfloat16")
