"""The reverse pass: order the graph, then push gradients from outputs to inputs.

The walk is iterative (no recursion limit, however long the chain); each node's backward
runs once with the sum of the gradients that reached it; gradients are summed to their
input's shape and dtype here, in one place. Unless the graph is retained, each node drops
its inputs and rule as soon as it has run, so memory is returned during the pass.
"""
from __future__ import annotations

from typing import Any, Sequence

import dis
import threading
import warnings
from types import CodeType
from typing import Callable

from minigrad import backend, grad_mode
from minigrad.errors import ShapeError
from minigrad.ops.inplace import resolve
from minigrad.ops.movement import sum_to, to_dtype
from minigrad.tensor import (Tensor, bump_version, clocks, holds_nonfinite, op_name,
                             user_frame, versions_of, wrap)


def _freed(grad: Tensor, out: Tensor) -> None:
    raise RuntimeError(
        "trying to backward through the graph a second time, but its intermediate results "
        "were freed by the first backward; pass retain_graph=True to the first call")


_freed_rules: dict[str, Callable[..., Any]] = {}
_grad_enabled, _anomaly = grad_mode.enabled, grad_mode.anomaly


def freed_rule(rule: Callable[..., Any]) -> Callable[..., Any]:
    """What replaces ``rule`` once its node is freed: it raises, and keeps the op's name
    for ``grad_fn`` (one such function per name, not per node; by name, since a string
    hashes in no time and a code object hashes its contents at every lookup)."""
    name = getattr(rule, "__qualname__", "freed")
    freed = _freed_rules.get(name)
    if freed is None:
        def freed(grad: Tensor, out: Tensor) -> None:
            _freed(grad, out)
        freed.__qualname__ = name
        _freed_rules[name] = freed
    return freed


def parents_of(node: Tensor) -> tuple[Tensor, ...]:
    """``node``'s inputs as they were when it was recorded (see minigrad.ops.inplace)."""
    parents = node._parents
    if any(p._history is not None for p in parents):
        parents = tuple(resolve(p, node._stamp) if p._history is not None else p
                        for p in parents)
    return parents


def topological_order(roots: Sequence[Tensor], rebased: bool = False) -> list[Tensor]:
    """Every tensor that requires grad and feeds ``roots``, inputs before outputs.

    ``rebased``: some tensor was changed in place in a recorded op, so edges must be
    resolved to the identity each input had when its consumer was recorded."""
    order: list[Tensor] = []
    visited: set[Tensor] = set()  # tensors hash by identity
    stack: list[tuple[Tensor, Any]] = [(root, None) for root in reversed(roots)]
    while stack:
        node, leaves = stack.pop()
        if leaves is not None:
            # a leaf goes just before the first of its consumers to be placed: the reverse
            # walk then reaches it right after its last consumer, so its gradient is final
            # (and its post-accumulate-grad hooks run) as early as possible, not at the end
            for leaf in leaves:
                if leaf not in visited:
                    visited.add(leaf)
                    order.append(leaf)
            order.append(node)
        elif node not in visited:
            visited.add(node)
            found: list[Tensor] = []
            stack.append((node, found))
            for parent in (parents_of(node) if rebased else node._parents):
                if parent.requires_grad and parent not in visited:
                    if parent._parents:
                        stack.append((parent, None))
                    else:  # a leaf: nothing to wait for
                        found.append(parent)
    return order


def _seed_gradients(roots: Sequence[Tensor], grads: Sequence[Any]) -> list[Tensor]:
    seeds = []
    for root, grad in zip(roots, grads):
        if not isinstance(root, Tensor):
            raise TypeError(f"can only differentiate tensors, got {type(root).__name__}")
        if not root.requires_grad:
            raise RuntimeError("this tensor does not require grad: none of the tensors it was "
                               "computed from has requires_grad=True, or it was computed "
                               "under mg.no_grad()")
        if grad is None:
            if root.array.size != 1:
                raise RuntimeError(f"backward of a non-scalar tensor (shape {root.shape}) needs "
                                   "a gradient argument of the same shape")
            grad = wrap(backend.xp(root.device).ones(root.array.shape, dtype=root.array.dtype),
                        root.device)
        elif not isinstance(grad, Tensor):
            grad = Tensor(grad, dtype=root.dtype, device=root.device)
        if grad.array.shape != root.array.shape:
            raise ShapeError(f"gradient has shape {grad.shape} but the tensor it belongs to has "
                             f"shape {root.shape}")
        seeds.append(grad)
    return seeds


def run_backward(roots: Sequence[Tensor], grads: Sequence[Any], retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Tensor] | None = None,
                 accumulate: bool = True) -> dict[int, Tensor]:
    """Propagate ``grads`` from ``roots`` through the graph.

    With ``accumulate``: add into ``.grad`` of the leaves (of ``inputs`` only, if given).
    Without: return the gradients of ``inputs`` by id, leaving every ``.grad`` untouched.
    """
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None and not inputs:
        raise ValueError("backward: inputs cannot be empty; pass None to fill every leaf's .grad")
    if create_graph and accumulate:
        warnings.warn(
            "backward(create_graph=True) keeps the graph of each gradient alive in .grad, and "
            "accumulating into it keeps every earlier graph too (memory grows each step); "
            "use mg.autograd.grad(..., create_graph=True), or set .grad to None between steps",
            UserWarning, stacklevel=3)
    seeds = _seed_gradients(roots, grads)
    pending: dict[Tensor, Tensor] = {}
    summed: set[Tensor] = set()  # gradients in pending that this pass made by adding two
    for root, seed in zip(roots, seeds):
        pending[root] = pending[root] + seed if root in pending else seed
    wanted = None if inputs is None else set(inputs)
    found: dict[int, Tensor] = {}
    # arrays already handed to a leaf's .grad (or owned by the caller) are copied, not shared
    owned = {id(_memory_owner(s.array)) for s in seeds}
    clock, rebased = clocks.now, clocks.rebase > 0
    # this thread's grad mode: the backward pass is recorded only for create_graph
    previous_mode, anomaly = _grad_enabled.get(), _anomaly.get()
    _grad_enabled.set(grad_mode.mode_for(True) if create_graph else False)
    outer_callbacks = _queued.callbacks  # a backward run from a hook keeps its own queue
    _queued.callbacks = []
    try:
        for node in reversed(topological_order(roots, rebased)):
            grad = pending.pop(node, None)
            if grad is None:
                continue
            if summed:
                summed.discard(grad)  # handed on from here: it may be shared
            if wanted is not None and node in wanted:
                found[id(node)] = grad
            backward_rule = node._backward
            if backward_rule is None:
                if accumulate and (wanted is None or node in wanted):
                    _accumulate(node, grad, create_graph, owned)
                    if node._post_accumulate_grad_hooks:
                        for hook in list(node._post_accumulate_grad_hooks.values()):
                            hook(node)
                continue
            if node._retains_grad and accumulate:
                node.grad = grad if create_graph else grad.detach()
            if node._stamp < clock:  # something was written in place since node was made
                check_saved_tensors(node)
            if rebased:
                parents = parents_of(node)
                check_inputs_current(node, parents)
            else:
                parents = node._parents
            parent_grads = backward_rule(grad, node)
            if anomaly:
                check_backward_anomaly(node, parent_grads)
            for parent, pgrad in zip(parents, parent_grads):
                if pgrad is None or not parent.requires_grad:
                    continue
                if pgrad.array.shape != parent.array.shape:
                    pgrad = sum_to(pgrad, parent.array.shape)
                dtype = parent.array.dtype
                if pgrad.array.dtype is not dtype and pgrad.array.dtype != dtype:
                    pgrad = to_dtype(pgrad, dtype)
                if parent not in pending:
                    pending[parent] = pgrad
                    continue
                total = pending[parent]
                if total in summed and not create_graph:
                    total.array += pgrad.array  # a sum made here, held by nothing else
                else:
                    pending[parent] = total = total + pgrad
                    summed.add(total)
            if not retain_graph:
                try:
                    node._backward = _freed_rules[backward_rule.__qualname__]
                except (KeyError, AttributeError):
                    node._backward = freed_rule(backward_rule)
                node._parents = ()
                if rebased and node._history is not None:
                    node._history = None  # its graph is gone: nothing left to route
        queued, k = _queued.callbacks, 0
        while k < len(queued):  # a callback may queue another
            queued[k]()
            k += 1
    finally:
        _grad_enabled.set(previous_mode)
        _queued.callbacks = outer_callbacks
    return found


class _Queue(threading.local):
    """The callbacks queued in the backward pass running in this thread (None: none runs)."""
    callbacks: list[Callable[[], None]] | None = None


_queued = _Queue()


def running_backward() -> object | None:
    """A token of the backward pass running in this thread (None outside one): the same
    object for every hook of one pass, a new one for the next (DistributedDataParallel tells
    its passes apart by it)."""
    return _queued.callbacks


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` once the running backward pass has finished propagating (PyTorch's
    ``Variable._execution_engine.queue_callback``: DistributedDataParallel waits for its
    allreduces there). Callbacks run in the order queued; outside a backward it raises."""
    callbacks = _queued.callbacks
    if callbacks is None:
        raise RuntimeError("queue_callback can only be called during a backward pass (from "
                           "a hook that backward runs)")
    callbacks.append(callback)


def check_backward_anomaly(node: Tensor, grads: Sequence[Tensor | None]) -> None:
    """Anomaly mode: raise if a backward rule produced NaN or inf."""
    for k, g in enumerate(grads):
        if g is not None and holds_nonfinite(g):
            where = "(not recorded: the op ran before anomaly detection was on)"
            if node._anomaly_stack is not None:
                where = user_frame(node._anomaly_stack)
            raise FloatingPointError(
                f"anomaly detected: {op_name(node)} returned NaN or inf in the gradient of its "
                f"input {k} (shape {g.shape}); its forward op was called at {where}")


def _memory_owner(array: Any) -> Any:
    return array if array.base is None else array.base


def _accumulate(leaf: Tensor, grad: Tensor, create_graph: bool, owned: set[int]) -> None:
    """Add ``grad`` to ``leaf.grad``: in place when there is one and no graph is wanted (as
    PyTorch does, so a reference to ``.grad`` sees the sum), else as a new tensor."""
    existing = leaf._grad
    if existing is not None and not create_graph and existing._backward is None \
            and existing.array.shape == grad.array.shape \
            and getattr(existing.array.flags, "writeable", True):
        existing.array += grad.array
        bump_version(existing)
        return
    if existing is None and not create_graph and leaf._grad_home is not None:
        home = leaf._grad_home.claim()  # the leaf's slot in an optimizer's flat buffer
        if home is not None and home.array.shape == grad.array.shape \
                and home.array.dtype == grad.array.dtype:
            home.array[...] = grad.array
            leaf._grad = home
            return
    if not create_graph:
        owner = id(_memory_owner(grad.array))
        if owner in owned:
            grad = wrap(grad.array.copy(), grad.device)
        else:
            owned.add(owner)
        if not getattr(grad.array.flags, "writeable", True):  # e.g. a broadcast view
            grad = wrap(grad.array.copy(), grad.device)
    leaf._grad = grad if existing is None else existing + grad


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None,
             retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Sequence[Tensor] | None = None) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of every leaf they depend on
    (only of ``inputs``, when given)."""
    roots = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(roots)
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    run_backward(roots, list(grad_tensors), retain_graph, create_graph, inputs)


# --- in-place changes: refuse a rule that would compute with changed values ---------------

def check_saved_tensors(node: Tensor) -> None:
    """Raise if a tensor ``node``'s backward rule uses was written in place after ``node``
    was recorded (PyTorch's version-counter check)."""
    rule = node._backward
    used: list[Tensor] = [node] if uses_output(rule) else []
    for cell in getattr(rule, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, Tensor):
            used.append(value)
        elif isinstance(value, (tuple, list)):
            used.extend(v for v in value if isinstance(v, Tensor))
    for t in used:
        box = versions_of(t)
        if box is not None and box.stamp > node._stamp:
            raise RuntimeError(
                f"one of the tensors needed for gradient computation has been modified by an "
                f"in-place operation: the {'output' if t is node else 'input'} of shape "
                f"{t.shape} and dtype {t.dtype} saved by {op_name(node)} is at version "
                f"{box.count}; it was changed after the op used it. Make the change out of "
                "place (x = x + y instead of x += y), or clone the tensor before changing it")


def check_inputs_current(node: Tensor, parents: Sequence[Tensor]) -> None:
    """Raise if ``node`` was computed from a view whose base had been given a new place in
    the graph by a recorded in-place op in between: the view's values are the new ones, its
    graph the old one, so its gradient can't be computed."""
    for p in parents:
        base = p._base
        if base is not None and base._history is not None and p._backward is not None:
            changed_at = base._history[-1][0]
            if p._stamp < changed_at <= node._stamp:
                raise RuntimeError(
                    f"a view of shape {p.shape} made by {op_name(p)} was used by "
                    f"{op_name(node)} after the tensor it views was changed in place; its "
                    "gradient can't be computed. Take the view after the change, or use "
                    "out-of-place ops")


_uses_output: dict[CodeType, bool] = {}


def uses_output(rule: Callable[..., Any] | None) -> bool:
    """True when a backward rule ``rule(grad, out)`` reads its ``out`` argument."""
    code = getattr(rule, "__code__", None)
    if code is None or code.co_argcount < 2:
        return False
    found = _uses_output.get(code)
    if found is None:
        name = code.co_varnames[1]
        found = name in code.co_cellvars or any(
            ins.opname.startswith("LOAD") and (ins.argval == name or
                                               (isinstance(ins.argval, tuple) and name in ins.argval))
            for ins in dis.get_instructions(code))
        _uses_output[code] = found
    return found


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, returned, not accumulated.

    ``grad_outputs`` weights each output (needed for non-scalar outputs). With
    ``create_graph=True`` the results are differentiable again (Hessians, HVPs).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for k, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs must be tensors; input {k} is a {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"an input of shape {t.shape} does not require grad")
    found = run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs,
                         accumulate=False)
    result = tuple(found.get(id(t)) for t in inputs)
    if not allow_unused and any(g is None for g in result):
        raise RuntimeError("one of the inputs was not used to compute the outputs; pass "
                           "allow_unused=True to get None for it")
    return result
