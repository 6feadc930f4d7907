"""Lookahead: a wrapper that pulls any optimizer's fast weights back towards slow weights."""
from __future__ import annotations

from typing import Any, Callable

from minigrad import backend
from minigrad.optim.checks import UNIT, Integer, check_values
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.wrapper import OptimizerWrapper
from minigrad.tensor import Tensor, bump_version


class Lookahead(OptimizerWrapper):
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

    def __init__(self, base_optimizer: Optimizer, k: int = 5, alpha: float = 0.5, *,
                 on_nonfinite: str | None = None) -> None:
        check_values(self._name(), self.wrapper_checks, {"k": k, "alpha": alpha})
        self.k = k
        self.alpha = alpha
        self.steps_since_sync = 0
        super().__init__(base_optimizer, on_nonfinite=on_nonfinite)

    def __repr__(self) -> str:
        inner = "\n".join("    " + line for line in repr(self.base_optimizer).splitlines())
        return f"{type(self).__name__}(k={self.k}, alpha={self.alpha},\n{inner}\n)"

    def _group_added(self, group: dict[str, Any]) -> None:
        """The slow weights of a group start at its parameters' current values."""
        for p in group["params"]:
            self.state[p]["slow_param"] = p.array.copy()

    def _after_step(self) -> None:
        """Count the step (a skipped one does not count towards ``k``); sync every ``k``."""
        self.steps_since_sync += 1
        if self.steps_since_sync >= self.k:
            self.steps_since_sync = 0
            self._sync()

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

    def _wrapper_state(self) -> dict[str, Any]:
        """``"slow_params"`` (by parameter index) and ``"steps_since_sync"``."""
        return {"slow_params": {i: self.state[p]["slow_param"]
                                for i, p in enumerate(self._indexed_params())},
                "steps_since_sync": self.steps_since_sync}

    def _load_wrapper_state(self, entries: dict[str, Any]) -> Callable[[], None]:
        """The slow weights are copied onto each parameter's device and into its dtype."""
        check_values(self._name(), {"steps_since_sync": Integer(0)}, entries,
                     " in the loaded state dict")
        params = self._indexed_params()
        slow_params = entries["slow_params"]
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

        def apply() -> None:
            for p, slow in zip(params, slow_weights):
                self.state[p]["slow_param"] = slow
            self.steps_since_sync = int(entries["steps_since_sync"])
        return apply
