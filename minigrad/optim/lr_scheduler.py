"""Learning-rate schedulers, with ``torch.optim.lr_scheduler``'s names, defaults and semantics.

A scheduler writes ``group["lr"]`` of every param group of an optimizer (or of any object
with ``param_groups``, such as a wrapper around an optimizer); the optimizer reads it at its
next step. Use it as in PyTorch::

    scheduler = CosineAnnealingLR(optimizer, T_max=100)
    for epoch in range(100):
        train(...)              # ends with optimizer.step()
        scheduler.step()

Construction already applies the value for epoch 0, so the first ``optimizer.step()`` uses it.
Most schedules are computed as PyTorch computes them, recursively from the current lr
("chainable"), so that two schedulers on one optimizer (or a hand-made change of the lr)
compose; ``step(epoch)`` (deprecated, as in PyTorch) jumps to the closed form instead. The
schedules PyTorch lacks, :class:`InverseTimeLR` and :class:`ExponentialDecayLR`, and the
warm-up helpers :func:`warmup_cosine` and :func:`warmup_linear` follow the same rules. The
warm-up schedules of recent training recipes, :class:`WarmupStableDecayLR` (WSD),
:class:`InverseSqrtLR` (the Transformer's) and :class:`Ranger21LR` (Ranger21's warm-up and
warm-down), are closed forms of the epoch and each group's base lr, as OneCycleLR is.
"""
from __future__ import annotations

import contextlib
import copy
import math
import numbers
import types
import warnings
from bisect import bisect_right
from typing import Any, Callable, ClassVar, Iterable, Mapping, Sequence

from minigrad import backend
from minigrad.tensor import Tensor
from minigrad.optim.checks import (BETA, NONNEGATIVE, POSITIVE, UNIT, Check, Choice, Each, Integer,
                                   Maybe, Real, check_values, is_number)

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
           "LinearLR", "ExponentialLR", "PolynomialLR", "InverseTimeLR", "ExponentialDecayLR",
           "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "CyclicLR", "OneCycleLR",
           "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler", "WarmupStableDecayLR",
           "InverseSqrtLR", "Ranger21LR", "warmup_cosine", "warmup_linear"]

FINITE = Real()

_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. Call "
    "`optimizer.step()` first and `lr_scheduler.step()` after it; in this order the first "
    "value of the learning-rate schedule is not skipped.")
_EPOCH_WARNING = (
    "Passing an epoch to `scheduler.step()` is deprecated (as in PyTorch): the lr jumps to the "
    "schedule's closed form, which ignores other changes of the lr. Call `step()` once per "
    "epoch instead.")


class LRScheduler:
    """Base class: sets each group's lr from ``last_epoch`` and the groups' ``base_lrs``.

    The first scheduler attached to an optimizer records each group's lr as
    ``group["initial_lr"]``; ``base_lrs`` are read from there, so a second scheduler on the
    same optimizer starts from the same base. ``last_epoch=k`` resumes a schedule at epoch
    ``k`` (every group then needs ``"initial_lr"``, e.g. from a loaded optimizer state).

    Subclasses implement :meth:`get_lr` (the lrs at ``last_epoch``, usually computed from the
    current ``group["lr"]``) and, when that is recursive, :meth:`_closed_form_lr`.

    **Checks.** Each scheduler declares the valid values of its arguments once, in
    :attr:`argument_checks` (name -> :class:`~minigrad.optim.checks.Check`); the constructor
    applies them (``ValueError`` naming the scheduler, the argument, the value and the valid
    range) and :meth:`load_state_dict` applies them to the loaded values. A schedule that
    computes a NaN or infinite lr (e.g. a ``LambdaLR`` function returning NaN) raises
    ``ValueError`` at that step, and the step is undone: the optimizer's lrs and the
    scheduler's position stay as they were. (A negative lr is left alone, as in PyTorch: a
    linear decay to 0 can end at -1e-17 by rounding.)
    """

    _not_saved: tuple[str, ...] = ("optimizer", "_checks_step_order")
    argument_checks: ClassVar[Mapping[str, Check]] = {"last_epoch": Integer(-1)}
    # arguments given per param group, saved under another attribute name
    _saved_per_group: ClassVar[Mapping[str, str]] = {}

    def __init__(self, optimizer: Any, last_epoch: int = -1) -> None:
        self._attach(optimizer)
        self._check_arguments(last_epoch=last_epoch)
        self.base_lrs = self._initial_lrs(last_epoch)
        self.last_epoch = last_epoch
        self._advance()  # the initial step: the lrs of epoch last_epoch + 1

    # --- public API ------------------------------------------------------------------------
    def step(self, epoch: int | None = None) -> None:
        """Move to the next epoch (or to ``epoch``, deprecated) and write the new lrs."""
        self._check_step_order()
        if epoch is not None:
            warnings.warn(_EPOCH_WARNING, UserWarning, stacklevel=2)
        with self._undone_on_error():
            if epoch is None:
                self._advance()
            else:
                self._jump(epoch)

    def get_last_lr(self) -> list[float]:
        """The lr of each param group, as set by the last step."""
        return list(self._last_lr)

    def get_lr(self) -> list[float]:
        """The lr of each group at ``last_epoch``; called by :meth:`step`, which writes them.

        To read the current lrs, use :meth:`get_last_lr`.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def state_dict(self) -> dict[str, Any]:
        """Everything that defines the schedule's position, without the optimizer."""
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                if key not in self._not_saved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the optimizer's lrs come from its own state dict).

        The dict must come from a scheduler of the same kind: unknown or missing entries,
        values outside the ranges the constructor allows, and per-group lists of another
        length raise before anything is changed.
        """
        self._check_state_dict(state_dict)
        self._load(state_dict)

    def _load(self, state_dict: dict[str, Any]) -> None:
        self.__dict__.update(copy.deepcopy(state_dict))

    def _check_state_dict(self, state_dict: Any) -> None:
        """Raise unless ``state_dict`` fits this scheduler (see :meth:`load_state_dict`)."""
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict() expects a dict from state_dict(), got "
                            f"{type(state_dict).__name__}")
        expected = set(self.state_dict())
        unknown = sorted(map(str, set(state_dict) - expected))
        missing = sorted(expected - set(state_dict))
        if unknown or missing:
            parts = ([f"unknown entries {unknown}"] if unknown else []) + (
                [f"missing entries {missing}"] if missing else [])
            raise ValueError(f"{name}.load_state_dict(): the state dict does not come from a "
                             f"{name}: it has {' and '.join(parts)}")
        where = " in the loaded state dict"
        checks = {key: check for key, check in self.argument_checks.items()
                  if key not in self._saved_per_group}
        check_values(name, checks, state_dict, where)
        groups = len(self.optimizer.param_groups)
        per_group = {attr: self.argument_checks[arg]
                     for arg, attr in self._saved_per_group.items()}
        per_group.update(base_lrs=FINITE, _last_lr=FINITE)  # lrs: may end at -1e-17
        for attr, check in per_group.items():
            if attr not in state_dict or (attr == "base_lrs" and state_dict[attr] is None):
                continue
            values = state_dict[attr]
            if not isinstance(values, (list, tuple)) or len(values) != groups:
                raise ValueError(f"{name}: the loaded {attr} must hold one value per param "
                                 f"group ({groups}), got {values!r}")
            check_values(name, {attr: Each(check)}, {attr: values}, where)

    @classmethod
    def _check_arguments(cls, **values: Any) -> dict[str, Any]:
        """Check constructor arguments against :attr:`argument_checks`; return them
        normalised."""
        return check_values(cls.__name__, cls.argument_checks, values)

    def _per_group_checked(self, name: str, value: Any, groups: Sequence[dict[str, Any]]
                           ) -> list[Any]:
        """``value`` (one, or one per group) as a per-group list, each checked."""
        values = _per_group(name, value, groups)
        check = self.argument_checks[name]
        for v in values:
            if not check.accepts(v):
                raise ValueError(f"{type(self).__name__}: invalid {name}: {value!r} (it must "
                                 f"be {check.text}, one value for all param groups or one "
                                 "per group)")
        return [check.normalize(v) for v in values]

    @contextlib.contextmanager
    def _undone_on_error(self) -> Any:
        """Put the scheduler (and the optimizer's lr and momentum) back if a step fails."""
        saved = self._snapshot()
        try:
            yield
        except Exception:
            self._restore(saved)
            raise

    def _snapshot(self) -> Any:
        groups = [{key: group[key] for key in ("lr", "momentum", "betas") if key in group}
                  for group in self.optimizer.param_groups]
        return dict(self.__dict__), groups

    def _restore(self, saved: Any) -> None:
        attributes, groups = saved
        self.__dict__.clear()
        self.__dict__.update(attributes)
        for group, values in zip(self.optimizer.param_groups, groups):
            group.update(values)

    # --- machinery shared by subclasses ------------------------------------------------------
    def _attach(self, optimizer: Any) -> None:
        _param_groups(optimizer)
        self.optimizer = optimizer
        self._checks_step_order = True

    def _initial_lrs(self, last_epoch: int) -> list[float]:
        """The groups' base lrs (``initial_lr``); recorded by the first scheduler attached."""
        groups = self.optimizer.param_groups
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        missing = [i for i, group in enumerate(groups) if "initial_lr" not in group]
        if missing:
            raise KeyError(f"param groups {missing} have no 'initial_lr', needed to resume a "
                           f"schedule at last_epoch={last_epoch}; load the optimizer's state "
                           "dict first, or use last_epoch=-1")
        return [group["initial_lr"] for group in groups]

    def _advance(self) -> None:
        """One step of the schedule: the recursive (chainable) form."""
        self.last_epoch += 1
        self._apply(self.get_lr())

    def _jump(self, epoch: int) -> None:
        """Set the schedule to ``epoch`` with the closed form."""
        self.last_epoch = epoch
        self._apply(self._closed_form_lr())

    def _rewind(self) -> None:
        """Undo the initial step of construction (a composite makes its own)."""
        self.last_epoch -= 1

    def _closed_form_lr(self) -> list[float]:
        """The lrs at ``last_epoch`` computed from ``base_lrs`` alone.

        This default serves the schedules whose :meth:`get_lr` is already a closed form.
        """
        return self.get_lr()

    def _apply(self, lrs: Sequence[float]) -> None:
        lrs = list(lrs)
        for i, lr in enumerate(lrs):  # all checked before any is written
            if not FINITE.accepts(lr):
                raise ValueError(f"{type(self).__name__}: the schedule gives lr={lr!r} for "
                                 f"param group {i} at epoch {self.last_epoch}; a learning rate "
                                 "must be a finite number")
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        self._last_lr = lrs

    def _check_step_order(self) -> None:
        """Warn once, at the first step, if the optimizer has not stepped yet."""
        if self._checks_step_order:
            self._checks_step_order = False
            if not _has_stepped(self.optimizer):
                warnings.warn(_ORDER_WARNING, UserWarning, stacklevel=3)


class LambdaLR(LRScheduler):
    """``lr = base_lr * lr_lambda(epoch)``; one function, or one per param group.

    Function objects (not plain functions or lambdas) have their ``__dict__`` saved in
    :meth:`state_dict`. The function must return a finite number (or a one-element
    tensor): anything else raises, naming the group and the epoch, and the step is undone.
    """

    _not_saved = LRScheduler._not_saved + ("lr_lambdas",)

    def __init__(self, optimizer: Any, lr_lambda: Callable[[int], float] | Sequence[Callable],
                 last_epoch: int = -1) -> None:
        self.lr_lambdas = _per_group_callables("lr_lambda", lr_lambda, optimizer)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * self._factor_of(i, self.last_epoch)
                for i, base in enumerate(self.base_lrs)]

    def _factor_of(self, group: int, epoch: int) -> float:
        """``lr_lambda(epoch)`` of param group ``group``, which must be a finite number."""
        factor = self.lr_lambdas[group](epoch)
        if isinstance(factor, Tensor) and factor.numel() == 1:
            factor = factor.item()
        if not is_number(factor):
            raise TypeError(f"{type(self).__name__}: lr_lambda of param group {group} returned "
                            f"{factor!r} at epoch {epoch}; it must return a number")
        if not math.isfinite(factor):
            raise ValueError(f"{type(self).__name__}: lr_lambda of param group {group} "
                             f"returned {factor!r} at epoch {epoch}; it must return a finite "
                             "number")
        return factor

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "lr_lambdas": _save_callables(self.lr_lambdas)}

    def _check_state_dict(self, state_dict: Any) -> None:
        super()._check_state_dict(state_dict)
        _check_saved_callables(type(self).__name__, "lr_lambdas", state_dict["lr_lambdas"],
                               len(self.lr_lambdas))

    def _load(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        _load_callables(self.lr_lambdas, state_dict.pop("lr_lambdas", None))
        super()._load(state_dict)


class MultiplicativeLR(LambdaLR):
    """``lr_t = lr_{t-1} * lr_lambda(t)`` for t >= 1, i.e. ``base_lr * Π_{i<=t} lr_lambda(i)``."""

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self._factor_of(i, self.last_epoch)
                for i, group in enumerate(groups)]

    def _closed_form_lr(self) -> list[float]:
        return [base * math.prod(self._factor_of(g, i) for i in range(1, self.last_epoch + 1))
                for g, base in enumerate(self.base_lrs)]


class _FactorScheduler(LRScheduler):
    """A schedule ``lr_t = base_lr * closed_factor(t)``, stepped as ``lr_t = lr_{t-1} *
    factor(t)`` so that other changes of the lr carry through (``factor(0)`` scales the lr
    found at construction)."""

    def _factor(self, t: int) -> float:
        raise NotImplementedError

    def _closed_factor(self, t: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        factor = self._factor(self.last_epoch)
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        factor = self._closed_factor(self.last_epoch)
        return [base * factor for base in self.base_lrs]


class StepLR(_FactorScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs:
    ``base_lr * gamma^(t // step_size)``."""

    argument_checks = {**LRScheduler.argument_checks, "step_size": Integer(1),
                       "gamma": POSITIVE}

    def __init__(self, optimizer: Any, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self._check_arguments(step_size=step_size, gamma=gamma)
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def _factor(self, t: int) -> float:
        return self.gamma if t > 0 and t % self.step_size == 0 else 1.0

    def _closed_factor(self, t: int) -> float:
        return self.gamma ** (t // self.step_size)


class MultiStepLR(_FactorScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch (a milestone listed twice counts
    twice): ``base_lr * gamma^(number of milestones <= t)``."""

    argument_checks = {**LRScheduler.argument_checks, "milestones": Each(Integer(0)),
                       "gamma": POSITIVE}

    def __init__(self, optimizer: Any, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        milestones = list(milestones)
        self._check_arguments(milestones=milestones, gamma=gamma)
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _factor(self, t: int) -> float:
        return self.gamma ** self.milestones.count(t)

    def _closed_factor(self, t: int) -> float:
        return self.gamma ** bisect_right(self.milestones, t)


class ConstantLR(_FactorScheduler):
    """``base_lr * factor`` for the first ``total_iters`` epochs, then ``base_lr`` (a constant
    warm-up). ``factor`` must lie in (0, 1]."""

    # factor > 0 (PyTorch allows 0): the recursive form divides by it
    argument_checks = {**LRScheduler.argument_checks, "factor": Real(0, 1, low_open=True),
                       "total_iters": Integer(1)}

    def __init__(self, optimizer: Any, factor: float = 1.0 / 3, total_iters: int = 5,
                 last_epoch: int = -1) -> None:
        self._check_arguments(factor=factor, total_iters=total_iters)
        self.factor, self.total_iters = factor, int(total_iters)
        super().__init__(optimizer, last_epoch)

    def _factor(self, t: int) -> float:
        if t == 0:
            return self.factor
        return 1.0 / self.factor if t == self.total_iters else 1.0

    def _closed_factor(self, t: int) -> float:
        return self.factor if t < self.total_iters else 1.0


class LinearLR(_FactorScheduler):
    """The lr factor moves linearly from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs, then stays: ``base_lr * (s + (e - s) * min(t, T) / T)``.

    A linear warm-up (``end_factor=1``) or a linear decay (``start_factor=1``, ``end_factor<1``).
    """

    argument_checks = {**LRScheduler.argument_checks, "start_factor": Real(0, 1, low_open=True),
                       "end_factor": UNIT, "total_iters": Integer(1)}

    def __init__(self, optimizer: Any, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        self._check_arguments(start_factor=start_factor, end_factor=end_factor,
                              total_iters=total_iters)
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def _factor(self, t: int) -> float:
        s, e, total = self.start_factor, self.end_factor, self.total_iters
        if t == 0:
            return s
        if t > total:
            return 1.0
        return 1.0 + (e - s) / (total * s + (t - 1) * (e - s))

    def _closed_factor(self, t: int) -> float:
        s, e = self.start_factor, self.end_factor
        return s + (e - s) * min(t, self.total_iters) / self.total_iters


class ExponentialLR(_FactorScheduler):
    """Multiply the lr by ``gamma`` every epoch: ``base_lr * gamma^t``."""

    argument_checks = {**LRScheduler.argument_checks, "gamma": POSITIVE}

    def __init__(self, optimizer: Any, gamma: float, last_epoch: int = -1) -> None:
        self._check_arguments(gamma=gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _factor(self, t: int) -> float:
        return 1.0 if t == 0 else self.gamma

    def _closed_factor(self, t: int) -> float:
        return self.gamma ** t


class ExponentialDecayLR(ExponentialLR):
    """Exponential decay by a continuous rate: ``base_lr * exp(-decay_rate * t)``.

    The same schedule as ``ExponentialLR(gamma=exp(-decay_rate))``, parametrised as in the
    literature (and Keras' ``ExponentialDecay`` with ``decay_steps=1``).
    """

    argument_checks = {**ExponentialLR.argument_checks, "decay_rate": NONNEGATIVE}

    def __init__(self, optimizer: Any, decay_rate: float, last_epoch: int = -1) -> None:
        self._check_arguments(decay_rate=decay_rate)
        self.decay_rate = decay_rate
        super().__init__(optimizer, math.exp(-self.decay_rate), last_epoch)

    def _closed_factor(self, t: int) -> float:
        return math.exp(-self.decay_rate * t)


class InverseTimeLR(_FactorScheduler):
    """The 1/t decay of stochastic approximation: ``base_lr / (1 + decay_rate * t)``.

    Robbins & Monro's (1951) conditions (Σ lr = ∞, Σ lr² < ∞) hold for this decay; Keras
    calls it ``InverseTimeDecay``. PyTorch has no class for it (``LambdaLR`` can express it).
    """

    argument_checks = {**LRScheduler.argument_checks, "decay_rate": NONNEGATIVE}

    def __init__(self, optimizer: Any, decay_rate: float, last_epoch: int = -1) -> None:
        self._check_arguments(decay_rate=decay_rate)
        self.decay_rate = decay_rate
        super().__init__(optimizer, last_epoch)

    def _factor(self, t: int) -> float:
        k = self.decay_rate
        return 1.0 if t == 0 else (1.0 + k * (t - 1)) / (1.0 + k * t)

    def _closed_factor(self, t: int) -> float:
        return 1.0 / (1.0 + self.decay_rate * t)


class PolynomialLR(_FactorScheduler):
    """Decay to 0 over ``total_iters`` epochs: ``base_lr * (1 - min(t, T) / T)^power``."""

    argument_checks = {**LRScheduler.argument_checks, "total_iters": Integer(1),
                       "power": NONNEGATIVE}

    def __init__(self, optimizer: Any, total_iters: int = 5, power: float = 1.0,
                 last_epoch: int = -1) -> None:
        self._check_arguments(total_iters=total_iters, power=power)
        self.total_iters, self.power = int(total_iters), power
        super().__init__(optimizer, last_epoch)

    def _factor(self, t: int) -> float:
        total = self.total_iters
        if t == 0 or t > total:
            return 1.0
        return ((1.0 - t / total) / (1.0 - (t - 1) / total)) ** self.power

    def _closed_factor(self, t: int) -> float:
        return (1.0 - min(t, self.total_iters) / self.total_iters) ** self.power


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing (Loshchilov & Hutter 2017, "SGDR"), without restarts::

        lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    It is not clamped at ``T_max``: the lr rises again, with period ``2 * T_max``. Stepped
    recursively as in PyTorch, ``lr_t = eta_min + (lr_{t-1} - eta_min) * (1 + cos(pi t /
    T_max)) / (1 + cos(pi (t-1) / T_max))``, which equals the formula above while nothing
    else changes the lr, and carries such changes otherwise. Where the ratio's denominator
    is 0 (after the minimum) PyTorch adds ``(base_lr - eta_min) * (1 - cos(pi / T_max)) / 2``
    instead; so does this class, so the lrs agree with PyTorch's in every case.
    """

    argument_checks = {**LRScheduler.argument_checks, "T_max": Integer(1),
                       "eta_min": NONNEGATIVE}

    def __init__(self, optimizer: Any, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self._check_arguments(T_max=T_max, eta_min=eta_min)
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if t == 0:
            return [group["lr"] for group in groups]
        if (t - 1 - period) % (2 * period) == 0:
            rise = (1.0 - math.cos(math.pi / period)) / 2.0
            return [group["lr"] + (base - eta_min) * rise
                    for base, group in zip(self.base_lrs, groups)]
        ratio = ((1.0 + math.cos(math.pi * t / period))
                 / (1.0 + math.cos(math.pi * (t - 1) / period)))
        return [eta_min + (group["lr"] - eta_min) * ratio for group in groups]

    def _closed_form_lr(self) -> list[float]:
        cosine = (1.0 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2.0
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing with warm restarts (Loshchilov & Hutter 2017, "SGDR")::

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    ``T_cur`` counts the epochs since the last restart; the first cycle lasts ``T_0`` epochs,
    each next one ``T_mult`` times longer. ``step(epoch)`` accepts fractional epochs, for
    restarts within an epoch: call ``step(epoch + i / iters_per_epoch)`` after each batch.
    The lr is computed from ``base_lrs`` (not chainable).
    """

    argument_checks = {**LRScheduler.argument_checks, "T_0": Integer(1), "T_mult": Integer(1),
                       "eta_min": NONNEGATIVE, "T_i": Integer(1), "T_cur": Real(-1)}

    def __init__(self, optimizer: Any, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self._check_arguments(T_0=T_0, T_mult=T_mult, eta_min=eta_min)
        self.T_0, self.T_mult, self.eta_min = int(T_0), int(T_mult), eta_min
        self.T_i = self.T_0
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or go to ``epoch`` (a number >= 0, possibly fractional)."""
        self._check_step_order()
        with self._undone_on_error():
            if epoch is None:
                self._advance()
            else:
                self._jump(epoch)

    def get_lr(self) -> list[float]:
        cosine = (1.0 + math.cos(math.pi * self.T_cur / self.T_i)) / 2.0
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]

    def _advance(self) -> None:
        self.T_cur += 1
        if self.T_cur >= self.T_i:
            self.T_cur -= self.T_i
            self.T_i *= self.T_mult
        super()._advance()

    def _jump(self, epoch: float) -> None:
        if not isinstance(epoch, numbers.Real) or not epoch >= 0:
            raise ValueError(f"epoch must be a number >= 0, got {epoch!r}")
        t_cur, t_i = epoch, self.T_0
        if self.T_mult == 1:
            t_cur = epoch % self.T_0
        else:
            while t_cur >= t_i:  # cycle lengths grow geometrically: few iterations
                t_cur -= t_i
                t_i *= self.T_mult
        self.T_cur, self.T_i = t_cur, t_i
        self.last_epoch = math.floor(epoch)
        self._apply(self.get_lr())

    def _rewind(self) -> None:
        super()._rewind()
        self.T_cur -= 1


class _MomentumCycling(LRScheduler):
    """Shared by the cyclical schedules, which move momentum (or Adam's beta1) against the
    lr: high momentum while the lr is low and the other way round (Smith 2018, "A
    disciplined approach to neural network hyper-parameters")."""

    _momentum_key: str | None = None
    # momentum (or beta1) in [0, 1): what every optimizer with one accepts
    argument_checks = {**LRScheduler.argument_checks, "base_momentum": BETA,
                       "max_momentum": BETA}
    _saved_per_group = {"base_momentum": "base_momentums", "max_momentum": "max_momentums"}

    def _init_momentum(self, optimizer: Any, cycle_momentum: bool, base_momentum: Any,
                       max_momentum: Any, last_epoch: int) -> None:
        self.cycle_momentum = bool(cycle_momentum)
        if not self.cycle_momentum:
            return
        groups = optimizer.param_groups
        if all("betas" in group for group in groups):
            self._momentum_key = "betas"
        elif all("momentum" in group for group in groups):
            self._momentum_key = "momentum"
        else:
            raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` "
                             "option enabled (or pass cycle_momentum=False)")
        self.base_momentums = self._per_group_checked("base_momentum", base_momentum, groups)
        self.max_momentums = self._per_group_checked("max_momentum", max_momentum, groups)
        if last_epoch == -1:
            for group, momentum in zip(groups, self.max_momentums):
                self._write_momentum(group, momentum)

    def _momenta(self) -> list[float]:
        raise NotImplementedError

    def _apply(self, lrs: Sequence[float]) -> None:
        super()._apply(lrs)
        if self.cycle_momentum:
            for group, momentum in zip(self.optimizer.param_groups, self._momenta()):
                self._write_momentum(group, momentum)

    def _write_momentum(self, group: dict[str, Any], momentum: float) -> None:
        if self._momentum_key == "betas":
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum


class CyclicLR(_MomentumCycling):
    """Cyclical learning rates (Smith 2017, "Cyclical Learning Rates for Training Neural
    Networks"), stepped once per batch.

    The lr moves linearly from ``base_lr`` up to ``max_lr`` in ``step_size_up`` steps and
    back in ``step_size_down`` (default: the same), the amplitude scaled per cycle or per
    step by ``mode``: ``"triangular"`` (constant), ``"triangular2"`` (halved every cycle),
    ``"exp_range"`` (``gamma ** step``), or a custom ``scale_fn`` with ``scale_mode``.
    Construction sets every group's lr to ``base_lr``. With ``cycle_momentum`` (the default,
    as in PyTorch) momentum or beta1 moves the opposite way between ``max_momentum`` and
    ``base_momentum`` — which switches momentum on for ``SGD(momentum=0)``.
    """

    _not_saved = _MomentumCycling._not_saved + ("scale_fn",)
    # mode is checked even with a scale_fn (PyTorch then ignores it)
    argument_checks = {**_MomentumCycling.argument_checks, "base_lr": NONNEGATIVE,
                       "max_lr": NONNEGATIVE, "step_size_up": POSITIVE,
                       "step_size_down": Maybe(POSITIVE),
                       "mode": Choice("triangular", "triangular2", "exp_range"),
                       "gamma": POSITIVE, "scale_mode": Choice("cycle", "iterations"),
                       "total_size": POSITIVE, "step_ratio": Real(0, 1, low_open=True,
                                                                  high_open=True)}
    _saved_per_group = {**_MomentumCycling._saved_per_group, "base_lr": "_base_lr",
                        "max_lr": "max_lrs"}

    def __init__(self, optimizer: Any, base_lr: float | Sequence[float],
                 max_lr: float | Sequence[float], step_size_up: float = 2000,
                 step_size_down: float | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.8,
                 max_momentum: float | Sequence[float] = 0.9, last_epoch: int = -1) -> None:
        groups = _param_groups(optimizer)
        arguments = dict(step_size_up=step_size_up, step_size_down=step_size_down, mode=mode,
                         gamma=gamma)
        if scale_fn is not None:  # otherwise mode sets scale_mode, as in PyTorch
            arguments["scale_mode"] = scale_mode
        self._check_arguments(**arguments)
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"CyclicLR: scale_fn must be a function, got "
                            f"{type(scale_fn).__name__}")
        if cycle_momentum:  # checked before anything is written into the groups
            self._per_group_checked("base_momentum", base_momentum, groups)
            self._per_group_checked("max_momentum", max_momentum, groups)
        self._base_lr = self._per_group_checked("base_lr", base_lr, groups)
        self.max_lrs = self._per_group_checked("max_lr", max_lr, groups)
        up = step_size_up
        down = up if step_size_down is None else step_size_down
        self.total_size = float(up + down)
        self.step_ratio = up / self.total_size
        if scale_fn is None:
            scale_mode = "iterations" if mode == "exp_range" else "cycle"
        self.mode, self.gamma, self.scale_fn, self.scale_mode = mode, gamma, scale_fn, scale_mode
        if last_epoch == -1:
            for group, lr in zip(groups, self._base_lr):
                group["lr"] = lr
        self._init_momentum(optimizer, cycle_momentum, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)

    def _initial_lrs(self, last_epoch: int) -> list[float]:
        super()._initial_lrs(last_epoch)
        return list(self._base_lr)

    def get_lr(self) -> list[float]:
        height = self._height()
        return [base + (peak - base) * height for base, peak in zip(self.base_lrs, self.max_lrs)]

    def _momenta(self) -> list[float]:
        height = self._height()
        return [peak - (peak - low) * height
                for low, peak in zip(self.base_momentums, self.max_momentums)]

    def _height(self) -> float:
        """Where in [0, 1] between base and max the current step lies, after scaling."""
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        x = 1.0 + t / self.total_size - cycle
        rising = x <= self.step_ratio
        position = x / self.step_ratio if rising else (x - 1) / (self.step_ratio - 1)
        return position * self._scale(cycle if self.scale_mode == "cycle" else t)

    def _scale(self, x: float) -> float:
        if self.scale_fn is not None:
            return self.scale_fn(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1.0 / 2.0 ** (x - 1)
        return self.gamma ** x

    def state_dict(self) -> dict[str, Any]:
        saved = _save_callables([self.scale_fn]) if self.scale_fn is not None else None
        return {**super().state_dict(), "scale_fn": saved}

    def _check_state_dict(self, state_dict: Any) -> None:
        super()._check_state_dict(state_dict)
        saved = state_dict["scale_fn"]
        if (saved is None) != (self.scale_fn is None):
            raise ValueError("CyclicLR: the loaded state dict comes from a CyclicLR "
                             f"{'without' if saved is None else 'with'} a scale_fn, this one "
                             f"has {'one' if self.scale_fn is not None else 'none'}")
        if saved is not None:
            _check_saved_callables("CyclicLR", "scale_fn", saved, 1)

    def _load(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        saved = state_dict.pop("scale_fn", None)
        if self.scale_fn is not None:
            _load_callables([self.scale_fn], saved)
        super()._load(state_dict)


class OneCycleLR(_MomentumCycling):
    """The 1cycle policy (Smith & Topin 2019, "Super-Convergence"), stepped once per batch.

    The lr rises from ``max_lr / div_factor`` to ``max_lr`` over the first ``pct_start`` of
    ``total_steps`` (or ``epochs * steps_per_epoch``), then anneals to ``initial_lr /
    final_div_factor``; ``three_phase=True`` first comes back down to the initial lr
    symmetrically, as in the paper. ``anneal_strategy`` is ``"cos"`` or ``"linear"``.
    Momentum (or beta1) moves between ``max_momentum`` and ``base_momentum`` against the lr.
    Stepping past ``total_steps`` raises ``ValueError``. The values are computed from the
    per-group ``initial_lr``/``max_lr``/``min_lr`` it stores in the groups (not chainable).
    """

    argument_checks = {**_MomentumCycling.argument_checks, "max_lr": NONNEGATIVE,
                       "total_steps": Maybe(Integer(1)), "epochs": Maybe(Integer(1)),
                       "steps_per_epoch": Maybe(Integer(1)), "pct_start": UNIT,
                       "anneal_strategy": Choice("cos", "linear"), "div_factor": POSITIVE,
                       "final_div_factor": POSITIVE}

    def __init__(self, optimizer: Any, max_lr: float | Sequence[float],
                 total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85,
                 max_momentum: float | Sequence[float] = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        groups = _param_groups(optimizer)
        self._check_arguments(total_steps=total_steps, epochs=epochs,
                              steps_per_epoch=steps_per_epoch, pct_start=pct_start,
                              anneal_strategy=anneal_strategy, div_factor=div_factor,
                              final_div_factor=final_div_factor)
        if total_steps is not None:
            self.total_steps = int(total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = int(epochs) * int(steps_per_epoch)
        else:
            raise ValueError("OneCycleLR needs total_steps, or both epochs and steps_per_epoch")
        peaks = self._per_group_checked("max_lr", max_lr, groups)
        if cycle_momentum:  # checked before anything is written into the groups
            self._per_group_checked("base_momentum", base_momentum, groups)
            self._per_group_checked("max_momentum", max_momentum, groups)
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        self._phases = self._make_phases(pct_start * self.total_steps)
        if last_epoch == -1:
            for group, peak in zip(groups, peaks):
                group["initial_lr"] = peak / div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self._init_momentum(optimizer, cycle_momentum, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, last_epoch)

    def _make_phases(self, warmup: float) -> list[tuple[float, str, str, str, str]]:
        """(last step, lr from, lr to, momentum from, momentum to) of each phase."""
        last = self.total_steps - 1.0
        if self.three_phase:
            return [(warmup - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                    (2 * warmup - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                    (last, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        return [(warmup - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                (last, "max_lr", "min_lr", "base_momentum", "max_momentum")]

    def _position(self) -> tuple[int, float]:
        """The current phase and the fraction of it done."""
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"Tried to step {t} times. The specified number of total steps "
                             f"is {self.total_steps}")
        start = 0.0
        for index, (end, *_) in enumerate(self._phases):
            if t <= end or index == len(self._phases) - 1:
                return index, (t - start) / (end - start) if end > start else 1.0
            start = end
        raise AssertionError("unreachable: the last phase always matches")

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
        return start + (end - start) * pct

    def get_lr(self) -> list[float]:
        index, pct = self._position()
        _, lr_from, lr_to, _, _ = self._phases[index]
        return [self._anneal(group[lr_from], group[lr_to], pct)
                for group in self.optimizer.param_groups]

    def _momenta(self) -> list[float]:
        index, pct = self._position()
        _, _, _, m_from, m_to = self._phases[index]
        ends = {"base_momentum": self.base_momentums, "max_momentum": self.max_momentums}
        return [self._anneal(start, end, pct) for start, end in zip(ends[m_from], ends[m_to])]


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric has stopped improving.

    ``step(metric)`` after each validation. A value improves on the best so far when it is
    lower (``mode="min"``) or higher (``"max"``) by more than ``threshold``, relative
    (``"rel"``: ``best * (1 ∓ threshold)``) or absolute (``"abs"``: ``best ∓ threshold``).
    After more than ``patience`` epochs without improvement the lr of each group becomes
    ``max(lr * factor, min_lr)`` (changes smaller than ``eps`` are skipped), and the next
    ``cooldown`` epochs are not counted.

    A metric that is not a number (or a one-element tensor) raises ``TypeError``, a NaN or
    infinite one ``ValueError``, before anything changes: a diverged loss is an error to
    see, not an epoch without improvement.
    """

    argument_checks = {"last_epoch": Integer(0), "mode": Choice("min", "max"),
                       "factor": Real(0, 1, high_open=True), "patience": Integer(0),
                       "threshold": NONNEGATIVE, "threshold_mode": Choice("rel", "abs"),
                       "cooldown": Integer(0), "min_lr": NONNEGATIVE, "eps": NONNEGATIVE,
                       "best": Real(allow_inf=True), "num_bad_epochs": Integer(0),
                       "cooldown_counter": Integer(0)}
    _saved_per_group = {"min_lr": "min_lrs"}

    def __init__(self, optimizer: Any, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | Sequence[float] = 0,
                 eps: float = 1e-8) -> None:
        self._attach(optimizer)
        groups = optimizer.param_groups
        self._check_arguments(mode=mode, factor=factor, patience=patience, threshold=threshold,
                              threshold_mode=threshold_mode, cooldown=cooldown, eps=eps)
        self.factor, self.mode, self.threshold_mode = factor, mode, threshold_mode
        self.patience, self.cooldown = int(patience), int(cooldown)
        self.threshold, self.eps = threshold, eps
        self.min_lrs = self._per_group_checked("min_lr", min_lr, groups)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in groups]

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """Record one epoch's ``metrics`` (a number or one-element tensor) and maybe reduce."""
        current = _metric_value(metrics)
        self._check_step_order()
        if epoch is None:
            self.last_epoch += 1
        else:
            warnings.warn(_EPOCH_WARNING, UserWarning, stacklevel=2)
            self.last_epoch = epoch
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_better(self, value: float) -> bool:
        relative = self.threshold_mode == "rel"
        if self.mode == "min":
            bar = self.best * (1.0 - self.threshold) if relative else self.best - self.threshold
            return value < bar
        bar = self.best * (1.0 + self.threshold) if relative else self.best + self.threshold
        return value > bar

    def _reduce(self) -> None:
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old = group["lr"]
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new


def _metric_value(metrics: Any) -> float:
    """``metrics`` as a float: a finite number, or a tensor or array with one element."""
    value = metrics
    if isinstance(value, Tensor) or backend.is_array(value):
        count = value.numel() if isinstance(value, Tensor) else value.size
        if count != 1:
            raise TypeError(f"ReduceLROnPlateau.step(): the metric must be a number or a tensor "
                            f"with one element, got shape {tuple(value.shape)}")
        value = value.item()
    if not is_number(value):
        raise TypeError(f"ReduceLROnPlateau.step(): the metric must be a number (or a tensor "
                        f"with one element), got {metrics!r} of type {type(metrics).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"ReduceLROnPlateau.step(): the metric is {value}; it must be finite "
                         "(a NaN or infinite loss usually means the training diverged)")
    return value


class _Composite(LRScheduler):
    """A scheduler that steps child schedulers; its state dict holds theirs."""

    _not_saved = LRScheduler._not_saved + ("_schedulers",)
    _schedulers: list[LRScheduler]

    def step(self) -> None:  # type: ignore[override]
        """Step the schedule (composites take no epoch)."""
        self._check_step_order()
        with self._undone_on_error():
            self._advance()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(),
                "_schedulers": [s.state_dict() for s in self._schedulers]}

    def _check_state_dict(self, state_dict: Any) -> None:
        super()._check_state_dict(state_dict)
        saved = state_dict["_schedulers"]
        if not isinstance(saved, (list, tuple)) or len(saved) != len(self._schedulers):
            raise ValueError(f"{type(self).__name__}: the loaded state dict must hold the "
                             f"states of {len(self._schedulers)} schedulers, got "
                             f"{len(saved) if isinstance(saved, (list, tuple)) else saved!r}")
        for scheduler, child in zip(self._schedulers, saved):
            scheduler._check_state_dict(child)

    def _load(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        for scheduler, saved in zip(self._schedulers, state_dict.pop("_schedulers")):
            scheduler._load(saved)
        super()._load(state_dict)

    def _snapshot(self) -> Any:
        return super()._snapshot(), [dict(s.__dict__) for s in self._schedulers]

    def _restore(self, saved: Any) -> None:
        own, children = saved
        for scheduler, attributes in zip(self._schedulers, children):
            scheduler.__dict__.clear()
            scheduler.__dict__.update(attributes)
        super()._restore(own)


class SequentialLR(_Composite):
    """Run ``schedulers`` one after another, switching at the ``milestones`` epochs.

    Scheduler ``i + 1`` starts at epoch ``milestones[i]`` from its own epoch 0, i.e. from the
    base lr. The usual warm-up then decay::

        SequentialLR(opt, [LinearLR(opt, 0.01, total_iters=5), CosineAnnealingLR(opt, 95)],
                     milestones=[5])

    (see :func:`warmup_cosine`). Construction undoes the children's own initial steps.
    """

    argument_checks = {**LRScheduler.argument_checks, "milestones": Each(Integer(0)),
                       "_milestones": Each(Integer(0))}

    def __init__(self, optimizer: Any, schedulers: Sequence[LRScheduler],
                 milestones: Sequence[int], last_epoch: int = -1) -> None:
        self._attach(optimizer)
        self._schedulers = _check_children("SequentialLR", schedulers, optimizer)
        milestones = list(milestones)
        self._check_arguments(milestones=milestones, last_epoch=last_epoch)
        milestones = [int(m) for m in milestones]
        if len(milestones) != len(self._schedulers) - 1:
            raise ValueError(f"SequentialLR needs one milestone fewer than schedulers: got "
                             f"{len(self._schedulers)} schedulers and {len(milestones)} "
                             "milestones")
        if any(a >= b for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"SequentialLR: invalid milestones: {milestones} (they must "
                             "increase)")
        self._milestones = milestones
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:
            scheduler._rewind()
        first = self._schedulers[bisect_right(milestones, self.last_epoch)]
        first._advance()
        self._last_lr = first.get_last_lr()

    def _advance(self) -> None:
        self.last_epoch += 1
        index = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self._milestones[index - 1] == self.last_epoch:
            scheduler._jump(0)
        else:
            scheduler._advance()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Step several schedulers together; their effects multiply through the recursive forms.

    E.g. ``ChainedScheduler([ConstantLR(opt, 0.1, 2), ExponentialLR(opt, 0.9)])``: a tenth
    of the decayed lr for two epochs, then the decay alone.
    """

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Any = None) -> None:
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError("ChainedScheduler needs at least one scheduler")
        optimizer = schedulers[0].optimizer if optimizer is None else optimizer
        self._attach(optimizer)
        self._schedulers = _check_children("ChainedScheduler", schedulers, optimizer)
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _advance(self) -> None:
        for scheduler in self._schedulers:
            scheduler._advance()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class _ClosedFormScheduler(LRScheduler):
    """A schedule ``lr_t = f(base_lr, t)`` computed from each group's base lr alone (not
    chainable: a hand-made change of the lr lasts until the next step)."""

    def _lr_at(self, group: int, base: float, t: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        return [self._lr_at(i, base, self.last_epoch) for i, base in enumerate(self.base_lrs)]


class WarmupStableDecayLR(_ClosedFormScheduler):
    """Warmup-stable-decay ("WSD"; Hu et al. 2024, "MiniCPM"; Hägele et al. 2024, "Scaling
    Laws and Compute-Optimal Training Beyond Fixed Training Durations").

    Three phases, then a constant tail, for a group with base lr ``b`` at epoch ``t``::

        t < W:               b * (s + (1 - s) * t / W)          linear warm-up
        W <= t < W + S:      b                                   stable
        W + S <= t < W + S + D:  b * (e + (1 - e) * g(p)),  p = (t - W - S) / D
        t >= W + S + D:      b * e

    with ``W = warmup_steps``, ``S = stable_steps``, ``D = decay_steps``, ``s =
    start_factor`` (default ``1 / (W + 1)``, as :func:`warmup_cosine`: the lr climbs
    ``b / (W + 1)`` per step and never starts at 0), ``e = end_factor`` (default 0) and the
    decay shape ``g`` chosen by ``anneal_strategy`` (OneCycleLR's and SWALR's argument name):
    ``"linear"`` ``1 - p``, ``"cos"`` ``(1 + cos(pi p)) / 2``, or ``"1-sqrt"`` ``1 -
    sqrt(p)`` (the default: the cool-down Hägele et al. found best). The stable phase can be
    stopped at any checkpoint and a short decay run from there; that is the point of WSD.
    Any phase may have length 0. Closed form of ``base_lrs`` (not chainable). Hugging Face
    transformers' ``get_wsd_schedule(num_warmup_steps=W, num_stable_steps=S,
    num_decay_steps=D, decay_type=..., min_lr_ratio=r)`` (linear warm-up) is this schedule
    with ``start_factor=end_factor=r`` (its ``"cosine"`` is ``"cos"``); the tests check the
    two agree.
    """

    argument_checks = {**LRScheduler.argument_checks, "warmup_steps": Integer(0),
                       "stable_steps": Integer(0), "decay_steps": Integer(0),
                       "anneal_strategy": Choice("linear", "cos", "1-sqrt"),
                       "start_factor": Maybe(UNIT), "end_factor": UNIT}

    def __init__(self, optimizer: Any, warmup_steps: int, stable_steps: int, decay_steps: int,
                 anneal_strategy: str = "1-sqrt", start_factor: float | None = None,
                 end_factor: float = 0.0, last_epoch: int = -1) -> None:
        self._check_arguments(warmup_steps=warmup_steps, stable_steps=stable_steps,
                              decay_steps=decay_steps, anneal_strategy=anneal_strategy,
                              start_factor=start_factor, end_factor=end_factor)
        self.warmup_steps, self.stable_steps = int(warmup_steps), int(stable_steps)
        self.decay_steps = int(decay_steps)
        self.anneal_strategy = anneal_strategy
        self.start_factor = (1.0 / (self.warmup_steps + 1) if start_factor is None
                             else float(start_factor))
        self.end_factor = float(end_factor)
        super().__init__(optimizer, last_epoch)

    def _factor(self, t: int) -> float:
        warmup, stable, decay = self.warmup_steps, self.stable_steps, self.decay_steps
        end = self.end_factor
        if t >= warmup + stable + decay:
            return end
        if t < warmup:
            return self.start_factor + (1.0 - self.start_factor) * t / warmup
        if t < warmup + stable:
            return 1.0
        p = (t - warmup - stable) / decay
        if self.anneal_strategy == "linear":
            shape = 1.0 - p
        elif self.anneal_strategy == "cos":
            shape = (1.0 + math.cos(math.pi * p)) / 2.0
        else:
            shape = 1.0 - math.sqrt(p)
        return end + (1.0 - end) * shape

    def _lr_at(self, group: int, base: float, t: int) -> float:
        return base * self._factor(t)


class InverseSqrtLR(_ClosedFormScheduler):
    """Inverse-square-root decay after a linear warm-up (Vaswani et al. 2017, "Attention Is
    All You Need"), in the form of fairseq's ``inverse_sqrt`` scheduler::

        t < W:   lr_t = init + (b - init) * t / W
        t >= W:  lr_t = b * sqrt(W) / sqrt(t)

    for a group with base lr ``b`` (the peak, reached at ``t = W = warmup_steps``) and
    ``init = warmup_init_lr`` (one value or one per group; default 0, as fairseq's, so the
    very first step has lr 0 unless you give one). ``t`` counts the updates done, as
    fairseq's ``num_updates``: the lr of epoch ``t`` is the one the ``t+1``-th
    ``optimizer.step()`` uses. The Transformer's ``d^-0.5 min(s^-0.5, s W^-1.5)`` is this
    schedule with peak ``b = (d W)^-0.5``, counted from ``s = t`` (its lr at step 0, also
    0, is the same). ``warmup_steps`` must be >= 1 (fairseq divides by it and its
    ``warmup_updates=0`` gives lr 0 forever). Closed form of ``base_lrs`` (not chainable).
    transformers' ``get_inverse_sqrt_schedule(num_warmup_steps=W)`` is the same schedule with
    ``warmup_init_lr=0``.
    """

    argument_checks = {**LRScheduler.argument_checks, "warmup_steps": Integer(1),
                       "warmup_init_lr": NONNEGATIVE}
    _saved_per_group = {"warmup_init_lr": "warmup_init_lrs"}

    def __init__(self, optimizer: Any, warmup_steps: int = 4000,
                 warmup_init_lr: float | Sequence[float] = 0.0, last_epoch: int = -1) -> None:
        groups = _param_groups(optimizer)
        self._check_arguments(warmup_steps=warmup_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_init_lrs = self._per_group_checked("warmup_init_lr", warmup_init_lr, groups)
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, group: int, base: float, t: int) -> float:
        warmup = self.warmup_steps
        if t < warmup:
            init = self.warmup_init_lrs[group]
            return init + t * ((base - init) / warmup)
        return base * warmup ** 0.5 * t ** -0.5


class Ranger21LR(_ClosedFormScheduler):
    """The learning-rate schedule built into the Ranger21 optimizer (Wright & Demeure 2021,
    "Ranger21: a synergistic deep learning optimizer"; lessw2020/Ranger21), on its own: a
    linear warm-up, a constant middle, a linear warm-down to ``warmdown_min_lr``.

    Ranger21 computes the lr of its step ``s`` (1, 2, ...) from the group lr ``b``; here the
    lr of epoch ``t`` is that of step ``s = t + 1``, the step it is used for::

        warm-up (use_warmup, s <= W):        b * min(1, s / W)
        warm-down (warmdown_active, s >= K): max(m, b - (b - m) * min(1, (s + 1 - K) / (N - K + 1)))

    (the warm-down wins where both apply) with ``N`` the total number of steps (``total_steps``,
    or ``epochs * steps_per_epoch`` as Ranger21's ``num_epochs * num_batches_per_epoch``),
    ``m = warmdown_min_lr`` (absolute, for every group; default 3e-5) and ``K =
    int(warmdown_start_pct * N)`` (computed as ``int(pct * epochs * steps_per_epoch)`` when
    given so, to round as Ranger21 does). ``W = num_warmup_iterations`` if given, else
    Ranger21's rule: ``ceil(2 / (1 - beta2))`` (Ma & Yarats 2019's untuned warm-up for
    Adam's ``beta2``), unless that is more than 45% of ``N``, then ``int(warmup_pct_default
    * N)``. Past ``N`` the lr stays at ``m``.

    Differences from Ranger21 (deliberate): each group's own lr is warmed down (Ranger21
    warms every group down from the lr given to its constructor), and an lr reaching 0 is
    allowed (Ranger21 asserts ``lr > 0``, so it fails at the end of a warm-down to
    ``warmdown_min_lr=0``). Closed form of ``base_lrs`` (not chainable).
    """

    argument_checks = {**LRScheduler.argument_checks, "total_steps": Maybe(Integer(1)),
                       "epochs": Maybe(Integer(1)), "steps_per_epoch": Maybe(Integer(1)),
                       "num_warmup_iterations": Maybe(Integer(0)), "warmup_pct_default": UNIT,
                       "beta2": BETA, "warmdown_start_pct": UNIT,
                       "warmdown_min_lr": NONNEGATIVE}

    def __init__(self, optimizer: Any, total_steps: int | None = None, epochs: int | None = None,
                 steps_per_epoch: int | None = None, use_warmup: bool = True,
                 num_warmup_iterations: int | None = None, warmup_pct_default: float = 0.22,
                 beta2: float = 0.999, warmdown_active: bool = True,
                 warmdown_start_pct: float = 0.72, warmdown_min_lr: float = 3e-5,
                 last_epoch: int = -1) -> None:
        self._check_arguments(total_steps=total_steps, epochs=epochs,
                              steps_per_epoch=steps_per_epoch,
                              num_warmup_iterations=num_warmup_iterations,
                              warmup_pct_default=warmup_pct_default, beta2=beta2,
                              warmdown_start_pct=warmdown_start_pct,
                              warmdown_min_lr=warmdown_min_lr)
        if total_steps is not None:
            self.total_steps = int(total_steps)
            start = warmdown_start_pct * self.total_steps
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = int(epochs) * int(steps_per_epoch)
            start = warmdown_start_pct * epochs * steps_per_epoch  # Ranger21's rounding
        else:
            raise ValueError("Ranger21LR needs total_steps, or both epochs and steps_per_epoch")
        self.use_warmup, self.warmdown_active = bool(use_warmup), bool(warmdown_active)
        if num_warmup_iterations is not None:
            self.num_warmup_iters = int(num_warmup_iterations)
        else:
            beta_warmup = math.ceil(2 / (1 - beta2))
            if beta_warmup / self.total_steps > 0.45:
                beta_warmup = int(warmup_pct_default * self.total_steps)
            self.num_warmup_iters = beta_warmup
        self.start_warm_down = int(start)
        self.warmdown_min_lr = warmdown_min_lr
        super().__init__(optimizer, last_epoch)

    def _lr_at(self, group: int, base: float, t: int) -> float:
        s = t + 1
        lr = base
        if self.use_warmup and s <= self.num_warmup_iters:
            lr = base * min(1.0, s / self.num_warmup_iters)
        start = self.start_warm_down
        if self.warmdown_active and s >= start:
            pct = min(1.0, (s + 1 - start) / (self.total_steps - start + 1))
            lr = max(self.warmdown_min_lr, base - (base - self.warmdown_min_lr) * pct)
        return lr


def warmup_cosine(optimizer: Any, warmup_steps: int, total_steps: int, eta_min: float = 0.0,
                  start_factor: float | None = None) -> SequentialLR:
    """Linear warm-up for ``warmup_steps``, then cosine annealing to ``eta_min`` at
    ``total_steps`` (the schedule of most transformer training recipes).

    The warm-up lr is ``base_lr * (s + (1 - s) t / warmup_steps)``; the default ``s`` is
    ``1 / (warmup_steps + 1)``, so the lr climbs ``base_lr / (warmup_steps + 1)`` per step.
    """
    start_factor = _warmup_start("warmup_cosine", warmup_steps, total_steps, start_factor)
    warmup = LinearLR(optimizer, start_factor, 1.0, warmup_steps)
    decay = CosineAnnealingLR(optimizer, total_steps - warmup_steps, eta_min)
    return SequentialLR(optimizer, [warmup, decay], [warmup_steps])


def warmup_linear(optimizer: Any, warmup_steps: int, total_steps: int, end_factor: float = 0.0,
                  start_factor: float | None = None) -> SequentialLR:
    """Linear warm-up for ``warmup_steps`` (as in :func:`warmup_cosine`), then a linear decay
    to ``base_lr * end_factor`` at ``total_steps`` (BERT's schedule with the default 0)."""
    start_factor = _warmup_start("warmup_linear", warmup_steps, total_steps, start_factor)
    warmup = LinearLR(optimizer, start_factor, 1.0, warmup_steps)
    decay = LinearLR(optimizer, 1.0, end_factor, total_steps - warmup_steps)
    return SequentialLR(optimizer, [warmup, decay], [warmup_steps])


# --- helpers --------------------------------------------------------------------------------

def _has_stepped(optimizer: Any) -> bool:
    """Whether ``optimizer.step()`` has been called: a minigrad optimizer counts its steps
    (``_opt_called``); for another object (a wrapper) the optimizers it holds tell. An
    object that cannot tell is taken to have stepped (no warning)."""
    called = getattr(optimizer, "_opt_called", None)
    if called is not None:
        return bool(called)
    inner = [v for v in getattr(optimizer, "__dict__", {}).values()
             if getattr(v, "_opt_called", None) is not None]
    return not inner or any(v._opt_called for v in inner)


def _param_groups(optimizer: Any) -> list[dict[str, Any]]:
    """The optimizer's param groups, checked: a scheduler needs at least one, each with an lr."""
    groups = getattr(optimizer, "param_groups", None)
    if groups is None:
        raise TypeError(f"a scheduler needs an optimizer (an object with param_groups), got "
                        f"{type(optimizer).__name__}")
    if not groups:
        raise ValueError("the optimizer has no param groups, so there is no lr to schedule")
    for i, group in enumerate(groups):
        if "lr" not in group:
            raise ValueError(f"param group {i} has no 'lr' to schedule")
    return groups


def _check_children(owner: str, schedulers: Iterable[Any], optimizer: Any) -> list[LRScheduler]:
    """The schedulers a composite steps, checked; their own step-order checks are handed to
    the composite, so the warning comes once."""
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"{owner} needs at least one scheduler")
    for i, scheduler in enumerate(schedulers):
        if isinstance(scheduler, ReduceLROnPlateau):
            raise ValueError(f"{owner} does not accept ReduceLROnPlateau (scheduler {i}): it "
                             "needs a metric at every step")
        if isinstance(scheduler, (SequentialLR, ChainedScheduler)):
            raise ValueError(f"{owner} does not accept another SequentialLR or "
                             f"ChainedScheduler (scheduler {i})")
        if not isinstance(scheduler, LRScheduler):
            raise TypeError(f"{owner} expects LRSchedulers, got {type(scheduler).__name__} "
                            f"(scheduler {i})")
        if scheduler.optimizer is not optimizer:
            raise ValueError(f"{owner}: scheduler {i} is attached to a different optimizer")
        scheduler._checks_step_order = False
    return schedulers


def _per_group(name: str, value: Any, groups: Sequence[dict[str, Any]]) -> list[Any]:
    """``value`` repeated for each group, or a list/tuple with one value per group."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise ValueError(f"expected {len(groups)} values of {name} (one per param group), "
                             f"got {len(value)}")
        return list(value)
    return [value] * len(groups)


def _per_group_callables(name: str, value: Any, optimizer: Any) -> list[Callable]:
    functions = _per_group(name, value, _param_groups(optimizer))
    for fn in functions:
        if not callable(fn):
            raise TypeError(f"{name} must be a function of the epoch, got {type(fn).__name__}")
    return functions


def _save_callables(functions: Sequence[Callable]) -> list[dict[str, Any] | None]:
    """The state of callable objects (their ``__dict__``); None for plain functions, whose
    code cannot be saved as data."""
    return [None if isinstance(fn, types.FunctionType) else copy.deepcopy(fn.__dict__)
            for fn in functions]


def _check_saved_callables(owner: str, key: str, saved: Any, count: int) -> None:
    """``saved`` must be what :func:`_save_callables` gives for ``count`` functions."""
    if (not isinstance(saved, (list, tuple)) or len(saved) != count
            or not all(entry is None or isinstance(entry, dict) for entry in saved)):
        raise ValueError(f"{owner}: the loaded {key} must be a list of {count} entries, each a "
                         f"dict or None, got {saved!r}")


def _load_callables(functions: Sequence[Callable], saved: Sequence[Any] | None) -> None:
    for fn, state in zip(functions, saved or ()):
        if state is not None:
            fn.__dict__.update(copy.deepcopy(state))


_WARMUP_CHECKS = {"warmup_steps": Integer(1), "total_steps": Integer(1),
                  "start_factor": Maybe(Real(0, 1, low_open=True))}


def _warmup_start(owner: str, warmup_steps: int, total_steps: int,
                  start_factor: float | None) -> float:
    check_values(owner, _WARMUP_CHECKS, dict(warmup_steps=warmup_steps,
                                             total_steps=total_steps,
                                             start_factor=start_factor))
    if total_steps <= warmup_steps:
        raise ValueError(f"{owner}: invalid total_steps: {total_steps!r} (it must be an "
                         f"integer > warmup_steps ({warmup_steps}))")
    return 1.0 / (warmup_steps + 1) if start_factor is None else start_factor
