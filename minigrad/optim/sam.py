"""SAM: sharpness-aware minimisation around any minigrad optimizer, with ASAM's adaptive
perturbation."""
from __future__ import annotations

from typing import Any, Callable

from minigrad import backend
from minigrad.grad_mode import enable_grad, no_grad
from minigrad.optim.checks import NONNEGATIVE, Choice, check_values
from minigrad.optim.optimizer import Optimizer, ParamsT
from minigrad.optim.wrapper import OptimizerWrapper
from minigrad.tensor import Tensor, bump_version

_SAM_CHECKS = {"rho": NONNEGATIVE, "adaptive": Choice(True, False)}


class SAM(OptimizerWrapper):
    """Sharpness-Aware Minimization (Foret, Kleiner, Mobahi & Neyshabur 2021,
    "Sharpness-Aware Minimization for Efficiently Improving Generalization"), and its
    adaptive form ASAM (Kwon, Kim, Park & Choi 2021, "ASAM: Adaptive Sharpness-Aware
    Minimization for Scale-Invariant Learning of Deep Neural Networks").

    Each step takes the gradient at the worst point of a neighbourhood of the weights, then
    lets ``base_optimizer`` step from the weights themselves with it::

        g  = grad L(w)
        e  = rho * T^2 g / (||T g|| + 1e-12)     T = 1 (SAM), T = |w| (ASAM, adaptive=True)
        g' = grad L(w + e)
        w  <- base_optimizer's step from w with the gradient g'

    ``||.||`` is one 2-norm over every parameter of every group (each group uses its own
    ``rho`` and ``adaptive``). The interface is that of davda54/sam, the reference
    implementation: ``base_optimizer`` is an optimizer *class*, built here as
    ``base_optimizer(params, **kwargs)`` (so ``lr``, ``momentum``, ``weight_decay``,
    ``maximize``, ``on_nonfinite``, ``flat`` ... go to it), and the param groups are the base
    optimizer's, carrying ``rho`` and ``adaptive`` too (a learning-rate scheduler may drive
    SAM directly). Defaults ``rho=0.05``, ``adaptive=False`` as there; the ASAM authors use
    larger radii (e.g. ``rho=0.5`` or ``2.0``) for the adaptive form. Weight decay is the base
    optimizer's (L2 or decoupled, as it does it).

    Two ways to step:

    * ``step(closure)``, with ``closure`` doing a full forward-backward pass and returning
      the loss. As in the reference, the gradients at ``w`` may already be there (compute
      the loss, ``backward()``, then ``optimizer.step(closure)``); when no parameter holds a
      gradient, the closure is first called to compute them (so the usual closure loop of
      LBFGS works too). It runs ``first_step(zero_grad=True)``, the closure,
      ``second_step(zero_grad=True)``, and returns the closure's loss at ``w + e`` (the
      reference returns None). The gradients are cleared at the end (the reference leaves
      those of ``w + e``, which a next step would wrongly take for those of its ``w``).
    * ``first_step(zero_grad=True)``; second forward-backward; ``second_step(zero_grad=True)``
      by hand (needed e.g. to run BatchNorm's statistics only in the first pass).

    ``maximize=True`` (given to the base optimizer) perturbs towards lower values, the worst
    case of a maximisation (the reference always climbs, which is wrong then). Non-finite
    gradients at ``w`` are caught before the perturbation, following the base optimizer's
    ``on_nonfinite``: raise, or skip the whole SAM step (``second_step`` then skips too, so
    the parameters and states stay as they were); those at ``w + e`` are caught by the base
    optimizer's step after ``w`` is restored. A parameter perturbed in the first step is
    restored in the second even if it has no gradient there (the reference leaves it at
    ``w + e``).

    ``state_dict()`` is the base optimizer's (its state, and groups with ``rho`` and
    ``adaptive``), so a checkpoint resumes the base optimizer's moments; the reference's holds
    only its own transient copies of ``w``, losing the base optimizer's state. Take a
    checkpoint between whole steps.
    """

    def __init__(self, params: ParamsT, base_optimizer: Callable[..., Optimizer],
                 rho: float = 0.05, adaptive: bool = False, **kwargs: Any) -> None:
        check_values("SAM", _SAM_CHECKS, {"rho": rho, "adaptive": adaptive})
        if isinstance(base_optimizer, Optimizer):
            raise TypeError("SAM: base_optimizer must be an optimizer class (e.g. "
                            "minigrad.optim.SGD), with its arguments given to SAM as keywords, "
                            f"not an optimizer already built ({type(base_optimizer).__name__})")
        if not callable(base_optimizer):
            raise TypeError(f"SAM: base_optimizer must be an optimizer class, got "
                            f"{type(base_optimizer).__name__}")
        if isinstance(params, (Tensor, dict)):
            params = [params]  # the base optimizer explains what is wrong with it
        params = list(params)
        if params and all(isinstance(g, dict) for g in params):
            groups = [{"rho": rho, "adaptive": adaptive, **g} for g in params]
        else:
            groups = [{"params": params, "rho": rho, "adaptive": adaptive}] if params else []
        base = base_optimizer(groups, **kwargs)
        if not isinstance(base, Optimizer):
            raise TypeError(f"SAM: base_optimizer(...) must build a minigrad Optimizer, got "
                            f"{type(base).__name__}")
        base.defaults.update(rho=rho, adaptive=adaptive)  # for groups added later
        for i, group in enumerate(base.param_groups):
            check_values("SAM", _SAM_CHECKS, group, f" in param group {i}")
        self.rho, self.adaptive = rho, adaptive
        self._first_skipped = False
        super().__init__(base)

    def __repr__(self) -> str:
        inner = "\n".join("    " + line for line in repr(self.base_optimizer).splitlines())
        return f"SAM(\n{inner}\n)"

    @property
    def _opt_called(self) -> bool:
        """Stepped, by :meth:`step` or by ``first_step``/``second_step`` (the base optimizer
        counts those); schedulers read it for their step-order warning."""
        return self._step_count > 0 or self.base_optimizer._opt_called

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to the base optimizer, with ``rho`` and ``adaptive`` defaulting to
        SAM's."""
        check_values("SAM", _SAM_CHECKS, param_group,
                     f" in param group {len(self.param_groups)}")
        super().add_param_group(param_group)

    # --- the two halves of a step ------------------------------------------------------------
    def _check_groups(self) -> None:
        for i, group in enumerate(self.param_groups):
            check_values("SAM", _SAM_CHECKS, group, f" in param group {i}")

    def _grad_norm(self) -> Any:
        """``||T g||`` over all parameters with a gradient, as the reference computes it (the
        2-norm of the per-parameter 2-norms), a 0-d array on the first parameter's device."""
        device = self.param_groups[0]["params"][0].device
        xp = backend.xp(device)
        norms = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.array
                here = backend.xp(p.device)
                scaled = here.abs(p.array) * g if group["adaptive"] else g
                norm = here.asarray(here.linalg.norm(scaled.ravel()))
                norms.append(norm if p.device == device else backend.to_device(norm, device))
        if not norms:
            return xp.zeros((), dtype=backend.float64)
        return xp.linalg.norm(xp.stack(norms))

    def first_step(self, zero_grad: bool = False) -> None:
        """Move every parameter with a gradient to ``w + e`` (the worst point within
        ``rho``), keeping ``w``; then forget the gradients if ``zero_grad``."""
        self._check_groups()
        self.base_optimizer._check_hyperparameters()
        self._first_skipped = not self.base_optimizer._gradients_ok()  # (and deferred checks)
        if not self._first_skipped:
            with no_grad():
                grad_norm = self._grad_norm()
                for group in self.param_groups:
                    scale = group["rho"] / (grad_norm + 1e-12)
                    sign = -1.0 if group.get("maximize", False) else 1.0
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        w = p.array
                        self.state[p]["old_p"] = w.copy()
                        step = (scale * sign).astype(w.dtype)
                        # the reference's order: (w^2 if adaptive) * g * scale
                        e_w = (w * w * p.grad.array if group["adaptive"] else p.grad.array) * step
                        w += e_w  # climb to the local maximum w + e(w)
                        bump_version(p)
        if zero_grad:
            self.zero_grad()

    def second_step(self, zero_grad: bool = False) -> None:
        """Go back to ``w`` and let the base optimizer step with the gradients now held
        (those at ``w + e``); then forget the gradients if ``zero_grad``. After a first step
        skipped for non-finite gradients it only restores and forgets."""
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    state = self.state.get(p)
                    if state and "old_p" in state:
                        p.array[...] = state.pop("old_p")
                        bump_version(p)
        if self._first_skipped:
            self._first_skipped = False
        else:
            self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SAM step: ``closure()`` at ``w`` if no gradient is held, then
        ``first_step(zero_grad=True)``, ``closure()`` (a full forward and backward pass at
        ``w + e``), ``second_step(zero_grad=True)``; returns the closure's loss at ``w + e``
        (None when the step was skipped for non-finite gradients)."""
        if closure is None:
            raise ValueError("SAM.step() needs a closure that does a full forward-backward "
                             "pass (the gradients at w must already be computed); or call "
                             "first_step() and second_step() around your own second pass")
        if not callable(closure):
            raise TypeError(f"SAM.step(): closure must be a function, got "
                            f"{type(closure).__name__}")
        if not any(p.grad is not None for group in self.param_groups for p in group["params"]):
            with enable_grad():
                closure()  # the gradients at w
        self.first_step(zero_grad=True)
        if self._first_skipped:
            self._first_skipped = False
            return None
        try:
            with enable_grad():
                loss = closure()
        except BaseException:  # a failed second pass: put w back, step nothing
            self._first_skipped = True
            self.second_step(zero_grad=True)
            raise
        self.second_step(zero_grad=True)
        return loss

    # --- checkpoints -----------------------------------------------------------------------
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the base optimizer's state dict; the groups' ``rho`` and ``adaptive`` are
        checked too."""
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if isinstance(groups, (list, tuple)):
            for i, group in enumerate(groups):
                if isinstance(group, dict):
                    check_values("SAM", _SAM_CHECKS, group,
                                 f" in param group {i} of the loaded state dict")
        super().load_state_dict(state_dict)
