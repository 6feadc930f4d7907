"""Lookahead: a wrapper that pulls any optimizer's fast weights back towards slow weights."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from minigrad import backend
from minigrad.optim.checks import UNIT, Integer, check_values
from minigrad.optim.optimizer import Optimizer
from minigrad.tensor import Tensor, bump_version


class Lookahead(Optimizer):
    """Lookahead (Zhang, Lucas, Hinton & Ba 2019, "Lookahead Optimizer: k steps forward,
    1 step back") around any minigrad optimizer.

    The wrapped optimizer moves the parameters (the fast weights ``p``); every ``k`` of its
    steps they are pulled towards slow weights ``phi`` and restart from there::

        phi = phi + alpha * (p - phi);   p = phi

    ``alpha = 1`` gives back the inner optimizer. The slow weights start as a copy of the
    parameters at construction (so the first sync already pulls back), as in the
    ``pytorch_optimizer`` package whose defaults are used; only parameters with a gradient
    at the sync step are synced, as there. ``param_groups`` and ``defaults`` are the inner
    optimizer's, so learning-rate schedulers drive it directly; ``state`` holds the slow
    weights (the inner optimizer's state is ``base_optimizer.state``). ``state_dict()`` is the
    inner optimizer's plus the slow weights and the step count since the last sync, so a
    checkpoint resumes the exact trajectory. Weight decay is whatever the inner optimizer does.
    """

    wrapper_checks = {"k": Integer(1), "alpha": UNIT}

    # Optimizer.__init__ is not called: the groups and defaults are the inner optimizer's.
    def __init__(self, base_optimizer: Optimizer, k: int = 5, alpha: float = 0.5, *,
                 on_nonfinite: str | None = None) -> None:
        if not isinstance(base_optimizer, Optimizer):
            raise TypeError(f"base_optimizer must be a minigrad Optimizer, got "
                            f"{type(base_optimizer).__name__}")
        check_values(self._name(), self.wrapper_checks, {"k": k, "alpha": alpha})
        self.base_optimizer = base_optimizer
        if on_nonfinite is not None:
            self.on_nonfinite = on_nonfinite
        self.k = k
        self.alpha = alpha
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.steps_since_sync = 0
        for group in self.param_groups:
            self._copy_slow_weights(group)

    @property  # type: ignore[override]
    def on_nonfinite(self) -> str:
        """The inner optimizer's ``on_nonfinite`` (setting it sets the inner one's)."""
        return self.base_optimizer.on_nonfinite

    @on_nonfinite.setter
    def on_nonfinite(self, value: str) -> None:
        self.base_optimizer.on_nonfinite = value

    @property
    def skipped_steps(self) -> int:  # type: ignore[override]
        """Steps the inner optimizer skipped for non-finite gradients."""
        return self.base_optimizer.skipped_steps

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.base_optimizer.param_groups

    @property
    def defaults(self) -> dict[str, Any]:
        return self.base_optimizer.defaults

    def __repr__(self) -> str:
        inner = "\n".join("    " + line for line in repr(self.base_optimizer).splitlines())
        return f"{type(self).__name__}(k={self.k}, alpha={self.alpha},\n{inner}\n)"

    def _copy_slow_weights(self, group: dict[str, Any]) -> None:
        for p in group["params"]:
            self.state[p]["slow_param"] = p.array.copy()

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to the inner optimizer; its slow weights start at its current values."""
        self.base_optimizer.add_param_group(param_group)
        self._copy_slow_weights(self.param_groups[-1])

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step of the inner optimizer, then a sync every ``k`` steps.

        A NaN or inf gradient is the inner optimizer's to handle (``on_nonfinite``): it raises
        before anything changes, or skips the step, which then does not count towards ``k``.
        """
        skipped = getattr(self.base_optimizer, "skipped_steps", 0)
        loss = self.base_optimizer.step(closure)
        if getattr(self.base_optimizer, "skipped_steps", 0) != skipped:
            return loss  # a skipped step (non-finite gradient) does not count towards k
        self.steps_since_sync += 1
        if self.steps_since_sync >= self.k:
            self.steps_since_sync = 0
            self._sync()
        return loss

    def _sync(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                slow = self.state[p]["slow_param"]
                slow += self.alpha * (p.array - slow)
                p.array[...] = slow
                bump_version(p)

    # --- checkpoints -----------------------------------------------------------------------
    def _indexed_params(self) -> list[Tensor]:
        """The parameters in the order that numbers them in ``state_dict()``."""
        seen: dict[int, Tensor] = {}
        for group in self.param_groups:
            for p in group["params"]:
                seen.setdefault(id(p), p)
        return list(seen.values())

    def state_dict(self) -> dict[str, Any]:
        """The inner optimizer's state dict plus ``"slow_params"`` (by parameter index) and
        ``"steps_since_sync"``. Arrays are not copied."""
        state_dict = self.base_optimizer.state_dict()
        state_dict["slow_params"] = {i: self.state[p]["slow_param"]
                                     for i, p in enumerate(self._indexed_params())}
        state_dict["steps_since_sync"] = self.steps_since_sync
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the inner optimizer, the slow weights (copied onto each parameter's device
        and into its dtype) and the position in the sync cycle."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"{self._name()}.load_state_dict() expects a dict from "
                            f"state_dict(), got {type(state_dict).__name__}")
        for key in ("slow_params", "steps_since_sync"):
            if key not in state_dict:
                raise ValueError(f"not a Lookahead state dict: it has no {key!r} entry")
        check_values(self._name(), {"steps_since_sync": Integer(0)}, state_dict,
                     " in the loaded state dict")
        params = self._indexed_params()
        slow_params = state_dict["slow_params"]
        if not isinstance(slow_params, dict) or sorted(slow_params) != list(range(len(params))):
            count = len(slow_params) if isinstance(slow_params, dict) else "no"
            raise ValueError(f"the loaded state dict has slow weights for {count} "
                             f"parameters, this optimizer has {len(params)}")
        for i, p in enumerate(params):
            slow = slow_params[i]
            if not backend.is_array(slow) or slow.dtype.kind not in "fc":
                raise ValueError(f"the loaded slow weight {i} must be a floating array, got "
                                 f"{type(slow).__name__}")
        slow_weights = []
        for i, p in enumerate(params):
            if slow_params[i].dtype.kind == "c" and p.dtype.kind != "c":
                raise ValueError(f"the loaded slow weight {i} is complex, its parameter has "
                                 f"dtype {p.dtype}")
            slow = backend.to_device(slow_params[i], p.device).astype(p.dtype, copy=True)
            if slow.shape != p.shape:
                raise ValueError(f"the loaded slow weight {i} has shape {slow.shape}, its "
                                 f"parameter has shape {p.shape}")
            slow_weights.append(slow)
        self.base_optimizer.load_state_dict(
            {k: v for k, v in state_dict.items() if k not in ("slow_params", "steps_since_sync")})
        for p, slow in zip(params, slow_weights):
            self.state[p]["slow_param"] = slow
        self.steps_since_sync = int(state_dict["steps_since_sync"])
