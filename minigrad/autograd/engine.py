"""The reverse pass: order the graph, then push gradients from outputs to inputs.

The walk is iterative (no recursion limit, however long the chain); each node's backward
runs once with the sum of the gradients that reached it; gradients are summed to their
input's shape and dtype here, in one place. Unless the graph is retained, each node drops
its inputs and rule as soon as it has run, so memory is returned during the pass.
"""
from __future__ import annotations

from typing import Any, Sequence

from minigrad import backend
from minigrad.autograd import grad_mode
from minigrad.errors import ShapeError
from minigrad.ops.movement import sum_to, to_dtype
from minigrad.tensor import Tensor, _make


def _freed(grad: Tensor, out: Tensor) -> None:
    raise RuntimeError(
        "trying to backward through the graph a second time, but its intermediate results "
        "were freed by the first backward; pass retain_graph=True to the first call")


def topological_order(roots: Sequence[Tensor]) -> list[Tensor]:
    """Every tensor that requires grad and feeds ``roots``, inputs before outputs."""
    order: list[Tensor] = []
    visited: set[Tensor] = set()  # tensors hash by identity
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            for parent in node._parents:
                if parent.requires_grad and parent not in visited:
                    if parent._parents:
                        stack.append((parent, False))
                    else:  # a leaf: nothing to wait for, so it can be placed at once
                        visited.add(parent)
                        order.append(parent)
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
            grad = _make(backend.xp(root.device).ones(root.shape, dtype=root.dtype), root.device)
        elif not isinstance(grad, Tensor):
            grad = Tensor(grad, dtype=root.dtype, device=root.device)
        if grad.shape != root.shape:
            raise ShapeError(f"gradient has shape {grad.shape} but the tensor it belongs to has "
                             f"shape {root.shape}")
        seeds.append(grad)
    return seeds


def run_backward(roots: Sequence[Tensor], grads: Sequence[Any], retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Tensor] | None = None) -> dict[int, Tensor]:
    """Propagate ``grads`` from ``roots`` through the graph.

    Without ``inputs``: accumulate into ``.grad`` of the leaves. With ``inputs``: return
    their gradients by id, leaving every ``.grad`` untouched.
    """
    if retain_graph is None:
        retain_graph = create_graph
    seeds = _seed_gradients(roots, grads)
    pending: dict[Tensor, Tensor] = {}
    for root, seed in zip(roots, seeds):
        pending[root] = pending[root] + seed if root in pending else seed
    wanted = None if inputs is None else set(inputs)
    found: dict[int, Tensor] = {}
    # arrays already handed to a leaf's .grad (or owned by the caller) are copied, not shared
    owned = {id(_memory_owner(s.array)) for s in seeds}
    previous_mode, grad_mode.enabled = grad_mode.enabled, create_graph
    try:
        for node in reversed(topological_order(roots)):
            grad = pending.pop(node, None)
            if grad is None:
                continue
            if wanted is not None and node in wanted:
                found[id(node)] = grad
            backward_rule = node._backward
            if backward_rule is None:
                if wanted is None:
                    _accumulate(node, grad, create_graph, owned)
                continue
            if node._retains_grad and wanted is None:
                node.grad = grad if create_graph else grad.detach()
            for parent, pgrad in zip(node._parents, backward_rule(grad, node)):
                if pgrad is None or not parent.requires_grad:
                    continue
                if pgrad.array.shape != parent.array.shape:
                    pgrad = sum_to(pgrad, parent.array.shape)
                dtype = parent.array.dtype
                if pgrad.array.dtype is not dtype and pgrad.array.dtype != dtype:
                    pgrad = to_dtype(pgrad, dtype)
                pending[parent] = pending[parent] + pgrad if parent in pending else pgrad
            if not retain_graph:
                node._backward, node._parents = _freed, ()
    finally:
        grad_mode.enabled = previous_mode
    return found


def _memory_owner(array: Any) -> Any:
    return array if array.base is None else array.base


def _accumulate(leaf: Tensor, grad: Tensor, create_graph: bool, owned: set[int]) -> None:
    if not create_graph:
        owner = id(_memory_owner(grad.array))
        if owner in owned:
            grad = _make(grad.array.copy(), grad.device)
        else:
            owned.add(owner)
        if not getattr(grad.array.flags, "writeable", True):  # e.g. a broadcast view
            grad = _make(grad.array.copy(), grad.device)
    leaf.grad = grad if leaf.grad is None else leaf.grad + grad


def backward(roots: Sequence[Tensor], grads: Sequence[Any], retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """Accumulate gradients of ``roots`` into the ``.grad`` of every leaf they depend on."""
    run_backward(roots, grads, retain_graph, create_graph)


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
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"an input of shape {t.shape} does not require grad")
    found = run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs)
    result = tuple(found.get(id(t)) for t in inputs)
    if not allow_unused and any(g is None for g in result):
        raise RuntimeError("one of the inputs was not used to compute the outputs; pass "
                           "allow_unused=True to get None for it")
    return result
