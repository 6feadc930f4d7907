"""How a replayed program hands its gradients to the leaves (part of :mod:`minigrad.jit`).

In eager minigrad the engine accumulates each leaf's gradient as backward reaches it
(``engine._accumulate``): in place into the ``.grad`` the leaf has, into its grad home in an
optimizer's flat gradient buffer, or by adopting the new array as ``.grad``. The tracer
records each of these as an opaque call (:func:`~minigrad.jit.tracer.accumulate`), which a
replay runs with the program's buffer marked as owned, so the engine copies it (the next
replay overwrites the buffer). :func:`batch_accumulations` turns each run of them (one
backward's) into one :class:`Accumulation`, and where it can avoids the copies:

* **Staged chunks.** When a run accumulates every parameter of an optimizer's flat chunk
  (``minigrad.optim.flat``), each from a gradient of its own, the calls computing those
  gradients write into one buffer laid out as the chunk's gradient buffer, and a replay hands
  it over in one copy when the chunk can take it (``FlatChunk.take_flat_grad``: no gradient
  held, no home referred to from elsewhere), as the engine's per-leaf claims would have.
* **Fresh outputs.** A leaf without a grad home (a parameter too large for a flat chunk, or
  an optimizer without flat storage) whose gradient is computed by one call and used by
  nothing but its accumulation gets a new array at each replay, which the engine receives as
  eager gives it: not owned, so adopted as ``.grad`` when the leaf has none. The program
  keeps no buffer for it between calls, and no copy is made (80 MB of each for the
  1024-4096-4096-10 network). The new array is the leaf's spare when it has one (its last
  gradient's array, which ``Optimizer.zero_grad`` keeps when nothing else refers to it), as
  in eager ``nn.functional.linear``: a fresh array that large page-faults at every step.

Every other case runs the engine's own accumulation, leaf by leaf, in the trace's order.
"""
from __future__ import annotations

from operator import attrgetter, is_
from typing import Any, Callable

import numpy

from minigrad.jit.tracer import Instr, Slot, accumulate, adopt, assign, _slots_in
from minigrad.tensor import Tensor, take_grad_spare

__all__ = ["Accumulation", "FreshOutput", "batch_accumulations"]

_GRAD_HOME = attrgetter("_grad_home")


class FreshOutput:
    """A bound call that writes its one output into a new array at each replay; ``take()``
    gives that array to its one reader (an :class:`Accumulation`) and forgets it.

    ``call`` is the bound call (a ``functools.partial``) whose output buffer, ``buf``,
    appears among its positional arguments or as its ``out`` keyword (alone or in a
    1-tuple): each replay puts the new array there instead."""

    __slots__ = ("slot", "leaf", "fn", "args", "keywords", "positions", "out_keyword",
                 "shape", "dtype", "current")

    def __init__(self, slot: Slot, leaf: Tensor) -> None:
        self.slot: Slot | None = slot
        self.leaf = leaf  # whose gradient this is: its spare array, if any, is reused
        self.shape, self.dtype = slot.buf.shape, slot.buf.dtype
        self.current: Any = None
        self.fn: Callable[..., Any] | None = None

    def wrap(self, call: Any) -> "FreshOutput":
        """Take over ``call``, the writer bound to the slot's buffer (which the program then
        no longer refers to)."""
        assert self.slot is not None
        buf, self.slot = self.slot.buf, None
        self.fn, self.args, self.keywords = call.func, list(call.args), dict(call.keywords)
        self.positions = [k for k, a in enumerate(self.args) if a is buf]
        out = self.keywords.get("out")
        self.out_keyword = out is buf or isinstance(out, tuple) and len(out) == 1 and \
            out[0] is buf
        if self.out_keyword:
            self.keywords["out"] = None
        return self

    def __call__(self) -> None:
        out = take_grad_spare(self.leaf, numpy.ndarray, self.shape, self.dtype)
        if out is None:
            out = numpy.empty(self.shape, self.dtype)
        self.current = out
        args = self.args
        for k in self.positions:
            args[k] = out
        if self.out_keyword:
            self.keywords["out"] = out
        self.fn(*args, **self.keywords)  # type: ignore[misc]
        for k in self.positions:  # hold nothing between replays
            args[k] = None
        if self.out_keyword:
            self.keywords["out"] = None

    def take(self) -> Any:
        out, self.current = self.current, None
        return out


Source = Any  # a gradient buffer (ndarray) or the FreshOutput computing it


class Accumulation:
    """One backward's accumulations, replayed as one call (see the module doc).

    ``groups`` run in order; each is ``(chunk, leaves, homes, flat, pairs)`` with ``pairs``
    the ``(leaf, gradient)`` of the trace's accumulations, in their order, a gradient being
    a buffer or a :class:`FreshOutput`. A group with a ``chunk`` holds every parameter of
    it and its gradient buffers are views of ``flat``: when every leaf still has the grad
    home it had (``homes``) and the chunk takes the gradients, one copy is the whole
    accumulation. A group of one leaf with ``chunk`` None and its grad home in ``homes``
    (``flat`` is then its gradient buffer, shaped and typed as the leaf) copies the buffer
    into the claimed home when the leaf holds no gradient, as the engine would. Otherwise,
    and for the other groups, the engine accumulates leaf by leaf (the order across groups
    does not matter: they touch different leaves and chunks)."""

    __slots__ = ("groups", "device")

    def __init__(self, groups: list[tuple[Any, list[Tensor], list[Any], Any,
                                          list[tuple[Tensor, Source]]]], device: str) -> None:
        self.groups, self.device = groups, device

    def __call__(self) -> None:
        for chunk, leaves, homes, flat, pairs in self.groups:
            if chunk is not None:
                if all(map(is_, map(_GRAD_HOME, leaves), homes)) and chunk.take_flat_grad(flat):
                    continue
            elif homes:
                # one leaf with a grad home, a buffer shaped and typed as it: the engine's
                # claim-and-copy (engine._accumulate for a leaf without a gradient), without
                # its Tensor wrapper and dispatch; anything else goes through the engine
                leaf, home = leaves[0], leaves[0]._grad_home
                if leaf._grad is None and home is not None and home is homes[0]:
                    target = home.claim()
                    if target is not None:
                        target.array[...] = flat
                        leaf._grad = target
                        continue
            for leaf, source in pairs:
                if isinstance(source, FreshOutput):
                    adopt(leaf, source.take(), self.device)
                else:
                    accumulate(leaf, source, self.device, False)


def batch_accumulations(instrs: list[Instr], slots: list[Slot], returned: set[int],
                        prelude_groups: set[int]
                        ) -> tuple[list["Instr | Accumulation"], dict[int, FreshOutput]]:
    """``instrs`` with each run of consecutive accumulations made one :class:`Accumulation`,
    and the :class:`FreshOutput` of each call (by ``id``) whose output is to be fresh.

    Staged gradients get their slot's buffer replaced by a view of the chunk-shaped buffer
    before the calls are bound (the trace-time values are copied over, for a gradient that
    was folded into a constant). ``returned``: the ids of the buffers the results are copied
    from; ``prelude_groups``: the memory the prelude writes. Neither is moved."""
    from minigrad.optim.flat import GradSlot
    in_group: dict[int, int] = {}
    for slot in slots:
        in_group[slot.group] = in_group.get(slot.group, 0) + 1
    touching: dict[int, list[Instr]] = {}
    for instr in instrs:
        for group in {s.group for s in (*instr.reads, *instr.writes)}:
            touching.setdefault(group, []).append(instr)
    context = _Context(in_group, returned, prelude_groups, touching, GradSlot)
    calls: list[Instr | Accumulation] = []
    fresh: dict[int, FreshOutput] = {}
    run: list[Instr] = []
    for instr in instrs:
        if instr.kind == "accumulate":
            run.append(instr)
            continue
        if run:
            calls.append(_accumulation(run, context, fresh))
            run = []
        calls.append(instr)
    if run:
        calls.append(_accumulation(run, context, fresh))
    return calls, fresh


class _Context:
    """What deciding how to hand over a gradient needs to know of the whole program."""

    def __init__(self, in_group: dict[int, int], returned: set[int], prelude_groups: set[int],
                 touching: dict[int, list[Instr]], grad_slot: Any) -> None:
        self.in_group, self.returned, self.prelude_groups = in_group, returned, prelude_groups
        self.touching, self.grad_slot = touching, grad_slot

    def own_memory(self, slot: Slot, uses: dict[int, int]) -> bool:
        """Whether ``slot`` may live in other memory: an output alone in its memory, used by
        one accumulation of the run, not returned, not computed for the guards, and laid
        out in C order."""
        return slot.kind == "out" and self.in_group[slot.group] == 1 and \
            uses[id(slot)] == 1 and id(slot.buf) not in self.returned and \
            slot.group not in self.prelude_groups and slot.buf.flags.c_contiguous

    def chunk_of(self, leaf: Tensor) -> Any:
        """The flat chunk ``leaf``'s gradient lives in, or None."""
        home: Any = leaf._grad_home
        if isinstance(home, self.grad_slot) and home.chunk.params[home.index] is leaf:
            return home.chunk
        return None


def _accumulation(run: list[Instr], context: _Context,
                  fresh: dict[int, FreshOutput]) -> Accumulation:
    """One run of accumulations (see :func:`batch_accumulations`)."""
    pairs: list[tuple[Tensor, Slot]] = [(i.args[0], i.args[1]) for i in run]
    uses: dict[int, int] = {}
    by_chunk: dict[int, list[tuple[Tensor, Slot]]] = {}
    for leaf, slot in pairs:
        uses[id(slot)] = uses.get(id(slot), 0) + 1
        chunk = context.chunk_of(leaf)
        if chunk is not None:
            by_chunk.setdefault(id(chunk), []).append((leaf, slot))
    staged = {}
    for members in by_chunk.values():
        chunk = context.chunk_of(members[0][0])
        if chunk.device == "cpu" and len(members) == len(chunk.params) and \
                {id(leaf) for leaf, _ in members} == {id(p) for p in chunk.params} and \
                all(context.own_memory(slot, uses) and slot.buf.shape == leaf.array.shape
                    and slot.buf.dtype == chunk.dtype for leaf, slot in members):
            staged[id(chunk)] = _stage(chunk, members)
    groups: list[tuple[Any, list[Tensor], list[Any], Any, list[tuple[Tensor, Source]]]] = []
    placed: set[int] = set()
    for leaf, slot in pairs:
        chunk = context.chunk_of(leaf)
        if chunk is not None and id(chunk) in staged:
            if id(chunk) not in placed:  # the chunk's group goes where its first leaf is
                placed.add(id(chunk))
                groups.append(staged[id(chunk)])
            continue
        source: Source = slot.buf
        home: Any = leaf._grad_home  # a GradSlot of chunk, where chunk_of found one
        if chunk is not None and chunk.device == "cpu" and slot.buf.dtype == chunk.dtype and \
                slot.buf.shape == chunk.shapes[home.index]:  # the engine's test
            groups.append((None, [leaf], [leaf._grad_home], slot.buf, [(leaf, source)]))
            continue
        writer = _only_writer(slot, context, uses) if leaf._grad_home is None else None
        if writer is not None:
            source = fresh[id(writer)] = FreshOutput(slot, leaf)
        groups.append((None, [leaf], [], None, [(leaf, source)]))
    return Accumulation(groups, run[0].args[2])


def _stage(chunk: Any, members: list[tuple[Tensor, Slot]]) -> tuple[Any, ...]:
    """Move the gradients of every parameter of ``chunk`` into one buffer laid out as its
    gradient buffer; the group of an :class:`Accumulation` handing it over."""
    flat = numpy.empty(chunk.size, dtype=chunk.dtype)
    views = chunk.views_of(flat)
    for leaf, slot in members:
        home: Any = leaf._grad_home  # a GradSlot of chunk
        view = views[home.index]
        view[...] = slot.buf
        slot.buf = view
    leaves = [leaf for leaf, _ in members]
    return (chunk, leaves, [leaf._grad_home for leaf in leaves], flat,
            [(leaf, slot.buf) for leaf, slot in members])


def _only_writer(slot: Slot, context: _Context, uses: dict[int, int]) -> Instr | None:
    """The call computing ``slot`` if it may write into a fresh array at each replay: the
    slot has its own memory, and only two calls touch it, this one, which writes it whole
    without reading it (as its ``out`` or as the destination of an ``assign``), and the
    accumulation."""
    if not context.own_memory(slot, uses):
        return None
    users = context.touching.get(slot.group, [])
    if len(users) != 2 or users[1].kind != "accumulate" or users[0].kind != "call":
        return None
    writer = users[0]
    kwargs = dict(writer.kwargs)
    out = kwargs.pop("out", None)
    args: tuple = writer.args
    if writer.fn is assign and args and args[0] is slot:
        args = args[1:]
    elif not (out is slot or out == (slot,)):
        return None
    if any(s is slot for s in _slots_in((args, kwargs))):
        return None
    return writer
