"""The base class every minigrad optimizer builds on, shaped like ``torch.optim.Optimizer``.

An optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus every hyper-parameter)
and a per-parameter ``state``. Hyper-parameters are read from the group at every step, so a
scheduler (or the user) changes them by assigning ``group["lr"] = ...``. ``state_dict()`` names
parameters by their position, so a checkpoint can be loaded into an optimizer built again
around new tensors, on another device or with another dtype.
"""
from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from typing import Any, Callable, Iterable

from minigrad import backend
from minigrad.grad_mode import enable_grad, no_grad
from minigrad.tensor import Tensor, bump_version

ParamsT = Iterable[Any]


class _Required:
    """Marks a hyper-parameter that has no default and must be given (``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Updates parameters from their ``.grad``; subclasses define the update rule.

    ``params`` is an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts
    (param groups) each with a ``"params"`` entry and optional hyper-parameters that
    override ``defaults`` for that group.

    Subclasses implement :meth:`_update` (the math for one parameter, in place on
    ``param.array``) and, when buffers are needed, :meth:`_init_state`; an optimizer that must
    see a group whole overrides :meth:`_step_group`, one with its own loop overrides
    :meth:`step`.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors or of dicts (param groups), "
                            "got a single Tensor; wrap it in a list: [tensor]")
        if isinstance(params, dict):
            raise TypeError("params must be an iterable of Tensors or of dicts; to pass one "
                            "param group, wrap the dict in a list: [group]")
        if isinstance(params, (set, frozenset)):
            warnings.warn("params given as a set: their order, and so the indices in "
                          "state_dict(), can change between runs; pass a list",
                          UserWarning, stacklevel=2)
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {value}" for key, value in sorted(group.items())
                      if key not in ("params", "param_names")]
        return "\n".join(lines) + "\n)"

    # --- parameter groups ------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with hyper-parameters defaulting to ``defaults``.

        Useful when fine-tuning: layers unfrozen later join the optimizer as a new group.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"a param group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("a param group needs a 'params' entry")
        group = dict(param_group)
        params, names = _params_and_names(group["params"])
        if names is not None:
            group["param_names"] = names
        for p in params:
            _check_parameter(p)
        if len({id(p) for p in params}) != len(params):
            warnings.warn("a param group holds the same tensor twice; it will be updated twice "
                          "per step", UserWarning, stacklevel=2)
        group["params"] = params
        for key, value in self.defaults.items():
            if value is required and key not in group:
                raise ValueError(f"param group does not give a value for the required "
                                 f"hyper-parameter {key!r}")
            group.setdefault(key, value)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # --- stepping --------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``grad = None`` (default, frees memory) or zero-filled."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = p.grad.detach()
                    p.grad.array.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s value if given.

        ``closure`` re-evaluates the model and returns the loss (it runs with grad enabled,
        so it may call ``backward``); optimizers such as LBFGS need it, others accept it.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        """Apply :meth:`_update` to each parameter of ``group`` that received a gradient."""
        maximize = group.get("maximize", False)
        state_of = self.state
        for p in group["params"]:
            if p.grad is None:
                continue  # no gradient: no state, and the step count does not advance
            grad = p.grad.array
            if maximize:
                grad = -grad
            state = state_of[p]
            if not state:
                state["step"] = 0
                self._init_state(p, state, group)
            state["step"] += 1
            self._update(p, grad, state, group)
            bump_version(p)  # as any in-place write: graphs that saved p now refuse backward

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Create the buffers of ``param`` at its first update (``state["step"]`` exists)."""

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        """Update ``param.array`` in place from ``grad`` (an array, already negated when
        maximizing; never modify it in place). ``state["step"]`` is already advanced."""
        raise NotImplementedError(f"{type(self).__name__} does not define its update rule")

    # --- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

        Parameters are numbered 0, 1, 2, ... in order of appearance across groups; only those
        with state appear under ``"state"``. Arrays are not copied.
        """
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index_of.setdefault(id(p), len(index_of))
            saved["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(saved)
        state = {index_of[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index_of}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by :meth:`state_dict`.

        Saved parameters are matched to this optimizer's by position. Each state array is
        copied onto its parameter's device (and, for floating arrays, into its dtype), so a
        checkpoint saved on the GPU loads on the CPU and the other way round.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {i} of the loaded state dict has "
                                 f"{len(saved['params'])} parameters, this optimizer's has "
                                 f"{len(group['params'])}")
        param_of = {index: p for saved, group in zip(saved_groups, self.param_groups)
                    for index, p in zip(saved["params"], group["params"])}
        self.state = defaultdict(dict)
        for index, saved_state in state_dict["state"].items():
            p = param_of.get(index)
            if p is None:
                continue
            self.state[p] = {key: value if key == "step" else _cast_like(value, p)
                             for key, value in saved_state.items()}
        for saved, group in zip(saved_groups, self.param_groups):
            params = group["params"]
            group.clear()
            group.update(copy.deepcopy({k: v for k, v in saved.items() if k != "params"}))
            group["params"] = params
            for key, value in self.defaults.items():
                group.setdefault(key, value)

    # --- hyper-parameter checks for subclasses -----------------------------------------------
    @staticmethod
    def _validate(name: str, value: Any, ok: bool, rule: str) -> None:
        """Raise ``ValueError`` naming ``name`` unless ``ok`` (``rule`` says what is allowed)."""
        if not ok:
            raise ValueError(f"invalid {name}: {value!r} (it must be {rule})")

    @classmethod
    def _validate_nonnegative(cls, **values: float) -> None:
        """Each keyword argument must be a number >= 0."""
        for name, value in values.items():
            cls._validate(name, value, _is_number(value) and value >= 0, "a number >= 0")

    @classmethod
    def _validate_betas(cls, betas: Any, name: str = "betas") -> None:
        """``betas`` must be a pair of numbers in [0, 1)."""
        ok = (isinstance(betas, (tuple, list)) and len(betas) == 2
              and all(_is_number(b) and 0.0 <= b < 1.0 for b in betas))
        cls._validate(name, betas, ok, "a pair of numbers in [0, 1)")

    @staticmethod
    def _scalar_lr(lr: Any) -> float:
        """``lr`` as a float; a one-element tensor is accepted, a negative value is not."""
        if isinstance(lr, Tensor):
            if lr.numel() != 1:
                raise ValueError(f"a tensor lr must have one element, got shape {lr.shape}")
            lr = lr.item()
        Optimizer._validate("lr", lr, _is_number(lr) and lr >= 0, "a number >= 0")
        return float(lr)


def _params_and_names(params: Any) -> tuple[list[Tensor], list[str] | None]:
    """A group's parameters as a list, and their names when given as (name, tensor) pairs."""
    if isinstance(params, Tensor):
        return [params], None
    if isinstance(params, (set, frozenset)):
        raise TypeError("a param group's params must be an ordered collection (list or "
                        "tuple), not a set: state_dict() relies on their order")
    params = list(params)
    named = [isinstance(item, tuple) for item in params]
    if not any(named):
        return params, None
    if not all(named):
        raise ValueError("all parameters of a group must be named (name, tensor) pairs, "
                         "or none of them")
    return [tensor for _, tensor in params], [name for name, _ in params]


def _check_parameter(p: Any) -> None:
    if not isinstance(p, Tensor):
        raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
    if not p.is_leaf:
        raise ValueError("can't optimize a non-leaf Tensor (it is computed from other "
                         "tensors); optimize the leaves it comes from")
    if p.dtype.kind not in "fc":
        raise TypeError(f"can't optimize a tensor of dtype {p.dtype}: parameters must be "
                        "floating point")


def _is_number(value: Any) -> bool:
    python_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return python_number or (isinstance(value, backend.HOST_SCALAR) and value.dtype.kind in "iuf")


def zeros_state(param: Tensor) -> Any:
    """A zero-filled buffer shaped like ``param``, on its device and in its dtype."""
    return backend.xp(param.device).zeros_like(param.array)


def _cast_like(value: Any, param: Tensor) -> Any:
    """A copy of the state ``value`` on ``param``'s device (floats in ``param``'s dtype)."""
    if backend.is_array(value):
        value = backend.to_device(value, param.device)
        dtype = param.dtype if value.dtype.kind == "f" else value.dtype
        return value.astype(dtype, copy=True)
    if isinstance(value, dict):
        return {k: _cast_like(v, param) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_like(v, param) for v in value)
    return copy.deepcopy(value)


def apply_weight_decay(param: Any, grad: Any, lr: float, weight_decay: float,
                       decoupled: bool) -> Any:
    """Weight decay of either kind; returns the gradient the update should use.

    Decoupled (Loshchilov & Hutter 2019): the parameter shrinks in place, ``p *= 1 - lr * wd``,
    and the gradient is unchanged. L2 (coupled): ``g + wd * p`` is returned, so the decay
    goes through the optimizer's adaptive scaling like any other gradient.
    """
    if weight_decay:
        if decoupled:
            param *= 1.0 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    return grad


def ema_(average: Any, value: Any, decay: float, scratch: Any = None) -> None:
    """``average = decay * average + (1 - decay) * value``, in place.

    ``scratch``, an array shaped like ``average``, is overwritten to avoid a temporary; it
    may be ``value`` itself when ``value`` is a disposable temporary. (The shorter form
    ``value + decay * (average - value)`` would need no scratch, but with ``decay`` near 1
    it cancels catastrophically: about 1000 ulps of error for ``decay = 0.999``.)
    """
    if scratch is None:
        weighted = value * (1.0 - decay)
    else:
        if scratch is not value:
            scratch[...] = value
        scratch *= 1.0 - decay
        weighted = scratch
    average *= decay
    average += weighted
