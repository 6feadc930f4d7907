"""DistributedDataParallel: one model replica per process, gradients averaged in buckets.

At wrap time rank 0's parameters and buffers are broadcast, so every replica starts
equal. Parameters are split into buckets in reverse order (PyTorch's: the last layer's
gradients are ready first in backward), the first bucket capped at 1 MiB and the others at
``bucket_cap_mb``. A post-accumulate-grad hook on each parameter counts its bucket's
finished gradients; when a bucket is complete (and every bucket before it has been
started, so all ranks start the same collectives in the same order) its communication
hook is called on a flat buffer of its gradients, and starts a nonblocking allreduce
while backward goes on computing the earlier layers. A callback queued on the engine waits
for every bucket at the end of backward and writes the averaged values into ``.grad``.

Where the flat buffer comes from, so that a bucket is reduced in place:

* An optimizer made with flat storage (the default, see minigrad.optim.flat) keeps the
  gradients of a group's small parameters in one contiguous buffer, in parameter order,
  and backward writes each gradient into its slot there (the parameter's grad home). A
  bucket whose gradients are consecutive views of one such buffer is that buffer's slice.
* A bucket mostly of parameters without such a home (large ones, which keep their own
  arrays, or ``flat=False``) gets a buffer of DDP's own, and DDP makes it the grad home of
  all the bucket's parameters (at the first forward, once the optimizer exists); the
  optimizer then updates the few that had a home in its buffer one by one.
* Otherwise (a bucket across two buffers, a gradient assigned by hand, a kept gradient
  still referring to the home) the gradients are gathered into a scratch buffer and
  copied back after the reduction, which is what PyTorch always does unless
  ``gradient_as_bucket_view=True``; here that option makes the gradients views of the
  scratch buffer instead of copying back.

Within a bucket, parameters keep their forward order, so that a bucket is a slice of the
optimizer's buffer.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator

import numpy as np

from minigrad import backend
from minigrad.autograd import engine as _engine
from minigrad.autograd.engine import queue_callback
from minigrad.distributed import collectives as C
from minigrad.distributed.futures import Future
from minigrad.distributed.process_group import ProcessGroup, resolve
from minigrad.jit import tracer as _tracer
from minigrad.nn.module import Module
from minigrad.optim.flat import entry_bounds
from minigrad.tensor import Tensor, wrap

FIRST_BUCKET_BYTES = 1 << 20  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


class GradBucket:
    """The gradients of one bucket, as a communication hook sees them (PyTorch's
    ``torch.distributed.GradBucket``): ``buffer()`` is the flat 1-D tensor of all of them
    (``gradients()`` are views of it, shaped like ``parameters()``)."""

    def __init__(self, index: int, buffer: Tensor, params: list[Tensor],
                 bounds: list[tuple[int, int]], is_last: bool) -> None:
        self._index, self._buffer, self._params = index, buffer, params
        self._bounds, self._is_last = bounds, is_last

    def index(self) -> int:
        return self._index

    def buffer(self) -> Tensor:
        return self._buffer

    def gradients(self) -> list[Tensor]:
        flat, device = self._buffer.array, self._buffer.device
        return [wrap(flat[a:b].reshape(p.array.shape), device)
                for p, (a, b) in zip(self._params, self._bounds)]

    def parameters(self) -> list[Tensor]:
        return list(self._params)

    def is_last(self) -> bool:
        return self._is_last

    def set_buffer(self, tensor: Tensor) -> None:
        """Write ``tensor``'s values into the bucket's buffer (same number of entries)."""
        if not isinstance(tensor, Tensor) or tensor.array.size != self._buffer.array.size:
            raise ValueError(f"GradBucket.set_buffer: needs a tensor of "
                             f"{self._buffer.array.size} entries, got "
                             f"{getattr(tensor, 'shape', type(tensor).__name__)}")
        self._buffer.array[...] = tensor.array.reshape(-1).astype(self._buffer.dtype, copy=False)

    def __repr__(self) -> str:
        return (f"GradBucket(index={self._index}, parameters={len(self._params)}, "
                f"entries={self._buffer.array.size})")


def allreduce_hook(process_group: ProcessGroup | None, bucket: GradBucket) -> Future:
    """The default communication hook: sum the bucket over the ranks (nonblocking), then
    divide by the world size (the mean of the ranks' gradients)."""
    group = resolve(process_group)
    size = group.size()
    work = C.all_reduce(bucket.buffer(), group=group, async_op=True)
    assert work is not None
    fut = work.get_future()

    def divide(f: Future) -> Tensor:
        t = f.value()[0]
        t.array /= size
        return t
    return fut.then(divide)


class _Bucket:
    """DDP's own record of a bucket: its parameters and where each sits in the flat buffer."""

    def __init__(self, params: list[Tensor]) -> None:
        self.params = params
        self.bounds, self.size = entry_bounds(params)
        self.buffer: Any = None  # the grad homes' memory, when DDP gives them (give_homes)
        self.homes: list[Tensor] = []  # views of it, one per parameter
        self.scratch: Any = None  # where gradients living elsewhere are gathered
        self.ready = 0

    def nbytes(self) -> int:
        return self.size * self.params[0].array.dtype.itemsize

    def new_buffer(self) -> None:
        first = self.params[0]
        self.buffer = backend.xp(first.device).zeros(self.size, dtype=first.array.dtype)
        if self.homes:
            self.homes = [wrap(self.buffer[lo:hi].reshape(p.array.shape), p.device)
                          for p, (lo, hi) in zip(self.params, self.bounds)]

    def give_homes(self) -> None:
        """Make DDP's buffer the grad home of every parameter of the bucket (none has one
        from an optimizer): backward then writes each gradient straight into the bucket."""
        self.homes = [self.params[0]]  # (replaced by new_buffer)
        self.new_buffer()
        for k, p in enumerate(self.params):
            p._grad_home = _BucketSlot(self, k)


class _BucketSlot:
    """A parameter's grad home in its DDP bucket's buffer (the protocol of
    minigrad.optim.flat.GradSlot: ``claim()`` gives the view backward may write into)."""

    __slots__ = ("bucket", "index")

    def __init__(self, bucket: _Bucket, index: int) -> None:
        self.bucket, self.index = bucket, index

    def claim(self) -> Tensor | None:
        """The home, if nothing but the bucket refers to it or to the buffer (else a fresh
        buffer when no parameter of the bucket holds a gradient, else None: backward then
        makes an array of its own, gathered at the reduction)."""
        bucket = self.bucket
        home = bucket.homes[self.index]
        if _home_free(bucket, home):
            return home
        if any([p._grad is not None for p in bucket.params]):
            return None
        bucket.new_buffer()
        return bucket.homes[self.index]


def _home_free(bucket: _Bucket, home: Tensor) -> bool:
    # the references counted: the bucket's list, claim's local, this parameter and
    # getrefcount's argument for the tensor; the tensor's attribute and the argument for its
    # array; the bucket's attribute, each home view's base and the argument for the buffer
    return sys.getrefcount(home) == 4 and sys.getrefcount(home.array) == 2 and \
        sys.getrefcount(bucket.buffer) == len(bucket.homes) + 2


def _pointer(array: Any) -> int:
    if isinstance(array, np.ndarray):
        return array.__array_interface__["data"][0]
    return int(array.data.ptr)  # CuPy


def _flat_view(arrays: list[Any]) -> Any:
    """The 1-D slice that ``arrays`` (consecutive views of one flat buffer, in order) make
    up together, or None when they are not laid out so."""
    base = arrays[0].base
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    item = base.dtype.itemsize
    origin = _pointer(base)
    start = (_pointer(arrays[0]) - origin) // item
    pos = start
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous or _pointer(a) != origin + pos * item:
            return None
        pos += a.size
    return base[start:pos]


class DistributedDataParallel(Module):
    """Data parallelism across processes (PyTorch's class of the same name and arguments).

    Wrap the model after :func:`~minigrad.distributed.init_process_group`, make the
    optimizer on the wrapped model's parameters, and feed each rank its own part of each
    batch (:class:`~minigrad.data.DistributedSampler`); after ``backward`` every rank holds
    the mean of the ranks' gradients, so with losses that are means over equal local
    batches the step equals one process's step on the whole batch.

    ``broadcast_buffers``: broadcast rank 0's buffers (BatchNorm's running statistics) at
    every forward in training mode. ``no_sync()``: backward passes inside it accumulate
    locally, the next one outside averages the sum. ``register_comm_hook(state, hook)``
    replaces the allreduce (gradient compression, see minigrad.distributed.algorithms).
    ``device_ids``, ``output_device``, ``find_unused_parameters`` and ``static_graph`` are
    accepted for PyTorch programs: every bucket is reduced at each synchronised backward
    anyway, a parameter without a gradient on this rank contributing zeros.

    Not replayed by ``mg.compile`` (its hooks run from the engine only): a compiled step that
    runs it stays eager, with a warning.
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True,
                 process_group: ProcessGroup | None = None, bucket_cap_mb: float | None = 25,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nn.Module, got "
                            f"{type(module).__name__}")
        if bucket_cap_mb is None:
            bucket_cap_mb = 25
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) \
                or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive "
                             f"number of megabytes, got {bucket_cap_mb!r}")
        if device_ids is not None and len(list(device_ids)) > 1:
            raise ValueError("DistributedDataParallel: device_ids takes at most one device "
                             "(one model replica per process)")
        self.module = module
        self.process_group = resolve(process_group)
        self.broadcast_buffers = bool(broadcast_buffers)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.bucket_bytes_cap = int(bucket_cap_mb * 1024 * 1024)
        self.require_backward_grad_sync = True
        self.find_unused_parameters, self.static_graph = find_unused_parameters, static_graph
        params: list[Tensor] = []
        seen: set[int] = set()
        for p in module.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                params.append(p)
        self._params = params
        self._check_same_model()
        self._sync_from_rank0(params, "parameter")
        self._sync_from_rank0(self._buffers_list(), "buffer")
        self._buckets = self._assign_buckets(params, self.bucket_bytes_cap)
        self._comm_state: Any = self.process_group
        self._comm_hook: Callable[[Any, GradBucket], Future] = allreduce_hook
        self._hook_registered = False
        self._homes_decided, self._use_homes = False, True
        self._reset()
        self._handles: list[Any] = []
        for b, bucket in enumerate(self._buckets):
            for param in bucket.params:
                self._handles.append(
                    param.register_post_accumulate_grad_hook(self._grad_ready(b)))

    # --- setup ------------------------------------------------------------------------------
    def _buffers_list(self, skip_synced: bool = False) -> list[Tensor]:
        """The module's buffers; ``skip_synced``: without those of SyncBatchNorm layers,
        which every rank updates alike from the same all-rank statistics (broadcasting
        them at each forward would change nothing and cost a collective)."""
        if not skip_synced:
            return [b for b in self.module.buffers() if b is not None]
        from minigrad.nn.sync_batchnorm import SyncBatchNorm
        return [b for m in self.module.modules() if not isinstance(m, SyncBatchNorm)
                for b in m.buffers(recurse=False) if b is not None]

    def _check_same_model(self) -> None:
        """Every rank must wrap the same architecture (else the collectives would hang or
        mix tensors): compare the parameter shapes and dtypes once."""
        mine = [(tuple(p.shape), str(p.dtype)) for p in self._params]
        comm = self.process_group.comm
        if self.process_group.size() == 1:
            return
        everyone = comm.allgather(mine)
        for rank, theirs in enumerate(everyone):
            if theirs != mine:
                raise RuntimeError(
                    f"DistributedDataParallel: rank {self.process_group.rank()} and rank "
                    f"{rank} wrap different models ({len(mine)} parameters vs {len(theirs)}; "
                    f"first difference at parameter "
                    f"{next((k for k, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))})")

    def _sync_from_rank0(self, tensors: list[Tensor], what: str) -> None:
        """Rank 0's values into ``tensors`` on every rank: one broadcast per (device,
        dtype), of the tensors packed into one array (BatchNorm's buffers are many small
        tensors, broadcast at every forward)."""
        if self.process_group.size() == 1 or not tensors:
            return
        src = self.process_group.ranks[0]
        groups: dict[tuple[Any, Any], list[Tensor]] = {}
        for t in tensors:
            groups.setdefault((t.device, t.array.dtype), []).append(t)
        for (device, _), group in groups.items():
            if len(group) == 1:
                C.broadcast(group[0], src, group=self.process_group)
                continue
            xp = backend.xp(device)
            packed = wrap(xp.concatenate([t.array.reshape(-1) for t in group]), device)
            C.broadcast(packed, src, group=self.process_group)
            start = 0
            for t in group:
                t.array[...] = packed.array[start:start + t.array.size].reshape(t.array.shape)
                start += t.array.size

    @staticmethod
    def _assign_buckets(params: list[Tensor], cap: int) -> list[_Bucket]:
        """Buckets in reverse parameter order, one (device, dtype) each; a bucket closes
        once it holds at least its cap (1 MiB for the first, ``cap`` after)."""
        open_: dict[tuple[Any, Any], list[Tensor]] = {}
        sizes: dict[tuple[Any, Any], int] = {}
        done: list[list[Tensor]] = []
        limit = min(FIRST_BUCKET_BYTES, cap)
        for p in reversed(params):
            key = (p.device, p.array.dtype)
            open_.setdefault(key, []).append(p)
            sizes[key] = sizes.get(key, 0) + p.array.nbytes
            if sizes[key] >= limit:
                done.append(open_.pop(key))
                sizes.pop(key)
                limit = cap
        done.extend(open_.values())
        return [_Bucket(list(reversed(group))) for group in done]

    # --- the training step ------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        recorder = _tracer.active()
        if recorder is not None:  # a replay would skip the engine's hooks: no communication
            recorder.refuse("DistributedDataParallel ran in the step, and mg.compile does not "
                            "replay its gradient communication (it runs from the engine's "
                            "hooks only)")
        if not self._homes_decided:
            self._decide_homes()
        if self.broadcast_buffers and self.module.training:
            self._sync_from_rank0(self._buffers_list(skip_synced=True), "buffer")
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate gradients on this rank only; the first
        backward after it averages the accumulated sums."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def register_comm_hook(self, state: Any, hook: Callable[[Any, GradBucket], Future]) -> None:
        """Use ``hook(state, bucket) -> Future`` instead of the allreduce: the future's
        value (a Tensor, or a list whose first element is one) is the bucket's averaged
        flat gradient, written back into the gradients. Once, before training."""
        if self._hook_registered:
            raise RuntimeError("register_comm_hook can only be called once")
        if not callable(hook):
            raise TypeError(f"register_comm_hook: hook must be callable, got "
                            f"{type(hook).__name__}")
        self._comm_state, self._comm_hook, self._hook_registered = state, hook, True

    def _reset(self) -> None:
        self._queued_in: Any = None
        self._next = 0
        self._inflight: list[tuple[_Bucket, GradBucket, Any, bool]] = []
        for bucket in self._buckets:
            bucket.ready = 0

    def _grad_ready(self, b: int) -> Callable[[Tensor], None]:
        bucket = self._buckets[b]
        count = len(bucket.params)

        def hook(param: Tensor) -> None:
            if not self.require_backward_grad_sync:
                return
            running = _engine.running_backward()
            if self._queued_in is not running:
                if self._inflight or self._next:  # left by a backward that raised midway
                    self._reset()
                self._queued_in = running
                queue_callback(self._finish_backward)
                self._claim_grad_homes()
            bucket.ready += 1
            if bucket.ready == count and b == self._next:
                self._launch_ready(force=False)
        return hook

    def _claim_grad_homes(self) -> None:
        """Give every parameter without a gradient yet its (zeroed) grad home in the
        optimizer's flat buffer now, before a started bucket holds a view of that buffer:
        the buffer's claim (minigrad.optim.flat) refuses a home whose buffer something else
        refers to, and backward would then put the gradient in an array of its own, which
        DDP would have to gather. Backward then adds into the zeros (exactly the gradient)."""
        if not self._homes_decided:
            self._decide_homes()
        for p in self._params:
            if p._grad is None and p._grad_home is not None and \
                    not isinstance(p._grad_home, _BucketSlot):  # DDP's own need no claim
                home = p._grad_home.claim()
                if home is not None and home.array.shape == p.array.shape:
                    home.array[...] = 0
                    p._grad = home

    def _decide_homes(self) -> None:
        """Once (at the first forward or backward, when the optimizer exists): a bucket
        whose entries are mostly in parameters without a grad home in an optimizer's flat
        buffer (large parameters, ``flat=False``) gets the homes of all its parameters in
        DDP's buffer for the bucket, so that it is reduced in place there. (Taking the
        homes of the few that had one makes the optimizer update their chunk parameter by
        parameter: a few calls, against two copies of the bucket at every step.)"""
        self._homes_decided = True
        if not self._use_homes:
            return
        for bucket in self._buckets:
            if any(p._grad is not None for p in bucket.params):
                continue  # gradients already live somewhere: leave them
            homed = sum(p.array.size for p in bucket.params if p._grad_home is not None)
            if 2 * homed <= bucket.size:
                bucket.give_homes()

    def _launch_ready(self, force: bool) -> None:
        buckets = self._buckets
        while self._next < len(buckets) and \
                (force or buckets[self._next].ready == len(buckets[self._next].params)):
            self._launch(self._next)
            self._next += 1
        for _, _, fut, _ in self._inflight[:-1]:  # let MPI progress the earlier transfers
            if not fut._done:
                fut.done()
                break

    def _launch(self, b: int) -> None:
        bucket = self._buckets[b]
        grads = [p._grad for p in bucket.params]
        flat = None
        if all(g is not None for g in grads):
            flat = _flat_view([g.array for g in grads if g is not None])
        gathered = flat is None
        if gathered:
            if bucket.scratch is None:
                first = bucket.params[0]
                bucket.scratch = backend.xp(first.device).empty(bucket.size,
                                                                dtype=first.array.dtype)
            flat = bucket.scratch
            for g, (lo, hi) in zip(grads, bucket.bounds):
                if g is None:
                    flat[lo:hi] = 0
                else:
                    flat[lo:hi] = g.array.reshape(-1)
        device = bucket.params[0].device
        grad_bucket = GradBucket(b, wrap(flat, device), bucket.params, bucket.bounds,
                                 b == len(self._buckets) - 1)
        fut = self._comm_hook(self._comm_state, grad_bucket)
        if not isinstance(fut, Future):
            raise TypeError(f"a communication hook must return a minigrad.distributed.Future "
                            f"(the bucket's averaged flat gradient), got "
                            f"{type(fut).__name__}")
        self._inflight.append((bucket, grad_bucket, fut, gathered))

    def _finish_backward(self) -> None:
        """At the end of backward: start any bucket not started yet (a parameter without a
        gradient), wait for all, and write the results into ``.grad``."""
        try:
            self._launch_ready(force=True)
            for bucket, grad_bucket, fut, gathered in self._inflight:
                result = fut.wait()
                if isinstance(result, (list, tuple)):
                    result = result[0] if result else None
                if not isinstance(result, Tensor) or result.array.size != bucket.size:
                    raise TypeError(
                        f"the communication hook's future for bucket {grad_bucket.index()} "
                        f"must hold a Tensor of {bucket.size} entries (the averaged flat "
                        f"gradient), got {getattr(result, 'shape', type(result).__name__)}")
                flat = grad_bucket._buffer.array
                if result.array is not flat:
                    flat[...] = result.array.reshape(-1).astype(flat.dtype, copy=False)
                if gathered:
                    self._write_back(bucket, flat)
        finally:
            self._reset()

    def _write_back(self, bucket: _Bucket, flat: Any) -> None:
        as_view = self.gradient_as_bucket_view and flat is bucket.scratch
        for p, (lo, hi) in zip(bucket.params, bucket.bounds):
            view = flat[lo:hi].reshape(p.array.shape)
            g = p._grad
            if as_view:
                if g is None or g.array is not view:
                    p._grad = wrap(view, p.device)
            elif g is None:
                p._grad = wrap(view.copy(), p.device)
            else:
                g.array[...] = view

    def extra_repr(self) -> str:
        return (f"world_size={self.process_group.size()}, buckets={len(self._buckets)}, "
                f"bucket_cap_mb={self.bucket_bytes_cap / 2**20:g}")
