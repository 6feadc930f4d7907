"""The base class every minigrad optimizer builds on, shaped like ``torch.optim.Optimizer``.

An optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus every hyper-parameter)
and a per-parameter ``state``. Hyper-parameters are read from the group at every step, so a
scheduler (or the user) changes them by assigning ``group["lr"] = ...``. ``state_dict()`` names
parameters by their position, so a checkpoint can be loaded into an optimizer built again
around new tensors, on another device or with another dtype.
"""
from __future__ import annotations

import copy
import functools
import math
import sys
import warnings
from collections import defaultdict
from typing import Any, Callable, ClassVar, Iterable, Mapping

import numpy

from minigrad import backend, grad_mode, kernels
from minigrad.grad_mode import enable_grad
from minigrad.optim.checks import Check, Choice, Rule, check_values
from minigrad.optim.flat import FlatChunk, flatten_group
from minigrad.tensor import Tensor, bump_version, wrap

ParamsT = Iterable[Any]

NONFINITE_POLICIES = ("raise", "skip")
_ON_NONFINITE = Choice(*NONFINITE_POLICIES)


class _Required:
    """Marks a hyper-parameter that has no default and must be given (``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class NonFiniteError(RuntimeError):
    """An optimizer step found NaN or inf in a gradient (or in LBFGS's loss) and updated
    nothing. ``group``, ``index`` and ``shape`` name the first offending parameter (None for
    a loss)."""

    def __init__(self, message: str, group: int | None = None, index: int | None = None,
                 shape: tuple[int, ...] | None = None) -> None:
        super().__init__(message)
        self.group, self.index, self.shape = group, index, shape


class Optimizer:
    """Updates parameters from their ``.grad``; subclasses define the update rule.

    ``params`` is an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts
    (param groups) each with a ``"params"`` entry and optional hyper-parameters that
    override ``defaults`` for that group.

    **Hyper-parameter checks.** A subclass declares the valid values of its hyper-parameters
    once, in the class attribute :attr:`hyperparameter_checks` (name -> a
    :class:`~minigrad.optim.checks.Check`, e.g. ``Real(0)`` for a finite number >= 0) and,
    for conditions tying several together, :attr:`group_checks` (a tuple of
    :class:`~minigrad.optim.checks.Rule`). The base class applies them to the constructor's
    values, to every group added (at construction or by :meth:`add_param_group`), to the
    groups of a loaded state dict: a bad value raises ``ValueError`` naming the optimizer,
    the hyper-parameter, the value, the param group and the valid range, and nothing is
    changed. Values written into a group later (by a scheduler or by hand) are looked at
    again by the next step, which refuses one of the wrong kind or NaN or inf (but does not
    enforce the bounds again: a schedule may round a decay to -1e-17).

    **Non-finite gradients.** Before updating anything, :meth:`step` checks that every
    gradient is finite, with one fused reduction: the sum of squares of all gradients (small
    tensors concatenated into batches, large ones reduced in place; see :func:`all_finite`),
    so the cost is one read of the gradients and, on the GPU, one device synchronisation per
    step: there the sum stays on the device and is read in the same copy as the flags of the
    checks deferred until then (a loss's bad target raises at this step, before any update).
    On the CPU it is about 7% of an Adam step on 100 small tensors. A sum that overflows
    although every entry is finite is recognised as such. What happens with a NaN or inf is
    set by ``on_nonfinite``, a keyword of every optimizer's constructor (and an attribute
    that can be changed later):

    * ``"raise"`` (the default): raise :class:`NonFiniteError` naming the first parameter
      holding NaN or inf (its index in its group, and its shape). No parameter and no state
      has been touched, so the run can be inspected or resumed. (PyTorch has no such check:
      its optimizers write the NaN into the parameters.)
    * ``"skip"``: warn (``RuntimeWarning``) and skip the whole step, as a loss scaler does
      for mixed-precision overflows: parameters, state and step counts stay as they were;
      :attr:`skipped_steps` counts such steps.

    Only the gradients are checked. A finite gradient can still give a non-finite update
    where the rule itself divides by zero (e.g. ``eps=0``, allowed as in PyTorch, with a
    zero gradient).

    **Subclassing.** Implement :meth:`_update` (the math for one parameter, in place on
    ``param.array``) and, when buffers are needed, :meth:`_init_state`; an optimizer that must
    see a group whole overrides :meth:`_step_group`, one with its own loop overrides
    :meth:`step` (and should call :meth:`_check_hyperparameters` and :meth:`_gradients_ok`
    first). ``load_state_dict`` checks that each loaded state array has the shape
    :meth:`_state_shape` gives (by default the parameter's own).
    """

    hyperparameter_checks: ClassVar[Mapping[str, Check]] = {}
    group_checks: ClassVar[tuple[Rule, ...]] = ()
    #: The rule treats every entry on its own (no norm, shape or sum over a parameter), so
    #: one call of :meth:`_update` may update all the parameters of a flat buffer at once.
    elementwise: ClassVar[bool] = False
    #: On the CPU an elementwise update of more than ``8 * UPDATE_SLICE`` entries (arrays
    #: larger than the cache) runs slice by slice (see :meth:`_update_in_slices`).
    UPDATE_SLICE: ClassVar[int] = 1 << 17
    #: How the base class applies the group's ``weight_decay`` before :meth:`_update`:
    #: ``"l2"`` adds ``wd * p`` to the gradient, ``"decoupled"`` shrinks ``p *= 1 - lr * wd``
    #: (a group's ``decoupled_weight_decay`` entry, where there is one, chooses between the
    #: two); None leaves weight decay to the rule.
    weight_decay_kind: ClassVar[str | None] = None
    #: The buffers a parameter's state starts with, as zeros shaped like it; a pair
    #: ``(name, flag)`` is made only when the group's ``flag`` is on (Adam's
    #: ``("max_exp_avg_sq", "amsgrad")``). :meth:`_init_state` may add others.
    zero_state: ClassVar[tuple[str | tuple[str, str], ...]] = ()
    _step_count = 0     # calls of step() that returned (a subclass's step is counted too)
    _stepping = False   # inside step(): a subclass's step calling super().step() counts once
    _intact: set[int] | None = None  # during step(): the flat chunks found intact

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _counted(cls.__dict__["step"])  # type: ignore[method-assign]

    @property
    def _opt_called(self) -> bool:
        """Whether :meth:`step` was called (PyTorch's name; learning-rate schedulers read it
        to warn when they step first)."""
        return self._step_count > 0

    def __init__(self, params: ParamsT, defaults: dict[str, Any], *,
                 on_nonfinite: str = "raise", flat: bool = True) -> None:
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
        self.on_nonfinite = on_nonfinite
        self.flat = bool(flat)
        self.skipped_steps = 0
        # flat storage of each group (see minigrad.optim.flat), by id of its params list
        self._flat_groups: dict[int, tuple[list[FlatChunk], list[Tensor]]] = {}
        self._checked_values: dict[int, tuple[Any, ...]] = {}
        defaults = dict(defaults)
        given = {k: v for k, v in defaults.items() if v is not required}
        defaults.update(check_values(self._name(), self.hyperparameter_checks, given,
                                     rules=self.group_checks))
        self.defaults = defaults
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

    def _name(self) -> str:
        """The optimizer's name in error messages."""
        return type(self).__name__

    @property
    def on_nonfinite(self) -> str:
        """What :meth:`step` does with a NaN or inf gradient: ``"raise"`` or ``"skip"``."""
        return self._on_nonfinite

    @on_nonfinite.setter
    def on_nonfinite(self, value: str) -> None:
        if not _ON_NONFINITE.accepts(value):
            raise ValueError(f"{self._name()}: invalid on_nonfinite: {value!r} (it must be "
                             f"{_ON_NONFINITE.text})")
        self._on_nonfinite = value

    # --- parameter groups ------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with hyper-parameters defaulting to ``defaults``.

        Useful when fine-tuning: layers unfrozen later join the optimizer as a new group.
        Its hyper-parameters are checked as the constructor's are.
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
        group.update(self._checked_group(group, f" in param group {len(self.param_groups)}"))
        self.param_groups.append(group)
        if self.flat:
            self._flat_groups[id(params)] = flatten_group(params)

    def _checked_group(self, group: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The checked (normalised) hyper-parameters of ``group``; raises ``ValueError``."""
        return check_values(self._name(), self.hyperparameter_checks, group, where,
                            self.group_checks)

    def _check_hyperparameters(self) -> None:
        """Refuse a checked hyper-parameter written into a group after the checks that is no
        longer a value of the right kind, or not finite.

        Values written into a group directly (by the user or a scheduler) bypass the checks
        above; a NaN or infinite one would write NaN or inf into every parameter, a string
        would fail inside the arithmetic. So each step looks again at the groups whose
        checked values changed since the last look (a tuple comparison, about a microsecond
        per group; NaN never compares equal, so it is always looked at). The bounds are not
        enforced again (``Check.accepts_kind``): a schedule may end a decay at -1e-17 by
        rounding, as PyTorch's do. Accepted values are normalised (a tensor lr becomes a
        float).
        """
        checks = self.hyperparameter_checks
        names = tuple(checks)
        seen = self._checked_values
        for i, group in enumerate(self.param_groups):
            values = tuple(map(group.get, names))
            try:
                if seen.get(id(group)) == values:  # identical values compare without __eq__
                    continue
            except (TypeError, ValueError):  # e.g. an array compared elementwise
                pass
            for name, value in zip(names, values):
                if name not in group:
                    continue
                check = checks[name]
                if not check.accepts_kind(value):
                    raise ValueError(f"{self._name()}: invalid {name}: {value!r} in param group "
                                     f"{i} (it must be {check.text}); it was written into the "
                                     "group after the checks (e.g. by a scheduler); nothing "
                                     "was updated")
                group[name] = check.normalize(value)
            seen[id(group)] = tuple(group.get(name) for name in names)

    # --- stepping --------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``grad = None`` (default) or zero-filled.

        With ``set_to_none``, a parameter outside the flat buffers whose gradient array
        nothing else refers to keeps that array as its spare, for the next backward to
        compute the new gradient into (``nn.functional.linear`` does): a fresh array of a
        large layer's size costs a page fault per 4 KiB at its first touch, every step. The
        gradient is None all the same, and a kept ``.grad`` (or its array, or a view of it)
        keeps its values: its array is then not reused."""
        for group in self.param_groups:
            chunks, params = self._flat_parts(group)
            for chunk in chunks:
                if set_to_none:
                    chunk.drop_grads()
                elif chunk.intact():
                    chunk.grad.fill(0)  # one call for all: each .grad is a view
                else:
                    params = params + chunk.params
            for p in params:
                if p.grad is None:
                    continue
                if set_to_none:
                    _keep_spare(p)
                    p.grad = None
                else:
                    p.grad = p.grad.detach()
                    p.grad.array.fill(0)

    def _flat_parts(self, group: dict[str, Any]) -> tuple[list[FlatChunk], list[Tensor]]:
        """The flat chunks of ``group`` and its parameters outside them (all of them when
        flat storage is off)."""
        return self._flat_groups.get(id(group["params"])) or ([], group["params"])

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s value if given.

        ``closure`` re-evaluates the model and returns the loss (it runs with grad enabled,
        so it may call ``backward``); optimizers such as LBFGS need it, others accept it.
        A NaN or inf gradient raises or skips the step (see ``on_nonfinite``) before any
        parameter is changed.
        """
        try:
            self._check_hyperparameters()
            loss = None
            if closure is not None:
                with enable_grad():
                    loss = closure()
            # which flat buffers can be used is looked at once, for the check and the update
            self._intact = {id(chunk) for group in self.param_groups
                            for chunk in self._flat_parts(group)[0] if chunk.intact()}
            if not self._gradients_ok():
                return loss
            self._begin_step()
            mode = grad_mode.enabled.set(False)  # no_grad(), without the cost of its block
            try:
                for group in self.param_groups:
                    self._step_group(group)
            finally:
                grad_mode.enabled.reset(mode)
        finally:
            self._intact = None
            self._end_step()
        return loss

    def _begin_step(self) -> None:
        """Called by :meth:`step` once the gradients passed the check, before any update (a
        hook for subclasses: AdaHessian estimates the Hessian's diagonal here)."""

    def _end_step(self) -> None:
        """Called by :meth:`step` when it ends, however it ends (a hook for subclasses:
        AdaHessian releases the gradients' graph here)."""

    def _usable(self, chunk: FlatChunk) -> bool:
        """Whether ``chunk``'s buffers hold the parameters and gradients now (as looked at
        when :meth:`step` began)."""
        intact = self._intact
        return chunk.intact() if intact is None else id(chunk) in intact

    def _gradients_ok(self) -> bool:
        """True when every gradient is finite; otherwise raise, or warn and return False
        (``on_nonfinite``). The checks deferred on a device (a bad target of a loss) are
        examined first, and raise before anything changes: on such a device (the GPU) the
        gradients' test is computed there and read in the same copy as their flags, so a
        step synchronises once."""
        arrays, devices = [], set()
        for group in self.param_groups:
            chunks, params = self._flat_parts(group)
            for chunk in chunks:
                if self._usable(chunk):
                    arrays.append(chunk.grad)
                    devices.add(chunk.device)
                else:
                    params = params + chunk.params
            for p in params:
                g = p._grad
                if g is not None:
                    arrays.append(g.array)
                    devices.add(g.device)
        finite, on_devices = True, []
        for device in devices:
            xp = backend.xp(device)
            mine = arrays if len(devices) == 1 else \
                [a for a in arrays if backend.device_of(a) == device]
            if device in backend.deferring_devices:  # read with the deferred checks below
                on_devices.append(nonfinite_flag(mine, xp))
            elif finite:
                finite = all_finite(mine, xp)
        # a deferred check that failed raises here; else the devices' flags come back
        if any(backend.flush_deferred_checks(on_devices)):
            finite = False
        if finite:
            return True
        found = self._first_nonfinite_gradient()
        if found is None:  # the sum overflowed, every entry is finite
            return True
        group_index, index, param, kind, count = found
        others = f" ({count - 1} more parameters hold NaN or inf)" if count > 1 else ""
        subject = (f"the gradient of parameter {index} of param group {group_index} "
                   f"(shape {tuple(param.shape)}) holds {kind}{others}")
        self._refuse_nonfinite(subject, group_index, index, tuple(param.shape))
        return False

    def _refuse_nonfinite(self, subject: str, group: int | None = None,
                          index: int | None = None, shape: tuple[int, ...] | None = None,
                          stacklevel: int = 4) -> None:
        """Raise :class:`NonFiniteError` about ``subject``, or (``on_nonfinite="skip"``)
        warn and count the skipped step."""
        if self.on_nonfinite == "skip":
            self.skipped_steps += 1
            warnings.warn(f"{self._name()}.step() skipped: {subject}; parameters and "
                          "optimizer state are unchanged (on_nonfinite='skip')",
                          RuntimeWarning, stacklevel=stacklevel)
            return
        raise NonFiniteError(f"{self._name()}.step(): {subject}; nothing was updated. Pass "
                             "on_nonfinite='skip' to skip such steps with a warning instead "
                             "(as a loss scaler does)", group, index, shape)

    def _first_nonfinite_gradient(self) -> tuple[int, int, Tensor, str, int] | None:
        """(group index, index in the group, parameter, "NaN" or "inf", how many
        parameters hold either) for the first parameter whose gradient is not finite."""
        first, count = None, 0
        for group_index, group in enumerate(self.param_groups):
            for index, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                kind = nonfinite_kind(p.grad.array)
                if kind is not None:
                    count += 1
                    if first is None:
                        first = (group_index, index, p, kind)
        return None if first is None else (*first, count)

    def _step_group(self, group: dict[str, Any]) -> None:
        """Update the parameters of ``group`` that received a gradient: one call of
        :meth:`_update` per flat buffer when the rule is :attr:`elementwise` and the buffer
        can be used this step, one per parameter otherwise."""
        chunks, params = self._flat_parts(group)
        if chunks and self.elementwise:
            for chunk in chunks:
                if not (self._usable(chunk) and self._step_flat(chunk, group)):
                    params = params + chunk.params
        elif chunks:
            params = [p for chunk in chunks for p in chunk.params] + params
        if params:
            self._step_params(params, group)

    def _step_params(self, params: list[Tensor], group: dict[str, Any]) -> None:
        """Apply :meth:`_update` to each of ``params`` that has a gradient."""
        maximize = group.get("maximize", False)
        state_of = self.state
        for p in params:
            if p.grad is None:
                continue  # no gradient: no state, and the step count does not advance
            grad = p.grad.array
            if maximize:
                grad = -grad
            grad = self._decayed(p.array, grad, group)
            state = state_of[p]
            if not state:
                state["step"] = 0
                self._init_state(p, state, group)
            state["step"] += 1
            self._update_in_slices(p, grad, state, group)
            bump_version(p)  # as any in-place write: graphs that saved p now refuse backward

    def _step_flat(self, chunk: FlatChunk, group: dict[str, Any]) -> bool:
        """One :meth:`_update` on the whole of ``chunk`` (every parameter has its gradient
        in its grad home); False, with nothing done, when the per-parameter states are not
        alike (other step counts, other entries), so the parameters must be updated one by
        one."""
        state_of = self.state
        states = list(map(state_of.__getitem__, chunk.params))
        if not states[0]:  # the first step: make the state flat from the start
            if any(states):
                return False
            flat_state: dict[str, Any] = {"step": 0}
            self._init_state(chunk.param, flat_state, group)
            chunk.adopt_new_state(flat_state, states)
        elif not (chunk.has_flat_state(states) or chunk.gather_state(states)):
            return False
        flat_state = dict(states[0])
        flat_state.update(chunk.state)
        flat_state["step"] += 1
        grad = chunk.grad
        if group.get("maximize", False):
            grad = -grad
        grad = self._decayed(chunk.param.array, grad, group)
        self._update_in_slices(chunk.param, grad, flat_state, group)
        chunk.adopt_new_state(flat_state, states)
        chunk.bump_versions()
        return True

    def _decayed(self, data: Any, grad: Any, group: dict[str, Any]) -> Any:
        """The gradient after the weight decay of :attr:`weight_decay_kind` (a decoupled one
        shrinks ``data`` in place and leaves the gradient alone)."""
        kind, weight_decay = self.weight_decay_kind, group.get("weight_decay")
        if kind is None or not weight_decay:
            return grad
        decoupled = group.get("decoupled_weight_decay", kind == "decoupled")
        return apply_weight_decay(data, grad, group["lr"], weight_decay, decoupled)

    def _sliceable(self, state: dict[str, Any], group: dict[str, Any]) -> bool:
        """Whether :meth:`_update` may run on slices of a parameter this step: the rule is
        elementwise, it changes ``state``'s arrays only in place and creates none, and its
        changes to ``state``'s other entries do not depend on the entries' values (so they are
        the same for every slice). False here; a rule that qualifies says when."""
        return False

    def _update_in_slices(self, param: Tensor, grad: Any, state: dict[str, Any],
                          group: dict[str, Any]) -> None:
        """:meth:`_update`, run over slices of :attr:`UPDATE_SLICE` entries when the array is
        large, on the CPU, and the rule allows it (:meth:`_sliceable`).

        An update is several passes over its arrays (Adam's, about ten); slice by slice they
        run in the cache instead of memory: Adam's step on the 21M parameters of a
        1024-4096-4096-10 MLP took 152 ms whole, 91 ms in slices of 65,536 and 81 ms in
        slices of 131,072. Arrays that fit in the cache gain nothing and pay a call per
        slice (the 670K parameters of a 784-512-512-10 MLP: 3.0 ms whole, 3.6 ms in slices
        of 65,536), hence the threshold. The results are the same bit for bit: every entry is
        computed alone. (On the GPU, and wherever a kernel runs the rule, it is one pass
        already: see minigrad.optim.fused.)"""
        data = param.array
        size = self.UPDATE_SLICE
        if data.size <= 8 * size or not isinstance(data, numpy.ndarray) or \
                kernels.usable(data) or not data.flags.c_contiguous or \
                not self._sliceable(state, group):
            self._update(param, grad, state, group)
            return
        arrays = [k for k, v in state.items() if backend.is_array(v)]
        if any(state[k].shape != data.shape or not state[k].flags.c_contiguous
               for k in arrays):  # a buffer of another shape or layout: not sliced alike
            self._update(param, grad, state, group)
            return
        flat_grad = numpy.ascontiguousarray(grad).reshape(-1)
        flat_data = data.reshape(-1)
        flat_state = {k: state[k].reshape(-1) for k in arrays}
        part = dict(state)
        for start in range(0, data.size, size):
            window = slice(start, start + size)
            part.update(state)  # entries other than the arrays start alike for every slice
            for k in arrays:
                part[k] = flat_state[k][window]
            self._update(wrap(flat_data[window], param.device), flat_grad[window],
                         part, group)
        for k, v in part.items():
            if k not in flat_state:
                state[k] = v

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Create the buffers of ``param`` at its first update (``state["step"]`` exists)."""
        add_zero_state(self.zero_state, param, state, group)

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

        Everything is checked before anything changes: the numbers of groups and of
        parameters per group, the saved hyper-parameters (as :meth:`add_param_group` checks
        them), that every state entry belongs to a parameter, and that each state array has
        the expected shape (:meth:`_state_shape`) and a dtype the parameter can hold (a
        complex state for a real parameter is refused). Errors name the parameter's index
        and both shapes.
        """
        name = self._name()
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict() expects a dict from state_dict(), got "
                            f"{type(state_dict).__name__}")
        missing = [key for key in ("state", "param_groups") if key not in state_dict]
        if missing:
            raise ValueError(f"{name}: not an optimizer state dict: it has no "
                             f"{' or '.join(map(repr, missing))} entry")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not all(
                isinstance(g, dict) and isinstance(g.get("params"), (list, tuple))
                for g in saved_groups):
            raise ValueError(f"{name}: the loaded state dict's 'param_groups' must be a list "
                             "of dicts, each with a 'params' list")
        if not isinstance(saved_state, dict):
            raise ValueError(f"{name}: the loaded state dict's 'state' must be a dict, got "
                             f"{type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {i} of the loaded state dict has "
                                 f"{len(saved['params'])} parameters, this optimizer's has "
                                 f"{len(group['params'])}")
        place_of: dict[Any, tuple[Tensor, int, int]] = {}
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            for j, (index, p) in enumerate(zip(saved["params"], group["params"])):
                place_of[index] = (p, gi, j)
        new_groups = []
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            new = copy.deepcopy({k: v for k, v in saved.items() if k != "params"})
            for key, value in self.defaults.items():
                new.setdefault(key, value)
            new["params"] = group["params"]
            new.update(self._checked_group(new, f" in param group {gi} of the loaded state "
                                                "dict"))
            new_groups.append(new)
        for index, entry in saved_state.items():
            if index not in place_of:
                raise ValueError(f"{name}: the loaded state dict has state for parameter "
                                 f"{index!r}, which none of its param groups lists")
            if not isinstance(entry, dict):
                raise ValueError(f"{name}: the loaded state of parameter {index!r} must be a "
                                 f"dict, got {type(entry).__name__}")
            p, gi, j = place_of[index]
            for key, value in entry.items():
                if key != "step":
                    self._check_loaded_value(p, key, value,
                                             f"parameter {index!r} (param group {gi}, "
                                             f"position {j}, shape {tuple(p.shape)})")
        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for index, entry in saved_state.items():
            p = place_of[index][0]
            new_state[p] = {key: value if key == "step" else _cast_like(value, p)
                            for key, value in entry.items()}
        self.state = new_state
        for group, new in zip(self.param_groups, new_groups):
            group.clear()
            group.update(new)
        self._checked_values.clear()

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...] | None:
        """The shape every array under ``state[param][key]`` must have (None: any shape).

        By default a state array is shaped like its parameter; an optimizer that keeps
        other shapes (factored moments, flat vectors) overrides this."""
        return tuple(param.shape)

    def _check_loaded_value(self, param: Tensor, key: str, value: Any, where: str) -> None:
        """Raise ``ValueError`` if the loaded state ``value`` (arrays, possibly nested in
        lists, tuples or dicts) does not fit ``param``."""
        if isinstance(value, dict):
            for v in value.values():
                self._check_loaded_value(param, key, v, where)
            return
        if isinstance(value, (list, tuple)):
            for v in value:
                self._check_loaded_value(param, key, v, where)
            return
        if not backend.is_array(value):
            return
        expected = self._state_shape(param, key)
        if expected is not None and tuple(value.shape) != tuple(expected):
            raise ValueError(f"{self._name()}: the loaded state {key!r} of {where} has shape "
                             f"{tuple(value.shape)}, expected {tuple(expected)}")
        allowed = "fciub" if param.dtype.kind == "c" else "fiub"
        if value.dtype.kind not in allowed:
            raise ValueError(f"{self._name()}: the loaded state {key!r} of {where} has dtype "
                             f"{value.dtype}, which a parameter of dtype {param.dtype} cannot "
                             "use")


# the arguments of an optimizer's __init__ that are not hyper-parameters of its groups
_NOT_HYPERPARAMETERS = frozenset({"self", "params", "__class__", "on_nonfinite", "flat"})


def hyperparameters(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """An optimizer's defaults from the ``locals()`` of its ``__init__`` (called first thing):
    every argument but ``params`` and the options ``on_nonfinite`` and ``flat``. So each
    hyper-parameter is written once, with its default, in the signature::

        def __init__(self, params, lr=1e-3, momentum=0.0, *, on_nonfinite="raise",
                     flat=True):
            super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                             flat=flat)
    """
    return {k: v for k, v in arguments.items() if k not in _NOT_HYPERPARAMETERS}


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


def _counted(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` counting its calls in ``_step_count``, once per outermost call."""
    if getattr(step, "_counts_steps", False):
        return step

    @functools.wraps(step)
    def counted_step(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        if self._stepping:
            return step(self, *args, **kwargs)
        self._stepping = True
        try:
            result = step(self, *args, **kwargs)
        finally:
            self._stepping = False
        self._step_count += 1
        return result

    counted_step._counts_steps = True  # type: ignore[attr-defined]
    return counted_step


Optimizer.step = _counted(Optimizer.step)  # type: ignore[method-assign]


def zeros_state(param: Tensor) -> Any:
    """A zero-filled buffer shaped like ``param``, on its device and in its dtype."""
    return backend.xp(param.device).zeros_like(param.array)


def _keep_spare(p: Tensor) -> None:
    """Keep ``p``'s gradient array as its spare (see :meth:`Optimizer.zero_grad`) when only
    ``p`` refers to it: its ``.grad`` tensor has no graph and no other holder, the array no
    holder but that tensor and is not a view."""
    grad = p._grad
    # the tensor's references: p's slot, ``grad`` and getrefcount's argument; the array's:
    # the tensor's slot, ``array`` and the argument
    if grad is not None and grad._backward is None and sys.getrefcount(grad) == 3:
        array = grad.array
        if array.base is None and sys.getrefcount(array) == 3:
            p._grad_spare = array


def add_zero_state(slots: tuple[str | tuple[str, str], ...], param: Tensor,
                   state: dict[str, Any], group: Mapping[str, Any]) -> None:
    """Put a zero buffer shaped like ``param`` in ``state`` under each of ``slots`` (see
    :attr:`Optimizer.zero_state`)."""
    for slot in slots:
        if isinstance(slot, str):
            state[slot] = zeros_state(param)
        elif group[slot[1]]:
            state[slot[0]] = zeros_state(param)


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
        xp = backend.xp(backend.device_of(scratch))
        weighted = xp.multiply(value, 1.0 - decay, out=scratch)
    average *= decay
    average += weighted


def entries_finite(array: Any) -> bool:
    """Whether every entry of ``array`` is finite, tested entry by entry (on the CPU without
    ``ndarray.all``'s Python wrapper, a third of the cost for a small array)."""
    if isinstance(array, numpy.ndarray):
        return bool(_ALL_TRUE(numpy.isfinite(array), None))
    return bool(backend.xp(backend.device_of(array)).isfinite(array).all())


_ALL_TRUE = numpy.logical_and.reduce


def nonfinite_kind(array: Any) -> str | None:
    """``"NaN"`` if ``array`` holds a NaN, else ``"inf"`` if it holds an infinity, else None
    (an exact check: one full pass)."""
    if entries_finite(array):
        return None
    xp = backend.xp(backend.device_of(array))
    return "NaN" if bool(xp.isnan(array).any()) else "inf"


# Arrays smaller than this are concatenated (in batches of at most _BATCH_ELEMENTS entries)
# and reduced together: for them a call per array would cost more than the copy. Larger ones
# are reduced in place, since copying them would cost more than the call.
_SMALL_ELEMENTS = 1 << 13
_BATCH_ELEMENTS = 1 << 20


def all_finite(arrays: list[Any], xp: Any) -> bool:
    """Whether a single reduction over every entry of ``arrays`` (all on ``xp``'s device)
    is finite: True means that every entry is finite.

    A NaN or inf anywhere makes the reduction NaN or inf. False means that some entry is not
    finite, or (rarely) that the reduction overflowed: confirm with :func:`nonfinite_kind`.
    The reduction is the sum of squares (a BLAS dot product, the fastest pass on the CPU)
    for float32/float64 data, of absolute squares for complex data, the plain sum for
    float16 (in float32). One pass over the data: small arrays are first concatenated into
    batches (one copy), larger ones reduced where they are. The partial results are added
    as Python floats, which give inf rather than an overflow warning. A single small array
    (the flat gradient buffer of a small model) is tested entry by entry instead, which
    needs no guard against an overflow warning: the guard would cost more than the test.
    """
    if len(arrays) == 1 and arrays[0].size < _SMALL_ELEMENTS:
        return entries_finite(arrays[0])
    with numpy.errstate(all="ignore"):  # an overflowing dot warns; it is re-checked instead
        return math.isfinite(sum(map(float, _partial_reductions(arrays, xp))))


def nonfinite_flag(arrays: list[Any], xp: Any) -> Any:
    """:func:`all_finite`'s test left on the device: a 0-d boolean array, true where
    :func:`all_finite` would be False, computed without reading anything on the host (the
    partial results are added on the device, in float64)."""
    if len(arrays) == 1 and arrays[0].size < _SMALL_ELEMENTS:
        return ~xp.isfinite(arrays[0]).all()
    with numpy.errstate(all="ignore"):  # (NumPy arrays, where a test forces this path)
        partials = [xp.asarray(part, dtype=xp.float64)
                    for part in _partial_reductions(arrays, xp)]
        if not partials:
            return xp.zeros((), dtype=bool)
        return ~xp.isfinite(xp.stack(partials).sum())


def _partial_reductions(arrays: list[Any], xp: Any) -> list[Any]:
    """:func:`all_finite`'s partial reductions of ``arrays``, as 0-d arrays on their device
    (one per large array, one per batch of small ones)."""
    partials: list[Any] = []
    batch: list[Any] = []
    size = 0
    for array in arrays:
        n = array.size
        if n >= _SMALL_ELEMENTS:
            partials.append(_reduce(array.reshape(-1), xp))
            continue
        batch.append(array)
        size += n
        if size >= _BATCH_ELEMENTS:
            partials.append(_reduce(_flatten(batch, xp), xp))
            batch, size = [], 0
    if batch:
        partials.append(_reduce(_flatten(batch, xp), xp))
    return partials


def _flatten(arrays: list[Any], xp: Any) -> Any:
    """One flat array holding every entry of ``arrays`` (a copy, or the array itself)."""
    if len(arrays) == 1:
        return arrays[0].reshape(-1)
    return xp.concatenate(arrays, axis=None)  # NumPy and CuPy flatten each array


def _reduce(flat: Any, xp: Any) -> Any:
    """The sum of squares (or the sum) of the 1-D array ``flat``, a 0-d array (or a NumPy
    scalar) on its device."""
    code = flat.dtype.char
    if code in "fd":  # float32, float64: one BLAS dot
        return xp.dot(flat, flat)
    if code in "FD":  # complex: the sum of |z|^2, NaN when either part holds NaN or inf
        return xp.vdot(flat, flat).real
    return flat.sum(dtype=xp.float32)  # float16
