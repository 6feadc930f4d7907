"""``mg.autograd.Function``: the public way to add an op, as in PyTorch.

A subclass gives a ``forward`` on tensors (run without recording a graph) and a
``backward`` that maps the gradients of the outputs to those of the inputs::

    class Exp(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_output):
            (y,) = ctx.saved_tensors
            return grad_output * y

    y = Exp.apply(x)

A ``backward`` written with tensor ops is recorded when the engine runs with
``create_graph=True``, so the op can be differentiated again (``gradgradcheck``). The
built-in ops use the lighter :func:`minigrad.tensor.record` directly.
"""
from __future__ import annotations

from typing import Any

from minigrad import backend, grad_mode
from minigrad.errors import ShapeError
from minigrad.ops.movement import getitem, index_into_zeros, reshape
from minigrad.tensor import Tensor, as_view_of, clocks, versions_of, wrap


class FunctionCtx:
    """What ``forward`` leaves for ``backward``: saved tensors and any attribute set on it.

    ``needs_input_grad`` holds, per argument of ``forward``, whether it is a tensor that
    requires a gradient, so ``backward`` can skip work.
    """

    def __init__(self) -> None:
        self.needs_input_grad: tuple[bool, ...] = ()
        self.materialize_grads = True
        self._saved: tuple[Any, ...] = ()
        self._saved_stamps: tuple[int, ...] = ()
        self._non_differentiable: set[int] = set()
        self._function_name = "Function"

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (or None) for ``backward``; writing to them in place in between is
        an error when ``saved_tensors`` is read."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward takes tensors or None, got "
                                f"{type(t).__name__}; store other values as attributes of ctx")
        self._saved = tensors
        self._saved_stamps = tuple(_stamp_of(t) for t in tensors)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        for t, stamp in zip(self._saved, self._saved_stamps):
            if _stamp_of(t) != stamp:
                raise RuntimeError(
                    f"one of the tensors saved by {self._function_name}.forward (shape "
                    f"{t.shape}) has been modified by an in-place operation since; its "
                    "backward would compute with changed values")
        return self._saved

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Outputs that carry no gradient (indices, masks); backward gets zeros for them."""
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """Whether ``backward`` gets zeros (True, the default) or None for outputs that
        received no gradient."""
        self.materialize_grads = bool(value)


def _stamp_of(t: Any) -> int:
    box = None if t is None else versions_of(t)
    return 0 if box is None else box.stamp


class Function:
    """Base class of user-defined differentiable ops; call them with ``Cls.apply(...)``.

    ``forward(ctx, *args)`` returns a tensor or a tuple of tensors; ``backward(ctx,
    *grad_outputs)`` returns one gradient per argument of ``forward`` (None for arguments
    that are not tensors or need none). The new-style split, a ``forward(*args)`` without
    ctx plus ``setup_context(ctx, inputs, output)``, works too.
    """

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define backward to be "
                                  "differentiated")

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        ctx = FunctionCtx()
        ctx._function_name = cls.__name__
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        new_style = cls.setup_context is not Function.setup_context
        with grad_mode.set_grad_enabled(False):
            if new_style:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        is_tuple = isinstance(output, tuple)
        outputs = list(output) if is_tuple else [output]
        for k, o in enumerate(outputs):
            if any(o is a for a in args if isinstance(a, Tensor)):  # an input returned as is
                outputs[k] = as_view_of(wrap(o.array, o.device), o)
        if grad_mode.enabled.get() and any(ctx.needs_input_grad):
            _connect(cls, ctx, args, outputs)
        return tuple(outputs) if is_tuple else outputs[0]


class _FunctionBackward:
    """The backward rule of one ``Function.apply`` call, as the engine runs it."""

    def __init__(self, cls: type[Function], ctx: FunctionCtx, args: tuple, outputs: list) -> None:
        self.cls, self.ctx = cls, ctx
        self.tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.input_shapes = [a.shape for a in args if isinstance(a, Tensor)]
        self.n_args = len(args)
        self.output_specs = [(o.shape, o.dtype, o.device) if isinstance(o, Tensor) else None
                             for o in outputs]

    def output_gradients(self, flat_grad: Tensor | None, slots: list) -> list:
        """Per output, its gradient: a slice of the joint gradient, zeros, or None."""
        grads: list[Tensor | None] = []
        for spec, slot in zip(self.output_specs, slots):
            if spec is None:
                grads.append(None)
            elif slot is not None and flat_grad is not None:
                lo, hi = slot
                grads.append(reshape(getitem(flat_grad, slice(lo, hi)), spec[0]).to(spec[1]))
            elif self.ctx.materialize_grads:
                shape, dtype, device = spec
                grads.append(wrap(backend.xp(device).zeros(shape, dtype=dtype), device))
            else:
                grads.append(None)
        return grads

    def input_gradients(self, grad_outputs: list) -> tuple:
        name = self.cls.__name__
        grads = self.cls.backward(self.ctx, *grad_outputs)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != self.n_args:
            if len(grads) > self.n_args and all(g is None for g in grads[self.n_args:]):
                grads = grads[:self.n_args]
            else:
                raise RuntimeError(f"{name}.backward returned {len(grads)} gradients, expected "
                                   f"{self.n_args} (one per argument of forward)")
        result = []
        for position, shape in zip(self.tensor_positions, self.input_shapes):
            g = grads[position]
            if g is not None:
                if not isinstance(g, Tensor):
                    raise TypeError(f"{name}.backward returned a {type(g).__name__} as the "
                                    f"gradient of argument {position}; expected a Tensor or None")
                if g.shape != shape and _broadcast(shape, g.shape) != g.shape:
                    raise ShapeError(f"{name}.backward returned a gradient of shape {g.shape} "
                                     f"for argument {position}, which has shape {shape}")
            result.append(g)
        for position, g in enumerate(grads):
            if position not in self.tensor_positions and g is not None:
                raise TypeError(f"{name}.backward returned a gradient for argument {position}, "
                                "which is not a tensor; return None there")
        return tuple(result)


def _broadcast(a: tuple, b: tuple) -> tuple | None:
    try:
        return tuple(backend.numpy.broadcast_shapes(a, b))
    except ValueError:
        return None


def _connect(cls: type[Function], ctx: FunctionCtx, args: tuple, outputs: list) -> None:
    """Make the differentiable outputs nodes of the graph whose inputs are the tensor args."""
    parents = tuple(a for a in args if isinstance(a, Tensor))
    rule = _FunctionBackward(cls, ctx, args, outputs)
    differentiable = [k for k, o in enumerate(outputs)
                      if isinstance(o, Tensor) and o.array.dtype.kind in "fc"
                      and id(o) not in ctx._non_differentiable]
    name = cls.__name__ + "Backward"
    if len(outputs) == 1 and differentiable:
        def single(g: Tensor, out: Tensor) -> tuple:
            return rule.input_gradients([g])
        _make_node(outputs[0], parents, single, name)
        return
    if not differentiable:
        return
    # Several outputs: one joint node takes all their gradients, laid end to end.
    slots: list = [None] * len(outputs)
    total = 0
    for k in differentiable:
        slots[k] = (total, total + outputs[k].numel())
        total += outputs[k].numel()
    dtype = backend.numpy.result_type(*(outputs[k].dtype for k in differentiable))
    device = outputs[differentiable[0]].device
    joint = wrap(backend.xp(device).broadcast_to(backend.xp(device).zeros((), dtype), (total,)),
                 device)

    def joint_rule(g: Tensor, out: Tensor) -> tuple:
        return rule.input_gradients(rule.output_gradients(g, slots))
    _make_node(joint, parents, joint_rule, name)
    for k in differentiable:
        lo, hi = slots[k]

        def to_joint(g: Tensor, out: Tensor, lo: int = lo, hi: int = hi) -> tuple:
            return (index_into_zeros(g.reshape(-1), (total,), slice(lo, hi)),)
        _make_node(outputs[k], (joint,), to_joint, name)


def _make_node(t: Tensor, parents: tuple, rule: Any, name: str) -> None:
    t.requires_grad, t._parents, t._backward = True, parents, rule
    t._stamp = clocks.now
    t._grad_fn_name = name
