"""Recording the NumPy calls of one training step (the tracing half of :mod:`minigrad.jit`).

While a :class:`Recorder` records, the arrays that flow through the step are
:class:`TracedArray` views: an ``ndarray`` subclass whose every computation is caught and
written down as an :class:`Instr` before it runs (on plain arrays, so the values are exactly
eager minigrad's):

* ufuncs, with their methods (``reduce``, ``at``, ...) and ``out=``, through
  ``__array_ufunc__``; operators (``a + b``, ``a @ b``, ``a += b``) are ufuncs;
* ``np.*`` functions through ``__array_function__``;
* ``ndarray`` methods, overridden one by one: views (``reshape``, ``T``, basic indexing)
  become fixed views of their buffer, copies and reductions become instructions, in-place
  methods (``fill``, ``__setitem__``, ``sort``) record what they write, and host reads
  (``float()``, ``int()``, ``bool()``, ``item()``, ``tolist()``, ``repr``) become *guards*.
  Every other method refuses the trace: nothing unknown is ever baked in as a constant.

Arrays come into the step from four sources, each caught:

* the step's tensor arguments and the known leaves (parameters, buffers), whose ``.array``
  is swapped for a traced view while recording;
* array creation (``np.zeros``, ``np.ones``, ``np.full``, ``np.arange``, ``np.asarray`` of
  Python numbers, ...), patched in the ``numpy`` module while this thread records;
* random draws, through ``backend.generator`` (patched likewise): at replay each draw is
  made again from the device's generator, so dropout gets a fresh mask every step;
* any other plain array an instruction reads is an *external*: read by reference at replay.
  An external that does not outlive the trace was a temporary made by a path not caught
  above, and refuses the trace.

Three calls are *opaque*: they run eagerly (their own Python code reads learning rates,
step counts and ``.grad`` afresh) at their place in the replay, and are recorded as calls:
``Optimizer.step`` / ``zero_grad`` and ``Module.zero_grad`` of the objects the step
reaches, and the engine's accumulation of a gradient into a leaf (``engine._accumulate``),
which owns ``.grad`` (None or not, in-place accumulation, flat gradient buffers); a replay
runs one backward's accumulations as one call (see :mod:`minigrad.jit.gradients`). A profiler
watches the trace: optimizer code (anything under ``minigrad/optim``) or ``zero_grad`` that
runs without being opaque refuses it, as does a module whose ``forward`` runs but which was
not found (its parameters would not be traced).

Set ``MINIGRAD_JIT_DEBUG=1`` to print the stack where a trace is refused.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy

from minigrad import backend
from minigrad.autograd import engine
from minigrad.tensor import Tensor, wrap

_np = numpy.ndarray
_asarray = numpy.asarray  # the real one (the tracer patches numpy's while it records)
_state = threading.local()  # .recorder: the Recorder of this thread, while it records
_patch_lock = threading.RLock()
_OPTIM_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "optim") + os.sep


class Refused(Exception):
    """Raised inside the tracer for a call it cannot record; the trace is abandoned (the
    step still runs eagerly to its end) and the reason is reported."""


def owner_of(array: Any) -> Any:
    """The array that owns ``array``'s memory (the end of its ``.base`` chain)."""
    while array.base is not None and isinstance(array.base, _np):
        array = array.base
    return array


class Slot:
    """One array value of the program: ``buf`` is the plain array the replay computes in
    (the trace-time result itself, so layouts and strides are eager's), ``group`` the id of
    the memory it lives in (views share their base's group).

    ``kind``: ``"arg"`` (an argument, copied in at each call), ``"out"`` (written by an
    instruction), ``"view"`` (a fixed view of another slot's memory), ``"ext"`` (an external
    array, by reference), ``"const"`` (made by a creation call)."""

    __slots__ = ("buf", "group", "kind", "index", "__weakref__")

    def __init__(self, buf: Any, kind: str, index: int) -> None:
        self.buf = buf
        self.group = id(owner_of(buf))
        self.kind = kind
        self.index = index


class Instr:
    """A recorded call: ``fn(*args, **kwargs)`` with slots in ``args``/``kwargs`` standing
    for their buffers. ``reads``/``writes`` are the slots used and changed; ``pure`` is
    False for calls with effects beyond their writes (draws, opaque calls, guards);
    ``sig`` describes the call for comparing two traces."""

    __slots__ = ("kind", "fn", "args", "kwargs", "reads", "writes", "pure", "sig", "data")

    def __init__(self, kind: str, fn: Callable[..., Any], args: tuple, kwargs: dict,
                 reads: list[Slot], writes: list[Slot], pure: bool, sig: Any,
                 data: Any = None) -> None:
        self.kind, self.fn, self.args, self.kwargs = kind, fn, args, kwargs
        self.reads, self.writes, self.pure, self.sig, self.data = reads, writes, pure, sig, data


class TracedArray(_np):
    """A NumPy array whose computations are recorded while a :class:`Recorder` records
    (outside a trace it computes as a plain array and returns plain results)."""

    _slot: Slot | None = None

    def __array_finalize__(self, obj: Any) -> None:
        self._slot = None  # a view numpy made on its own: not tracked, refused if used

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        rec = active()
        if rec is None:
            return _plain_call(getattr(ufunc, method), inputs, kwargs)
        return rec.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        rec = active()
        if rec is None or func in _METADATA_FUNCTIONS:
            return _plain_call(func, args, kwargs)
        return rec.function(func, args, kwargs)

    @property
    def T(self) -> Any:
        return _method_call(self, "transpose", (), {})

    @property
    def mT(self) -> Any:
        return _method_call(self, "swapaxes", (-1, -2), {})

    def __iter__(self) -> Iterator[Any]:
        return (self[i] for i in range(len(self)))


if TYPE_CHECKING:
    class _Tracked(TracedArray):
        """For the type checker: a TracedArray the recorder made, whose slot is set."""

        _slot: Slot
else:  # at run time the very same class: _Tracked only tells mypy that the slot is set
    _Tracked = TracedArray


def _plain(x: Any) -> Any:
    """``x`` with traced arrays (also inside tuples, lists, dicts) as plain views."""
    if isinstance(x, TracedArray):
        return _np.view(x, _np)
    if isinstance(x, (tuple, list)):
        return type(x)(_plain(v) for v in x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def _plain_call(fn: Callable[..., Any], args: Any, kwargs: dict) -> Any:
    """``fn`` on plain views; with ``out=``, the given output arrays are returned (NumPy's
    rule), not their plain views."""
    result = fn(*_plain(tuple(args)), **_plain(kwargs))
    out = kwargs.get("out")
    if out is None:
        return result
    if isinstance(out, tuple):
        return out[0] if len(out) == 1 else out
    return out


def active() -> "Recorder | None":
    """The recorder of this thread while it records (None when not, when suspended, and
    while the recorder itself runs NumPy: NumPy's own Python code calls ``np.empty`` & co.)."""
    rec = getattr(_state, "recorder", None)
    return rec if rec is not None and rec.recording and not rec.inside else None


def _entry(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a recorder method as an entry point: NumPy calls it makes are not recorded."""
    def entered(self: "Recorder", *args: Any, **kwargs: Any) -> Any:
        self.inside = True
        try:
            return method(self, *args, **kwargs)
        finally:
            self.inside = False
    entered.__name__ = method.__name__
    entered.__doc__ = method.__doc__
    return entered


# --- ndarray methods ------------------------------------------------------------------------

# methods that compute a new array or a view (recorded); those taking out= write into the buffer
_PURE_METHODS = {"all", "any", "argmax", "argmin", "argsort", "astype", "clip", "conj",
                 "conjugate", "copy", "cumprod", "cumsum", "diagonal", "dot", "flatten", "max",
                 "mean", "min", "prod", "ravel", "repeat", "reshape", "round", "squeeze", "std",
                 "sum", "swapaxes", "take", "trace", "transpose", "var", "view", "__getitem__",
                 "__copy__", "__deepcopy__", "choose", "searchsorted", "getfield", "byteswap",
                 "argpartition"}
_OUT_METHODS = {"all", "any", "argmax", "argmin", "clip", "cumprod", "cumsum", "max", "mean",
                "min", "prod", "round", "std", "sum", "take", "var", "trace"}
_INPLACE_METHODS = {"fill", "sort", "partition", "put", "__setitem__", "setfield"}
_HOST_READS = {"item", "tolist", "tobytes", "__float__", "__int__", "__bool__", "__index__",
               "__complex__", "__repr__", "__str__", "__format__", "__contains__"}
# whatever else ndarray offers and is not plain metadata refuses the trace
_METADATA = {"base", "ctypes", "data", "device", "dtype", "flags", "flat", "imag", "itemsize",
             "nbytes", "ndim", "real", "shape", "size", "strides", "T", "mT"}
_DATA_DEPENDENT_SHAPE = {"nonzero", "compress"}


def _method_call(self: TracedArray, name: str, args: tuple, kwargs: dict) -> Any:
    rec = active()
    method = getattr(_np, name)
    if rec is None:
        return method(_np.view(self, _np), *_plain(args), **_plain(kwargs))
    return rec.method(self, name, method, args, kwargs)


def _make_method(name: str) -> Callable[..., Any]:
    def method(self: TracedArray, *args: Any, **kwargs: Any) -> Any:
        return _method_call(self, name, args, kwargs)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``ndarray.{name}``, recorded while tracing."
    return method


for _name in sorted(_PURE_METHODS | _INPLACE_METHODS | _HOST_READS | {
        n for n in dir(_np) if not n.startswith("_") and n not in _METADATA}):
    if callable(getattr(_np, _name, None)) and _name not in ("T", "mT"):
        setattr(TracedArray, _name, _make_method(_name))

_METADATA_FUNCTIONS = {numpy.shape, numpy.ndim, numpy.size, numpy.result_type,
                       numpy.may_share_memory, numpy.shares_memory, numpy.iscomplexobj,
                       numpy.isrealobj, numpy.can_cast, numpy.min_scalar_type}
_WRITES_FIRST = {numpy.copyto, numpy.put, numpy.place, numpy.putmask, numpy.fill_diagonal,
                 numpy.put_along_axis}
_DATA_DEPENDENT_FUNCTIONS = {numpy.nonzero, numpy.argwhere, numpy.flatnonzero, numpy.unique,
                             numpy.extract, numpy.compress, numpy.trim_zeros}


# --- replay helpers (the callables instructions are built from) ------------------------------

# The helpers below copy with ``dst[...] = value``: an unsafe cast and broadcast like
# ``numpy.copyto(dst, value, casting="unsafe")``, without its dispatch through Python.

def assign(dst: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """``dst[...] = fn(*args, **kwargs)``: a call without ``out=``, into its buffer."""
    dst[...] = fn(*args, **kwargs)


def copy_into(dst: Any, src: Any) -> None:
    dst[...] = src


def fill(dst: Any, value: Any) -> None:
    dst.fill(value)


def setitem(dst: Any, index: Any, value: Any) -> None:
    dst[index] = value


def draw(dst: Any, device: str, name: str, args: tuple, kwargs: dict) -> None:
    """A random draw made again from ``device``'s generator (``backend.generator``)."""
    dst[...] = getattr(_real_generator(device), name)(*args, **kwargs)


def call_method(obj: Any, name: str, args: tuple, kwargs: dict) -> None:
    """An opaque call: ``obj.name(*args, **kwargs)``, looked up at each replay (so a wrapper
    a scheduler put on ``optimizer.step`` runs too)."""
    getattr(obj, name)(*args, **kwargs)


def accumulate(leaf: Tensor, buf: Any, device: str, create_graph: bool) -> None:
    """The engine's accumulation of the gradient ``buf`` into ``leaf.grad``; the buffer is
    marked as owned, so the engine copies it rather than keeping it (the next replay
    overwrites it)."""
    _real_accumulate(leaf, wrap(buf, device), create_graph, {id(owner_of(buf))})


def adopt(leaf: Tensor, array: Any, device: str) -> None:
    """The engine's accumulation of a gradient the program does not keep (a fresh array):
    not marked as owned, so the engine may make it ``leaf.grad`` itself, as in eager."""
    _real_accumulate(leaf, wrap(array, device), False, set())


# --- the recorder ---------------------------------------------------------------------------

_SIMPLE = (int, float, bool, str, type(None), complex, slice, type(Ellipsis), numpy.dtype,
           numpy.generic, type)


class Recorder:
    """Records one call of a step function: instructions, slots, guards and opaque calls.

    ``leaves`` maps each known leaf tensor to its original array; while recording, its
    ``.array`` is a traced view of that array (swapped back during opaque calls).
    ``refused`` holds the first reason the trace cannot be used (the call still runs to
    its end eagerly); ``discovered`` the objects that a later trace should know.
    """

    def __init__(self, leaves: dict[Tensor, Any], modules: set[int],
                 opaque: list[tuple[Any, str]]) -> None:
        self.instrs: list[Instr] = []
        self.slots: list[Slot] = []
        self.leaves = leaves
        self.leaf_slots: dict[Tensor, Slot] = {}
        self.leaf_traced: dict[Tensor, Any] = {}
        self.modules = modules
        self.opaque = opaque
        self.externals: dict[int, Slot] = {}
        self.unknown_externals: list[Slot] = []
        self.traced_groups: set[int] = set()
        self.recording = False
        self.inside = False
        self.refused: str | None = None
        self.discovered: list[Any] = []
        self.arg_slots: list[Slot] = []
        self.used_devices: set[str] = set()

    # --- slots ------------------------------------------------------------------------
    def new_slot(self, buf: Any, kind: str) -> Slot:
        slot = Slot(buf, kind, len(self.slots))
        self.slots.append(slot)
        if kind != "ext":
            self.traced_groups.add(slot.group)
        return slot

    def traced(self, buf: Any, kind: str) -> _Tracked:
        """A new slot around the plain array ``buf``, as the traced array code sees."""
        if not isinstance(buf, _np):
            buf = _asarray(buf)
        slot = self.new_slot(buf, kind)
        view = _np.view(buf, _Tracked)
        view._slot = slot
        return view

    def view_of(self, base: Slot, view: Any) -> _Tracked:
        """A fixed view of a slot's memory (no instruction: the view is made once)."""
        slot = Slot(view, "view", len(self.slots))
        slot.group = base.group
        self.slots.append(slot)
        traced = _np.view(view, _Tracked)
        traced._slot = slot
        return traced

    def external(self, array: Any) -> Slot:
        """The slot of a plain array an instruction uses (read by reference at replay)."""
        slot = self.externals.get(id(array))
        if slot is not None and slot.buf is array:
            return slot
        if id(owner_of(array)) in self.traced_groups:
            raise Refused("a plain NumPy view of an array computed in the step was used "
                          "(made by a call the tracer does not see)")
        slot = self.new_slot(array, "ext")
        self.externals[id(array)] = slot
        if not any(array is a for a in self.leaves.values()):
            self.unknown_externals.append(slot)
        return slot

    def operand(self, x: Any) -> tuple[Any, Any]:
        """``(plain value, spec)`` of one argument: a slot for arrays, the value otherwise
        (structures are walked)."""
        if isinstance(x, TracedArray):
            slot = x._slot
            if slot is None:
                raise Refused("an array view made by NumPy outside the tracer was used")
            return slot.buf, slot
        if isinstance(x, _np):
            slot = self.external(x)
            return x, slot
        if isinstance(x, (tuple, list)):
            pairs = [self.operand(v) for v in x]
            return type(x)(p for p, _ in pairs), type(x)(s for _, s in pairs)
        if isinstance(x, dict):
            named = {k: self.operand(v) for k, v in x.items()}
            return {k: p for k, (p, _) in named.items()}, {k: s for k, (_, s) in named.items()}
        if isinstance(x, _SIMPLE) or callable(x) and getattr(x, "__module__", "") == "numpy":
            return x, x
        raise Refused(f"an argument of type {type(x).__name__} was passed to a NumPy call")

    def record(self, kind: str, fn: Callable[..., Any], args: tuple, kwargs: dict,
               writes: list[Slot], pure: bool = True, sig: Any = None,
               data: Any = None) -> Instr:
        reads = [] if kind == "create" else _slots_in((args, kwargs))
        instr = Instr(kind, fn, args, kwargs, reads, writes, pure,
                      (kind, sig if sig is not None else getattr(fn, "__name__", repr(fn)),
                       _signature((args, kwargs))), data)
        self.instrs.append(instr)
        return instr

    # --- what TracedArray forwards --------------------------------------------------------
    @_entry
    def ufunc(self, ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
        if any(isinstance(x, Tensor) for x in inputs):
            return NotImplemented  # array (op) Tensor: Tensor's reflected operator decides
        try:
            plain_inputs, specs = self.operand(inputs)
            out = kwargs.get("out")
            plain_kwargs, spec_kwargs = self.operand(kwargs)
            call = getattr(ufunc, method)
            result = call(*plain_inputs, **plain_kwargs)
            if method == "at":
                self.record("call", call, specs, spec_kwargs, [specs[0]],
                            sig=f"{ufunc.__name__}.at")
                return None
            if out is not None:
                outs = out if isinstance(out, tuple) else (out,)
                out_slots = [self.operand(o)[1] for o in outs]
                self.record("call", call, specs, spec_kwargs, out_slots,
                            sig=f"{ufunc.__name__}.{method}")
                return outs[0] if len(outs) == 1 else outs
            results = result if isinstance(result, tuple) else (result,)
            traced = [self.traced(r, "out") for r in results]
            spec_kwargs = dict(spec_kwargs)
            spec_kwargs["out"] = tuple(t._slot for t in traced)
            self.record("call", call, specs, spec_kwargs, [t._slot for t in traced],
                        sig=f"{ufunc.__name__}.{method}")
            return traced[0] if len(traced) == 1 else tuple(traced)
        except Refused as exc:
            self.refuse(str(exc))
            return _plain_call(getattr(ufunc, method), inputs, kwargs)

    @_entry
    def function(self, func: Any, args: tuple, kwargs: dict) -> Any:
        name = getattr(func, "__name__", repr(func))
        try:
            if func in _DATA_DEPENDENT_FUNCTIONS:
                raise Refused(f"numpy.{name} gives a result whose shape depends on the data")
            plain_args, specs = self.operand(tuple(args))
            plain_kwargs, spec_kwargs = self.operand(dict(kwargs))
            if name in ("zeros_like", "ones_like", "empty_like", "full_like"):
                result = func(*plain_args, **plain_kwargs)
                return self.creation(result, name)
            result = func(*plain_args, **plain_kwargs)
            if func in _WRITES_FIRST:
                self.record("call", func, specs, spec_kwargs, [specs[0]], sig=name)
                return result
            if "out" in kwargs and kwargs["out"] is not None:
                outs = kwargs["out"] if isinstance(kwargs["out"], tuple) else (kwargs["out"],)
                self.record("call", func, specs, spec_kwargs,
                            [self.operand(o)[1] for o in outs], sig=name)
                return kwargs["out"]
            return self.results(result, func, specs, spec_kwargs, plain_args, name)
        except Refused as exc:
            self.refuse(str(exc))
            return _plain_call(func, args, kwargs)

    def results(self, result: Any, fn: Callable[..., Any], specs: Any, spec_kwargs: dict,
                plain_inputs: Any, name: str, out_ok: bool = False) -> Any:
        """Turn a plain result into traced values: a view of an input stays a fixed view,
        the input itself stays itself, new arrays get a buffer and an instruction."""
        if isinstance(result, tuple) and all(isinstance(r, _np) for r in result):
            if any(self._input_view(r, specs) is not None for r in result):
                raise Refused(f"{name} returned views of its inputs in a tuple")
            outs = [self.traced(r, "out") for r in result]
            self.record("call", _assign_all, (tuple(t._slot for t in outs), fn, specs),
                        spec_kwargs, [t._slot for t in outs], sig=name)
            return tuple(outs)
        if isinstance(result, numpy.generic):
            result = _asarray(result)
        if not isinstance(result, _np):
            raise Refused(f"{name} returned a {type(result).__name__}, not an array")
        same = self._input_view(result, specs)
        if same is not None:
            slot, is_same = same
            if is_same:
                return _as_traced(slot)
            return self.view_of(slot, result)
        traced = self.traced(result, "out")
        if out_ok:
            kw = dict(spec_kwargs)
            kw["out"] = traced._slot
            self.record("call", fn, specs, kw, [traced._slot], sig=name)
        else:
            self.record("call", assign, (traced._slot, fn) + tuple(specs), spec_kwargs,
                        [traced._slot], sig=name)
        return traced

    def _input_view(self, result: Any, specs: Any) -> tuple[Slot, bool] | None:
        """The slot whose memory ``result`` views, and whether it is that very buffer."""
        for slot in _slots_in(specs):
            if result is slot.buf:
                return slot, True
        for slot in _slots_in(specs):
            if numpy.may_share_memory(result, slot.buf):
                return slot, False
        return None

    @_entry
    def method(self, traced: TracedArray, name: str, method: Callable[..., Any],
               args: tuple, kwargs: dict) -> Any:
        try:
            plain_self, self_slot = self.operand(traced)
            plain_args, spec_args = self.operand(tuple(args))
            plain_kwargs, spec_kwargs = self.operand(dict(kwargs))
            if name in _HOST_READS:
                return self.host_read(self_slot, method(plain_self, *plain_args, **plain_kwargs),
                                      name)
            if name in _INPLACE_METHODS:
                if name == "__setitem__":
                    _refuse_mask(plain_args[0], name)
                    result = method(plain_self, *plain_args, **plain_kwargs)
                    self.record("call", setitem, (self_slot,) + spec_args, spec_kwargs,
                                [self_slot], sig="setitem")
                    return result
                result = method(plain_self, *plain_args, **plain_kwargs)
                self.record("call", method, (self_slot,) + spec_args, spec_kwargs,
                            [self_slot], sig=name)
                return result
            if name not in _PURE_METHODS:
                raise Refused(f"ndarray.{name} is not supported by the tracer")
            if name in ("__copy__", "__deepcopy__"):
                raise Refused(f"copy.{name.strip('_')} of an array in the step")
            if name == "__getitem__":
                _refuse_mask(plain_args[0], name)
            result = method(plain_self, *plain_args, **plain_kwargs)
            if name in ("astype", "copy") and isinstance(result, _np) and \
                    result is not plain_self:
                traced_result = self.traced(result, "out")
                self.record("call", copy_into, (traced_result._slot, self_slot), {},
                            [traced_result._slot], sig=name)
                return traced_result
            return self.results(result, method, (self_slot,) + spec_args, spec_kwargs,
                                None, name, out_ok=name in _OUT_METHODS
                                and "out" not in kwargs)
        except Refused as exc:
            self.refuse(str(exc))
            return method(_np.view(traced, _np), *_plain(args), **_plain(kwargs))

    def host_read(self, slot: Slot, value: Any, name: str) -> Any:
        """A value read back to Python: its array must hold the same bytes at replay (a
        guard), or control flow could differ."""
        self.record("guard", _no_op, (slot,), {}, [], pure=False, sig=name,
                    data=slot.buf.tobytes())
        return value

    def creation(self, result: Any, name: str) -> _Tracked:
        """An array made by a creation call: a constant, remade at replay only if the step
        writes into it (``empty``: left as it is, its values are undefined)."""
        traced = self.traced(result, "const")
        snapshot = result.copy()
        if name.startswith("empty"):
            self.record("create", _no_op, (traced._slot,), {}, [traced._slot],
                        sig=(name, result.shape, result.dtype.str), data=snapshot)
        else:
            self.record("create", copy_into, (traced._slot, snapshot), {}, [traced._slot],
                        sig=(name, result.shape, result.dtype.str, snapshot.tobytes()),
                        data=snapshot)
        return traced

    def check_constants(self) -> None:
        """Refuse the trace if an array made in the step changed behind the tracer's back
        (NumPy's own C code, e.g. a generator the step owns, filling an ``np.empty``)."""
        written = {s.group for i in self.instrs if i.kind != "create" for s in i.writes}
        for instr in self.instrs:
            if instr.kind == "create" and instr.writes[0].group not in written and \
                    instr.writes[0].buf.tobytes() != instr.data.tobytes():
                self.refuse("an array made during the step was filled by a call the tracer "
                            "does not see (NumPy code outside minigrad, such as a generator "
                            "of the step's own)")

    # --- random draws and opaque calls ----------------------------------------------------
    @_entry
    def random_draw(self, device: str, gen: Any, name: str, args: tuple, kwargs: dict) -> Any:
        try:
            plain_args, spec_args = self.operand(tuple(args))
            plain_kwargs, spec_kwargs = self.operand(dict(kwargs))
            if _slots_in((spec_args, spec_kwargs)):
                raise Refused(f"a random draw ({name}) took arrays as arguments")
            result = getattr(gen, name)(*plain_args, **plain_kwargs)
            if not isinstance(result, _np):
                raise Refused(f"a random draw ({name}) returned a {type(result).__name__}")
            traced = self.traced(result, "out")
            self.record("draw", draw, (traced._slot, device, name, spec_args, spec_kwargs), {},
                        [traced._slot], pure=False, sig=name)
            return traced
        except Refused as exc:
            self.refuse(str(exc))
            return getattr(gen, name)(*args, **kwargs)

    def opaque_call(self, obj: Any, name: str, original: Callable[..., Any], args: tuple,
                    kwargs: dict) -> Any:
        """Run ``obj.name`` eagerly with the leaves' own arrays, and record the call."""
        if not all(isinstance(v, _SIMPLE) for v in (*args, *kwargs.values())):
            self.refuse(f"{type(obj).__name__}.{name}() was called with arguments other than "
                        "plain Python values (a closure, tensors)")
        self.record("opaque", call_method, (obj, name, args, kwargs), {}, [], pure=False,
                    sig=(type(obj).__name__, name, repr(args), repr(sorted(kwargs.items()))))
        with self.suspended():
            return original(*args, **kwargs)

    def accumulate(self, leaf: Tensor, grad: Tensor, create_graph: bool, owned: set) -> None:
        try:
            if create_graph:
                raise Refused("backward(create_graph=True) in the step")
            if leaf not in self.leaves:
                raise Refused(f"backward reached a leaf tensor of shape {leaf.shape} that is "
                              "not a parameter or buffer the step's closure refers to")
            plain, slot = self.operand(grad.array)
        except Refused as exc:
            self.refuse(str(exc))
            with self.suspended():
                return _real_accumulate(leaf, wrap(_plain(grad.array), grad.device),
                                        create_graph, owned)
        self.record("accumulate", accumulate, (leaf, slot, grad.device, create_graph), {}, [],
                    pure=False, sig=("accumulate", id(leaf)))
        owned.add(id(owner_of(plain)))  # copied, never kept: the buffer is reused
        with self.suspended():
            _real_accumulate(leaf, wrap(plain, grad.device), create_graph, owned)

    def refuse(self, reason: str) -> None:
        if self.refused is None:
            self.refused = reason
            if os.environ.get("MINIGRAD_JIT_DEBUG"):  # where the trace was refused
                import traceback
                traceback.print_stack()

    # --- switching ------------------------------------------------------------------------
    def swap_in(self) -> None:
        for leaf, traced in self.leaf_traced.items():
            leaf.array = traced

    def swap_out(self) -> None:
        for leaf, original in self.leaves.items():
            if leaf.array is not self.leaf_traced.get(leaf, original):
                self.refuse(f"the array of a leaf of shape {leaf.shape} was replaced during "
                            "the step (.data = ..., .to())")
            leaf.array = original

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """Run eagerly (an opaque call): nothing recorded, leaves hold their own arrays."""
        if not self.recording:
            yield
            return
        self.recording = False
        self.swap_out()
        try:
            yield
        finally:
            for leaf, original in self.leaves.items():
                if leaf.array is not original:
                    self.refuse(f"an opaque call replaced the array of a leaf of shape "
                                f"{leaf.shape}")
            self.swap_in()
            self.recording = True

    @contextlib.contextmanager
    def recording_on(self) -> Iterator[None]:
        """Record on this thread: traced leaves, patched creation and random draws, and a
        profiler watching for optimizer code that is not opaque."""
        for leaf, original in self.leaves.items():
            self.leaf_traced[leaf] = self._leaf_view(leaf, original)
        _patch_lock.acquire()
        _state.pending = self
        patches = _install_patches()
        _state.pending = None
        previous_profile = sys.getprofile()
        wrapped = _wrap_opaque(self)
        _state.recorder = self
        self.swap_in()
        self.recording = True
        sys.setprofile(self._profile)
        try:
            yield
        finally:
            sys.setprofile(previous_profile)
            self.recording = False
            _state.recorder = None
            self.swap_out()
            _unwrap_opaque(wrapped)
            _remove_patches(patches)
            _patch_lock.release()

    def _leaf_view(self, leaf: Tensor, original: Any) -> _Tracked:
        slot = self.new_slot(original, "ext")
        self.externals[id(original)] = slot
        self.leaf_slots[leaf] = slot
        traced = _np.view(original, _Tracked)
        traced._slot = slot
        return traced

    def _profile(self, frame: Any, event: str, arg: Any) -> None:
        if event != "call" or not self.recording:
            return
        code = frame.f_code
        if code.co_filename.startswith(_OPTIM_DIR) or code in _ZERO_GRAD_CODES:
            owner = frame.f_locals.get("self")
            self.refuse(f"{code.co_qualname if hasattr(code, 'co_qualname') else code.co_name}"
                        " ran inside the step without being treated as opaque (an optimizer "
                        "or scheduler the step's closure does not refer to)")
            if owner is not None:
                self.discovered.append(owner)
        elif code is _MODULE_CALL_CODE:
            module = frame.f_locals.get("self")
            if module is not None and id(module) not in self.modules:
                self.refuse(f"the module {type(module).__name__} ran in the step but is not "
                            "reachable from the step's closure")
                self.discovered.append(module)


def _no_op(*args: Any) -> None:
    return None


def _assign_all(dsts: tuple, fn: Callable[..., Any], args: tuple, **kwargs: Any) -> None:
    for dst, value in zip(dsts, fn(*args, **kwargs)):
        dst[...] = value


def _as_traced(slot: Slot) -> _Tracked:
    traced = _np.view(slot.buf, _Tracked)
    traced._slot = slot
    return traced


def _refuse_mask(index: Any, name: str) -> None:
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if isinstance(part, _np) and part.dtype == numpy.bool_:
            raise Refused("indexing with a boolean mask (its result's shape depends on the "
                          "data)")
        if isinstance(part, (list, tuple)) and any(isinstance(v, (bool, numpy.bool_))
                                                   for v in part):
            raise Refused("indexing with a boolean list")


def _slots_in(spec: Any) -> list[Slot]:
    found: list[Slot] = []
    stack = [spec]
    while stack:
        x = stack.pop()
        if isinstance(x, Slot):
            found.append(x)
        elif isinstance(x, (tuple, list)):
            stack.extend(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, slice):
            stack.extend((x.start, x.stop, x.step))
    return found


def _signature(spec: Any) -> Any:
    """A comparable description of a call's arguments: slots by kind and number, values by
    their repr (objects of opaque calls by identity)."""
    if isinstance(spec, Slot):
        return ("slot", spec.kind, spec.index, spec.buf.shape, spec.buf.dtype.str) + \
            ((id(spec.buf),) if spec.kind == "ext" else ())
    if isinstance(spec, (tuple, list)):
        return tuple(_signature(v) for v in spec)
    if isinstance(spec, dict):
        return tuple(sorted((k, _signature(v)) for k, v in spec.items()))
    if isinstance(spec, _np):
        return ("const", spec.shape, spec.dtype.str, spec.tobytes())
    if isinstance(spec, (Tensor,)) or not isinstance(spec, _SIMPLE):
        return ("object", id(spec))
    return repr(spec)


# --- patches installed while a thread records ------------------------------------------------

_CREATION_NAMES = ("zeros", "ones", "empty", "full", "arange", "eye", "identity", "linspace",
                   "asarray", "array", "ascontiguousarray", "asanyarray", "frombuffer",
                   "fromiter")
_real_numpy = {name: getattr(numpy, name) for name in _CREATION_NAMES}
_real_generator = backend.generator
# the engine's accumulation of a gradient into a leaf (None if the engine renamed it: then
# every trace is refused, see _install_patches)
_real_accumulate: Any = getattr(engine, "_accumulate", None)


def _creation(name: str) -> Callable[..., Any]:
    real = _real_numpy[name]

    def patched(*args: Any, **kwargs: Any) -> Any:
        rec = active()
        if rec is None:
            return real(*args, **kwargs)
        return _record_creation(rec, name, real, args, kwargs)
    patched.__name__ = name
    patched.__wrapped__ = real  # type: ignore[attr-defined]
    return patched


def _record_creation(rec: Recorder, name: str, real: Callable[..., Any], args: tuple,
                     kwargs: dict) -> Any:
    rec.inside = True
    try:
        return _creation_call(rec, name, real, args, kwargs)
    finally:
        rec.inside = False


def _creation_call(rec: Recorder, name: str, real: Callable[..., Any], args: tuple,
                   kwargs: dict) -> Any:
    try:
        if name in ("frombuffer", "fromiter"):
            raise Refused(f"numpy.{name} in the step")
        if name in ("asarray", "array", "ascontiguousarray", "asanyarray"):
            obj = args[0] if args else kwargs.get("a", kwargs.get("object"))
            if isinstance(obj, TracedArray) or isinstance(obj, _np):
                plain, slot = rec.operand(obj)
                result = real(plain, *args[1:], **{k: v for k, v in kwargs.items()
                                                   if k not in ("a", "object")})
                if result is plain:
                    return obj if isinstance(obj, TracedArray) else result
                traced = rec.traced(result, "out")
                rec.record("call", copy_into, (traced._slot, slot), {}, [traced._slot],
                           sig=name)
                return traced
            if _holds_arrays(obj):
                raise Refused(f"numpy.{name} of a sequence holding arrays")
            if isinstance(obj, numpy.generic):
                raise Refused(f"numpy.{name} of a NumPy scalar computed outside the trace")
        for value in (*args, *kwargs.values()):
            if isinstance(value, _np) or isinstance(value, numpy.generic) and \
                    not isinstance(value, numpy.dtype):
                raise Refused(f"numpy.{name} with an array or NumPy scalar argument")
        return rec.creation(real(*args, **kwargs), name)
    except Refused as exc:
        rec.refuse(str(exc))
        return real(*_plain(args), **_plain(kwargs))


def _holds_arrays(obj: Any) -> bool:
    if isinstance(obj, (_np, Tensor)):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_holds_arrays(v) for v in obj)
    return False


class _TracingGenerator:
    """Stands for a device's generator while a thread records: draws are recorded."""

    def __init__(self, device: str, real: Any) -> None:
        self._device, self._real = device, real

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if not callable(attr) or name.startswith("_"):
            return attr
        rec = active()
        if rec is None:
            return attr
        if name in ("shuffle", "bit_generator", "spawn"):
            rec.refuse(f"generator.{name} in the step")
            return attr

        def recorded(*args: Any, **kwargs: Any) -> Any:
            return rec.random_draw(self._device, self._real, name, args, kwargs)
        return recorded


def _generator(device: str) -> Any:
    rec = active()
    if rec is None:
        return _real_generator(device)
    rec.inside = True  # making a generator (after manual_seed) runs NumPy code
    try:
        return _TracingGenerator(device, _real_generator(device))
    finally:
        rec.inside = False


def _accumulate_hook(leaf: Tensor, grad: Tensor, create_graph: bool, owned: set,
                     *rest: Any) -> Any:
    rec = active()
    if rec is None or rest:
        if rec is not None:
            rec.refuse("the engine's _accumulate takes other arguments than the tracer knows")
        return _real_accumulate(leaf, grad, create_graph, owned, *rest)
    return rec.accumulate(leaf, grad, create_graph, owned)


def _install_patches() -> list[tuple[Any, str, Any]]:
    patches = [(numpy, name, _creation(name)) for name in _CREATION_NAMES]
    patches.append((backend, "generator", _generator))
    if _real_accumulate is not None and engine._accumulate is _real_accumulate:
        patches.append((engine, "_accumulate", _accumulate_hook))
    else:
        rec = getattr(_state, "pending", None)
        if rec is not None:
            rec.refuse("the engine's _accumulate(leaf, grad, create_graph, owned) is not "
                       "where the tracer expects it")
    undo = []
    for module, name, value in patches:
        undo.append((module, name, getattr(module, name)))
        setattr(module, name, value)
    return undo


def _remove_patches(undo: list[tuple[Any, str, Any]]) -> None:
    for module, name, value in reversed(undo):
        setattr(module, name, value)


def _wrap_opaque(rec: Recorder) -> list[tuple[Any, str, bool, Any]]:
    """Put an opaque wrapper on each ``(object, method name)`` of ``rec.opaque``, as an
    instance attribute over whatever ``obj.name`` was (a scheduler's wrapper included)."""
    undo = []
    for obj, name in rec.opaque:
        own = getattr(obj, "__dict__", None)
        if own is None:
            rec.refuse(f"cannot mark {type(obj).__name__}.{name} as opaque")
            continue
        had, saved = name in own, own.get(name)
        try:
            own[name] = _opaque_wrapper(rec, obj, name, getattr(obj, name))
            if getattr(obj, name) is not own[name]:
                raise AttributeError(name)
        except (AttributeError, TypeError):
            rec.refuse(f"cannot mark {type(obj).__name__}.{name} as opaque")
            continue
        undo.append((obj, name, had, saved))
    return undo


def _opaque_wrapper(rec: Recorder, obj: Any, name: str,
                    original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not rec.recording:
            return original(*args, **kwargs)
        return rec.opaque_call(obj, name, original, args, kwargs)
    return wrapper


def _unwrap_opaque(undo: list[tuple[Any, str, bool, Any]]) -> None:
    for obj, name, had, saved in reversed(undo):
        own = obj.__dict__
        if had:
            own[name] = saved
        else:
            own.pop(name, None)


def _codes() -> tuple[set[Any], Any]:
    from minigrad.nn.module import Module
    return {Module.zero_grad.__code__}, Module.__call__.__code__


_ZERO_GRAD_CODES, _MODULE_CALL_CODE = _codes()
