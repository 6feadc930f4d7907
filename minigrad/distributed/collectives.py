"""Collectives on tensors, in place, with PyTorch's signatures, over MPI or NCCL.

Each call reads and writes the tensors' arrays directly where it can: a NumPy array is MPI's
buffer, a CuPy array NCCL's (``backend="nccl"``). A CuPy array in an MPI group goes through
a contiguous host copy, and a non-contiguous view through a contiguous copy, written back
when the operation completes (see :mod:`minigrad.distributed.transports`). With
``async_op=True`` the operation is started and a :class:`Work` is returned; the tensors hold
the result after ``work.wait()``.

These write into ``tensor.array`` outside autograd, like PyTorch's (which are not recorded
either): use them on gradients, buffers and ``.data``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from minigrad import backend
from minigrad.distributed.futures import Work
from minigrad.distributed.process_group import ProcessGroup, resolve
from minigrad.distributed.transports import ReduceOp
from minigrad.tensor import Tensor, bump_version


def _check_tensor(t: Any, name: str, fn: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor, got {type(t).__name__}")
    return t


def _check_op(op: Any) -> ReduceOp:
    if not isinstance(op, ReduceOp):
        raise TypeError(f"op must be a minigrad.distributed.ReduceOp (SUM, AVG, PRODUCT, MIN, "
                        f"MAX, ...), got {op!r}")
    return op


def _run(request: Any, finish: Callable[[], None] | None, result: list[Any],
         async_op: bool, written: Sequence[Tensor]) -> Work | None:
    def done() -> None:
        if finish is not None:
            finish()
        for t in written:
            bump_version(t)
    work = Work(request, done, result)
    if async_op:
        return work
    work.wait()
    return None


def _chain(*steps: Callable[[], None] | None) -> Callable[[], None] | None:
    live = [s for s in steps if s is not None]
    if not live:
        return None

    def run() -> None:
        for s in live:
            s()
    return run


def _averager(array: Any, op: ReduceOp, size: int, fn: str) -> Callable[[], None] | None:
    if op is not ReduceOp.AVG:
        return None
    if array.dtype.kind not in "fc":
        raise TypeError(f"{fn}: ReduceOp.AVG needs a floating tensor, got dtype {array.dtype}")

    def divide() -> None:
        array.__itruediv__(size)  # in place, on NumPy and CuPy alike
    return divide


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: ProcessGroup | None = None,
               async_op: bool = False) -> Work | None:
    """Combine ``tensor`` across the ranks with ``op``; every rank gets the result, in place."""
    _check_tensor(tensor, "tensor", "all_reduce")
    g, op = resolve(group), _check_op(op)
    link = g.transport(tensor.array)
    buf, back = link.stage(tensor.array)
    finish = _chain(_averager(buf, op, g.size(), "all_reduce"), back)
    request = link.all_reduce(buf, link.op(op, buf.dtype), async_op)
    return _run(request, finish, [tensor], async_op, [tensor])


def broadcast(tensor: Tensor, src: int, group: ProcessGroup | None = None,
              async_op: bool = False) -> Work | None:
    """Copy ``tensor`` of rank ``src`` (a default-group rank) into ``tensor`` of every rank."""
    _check_tensor(tensor, "tensor", "broadcast")
    g = resolve(group)
    root = g.group_rank(src, "src")
    link = g.transport(tensor.array)
    buf, back = link.stage(tensor.array)
    return _run(link.broadcast(buf, root, async_op), back, [tensor], async_op, [tensor])


def _like(outputs: Sequence[Tensor], input: Tensor, fn: str, name: str) -> None:
    for k, t in enumerate(outputs):
        _check_tensor(t, f"{name}[{k}]", fn)
        if t.shape != input.shape or t.dtype != input.dtype:
            raise ValueError(f"{fn}: {name}[{k}] has shape {t.shape} and dtype {t.dtype}, but "
                             f"the tensor has shape {input.shape} and dtype {input.dtype}")


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: ProcessGroup | None = None,
               async_op: bool = False) -> Work | None:
    """``tensor_list[r]`` receives rank r's ``tensor`` (one tensor per rank, alike)."""
    _check_tensor(tensor, "tensor", "all_gather")
    g = resolve(group)
    if len(tensor_list) != g.size():
        raise ValueError(f"all_gather: tensor_list needs one tensor per rank ({g.size()}), got "
                         f"{len(tensor_list)}")
    _like(tensor_list, tensor, "all_gather", "tensor_list")
    link = g.transport(tensor.array)
    send, _ = link.stage(tensor.array)
    recv = link.xp.empty((g.size(),) + send.shape, dtype=send.dtype)

    def scatter_back() -> None:
        for t, part in zip(tensor_list, recv):
            t.array[...] = backend.to_device(part, t.device)
    request = link.all_gather(send, recv, async_op)
    return _run(request, scatter_back, tensor_list, async_op, tensor_list)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor,
                           group: ProcessGroup | None = None,
                           async_op: bool = False) -> Work | None:
    """Rank r's ``input_tensor`` lands in the r-th slice of ``output_tensor`` along dim 0
    (shape (world * n, ...) for inputs of shape (n, ...), or (world, ...) for scalars)."""
    _check_tensor(output_tensor, "output_tensor", "all_gather_into_tensor")
    _check_tensor(input_tensor, "input_tensor", "all_gather_into_tensor")
    g = resolve(group)
    if output_tensor.array.size != g.size() * input_tensor.array.size or \
            output_tensor.dtype != input_tensor.dtype:
        raise ValueError(f"all_gather_into_tensor: output_tensor must hold world size "
                         f"({g.size()}) times input_tensor's {input_tensor.array.size} entries "
                         f"of dtype {input_tensor.dtype}; got shape {output_tensor.shape}, "
                         f"dtype {output_tensor.dtype}")
    link = g.transport(output_tensor.array)
    send, _ = link.stage(link.local(input_tensor.array))
    recv, back = link.stage(output_tensor.array)
    request = link.all_gather(send, recv, async_op)
    return _run(request, back, [output_tensor], async_op, [output_tensor])


def reduce_scatter_tensor(output: Tensor, input: Tensor, op: ReduceOp = ReduceOp.SUM,
                          group: ProcessGroup | None = None,
                          async_op: bool = False) -> Work | None:
    """Reduce ``input`` (world size slices along dim 0) across ranks; rank r keeps the
    r-th slice of the result in ``output``."""
    _check_tensor(output, "output", "reduce_scatter_tensor")
    _check_tensor(input, "input", "reduce_scatter_tensor")
    g, op = resolve(group), _check_op(op)
    if input.array.size != g.size() * output.array.size or input.dtype != output.dtype:
        raise ValueError(f"reduce_scatter_tensor: input must hold world size ({g.size()}) "
                         f"times output's {output.array.size} entries of dtype {output.dtype}; "
                         f"got shape {input.shape}, dtype {input.dtype}")
    link = g.transport(output.array)
    send, _ = link.stage(link.local(input.array))
    recv, back = link.stage(output.array)
    finish = _chain(_averager(recv, op, g.size(), "reduce_scatter_tensor"), back)
    request = link.reduce_scatter(send, recv, link.op(op, recv.dtype), async_op)
    return _run(request, finish, [output], async_op, [output])


def reduce_scatter(output: Tensor, input_list: list[Tensor], op: ReduceOp = ReduceOp.SUM,
                   group: ProcessGroup | None = None, async_op: bool = False) -> Work | None:
    """``output`` on rank r gets the reduction over ranks of their ``input_list[r]``."""
    _check_tensor(output, "output", "reduce_scatter")
    g, op = resolve(group), _check_op(op)
    if len(input_list) != g.size():
        raise ValueError(f"reduce_scatter: input_list needs one tensor per rank ({g.size()}), "
                         f"got {len(input_list)}")
    _like(input_list, output, "reduce_scatter", "input_list")
    link = g.transport(output.array)
    send = link.xp.concatenate([link.xp.ravel(link.local(t.array)) for t in input_list])
    recv, back = link.stage(output.array)
    finish = _chain(_averager(recv, op, g.size(), "reduce_scatter"), back)
    request = link.reduce_scatter(send, recv, link.op(op, recv.dtype), async_op)
    return _run(request, finish, [output], async_op, [output])


def reduce(tensor: Tensor, dst: int, op: ReduceOp = ReduceOp.SUM,
           group: ProcessGroup | None = None, async_op: bool = False) -> Work | None:
    """Combine ``tensor`` across ranks into rank ``dst``'s tensor (others keep theirs)."""
    _check_tensor(tensor, "tensor", "reduce")
    g, op = resolve(group), _check_op(op)
    root = g.group_rank(dst, "dst")
    link = g.transport(tensor.array)
    buf, back = link.stage(tensor.array)
    mine = g.rank() == root
    finish = _chain(_averager(buf, op, g.size(), "reduce") if mine else None,
                    back if mine else None)
    request = link.reduce(buf, link.op(op, buf.dtype), root, async_op)
    return _run(request, finish, [tensor], async_op, [tensor] if mine else [])


def all_gather_object(object_list: list[Any], obj: Any,
                      group: ProcessGroup | None = None) -> None:
    """``object_list[r]`` becomes rank r's picklable ``obj``."""
    g = resolve(group)
    if len(object_list) != g.size():
        raise ValueError(f"all_gather_object: object_list needs one slot per rank "
                         f"({g.size()}), got {len(object_list)}")
    object_list[:] = g.comm.allgather(obj)


def broadcast_object_list(object_list: list[Any], src: int = 0,
                          group: ProcessGroup | None = None) -> None:
    """Every rank's ``object_list`` becomes rank ``src``'s (picklable objects)."""
    g = resolve(group)
    object_list[:] = g.comm.bcast(list(object_list), root=g.group_rank(src, "src"))
