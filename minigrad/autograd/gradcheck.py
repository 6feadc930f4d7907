"""Gradient checking: analytic Jacobians against central finite differences, in float64.

Every op and layer in minigrad is tested with these. A failure names, per input, the worst
element (output index and input index), both values and the errors, so it can be traced.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from minigrad import backend
from minigrad.autograd.engine import grad
from minigrad.grad_mode import enable_grad
from minigrad.tensor import Tensor, wrap


class GradcheckError(RuntimeError):
    """The analytic gradient disagrees with the finite-difference one."""


def _as_tuple(x: Any) -> tuple:
    return (x,) if isinstance(x, Tensor) or x is None else tuple(x)


def _float64_copy(t: Any) -> Any:
    if not isinstance(t, Tensor):
        return t
    # C order, so that perturbing a flat view of it perturbs the input itself
    copy = wrap(t.array.astype(backend.float64, order="C", copy=True), t.device)
    return copy.requires_grad_(True) if t.requires_grad else copy


def _outputs(fn: Callable[..., Any], args: Sequence[Any]) -> list[Tensor]:
    with enable_grad():
        outs = [o for o in _as_tuple(fn(*args)) if o is not None]
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: output {k} is a {type(o).__name__}, not a Tensor")
        if o.dtype != backend.float64:
            raise TypeError(f"gradcheck: output {k} has dtype {o.dtype}; finite differences need "
                            "float64 all the way through")
    return outs


def _analytic(outs: list[Tensor], wrt: list[Tensor]) -> list[Any]:
    """Per input, the Jacobian as an array (total output size, input size)."""
    xp = backend.xp(wrt[0].device)
    total = sum(o.numel() for o in outs)
    jac = [xp.zeros((total, x.numel())) for x in wrt]
    row = 0
    for o in outs:
        flat = o.reshape(-1)
        for j in range(o.numel()):
            if o.requires_grad:
                grads = grad(flat[j], wrt, retain_graph=True, allow_unused=True)
                for J, g in zip(jac, grads):
                    if g is not None:
                        J[row] = g.array.reshape(-1)
            row += 1
    return jac


def _numeric(fn: Callable[..., Any], args: list[Any], wrt: list[Tensor], eps: float) -> list[Any]:
    xp = backend.xp(wrt[0].device)

    def flat_outputs() -> Any:
        outs = _outputs(fn, args)
        return xp.concatenate([o.array.reshape(-1) for o in outs]) if outs else xp.zeros(0)
    jac = []
    for x in wrt:
        flat = x.array.reshape(-1)  # a view: perturbing it perturbs x
        columns = []
        for i in range(flat.size):
            original = flat[i].item()
            flat[i] = original + eps
            plus = flat_outputs()
            flat[i] = original - eps
            minus = flat_outputs()
            flat[i] = original
            columns.append((plus - minus) / (2 * eps))
        jac.append(xp.stack(columns, axis=1) if columns else
                   xp.zeros((flat_outputs().size, 0)))  # an empty input: no columns
    return jac


def _unravel(flat_index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    index = []
    for n in reversed(shape):
        index.append(flat_index % n)
        flat_index //= n
    return tuple(reversed(index))


def _output_position(row: int, outs: list[Tensor]) -> str:
    for k, o in enumerate(outs):
        if row < o.numel():
            return f"output {k} index {_unravel(row, o.shape)}"
        row -= o.numel()
    return f"output row {row}"


def gradcheck(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check ``fn``'s gradients w.r.t. every input that requires grad.

    Inputs are copied to float64; ``fn`` may return a tensor or a tuple of tensors. An
    element passes when |analytic - numeric| <= atol + rtol * |numeric|. Returns True, or
    raises :class:`GradcheckError` (returns False with ``raise_exception=False``).
    """
    args = [_float64_copy(t) for t in _as_tuple(inputs)]
    positions = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    if not positions:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    wrt = [args[i] for i in positions]
    outs = _outputs(fn, args)
    analytic = _analytic(outs, wrt)
    numeric = _numeric(fn, args, wrt, eps)
    failures = []
    for position, x, A, N in zip(positions, wrt, analytic, numeric):
        xp = backend.xp(x.device)
        excess = xp.abs(A - N) - (atol + rtol * xp.abs(N))
        if excess.size and (excess.max() > 0 or not bool(xp.isfinite(A).all())):
            row, col = _unravel(int(xp.nan_to_num(excess, nan=xp.inf).argmax()), excess.shape)
            a, n = float(A[row, col]), float(N[row, col])
            failures.append(
                f"input {position} (shape {x.shape}): worst at {_output_position(row, outs)}, "
                f"input index {_unravel(col, x.shape)}: analytic {a:.10g}, numeric {n:.10g}, "
                f"abs err {abs(a - n):.3g}, rel err {abs(a - n) / max(abs(n), 1e-300):.3g}")
    if failures:
        if raise_exception:
            raise GradcheckError(f"gradcheck failed (atol={atol}, rtol={rtol}, eps={eps}):\n  "
                                 + "\n  ".join(failures))
        return False
    return True


def gradgradcheck(fn: Callable[..., Any], inputs: Any, grad_outputs: Any = None,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True) -> bool:
    """Check second derivatives: gradcheck of the map (inputs, v) -> vᵀ J(inputs).

    ``v`` (the weights of the outputs) is random unless ``grad_outputs`` is given; it is
    checked as an input too, since the first derivative is linear in it.
    """
    args = [_float64_copy(t) for t in _as_tuple(inputs)]
    outs = _outputs(fn, args)
    if grad_outputs is None:
        rng = backend.xp(outs[0].device).random.default_rng(0)
        vs = [wrap(rng.standard_normal(o.shape), o.device) for o in outs]
    else:
        vs = [wrap(v.array, v.device) for v in _as_tuple(grad_outputs)]
    vs = [_float64_copy(v).requires_grad_(True) for v in vs]
    n = len(args)

    def first_derivative(*xs_and_vs: Any) -> tuple[Tensor, ...]:
        xs, weights = xs_and_vs[:n], xs_and_vs[n:]
        wrt = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        pairs = [(o, v) for o, v in zip(_outputs(fn, xs), weights) if o.requires_grad]
        if not pairs:
            return tuple(wrap(backend.xp(x.device).zeros_like(x.array), x.device) for x in wrt)
        with enable_grad():
            grads = grad([o for o, _ in pairs], wrt, [v for _, v in pairs], create_graph=True,
                         allow_unused=True)
        return tuple(wrap(backend.xp(x.device).zeros_like(x.array), x.device) if g is None else g
                     for x, g in zip(wrt, grads))
    return gradcheck(first_derivative, [*args, *vs], eps, atol, rtol, raise_exception)
