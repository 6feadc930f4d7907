"""Declarative checks of hyper-parameter values, shared by the optimizers and the schedulers.

An optimizer (or scheduler) states each hyper-parameter's valid values once, as a mapping
from its name to a :class:`Check`; :func:`check_values` applies the mapping wherever values
come in (construction, ``add_param_group``, ``load_state_dict``), so every path enforces the
same rules and raises the same ``ValueError``::

    hyperparameter_checks = {"lr": LR, "betas": Tuple(Real(0, 1, high_open=True), ...)}

The error names the owner, the hyper-parameter, the value and the valid values, e.g.
``Adam: invalid betas: (2.0, 0.9) in param group 1 (it must be a pair (beta1, beta2) of
finite numbers in [0, 1))``. Numbers are Python ints and floats or NumPy scalars, never
bools. Unless a check says otherwise they must be finite: NaN or inf as a hyper-parameter
would turn every updated value into NaN.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterable, Mapping

from minigrad import backend
from minigrad.tensor import Tensor


class Check:
    """A rule for one value: :meth:`accepts` says whether it holds, ``text`` describes it."""

    text = "valid"

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def normalize(self, value: Any) -> Any:
        """The value as it is stored once accepted (e.g. a tuple for a list)."""
        return value

    def accepts_kind(self, value: Any) -> bool:
        """The check without its bounds: a value of the right kind, and finite. Used for
        values written into a param group after it was checked, which a schedule may have
        rounded just past a bound (a linear decay ends at -1e-17)."""
        return self.accepts(value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.text}>"


def is_number(value: Any) -> bool:
    """A real number: a Python int or float (not a bool) or a NumPy integer or float scalar."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, backend.HOST_SCALAR) and value.dtype.kind in "iuf"


def _bound_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


class Real(Check):
    """A real number, finite unless ``allow_inf``, between optional bounds.

    ``tensor=True`` also accepts a one-element Tensor and stores it as a float (``lr``)."""

    def __init__(self, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, allow_inf: bool = False,
                 tensor: bool = False) -> None:
        self.low, self.high = low, high
        self.low_open, self.high_open = low_open, high_open
        self.allow_inf, self.tensor = allow_inf, tensor
        bounds = _bound_text(low, high, low_open, high_open)
        kind = "a number" if allow_inf else "a finite number"
        self.text = f"{kind} {bounds}".rstrip() + (" (inf allowed)" if allow_inf else "")
        if tensor:
            self.text += " (or a tensor of one element)"

    def _scalar(self, value: Any) -> Any:
        if self.tensor and isinstance(value, Tensor):
            return value.item() if value.numel() == 1 else None
        return value

    def accepts(self, value: Any) -> bool:
        value = self._scalar(value)
        if not is_number(value):
            return False
        x = float(value)
        if math.isnan(x) or (math.isinf(x) and not self.allow_inf):
            return False
        if self.low is not None and not (x > self.low if self.low_open else x >= self.low):
            return False
        if self.high is not None and not (x < self.high if self.high_open else x <= self.high):
            return False
        return True

    def normalize(self, value: Any) -> Any:
        if self.tensor:
            return float(self._scalar(value))
        return value

    def accepts_kind(self, value: Any) -> bool:
        value = self._scalar(value)
        if not is_number(value):
            return False
        x = float(value)
        return math.isfinite(x) or (self.allow_inf and not math.isnan(x))


class Integer(Check):
    """An integer (Python or NumPy, not a bool), at least ``low``."""

    def __init__(self, low: int | None = None) -> None:
        self.low = low
        self.text = "an integer" + ("" if low is None else f" >= {low}")

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return False
        return self.low is None or int(value) >= self.low

    def accepts_kind(self, value: Any) -> bool:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class Choice(Check):
    """One of a few given values (compared with ``==``; None by identity)."""

    def __init__(self, *options: Any) -> None:
        self.options = options
        self.text = "one of " + ", ".join(repr(o) for o in options)

    def accepts(self, value: Any) -> bool:
        if value is None:
            return any(o is None for o in self.options)
        if isinstance(value, bool) != any(isinstance(o, bool) for o in self.options):
            return False  # True == 1: a flag must not pass for a number, nor the other way
        try:
            return any(o is not None and type(o) is type(value) and o == value
                       for o in self.options)
        except (TypeError, ValueError):
            return False


class Maybe(Check):
    """None, or a value that ``check`` accepts."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.text = f"None or {check.text}"

    def accepts(self, value: Any) -> bool:
        return value is None or self.check.accepts(value)

    def normalize(self, value: Any) -> Any:
        return None if value is None else self.check.normalize(value)

    def accepts_kind(self, value: Any) -> bool:
        return value is None or self.check.accepts_kind(value)


class Tuple(Check):
    """A tuple or list with one value per check, optionally with a relation between them.

    Stored as a tuple. ``text`` names the parts, e.g. ``"a pair (beta1, beta2) of finite
    numbers in [0, 1)"``; ``relation`` (a function of the values) adds a condition."""

    def __init__(self, *items: Check, text: str,
                 relation: Callable[..., bool] | None = None) -> None:
        self.items, self.relation, self.text = items, relation, text

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, (tuple, list)) or len(value) != len(self.items):
            return False
        if not all(check.accepts(v) for check, v in zip(self.items, value)):
            return False
        return self.relation is None or bool(self.relation(*value))

    def normalize(self, value: Any) -> Any:
        return tuple(check.normalize(v) for check, v in zip(self.items, value))

    def accepts_kind(self, value: Any) -> bool:
        return (isinstance(value, (tuple, list)) and len(value) == len(self.items)
                and all(check.accepts_kind(v) for check, v in zip(self.items, value)))


class Each(Check):
    """A list or tuple (any length) whose every item ``check`` accepts; stored as a list."""

    def __init__(self, check: Check) -> None:
        self.check = check
        self.text = f"a list of values, each {check.text}"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (tuple, list)) and all(self.check.accepts(v) for v in value)

    def normalize(self, value: Any) -> Any:
        return [self.check.normalize(v) for v in value]

    def accepts_kind(self, value: Any) -> bool:
        return isinstance(value, (tuple, list)) and all(self.check.accepts_kind(v) for v in value)


class Rule:
    """A condition tying several hyper-parameters together (e.g. nesterov needs momentum).

    ``holds(values)`` gets the whole mapping (a param group); ``names`` are the entries the
    error message shows."""

    def __init__(self, holds: Callable[[Mapping[str, Any]], bool], text: str,
                 names: Iterable[str]) -> None:
        self.holds, self.text, self.names = holds, text, tuple(names)


# --- the ranges most optimizers share --------------------------------------------------------

LR = Real(0, tensor=True)                         # a learning rate: finite, >= 0
NONNEGATIVE = Real(0)                             # weight decay, eps (where 0 is allowed), ...
POSITIVE = Real(0, low_open=True)
UNIT = Real(0, 1)                                 # [0, 1]: momentum, dampening, rho, alpha
BETA = Real(0, 1, high_open=True)                 # [0, 1): an EMA coefficient
BETAS = Tuple(BETA, BETA, text="a pair (beta1, beta2) of finite numbers in [0, 1)")


def check_values(owner: str, checks: Mapping[str, Check], values: Mapping[str, Any],
                 where: str = "", rules: Iterable[Rule] = ()) -> dict[str, Any]:
    """Check every entry of ``values`` that ``checks`` names, then the ``rules``.

    Returns the checked entries normalised (``values`` itself is not changed). Raises
    ``ValueError`` naming ``owner``, the entry, its value, ``where`` it came from (e.g.
    ``" in param group 1"``) and what is allowed. Entries without a check pass unchecked.
    """
    checked: dict[str, Any] = {}
    for name, check in checks.items():
        if name not in values:
            continue
        value = values[name]
        if not check.accepts(value):
            raise ValueError(f"{owner}: invalid {name}: {value!r}{where} "
                             f"(it must be {check.text})")
        checked[name] = check.normalize(value)
    merged = {**values, **checked}
    for rule in rules:
        if not rule.holds(merged):
            shown = ", ".join(f"{n}={merged.get(n)!r}" for n in rule.names)
            raise ValueError(f"{owner}: invalid {', '.join(rule.names)}: {rule.text}{where}, "
                             f"got {shown}")
    return checked
