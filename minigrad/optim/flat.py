"""Flat storage: the parameters of a param group, their gradients and their optimizer state,
each kept in one contiguous buffer per (device, dtype).

Each Parameter's ``.array`` becomes a view into the group's parameter buffer, and backward
writes its gradient into a view of the gradient buffer (the parameter's *grad home*). An
optimizer whose rule treats every entry on its own (``Optimizer.elementwise``) then updates
the whole group with one call on the buffers, instead of one call per parameter: for a
network of many small tensors the per-call cost of NumPy, not the arithmetic, is what an
optimizer step spends (PyTorch's ``foreach`` and ``fused`` implementations exist for the
same reason).

Nothing of the public behaviour changes; every per-parameter view stays what it was:

* A step in which some parameter has no gradient, a gradient assigned by hand, a parameter
  whose ``.data`` was replaced (or cast, or moved), or state arrays replaced by hand, runs
  the ordinary per-parameter update on the same views; the buffers are used again as soon
  as everything lines up (state loaded from a checkpoint is copied into them).
* After ``zero_grad(set_to_none=True)`` the next backward reuses the gradient buffer only if
  nothing else still refers to the old gradient (a Tensor, its array, or a view of either):
  otherwise a fresh buffer is taken, so a gradient kept from an earlier step keeps its
  values, as in PyTorch.

Parameters with more than :data:`FLAT_MAX_ELEMENTS` entries keep their own arrays: for
them one call costs nothing next to the arithmetic, and copying their gradient into a
buffer would be one more pass over memory per step.
"""
from __future__ import annotations

import sys
from operator import attrgetter, is_ as _is, itemgetter
from typing import Any

from minigrad import backend
from minigrad.tensor import Tensor, bump_versions, version_box, wrap

FLAT_MAX_ELEMENTS = 1 << 16


class FlatChunk:
    """The parameters of one param group that share a device and dtype, in one buffer."""

    def __init__(self, params: list[Tensor]) -> None:
        first = params[0]
        self.params = params
        self.device, self.dtype = first.device, first.array.dtype
        xp = backend.xp(self.device)
        self.shapes = [p.array.shape for p in params]
        self.bounds, self.size = entry_bounds(params)
        flat = xp.empty(self.size, dtype=self.dtype)
        for p, view in zip(params, self.views_of(flat)):
            view[...] = p.array
            count = p._version
            p.array, p._base = view, None  # the original memory is freed: nothing else held it
            version_box(p).count = count
        self.param_views = [p.array for p in params]
        self.param = wrap(flat, self.device)  # all parameters as one tensor, for the rule
        self.slots: dict[str, list[Any]] = {}  # state arrays: the views each state dict holds
        self.state: dict[str, Any] = {}        # state arrays: the flat buffers
        self._new_grad_buffer()
        for i, p in enumerate(params):
            p._grad_home = GradSlot(self, i)
        self._versions = [version_box(p) for p in params]

    def bump_versions(self) -> None:
        """Note the in-place write of a step to every parameter (graphs that saved one of
        them then refuse backward)."""
        bump_versions(self._versions)

    def views_of(self, flat: Any) -> list[Any]:
        """One view of the flat array ``flat`` per parameter, shaped like the parameter."""
        return [flat[a:b].reshape(shape) for (a, b), shape in zip(self.bounds, self.shapes)]

    def drop_grads(self) -> None:
        """``zero_grad(set_to_none=True)``: every gradient becomes None. If one is still
        referred to from elsewhere, the next gradients go into a fresh buffer."""
        for p in self.params:
            p._grad = None
        if not self._homes_free():
            self._new_grad_buffer()

    def take_flat_grad(self, flat: Any) -> bool:
        """Backward's accumulation of every parameter's gradient at once, for a caller that
        holds them laid out as the gradient buffer (``flat``, of :attr:`size` entries: a
        replay of ``mg.compile``): when no parameter holds a gradient and every grad home is
        free, copy ``flat`` into the buffer in one call and give each parameter its home, as
        the engine's per-leaf claims (``GradSlot.claim``) would have; otherwise change
        nothing and return False (the caller then accumulates leaf by leaf)."""
        for p in self.params:
            if p._grad is not None:
                return False
        if not self._homes_free():
            return False
        self.grad[...] = flat
        for p, home in zip(self.params, self.grads):
            p._grad = home
        return True

    def _homes_free(self) -> bool:
        """Whether nothing but the chunk refers to its gradient buffer, its grad homes or
        their arrays (a kept ``.grad``, its array or a view would): then backward may
        write into them again."""
        return _buffer_free(self) and all(_home_free(home) for home in self.grads)

    def _new_grad_buffer(self) -> None:
        self.grad = backend.xp(self.device).zeros(self.size, dtype=self.dtype)
        self.grads = [wrap(view, self.device) for view in self.views_of(self.grad)]

    # --- is the flat path valid this step? ---------------------------------------------------
    def intact(self) -> bool:
        """Every parameter still views the buffer and holds its gradient in its grad home.

        (A deep copy of the optimizer copies each view on its own, without its buffer: the
        copy then updates its parameters one by one.) This runs at every step: a plain loop,
        which in CPython 3.11 costs half what two ``all(map(operator.is_, ...))`` passes do."""
        if self.param_views[0].base is not self.param.array or \
                self.grads[0].array.base is not self.grad:
            return False
        for p, view, home in zip(self.params, self.param_views, self.grads):
            if p.array is not view or p._grad is not home:
                return False
        return True

    def has_flat_state(self, states: list[dict[str, Any]]) -> bool:
        """Every state dict holds exactly the buffers' views (and as many other entries as
        the first), with one step count. (This runs at every step: one plain loop over the
        states for the usual one or two buffers, which costs less than a pass per check.)"""
        first = states[0]
        count, slots = len(first), self.slots
        try:
            step = first["step"]
            if count == len(slots) + 1:  # the slots and "step" (the loop checks the slots)
                if backend.is_array(step):
                    return False
            elif count != len(slots) + sum(1 for v in first.values() if not backend.is_array(v)):
                return False
            if len(slots) == 1:
                (key, views), = slots.items()
                for s, view in zip(states, views):
                    if s[key] is not view or len(s) != count or s["step"] != step:
                        return False
            elif len(slots) == 2:
                (key1, views1), (key2, views2) = slots.items()
                for s, view1, view2 in zip(states, views1, views2):
                    if s[key1] is not view1 or s[key2] is not view2 or len(s) != count or \
                            s["step"] != step:
                        return False
            else:
                if list(map(len, states)).count(count) != len(states) or \
                        list(map(_STEP, states)).count(step) != len(states):
                    return False
                for key, views in slots.items():
                    if not all(map(_is, map(itemgetter(key), states), views)):
                        return False
        except KeyError:
            return False
        return True

    def gather_state(self, states: list[dict[str, Any]]) -> bool:
        """Copy per-parameter state into new buffers and make each state dict hold views of
        them; False (nothing changed) when the states are not alike: other keys, other step
        counts or scalars, arrays of other shapes or dtypes."""
        first = states[0]
        arrays = [k for k, v in first.items() if backend.is_array(v)]
        scalars = {k: v for k, v in first.items() if k not in arrays}
        for s, shape in zip(states, self.shapes):
            if s.keys() != first.keys() or any(s[k] != v for k, v in scalars.items()):
                return False
            if any(s[k].shape != shape or s[k].dtype != self.dtype for k in arrays):
                return False
        self.slots, self.state = {}, {}
        for key in arrays:
            parts = [backend.to_device(s[key], self.device) for s in states]
            flat = backend.xp(self.device).concatenate(parts, axis=None)
            self._adopt(key, flat, states)
        return True

    def adopt_new_state(self, flat_state: dict[str, Any], states: list[dict[str, Any]]) -> None:
        """After a flat update: buffers the rule created become the state of every parameter
        (as views); the other entries it wrote are copied into every state dict."""
        slots = self.slots
        if len(flat_state) == len(slots) + 1 and slots.keys() <= flat_state.keys():
            # the usual case: the slots and the step count
            step = flat_state["step"]
            for s in states:
                s["step"] = step
            return
        for key, value in flat_state.items():
            if key in slots:
                continue
            if backend.is_array(value) and value.shape == (self.size,):
                self._adopt(key, value, states)
            else:
                for s in states:
                    s[key] = value

    def _adopt(self, key: str, flat: Any, states: list[dict[str, Any]]) -> None:
        views = self.views_of(flat)
        for s, view in zip(states, views):
            s[key] = view
        self.slots[key] = views
        self.state[key] = flat


def entry_bounds(params: list[Tensor]) -> tuple[list[tuple[int, int]], int]:
    """Where each of ``params`` sits in one flat buffer of all their entries, in order:
    ``(start, end)`` per parameter, and the buffer's length."""
    bounds, start = [], 0
    for p in params:
        bounds.append((start, start + p.array.size))
        start += p.array.size
    return bounds, start


class GradSlot:
    """A parameter's grad home in its chunk's gradient buffer (see the module doc)."""

    __slots__ = ("chunk", "index")

    def __init__(self, chunk: FlatChunk, index: int) -> None:
        self.chunk, self.index = chunk, index

    def claim(self) -> Tensor | None:
        """The tensor backward may write this parameter's new gradient into, or None.

        The home's memory may still be referred to from an earlier step (a kept ``.grad``,
        its array, a view): then, if no parameter of the chunk holds a gradient yet, the
        chunk takes a fresh buffer; otherwise the caller allocates one array as usual."""
        chunk = self.chunk
        home = chunk.grads[self.index]
        if _home_free(home) and _buffer_free(chunk):
            return home
        if any([p._grad is not None for p in chunk.params]):
            return None
        chunk._new_grad_buffer()
        return chunk.grads[self.index]


def _buffer_free(chunk: FlatChunk) -> bool:
    """Whether only ``chunk`` refers to its gradient buffer: its attribute and each home
    view's ``base`` (plus getrefcount's argument)."""
    return sys.getrefcount(chunk.grad) == len(chunk.grads) + 2


def _home_free(home: Tensor) -> bool:
    """Whether only the chunk's list and the caller's name refer to the grad home ``home``
    (plus this parameter and getrefcount's argument), and only ``home`` to its array."""
    return sys.getrefcount(home) == 4 and sys.getrefcount(home.array) == 2


def _owns_its_memory(p: Tensor) -> bool:
    """Whether only ``p`` (and the tensor it was made from, if only ``p`` refers to that)
    holds ``p``'s memory: then moving it into a buffer changes nothing anyone can see.
    A parameter sharing memory with a live tensor or array (``from_numpy``, a view) keeps
    it, and is updated on its own."""
    array, base = p.array, p._base
    holders = 1  # p's own slot
    if base is not None:
        if base.array is not array or sys.getrefcount(base) != 3:  # p._base, base, the argument
            return False
        holders += 1  # the base tensor's slot
    # the holders, the local name and the argument of getrefcount
    return array.base is None and sys.getrefcount(array) == holders + 2


_STEP, _ARRAY, _GRAD = itemgetter("step"), attrgetter("array"), attrgetter("_grad")


def flatten_group(params: list[Tensor]) -> tuple[list[FlatChunk], list[Tensor]]:
    """The chunks for the parameters of one group, and the parameters left on their own
    (large ones, ones sharing their memory with something else, and a parameter listed
    twice)."""
    by_kind: dict[tuple[Any, Any], list[Tensor]] = {}
    loose: list[Tensor] = []
    seen: set[int] = set()
    for p in params:
        if id(p) in seen or p.array.size > FLAT_MAX_ELEMENTS or not _owns_its_memory(p):
            loose.append(p)
        else:
            seen.add(id(p))
            by_kind.setdefault((p.device, p.array.dtype), []).append(p)
    return [FlatChunk(group) for group in by_kind.values()], loose
