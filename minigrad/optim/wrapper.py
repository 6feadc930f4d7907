"""The base of optimizers that wrap another one (Lookahead and Ranger): the inner optimizer
takes every step, the wrapper adds to it.

A wrapper is an :class:`~minigrad.optim.Optimizer` (``isinstance`` holds, as for PyTorch's
wrappers), but it has no param groups or update rule of its own: ``param_groups``,
``defaults``, ``zero_grad``, ``on_nonfinite`` and ``skipped_steps`` are the inner optimizer's,
so learning-rate schedulers drive the inner optimizer directly. A subclass implements a small
protocol:

* :meth:`_after_step` runs after each inner step that was taken (a step skipped for a
  non-finite gradient is not);
* :meth:`_group_added` runs for each param group, at construction and when one is added;
* :meth:`_wrapper_state` / :meth:`_load_wrapper_state` add the wrapper's own entries to the
  inner optimizer's ``state_dict()``.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from minigrad.optim.optimizer import Optimizer
from minigrad.tensor import Tensor


class OptimizerWrapper(Optimizer):
    """An optimizer adding to the steps of ``base_optimizer`` (see the module doc)."""

    def __init__(self, base_optimizer: Optimizer, *, on_nonfinite: str | None = None) -> None:
        if not isinstance(base_optimizer, Optimizer):
            raise TypeError(f"base_optimizer must be a minigrad Optimizer, got "
                            f"{type(base_optimizer).__name__}")
        self.base_optimizer = base_optimizer
        if on_nonfinite is not None:
            self.on_nonfinite = on_nonfinite
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)  # the wrapper's own
        for group in self.param_groups:
            self._group_added(group)

    # --- what is the inner optimizer's -----------------------------------------------------
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
    def param_groups(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.base_optimizer.param_groups

    @property
    def defaults(self) -> dict[str, Any]:  # type: ignore[override]
        return self.base_optimizer.defaults

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group to the inner optimizer (and let the wrapper set it up)."""
        self.base_optimizer.add_param_group(param_group)
        self._group_added(self.param_groups[-1])

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step of the inner optimizer, then the wrapper's part (:meth:`_after_step`),
        unless the inner optimizer skipped the step (``on_nonfinite="skip"``)."""
        skipped = self.base_optimizer.skipped_steps
        loss = self.base_optimizer.step(closure)
        if self.base_optimizer.skipped_steps == skipped:
            self._after_step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The inner optimizer's state dict plus the wrapper's entries."""
        state_dict = self.base_optimizer.state_dict()
        state_dict.update(self._wrapper_state())
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the inner optimizer and the wrapper; the wrapper's entries are checked
        (:meth:`_load_wrapper_state` returns the function that applies them) before
        anything changes."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"{self._name()}.load_state_dict() expects a dict from "
                            f"state_dict(), got {type(state_dict).__name__}")
        own = self._wrapper_state().keys()
        missing = [key for key in own if key not in state_dict]
        if missing:
            raise ValueError(f"not a {self._name()} state dict: it has no {missing[0]!r} entry")
        apply = self._load_wrapper_state({k: state_dict[k] for k in own})
        self.base_optimizer.load_state_dict({k: v for k, v in state_dict.items()
                                             if k not in own})
        apply()

    # --- the protocol ----------------------------------------------------------------------
    def _after_step(self) -> None:
        """The wrapper's part of a step, after an inner step that was taken."""

    def _group_added(self, group: dict[str, Any]) -> None:
        """Set up the wrapper's state for a new param group of the inner optimizer."""

    def _wrapper_state(self) -> dict[str, Any]:
        """The wrapper's entries of ``state_dict()`` (arrays not copied)."""
        return {}

    def _load_wrapper_state(self, entries: dict[str, Any]) -> Callable[[], None]:
        """Check the loaded ``entries`` (raise ``ValueError`` naming what is wrong) and
        return the function that applies them."""
        return lambda: None
