"""L-BFGS: a quasi-Newton method for full-batch problems, with an optional strong-Wolfe
line search."""
from __future__ import annotations

import math
from typing import Any, Callable

from minigrad import backend
from minigrad.grad_mode import enable_grad, no_grad
from minigrad.errors import DeviceError
from minigrad.optim.checks import LR, NONNEGATIVE, Choice, Integer
from minigrad.optim.optimizer import (Optimizer, ParamsT, all_finite, hyperparameters,
                                     nonfinite_kind)
from minigrad.tensor import Tensor, bump_version

# A function of the step length t along the search direction: (loss, flat gradient) at x0 + t d.
Objective = Callable[[float], "tuple[float, Any]"]


class _NonFinite(Exception):
    """A closure evaluation gave a NaN or inf loss or gradient (caught by ``LBFGS.step``)."""

    def __init__(self, subject: str, index: int | None = None,
                 shape: tuple[int, ...] | None = None) -> None:
        super().__init__(subject)
        self.subject, self.index, self.shape = subject, index, shape
        self.first_value: Any = None


class LBFGS(Optimizer):
    """Limited-memory BFGS (Liu & Nocedal 1989, "On the limited memory BFGS method for large
    scale optimization"; Nocedal & Wright, "Numerical Optimization", algorithms 7.4 and 3.5-3.6
    for the line search), as ``torch.optim.LBFGS``.

    All parameters are treated as one flat vector ``x``. Each ``step(closure)`` runs up to
    ``max_iter`` iterations (and at most ``max_eval`` closure calls)::

        d = -H g          # H: inverse-Hessian estimate from the last history_size pairs
                          # (s, y) = (step taken, change of gradient), two-loop recursion,
                          # scaled by y.s / y.y; pairs with y.s <= 1e-10 are skipped
        x = x + t d       # t = lr (first iteration ever: min(1, 1/|g|_1) * lr), or the
                          # step found by the strong-Wolfe line search

    With ``line_search_fn="strong_wolfe"``, ``t`` satisfies the sufficient-decrease condition
    ``f(x + t d) <= f(x) + 1e-4 t g.d`` and the curvature condition
    ``|g(x + t d).d| <= 0.9 |g.d|``, found by bracketing and cubic-interpolation zoom.
    Iterations stop early when ``max|g| <= tolerance_grad``, or when the step or the change
    of loss falls below ``tolerance_change``. ``closure`` must re-evaluate the model, call
    ``backward`` and return the loss; ``step`` returns the loss of its first call.

    No weight decay. One param group only; the parameters must share one device and dtype.
    Memory: ``2 * history_size + 2`` flat vectors. State (iteration counts, the history)
    is kept under ``state[first_param]`` and continues across ``step`` calls.

    Every evaluation of the closure is checked: a NaN or infinite loss or gradient, at the
    first evaluation or in the middle of the iterations or the line search, raises
    :class:`~minigrad.optim.optimizer.NonFiniteError` or skips the step with a warning
    (``on_nonfinite``); either way the parameters and the state are put back as they were
    before the step.
    """

    hyperparameter_checks = {"lr": LR, "max_iter": Integer(1), "max_eval": Integer(1),
                             "tolerance_grad": NONNEGATIVE, "tolerance_change": NONNEGATIVE,
                             "history_size": Integer(1),
                             "line_search_fn": Choice(None, "strong_wolfe")}

    def __init__(self, params: ParamsT, lr: float = 1.0, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None, *, maximize: bool = False,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
        if max_eval is None and Integer(1).accepts(max_iter):
            max_eval = max_iter * 5 // 4
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups): "
                             "pass one list of tensors")
        self._params = self.param_groups[0]["params"]
        if len({p.device for p in self._params}) > 1:
            raise DeviceError("LBFGS needs all parameters on one device")
        if len({p.dtype for p in self._params}) > 1:
            raise TypeError("LBFGS needs all parameters in one dtype")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...] | None:
        """The history is kept as flat vectors over all parameters, under the first one."""
        if key in ("d", "prev_flat_grad", "old_dirs", "old_stps"):
            return (sum(p.numel() for p in self.param_groups[0]["params"]),)
        return None

    # --- the flat view of the parameters ---------------------------------------------------
    def _xp(self) -> Any:
        return backend.xp(self._params[0].device)

    def _flat_grad(self, maximize: bool) -> Any:
        xp = self._xp()
        parts = [p.grad.array.reshape(-1) if p.grad is not None
                 else xp.zeros(p.numel(), dtype=p.dtype) for p in self._params]
        flat = xp.concatenate(parts)
        return -flat if maximize else flat

    def _move(self, step: float, direction: Any) -> None:
        """x = x + step * direction."""
        offset = 0
        for p in self._params:
            size = p.numel()
            p.array += step * direction[offset:offset + size].reshape(p.shape)
            offset += size

    def _evaluate(self, closure: Callable[[], Any], maximize: bool) -> tuple[float, Any]:
        with enable_grad():
            loss = float(closure())
        flat_grad = self._flat_grad(maximize)
        self._check_finite(loss, flat_grad)
        return (-loss if maximize else loss), flat_grad

    def _check_finite(self, loss: float, flat_grad: Any) -> None:
        """Raise :class:`_NonFinite` if the closure's loss or a gradient is NaN or inf."""
        if not math.isfinite(loss):
            raise _NonFinite(f"the closure returned a non-finite loss ({loss})")
        xp = self._xp()
        if all_finite([flat_grad], xp) or nonfinite_kind(flat_grad) is None:
            return
        for index, p in enumerate(self._params):
            kind = None if p.grad is None else nonfinite_kind(p.grad.array)
            if kind is not None:
                raise _NonFinite(f"the gradient of parameter {index} of param group 0 (shape "
                                 f"{tuple(p.shape)}) holds {kind}", index, tuple(p.shape))
        raise _NonFinite("the gradient holds NaN or inf")  # not reached: flat_grad copies them

    # --- the iteration -----------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations; return the first closure value."""
        if closure is None:
            raise RuntimeError("LBFGS needs a closure that re-evaluates the model, calls "
                               "backward() and returns the loss: opt.step(closure)")
        self._check_hyperparameters()
        first = self._params[0]
        had_state = first in self.state
        saved_state = {key: list(value) if isinstance(value, list) else value
                       for key, value in self.state.get(first, {}).items()}
        start = [self._xp().array(p.array) for p in self._params]
        try:
            with no_grad():
                return self._run(closure, self.param_groups[0])
        except _NonFinite as found:
            # put back the parameters and the state as they were before this step
            for p, values in zip(self._params, start):
                p.array[...] = values
            if had_state:
                self.state[first].clear()
                self.state[first].update(saved_state)
            else:
                self.state.pop(first, None)
            self._refuse_nonfinite(found.subject, None if found.index is None else 0,
                                   found.index, found.shape, stacklevel=3)
            return found.first_value
        finally:
            for p in self._params:
                bump_version(p)

    def _run(self, closure: Callable[[], Any], group: dict[str, Any]) -> Any:
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            first_value = closure()
        try:
            return self._iterate(closure, group, first_value)
        except _NonFinite as found:
            found.first_value = first_value
            raise

    def _iterate(self, closure: Callable[[], Any], group: dict[str, Any],
                 first_value: Any) -> Any:
        xp = self._xp()
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        maximize = group["maximize"]
        state = self.state[self._params[0]]
        loss = float(first_value)
        flat_grad = self._flat_grad(maximize)
        self._check_finite(loss, flat_grad)
        loss = -loss if maximize else loss
        evals = 1
        state["func_evals"] += 1
        if float(xp.abs(flat_grad).max()) <= tolerance_grad:
            return first_value

        # the history: None before the first iteration, which sets it (arrays, lists, floats)
        d: Any
        t: Any
        old_dirs: Any
        old_stps: Any
        ro: Any
        h_diag: Any
        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag, prev_flat_grad = state.get("H_diag"), state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(xp.dot(y, s))
                if ys > 1e-10:  # keep only pairs that preserve positive definiteness
                    if len(old_dirs) == group["history_size"]:
                        del old_dirs[0], old_stps[0], ro[0]
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / float(xp.dot(y, y))
                d = _two_loop_direction(xp, flat_grad, old_dirs, old_stps, ro, h_diag)
            prev_flat_grad = flat_grad
            prev_loss = loss

            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(xp.abs(flat_grad).sum())) * lr
            else:
                t = lr
            gtd = float(xp.dot(flat_grad, d))
            if gtd > -tolerance_change:  # not a descent direction (any more)
                break

            if group["line_search_fn"] == "strong_wolfe":
                loss, flat_grad, t, ls_evals = self._line_search(closure, maximize, t, d, loss,
                                                                 flat_grad, gtd)
                self._move(t, d)
                opt_cond = float(xp.abs(flat_grad).max()) <= tolerance_grad
            else:
                self._move(t, d)
                ls_evals, opt_cond = 0, False
                if n_iter != max_iter:
                    loss, flat_grad = self._evaluate(closure, maximize)
                    opt_cond = float(xp.abs(flat_grad).max()) <= tolerance_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evals >= max_eval or opt_cond:
                break
            if float(xp.abs(d * t).max()) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return first_value

    def _line_search(self, closure: Callable[[], Any], maximize: bool, t: float, d: Any,
                     loss: float, flat_grad: Any, gtd: float) -> tuple[float, Any, float, int]:
        """Strong-Wolfe search along ``d`` from the current point, which it leaves unchanged."""
        x0 = [self._xp().array(p.array) for p in self._params]

        def objective(step: float) -> tuple[float, Any]:
            self._move(step, d)
            result = self._evaluate(closure, maximize)
            for p, saved in zip(self._params, x0):
                p.array[...] = saved
            return result

        return strong_wolfe(objective, self._xp(), t, d, loss, flat_grad, gtd)


def _two_loop_direction(xp: Any, flat_grad: Any, old_dirs: list, old_stps: list, ro: list,
                        h_diag: float) -> Any:
    """``-H g`` by the L-BFGS two-loop recursion over the stored (s, y) pairs."""
    count = len(old_dirs)
    alphas = [0.0] * count
    q = -flat_grad
    for i in range(count - 1, -1, -1):
        alphas[i] = float(xp.dot(old_stps[i], q)) * ro[i]
        q -= alphas[i] * old_dirs[i]
    r = q * h_diag
    for i in range(count):
        beta = float(xp.dot(old_dirs[i], r)) * ro[i]
        r += (alphas[i] - beta) * old_stps[i]
    return r


def _cubic_minimizer(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                     bounds: tuple[float, float] | None = None) -> float:
    """Minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clipped
    to ``bounds`` (default: the interval between x1 and x2); its midpoint when the cubic
    has no minimum, or none that the formula can give (two equal points; a function that is
    exactly quadratic along the line with negative curvature, where the denominator is 0)."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    if x1 == x2:
        return min(max(x1, low), high)
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2)
    discriminant = d1 * d1 - g1 * g2
    if discriminant < 0:
        return (low + high) / 2.0
    d2 = math.sqrt(discriminant)
    if x1 <= x2:
        numerator, denominator, far, span = g2 + d2 - d1, g2 - g1 + 2.0 * d2, x2, x2 - x1
    else:
        numerator, denominator, far, span = g1 + d2 - d1, g1 - g2 + 2.0 * d2, x1, x1 - x2
    if denominator == 0:
        return (low + high) / 2.0
    return min(max(far - span * (numerator / denominator), low), high)


def strong_wolfe(objective: Objective, xp: Any, t: float, d: Any, f: float, g: Any,
                 gtd: float, c1: float = 1e-4, c2: float = 0.9,
                 tolerance_change: float = 1e-9,
                 max_ls: int = 25) -> tuple[float, Any, float, int]:
    """Find a step ``t`` along ``d`` meeting the strong Wolfe conditions.

    ``objective(t)`` gives (loss, flat gradient) at the point ``t`` along ``d``; ``f``, ``g``,
    ``gtd`` describe the start. Returns (loss, gradient, t, number of evaluations). First a
    bracket containing acceptable steps is found, growing ``t`` by cubic extrapolation;
    then the bracket is shrunk ("zoom") by cubic interpolation, with a safeguard that keeps
    each trial at least 10% of the bracket away from its ends.
    """
    d_norm = float(xp.abs(d).max())
    f_new, g_new = objective(t)
    evals = 1
    gtd_new = float(xp.dot(g_new, d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0

    # bracketing phase
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            break  # too far: an acceptable step lies between t_prev and t
        if abs(gtd_new) <= -c2 * gtd:
            done = True  # both conditions hold at t
            break
        if gtd_new >= 0:
            break  # the slope turned: a minimum lies between t_prev and t
        lowest, highest = t + 0.01 * (t - t_prev), t * 10.0
        t_next = _cubic_minimizer(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                  bounds=(lowest, highest))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = objective(t)
        evals += 1
        gtd_new = float(xp.dot(g_new, d))
        ls_iter += 1
    if done:
        bracket, bracket_f, bracket_g, bracket_gtd = [t], [f_new], [g_new], [gtd_new]
    elif ls_iter == max_ls:  # out of evaluations while still extrapolating
        bracket, bracket_f = [0.0, t], [f, f_new]
        bracket_g, bracket_gtd = [g, g_new], [gtd, gtd_new]
    else:
        bracket, bracket_f = [t_prev, t], [f_prev, f_new]
        bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]

    # zoom phase
    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimizer(bracket[0], bracket_f[0], bracket_gtd[0],
                             bracket[1], bracket_f[1], bracket_gtd[1])
        # Safeguard: a trial too close to an end of the bracket makes little progress;
        # the second time in a row (or outside the bracket) move it 10% inside.
        left, right = min(bracket), max(bracket)
        margin = 0.1 * (right - left)
        if min(right - t, t - left) < margin:
            if insufficient_progress or t >= right or t <= left:
                t = right - margin if abs(t - right) < abs(t - left) else left + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False

        f_new, g_new = objective(t)
        evals += 1
        gtd_new = float(xp.dot(g_new, d))
        ls_iter += 1

        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = (
                t, f_new, g_new, gtd_new)
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = (
                    bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low])
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = (
                t, f_new, g_new, gtd_new)

    return bracket_f[low], bracket_g[low], bracket[low], evals
