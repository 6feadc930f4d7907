"""``mg.compile(step_fn)``: trace one training step, then replay its NumPy calls.

A training step in eager minigrad spends most of its time on bookkeeping, not arithmetic:
building graph nodes, walking them backwards, checking versions and shapes. For fixed
shapes the arithmetic is the same every step, so :func:`compile` records the array calls
that one call of the step makes and afterwards replays them as a flat list of NumPy calls
into buffers allocated once, with no Tensor, graph or engine in between::

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    step = mg.compile(step)

**What is recorded** (see :mod:`minigrad.jit.tracer` for how): every ufunc, ``np.*``
function, ``ndarray`` method, array creation and random draw the step makes on its
arguments, on the parameters and buffers of the modules it reaches and on what is computed
from them. A call the tracer does not know refuses the trace; nothing is baked in as a
constant except Python values (a module's ``p``, a global scale, shape arithmetic,
literals), which are guarded where they come from, as far as the guards reach (below).

**What is not recorded but run at its place in each replay** (opaque): ``optimizer.step()``
and ``zero_grad()`` (so learning rates set by a scheduler, Adam's bias corrections and step
counts are read afresh, and flat parameter buffers are used as the optimizer wants), and
the engine's accumulation of each gradient into its leaf's ``.grad``: one call per
backward, in which an optimizer's flat chunk whose parameters all receive a gradient takes
them in one copy when it can (no gradient held yet, none of its memory referred to from
elsewhere), and every other case runs the engine's own accumulation leaf by leaf. Random
draws (dropout masks, ``mg.randn``) are drawn again from the same generator, so a replay
matches eager bit for bit under the same seed.

**How a replay runs.** Each recorded call is bound once to the program's buffers as a
``functools.partial`` in the form NumPy takes fastest (a ufunc with its outputs positional,
``ndarray.sum`` & co. as the ufunc's ``reduce``: the same C routines, the same bits), and
the replay calls them in order: the guards (a generated straight-line check, see
:mod:`minigrad.jit.guards`), the arguments copied in, the prelude and its value guards, the
rest, and the results copied out.

**When a replay is used.** The cache is keyed by the shapes, dtypes and devices of the
tensor arguments and the values of the other arguments. Each traced program also checks,
at each call, that the Python values the step's code used are still what they were when it
was traced (:mod:`minigrad.jit.guards` lists exactly which): the identity of every
parameter's and buffer's array (``.data =``, ``.to()`` and dtype casts change it) and
``requires_grad`` of each; every attribute of every module the step reaches (``training``,
``p``, ``eps``, ... by value; submodules and parameters by identity); grad mode and the
default dtype; and, for the step function and every plain function it reaches (through its
closure, defaults and globals, and the methods of module classes defined outside minigrad),
its closure variables, the globals its code names, its defaults, and the entries its code
names of the plain objects and dicts it holds (``cfg.temperature``). Python numbers (ints,
floats, bools, complex numbers, strings and tuples of them) must be equal bit for bit, other
objects identical; on any difference another traced variant is tried or the step is traced
again. A value read back to Python during the step (``int(target.min())`` in
cross-entropy's range check) becomes a guard: its inputs are computed first and the replay
runs only if the value is the same; otherwise another traced variant is tried or the step is
traced again. A read whose value depends on the parameters (``loss.item()``, ``if loss >
3:``) cannot be checked before the step has run, so such a step is not compiled: it runs
eagerly, with one warning naming the reason.

**Safety net.** A new program is trusted only after its first replay was compared with
eager: the second matching call replays, restores the state it changed (parameters,
buffers, gradients, optimizer state, the random generator), runs the step eagerly (traced
again), and compares every result bit for bit (by a BLAKE2 digest of each array, so that
no third copy of the state is kept), and the two traces call for call. On any
difference it warns and the step stays eager. Any failure to trace (an unknown call, a host
read of the parameters, an optimizer that is not reachable, a Python attribute the step
changes) warns once and makes the function eager for good.

**Returned values** are fresh Tensors holding copies of the step's results, so a returned
loss may be kept across calls; they carry no graph (``requires_grad=False``).

**Limits.** NumPy (``"cpu"``) only: a tensor on ``"cuda"`` runs eagerly. Python side
effects of the traced part (a counter incremented in ``forward``, a print) happen at trace
time only; the tracer refuses the changes it can see (a guarded variable or module
attribute the step rebinds, ``requires_grad``, parameter arrays). Python values the guards
do not reach are baked in: class attributes, attributes read by a computed name, objects
nested two levels inside a function's variables (``cfg.train.lr``), functions called through
a module object (``utils.f``), the contents of lists and sets, and
values from outside (``time.time()``, ``random.random()``). The intermediates of the step
stay allocated between calls (about 35 MB for 1024-4096-4096-10 at batch 256; sharing the
buffers whose lifetimes do not overlap would save about 12 MB of them, not done); the
gradients of parameters outside flat chunks are new arrays at each call, handed over as
``.grad`` without a copy (see :mod:`minigrad.jit.gradients`). ``._version`` counters are not
advanced by replayed ops. A ``.grad`` kept from an earlier step is not affected (its memory
is never written by a later replay).
"""
from __future__ import annotations

import copy
import functools
import gc
import hashlib
import inspect
import types
import warnings
import weakref
from typing import Any, Callable

import numpy

from minigrad import backend, grad_mode
from minigrad.jit.guards import StateGuard, is_library_code, scalar_key
from minigrad.jit.gradients import Accumulation, batch_accumulations
from minigrad.jit.tracer import Instr, Recorder, Slot, TracedArray, owner_of
from minigrad.tensor import Tensor, wrap

__all__ = ["compile", "CompiledStep"]

MAX_VARIANTS = 8  # traced programs kept per argument signature
MAX_TRACES = 32   # traces in all before a compiled function gives up and stays eager


def compile(step_fn: Callable[..., Any]) -> "CompiledStep":
    """``step_fn`` traced at its first call and replayed afterwards (see the module doc).

    The result is called like ``step_fn`` and returns what it returns (tensors as fresh
    copies); it falls back to calling ``step_fn`` eagerly whenever a replay would not be
    exact.
    """
    if not callable(step_fn):
        raise TypeError(f"mg.compile needs a callable, got {type(step_fn).__name__}")
    return CompiledStep(step_fn)


class CompiledStep:
    """A step function with a cache of traced programs (see :func:`compile`).

    ``stats`` counts calls by how they ran: ``"replay"``, ``"trace"``, ``"verify"`` and
    ``"eager"``; ``disabled`` holds the reason the function stays eager, if it does.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]
        self._name = getattr(fn, "__name__", type(fn).__name__)
        self.disabled: str | None = None
        self.stats = {"replay": 0, "trace": 0, "verify": 0, "eager": 0}
        self._cache: dict[Any, list[Program]] = {}
        self._traces = 0
        self._extra: list[Any] = []  # objects a refused trace discovered
        self._warned: set[str] = set()

    def reset(self) -> None:
        """Forget every traced program (the next call traces again) and any refusal."""
        self._cache.clear()
        self.disabled = None
        self._traces = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.disabled is not None:
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        key = self._key(args, kwargs)
        if key is None:
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        variants = self._cache.setdefault(key, [])
        for program in variants:
            if not (program.state.ok() and program.enter(args, kwargs)):
                continue
            if program.trusted:
                self.stats["replay"] += 1
                return program.run()
            return self._verify(program, args, kwargs)
        if len(variants) >= MAX_VARIANTS or self._traces >= MAX_TRACES:
            self._warn("limit", f"mg.compile({self._name}): more than {MAX_VARIANTS} "
                                "traced variants for one argument signature (or "
                                f"{MAX_TRACES} traces in all); new cases run eagerly")
            self.stats["eager"] += 1
            return self.fn(*args, **kwargs)
        result, traced = self._trace(args, kwargs)
        if traced is not None:
            variants.append(traced)
        return result

    # --- keys ---------------------------------------------------------------------------
    def _key(self, args: tuple, kwargs: dict) -> Any:
        """The cache key of a call (each tensor's shape and dtype, each other argument's
        :func:`~minigrad.jit.guards.scalar_key`, the keyword names), or None when it must
        run eagerly. (This runs at every call: the common case is a few attribute reads.)"""
        parts = []
        for value in (*args, *kwargs.values()) if kwargs else args:
            if isinstance(value, Tensor):
                array = value.array
                if type(array) is not numpy.ndarray or value.requires_grad or \
                        not array.flags.c_contiguous:
                    return self._eager_argument(value)
                parts.append((array.shape, array.dtype))
            else:
                key = scalar_key(value)
                if key is None:
                    return self._eager_argument(value)
                parts.append(key)
        return (tuple(parts), tuple(kwargs)) if kwargs else tuple(parts)

    def _eager_argument(self, value: Any) -> None:
        """Warn (once per kind) why an argument makes the call run eagerly."""
        if not isinstance(value, Tensor):
            self._warn("arg", f"mg.compile({self._name}): an argument of type "
                              f"{type(value).__name__} runs eagerly (tensors and plain "
                              "Python values are traced)")
        elif value.device != "cpu" or not isinstance(value.array, numpy.ndarray):
            self._warn("device", f"mg.compile({self._name}): only CPU (NumPy) "
                                 "tensors are traced; this call runs eagerly")
        else:
            self._warn("arg", f"mg.compile({self._name}): an argument that requires "
                              "grad or is not contiguous runs eagerly")
        return None

    # --- tracing ------------------------------------------------------------------------
    def _trace(self, args: tuple, kwargs: dict) -> tuple[Any, "Program | None"]:
        """Run the step once while recording; returns its result and the program (None
        when the trace cannot be used)."""
        self._traces += 1
        self.stats["trace"] += 1
        found = discover(self.fn, self._extra)
        rec = Recorder({t: t.array for t in found.leaves}, {id(m) for m in found.modules},
                       [(o, n) for o in found.optimizers for n in ("step", "zero_grad")]
                       + [(m, "zero_grad") for m in found.modules])
        state = StateGuard(found)
        tensors = [v for v in (*args, *kwargs.values()) if isinstance(v, Tensor)]
        originals = [t.array for t in tensors]
        for t in tensors:
            t.array = rec.traced(t.array.copy(), "arg")
            rec.arg_slots.append(t.array._slot)
        try:
            with rec.recording_on():
                result = self.fn(*args, **kwargs)
        finally:
            for t, original in zip(tensors, originals):
                t.array = original
        changed = state.first_change()
        if changed is not None:
            rec.refuse(f"the step changes {changed}, which a replay would not repeat")
        template = None
        if rec.refused is None:
            try:
                template = _template(result, rec)
            except _Unsupported as exc:
                rec.refuse(str(exc))
        program = None
        if rec.refused is None:
            rec.check_constants()
            _check_externals(rec)
        if rec.refused is None:
            try:
                program = Program(rec, template, state, found)
            except _Unsupported as exc:
                rec.refuse(str(exc))
        if rec.refused is not None:
            if rec.discovered and not self._extra:
                self._extra.extend(rec.discovered)  # the next call traces with them known
            else:
                self._give_up(f"the step cannot be traced: {rec.refused}")
            return _plain_result(result), None
        assert program is not None
        return program.outputs_from_trace(), program

    def _verify(self, program: "Program", args: tuple, kwargs: dict) -> Any:
        """The first replay of ``program`` (entered: its guards hold): compared bit for bit
        with eager (the same call traced again, from the same state) before the program is
        trusted."""
        snapshot = Snapshot(program)  # entering changed nothing but the program's buffers
        replayed = program.run()
        self.stats["verify"] += 1
        after_replay = snapshot.capture(replayed)
        snapshot.restore()
        result, again = self._trace(args, kwargs)
        if again is None:
            return result
        signature, again = again.signature, None  # its buffers are not needed any more
        difference = _difference(after_replay, snapshot.capture(result))
        if difference is None and signature != program.signature:
            difference = "the second trace made other calls than the first"
        if difference is not None:
            self._give_up(f"its replay differed from eager ({difference})")
            return result
        program.trusted = True
        return result

    def _give_up(self, reason: str) -> None:
        self.disabled = reason
        self._cache.clear()
        self._warn("disabled", f"mg.compile({self._name}) runs eagerly: {reason}")

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(message, RuntimeWarning, stacklevel=3)


class _Unsupported(Exception):
    pass


# --- what the step reaches --------------------------------------------------------------

class Found:
    """The modules, optimizers and leaf tensors a step function refers to, and the plain
    functions and bound methods whose Python variables its programs guard (see
    :mod:`minigrad.jit.guards`)."""

    def __init__(self) -> None:
        self.modules: list[Any] = []
        self.optimizers: list[Any] = []
        self.leaves: list[Tensor] = []
        self.functions: list[types.FunctionType] = []
        self.methods: list[types.MethodType] = []


def discover(fn: Callable[..., Any], extra: list[Any] | None = None) -> Found:
    """Walk ``fn``'s closure, defaults, referenced globals and bound objects (a few levels
    deep) for modules, optimizers (also through a scheduler's ``optimizer``) and tensors.
    Every module's submodules, parameters and buffers, and every optimizer's parameters,
    are found with them; so are the methods of module classes defined outside minigrad (a
    user's ``forward``), and the plain functions and bound methods met on the way (outside
    minigrad), whose variables are guarded."""
    from minigrad.nn.module import Module
    from minigrad.optim.optimizer import Optimizer

    found = Found()
    seen: set[int] = set()
    leaves: dict[int, Tensor] = {}

    def visit(obj: Any, depth: int) -> None:
        if id(obj) in seen or depth > 4:
            return
        seen.add(id(obj))
        if isinstance(obj, Module):
            for module in obj.modules():
                if id(module) not in {id(m) for m in found.modules}:
                    found.modules.append(module)
                    seen.add(id(module))
                    for t in (*module._parameters.values(), *module._buffers.values()):
                        if isinstance(t, Tensor):
                            leaves.setdefault(id(t), t)
                    for method in _own_methods(type(module)):
                        visit(method, depth + 1)
        elif isinstance(obj, Optimizer) or hasattr(obj, "param_groups") and \
                hasattr(obj, "step"):
            found.optimizers.append(obj)
            for group in getattr(obj, "param_groups", ()):
                for p in group.get("params", ()):
                    if isinstance(p, Tensor):
                        leaves.setdefault(id(p), p)
            for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
                if not isinstance(value, (list, dict, tuple)):
                    visit(value, depth + 1)
        elif isinstance(obj, Tensor):
            if obj._backward is None:
                leaves.setdefault(id(obj), obj)
        elif isinstance(obj, functools.partial):
            visit(obj.func, depth + 1)
            for value in (*obj.args, *obj.keywords.values()):
                visit(value, depth + 1)
        elif isinstance(obj, types.MethodType):
            if not is_library_code(obj.__func__):
                found.methods.append(obj)
            visit(obj.__self__, depth + 1)
            visit(obj.__func__, depth + 1)
        elif isinstance(obj, types.FunctionType):
            if not is_library_code(obj):
                found.functions.append(obj)
            for cell in obj.__closure__ or ():
                try:
                    visit(cell.cell_contents, depth + 1)
                except ValueError:
                    pass
            for value in (*(obj.__defaults__ or ()), *(obj.__kwdefaults__ or {}).values()):
                visit(value, depth + 1)
            for name in _global_names(obj.__code__):
                if name in obj.__globals__:
                    visit(obj.__globals__[name], depth + 1)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            if len(obj) <= 1000:
                for value in obj:
                    visit(value, depth + 1)
        elif isinstance(obj, dict):
            if len(obj) <= 1000:
                for value in obj.values():
                    visit(value, depth + 1)
        elif isinstance(obj, CompiledStep):
            visit(obj.fn, depth + 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, (type, types.ModuleType)):
            optimizer = getattr(obj, "optimizer", None)  # a scheduler
            if optimizer is not None:
                visit(optimizer, depth + 1)
            for value in vars(obj).values():
                visit(value, depth + 1)

    visit(fn, 0)
    for obj in extra or ():
        visit(obj, 0)
    found.leaves = list(leaves.values())
    return found


def _own_methods(cls: type) -> list[types.FunctionType]:
    """The functions defined in ``cls`` and its bases outside minigrad (methods, static and
    class methods, properties' accessors): what a user's module runs in ``forward``."""
    functions: list[types.FunctionType] = []
    for klass in cls.__mro__:
        if klass is object or is_library_code(klass):
            continue
        for value in vars(klass).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            candidates = (value.fget, value.fset) if isinstance(value, property) else (value,)
            functions.extend(f for f in candidates if isinstance(f, types.FunctionType))
    return functions


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


# --- the program ----------------------------------------------------------------------------

class Program:
    """A trace turned into calls: the prelude (what the guards need), the guards, the main
    list; built from the recorder's instructions (see the module doc of the tracer)."""

    def __init__(self, rec: Recorder, template: Any, state: StateGuard, found: Found) -> None:
        self.state = state
        self.trusted = False
        self.template = template
        self.arg_bufs = [s.buf for s in rec.arg_slots]
        self.signature = [i.sig for i in rec.instrs]
        self.optimizers = list(found.optimizers)
        self.has_draws = any(i.kind == "draw" for i in rec.instrs)
        instrs = _fold_constants(rec.instrs, rec.slots)
        prelude, guards, main = _hoist_guards(instrs, rec.slots)
        self.prelude = [_bind(i) for i in prelude]
        self.guards = [(i.args[0].buf, i.data) for i in guards]
        calls, fresh = batch_accumulations(main, rec.slots, _template_buffers(template),
                                           _groups([s for i in prelude for s in i.writes]))
        self.main = [c if isinstance(c, Accumulation) else
                     fresh[id(c)].wrap(_bind(c)) if id(c) in fresh else
                     _bind(c) for c in calls]
        self.count = len(self.prelude) + len(self.main)

    def enter(self, args: tuple, kwargs: dict) -> bool:
        """The first half of a replay: copy the arguments in, compute what the guards on
        values read back to Python need (the prelude: pure calls, no effect outside the
        program's buffers) and check them; False when one differs."""
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
        for buf, t in zip(self.arg_bufs, tensors):
            buf[...] = t.array  # (faster than numpy.copyto, which dispatches in Python)
        for call in self.prelude:
            call()
        for buf, expected in self.guards:
            if buf.tobytes() != expected:
                return False
        return True

    def run(self) -> Any:
        """The second half of a replay (after :meth:`enter`): every other call, and the
        results."""
        for call in self.main:
            call()
        return self.outputs_from_trace()

    def outputs_from_trace(self) -> Any:
        """The returned structure, with each tensor a fresh copy of its buffer."""
        return _build(self.template)


# ``ndarray.sum`` & co. forward to NumPy's Python helpers (``numpy._core._methods``), which
# call the ufunc's ``reduce`` with the same arguments (and ``axis=None`` by default, where
# ``reduce``'s own default is 0): a replay calls ``reduce`` directly.
_REDUCE_OF_METHOD = {numpy.ndarray.sum: numpy.add.reduce,
                     numpy.ndarray.prod: numpy.multiply.reduce,
                     numpy.ndarray.max: numpy.maximum.reduce,
                     numpy.ndarray.min: numpy.minimum.reduce}
_REDUCE_PARAMETERS = ("axis", "dtype", "out", "keepdims")  # reduce's, in their order


def _bind(instr: Instr) -> Callable[[], Any]:
    """The recorded call as a function of no arguments, on the program's buffers."""
    fn, args, kwargs = _fast_form(instr.fn, _resolve(instr.args), _resolve(instr.kwargs))
    return functools.partial(fn, *args, **kwargs)


# ufuncs whose positional output NumPy 2.4 deprecates (a third argument looks like an input)
_OUT_BY_KEYWORD = frozenset({numpy.maximum, numpy.minimum})


def _fast_form(fn: Any, args: tuple, kwargs: dict) -> tuple[Any, tuple, dict]:
    """The same call in a form NumPy takes faster (the results are the same bits: the same
    C routine runs): a ufunc called as itself with its outputs positional (``add(a, b, c)``
    for ``add.__call__(a, b, out=(c,))``), and a reduction (``ndarray.sum`` & co., or a
    ufunc's ``reduce``) as ``reduce`` with positional arguments. Keywords cost a ufunc
    about as much as the arithmetic of a small array (a dict built and parsed per call)."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, numpy.ufunc) and fn.__name__ == "__call__":
        out = kwargs.get("out")
        outs = out if isinstance(out, tuple) else (out,)
        if kwargs.keys() == {"out"} and len(args) == owner.nin and len(outs) == owner.nout \
                and owner not in _OUT_BY_KEYWORD:
            return owner, (*args, *outs), {}
        return owner, args, kwargs
    reduce = _REDUCE_OF_METHOD.get(fn)
    if reduce is not None:
        if len(args) > 2:
            return fn, args, kwargs  # (positional dtype or out: the method's own order)
        default_axis: Any = None
    elif isinstance(owner, numpy.ufunc) and fn.__name__ == "reduce":
        reduce, default_axis = fn, 0
    else:
        return fn, args, kwargs
    if len(args) not in (1, 2) or not kwargs.keys() <= set(_REDUCE_PARAMETERS) or \
            (len(args) == 2 and "axis" in kwargs):
        return fn, args, kwargs
    given = {"axis": args[1] if len(args) == 2 else default_axis, "dtype": None, "out": None,
             "keepdims": False, **kwargs}
    return reduce, (args[0], *(given[name] for name in _REDUCE_PARAMETERS)), {}


def _resolve(spec: Any) -> Any:
    if isinstance(spec, Slot):
        return spec.buf
    if isinstance(spec, tuple):
        return tuple(_resolve(v) for v in spec)
    if isinstance(spec, list):
        return [_resolve(v) for v in spec]
    if isinstance(spec, dict):
        return {k: _resolve(v) for k, v in spec.items()}
    if isinstance(spec, slice):
        return slice(_resolve(spec.start), _resolve(spec.stop), _resolve(spec.step))
    return spec


def _groups(slots: list[Slot]) -> set[int]:
    return {s.group for s in slots}


def _fold_constants(instrs: list[Instr], slots: list[Slot]) -> list[Instr]:
    """Drop the calls whose inputs are all constants (array creations and what is computed
    from them alone): their buffers already hold their values. A constant that the step
    changes later (``zeros`` then ``t[i] = v``) is made again at each replay."""
    variable = {s.group for s in slots if s.kind in ("arg", "ext")}
    while True:
        changed = False
        for instr in instrs:
            if not instr.pure or _groups(instr.reads) & variable:
                new = _groups(instr.writes) - variable
                if new:
                    variable |= new
                    changed = True
        # a constant read (by a call that stays) before its last write must stay made
        last_write: dict[int, int] = {}
        for k, instr in enumerate(instrs):
            for g in _groups(instr.writes):
                last_write[g] = k
        for k, instr in enumerate(instrs):
            stays = not instr.pure or bool((_groups(instr.reads) | _groups(instr.writes))
                                           & variable)
            if stays:
                for g in _groups(instr.reads) - variable:
                    if last_write.get(g, -1) > k:
                        variable.add(g)
                        changed = True
        if not changed:
            break
    kept = []
    for instr in instrs:
        touched = _groups(instr.reads) | _groups(instr.writes)
        if instr.kind == "guard" and not touched & variable:
            continue  # a guard on a constant always holds
        if instr.pure and not touched & variable:
            continue
        kept.append(instr)
    return kept


def _hoist_guards(instrs: list[Instr],
                  slots: list[Slot]) -> tuple[list[Instr], list[Instr], list[Instr]]:
    """Split the calls into (prelude, guards, main): the guards' values must be computable
    from the arguments and constants alone, before anything with effects runs."""
    guards = [i for i in instrs if i.kind == "guard"]
    if not guards:
        return [], [], instrs
    position = {id(i): k for k, i in enumerate(instrs)}
    external = {s.group for s in slots if s.kind == "ext"}
    cone: set[int] = set()
    for guard in guards:
        stack = [(s.group, position[id(guard)]) for s in guard.reads]
        while stack:
            group, before = stack.pop()
            for k in range(before - 1, -1, -1):
                instr = instrs[k]
                if group in _groups(instr.writes) and k not in cone:
                    if not instr.pure:
                        raise _Unsupported("a value read back to Python during the step "
                                           "depends on a random draw or an optimizer step")
                    cone.add(k)
                    stack.extend((s.group, k) for s in instr.reads)
            if group in external:
                raise _Unsupported(
                    "a value read back to Python during the step (.item(), float(), bool(), "
                    "an if on a tensor) depends on the parameters or on other state, so the "
                    "step's control flow may change from call to call; return the tensor and "
                    "read it outside the compiled function")
    prelude = [instrs[k] for k in sorted(cone)]
    main = [i for k, i in enumerate(instrs) if k not in cone and i.kind != "guard"]
    if not _same_dataflow(instrs, prelude + guards + main):
        raise _Unsupported("the values read back to Python during the step cannot be "
                           "computed before the rest of it")
    return prelude, guards, main


def _same_dataflow(before: list[Instr], after: list[Instr]) -> bool:
    """Whether every call reads each of its memory groups as last written by the same call
    in both orders (so the reordering changes no value)."""
    def writers(order: list[Instr]) -> dict[int, list[int | None]]:
        last: dict[int, int] = {}
        seen: dict[int, list[int | None]] = {}
        for instr in order:
            seen[id(instr)] = [last.get(g) for g in sorted(_groups(instr.reads))]
            for g in _groups(instr.writes):
                last[g] = id(instr)
        return seen
    return writers(before) == writers(after)


# --- returned values ---------------------------------------------------------------------

def _template(result: Any, rec: Recorder) -> Any:
    """A description of what the step returned: tensors by their slot."""
    if result is None:
        return None
    if isinstance(result, Tensor):
        array = result.array
        if isinstance(array, TracedArray) and array._slot is not None:
            return ("tensor", array._slot.buf, result.device)
        raise _Unsupported("the step returned a tensor the tracer did not see computed")
    if isinstance(result, (tuple, list)):
        return (type(result), [_template(r, rec) for r in result])
    if isinstance(result, dict):
        return (dict, {k: _template(v, rec) for k, v in result.items()})
    raise _Unsupported(f"the step returned a {type(result).__name__}; a compiled step may "
                       "return tensors (and tuples, lists or dicts of them) or None")


def _template_buffers(template: Any) -> set[int]:
    """The ids of the buffers a template copies results out of."""
    if template is None:
        return set()
    kind, value = template[0], template[1]
    if kind == "tensor":
        return {id(value)}
    values = value.values() if kind is dict else value
    return set().union(*map(_template_buffers, values))


def _build(template: Any) -> Any:
    if template is None:
        return None
    kind, value = template[0], template[1]
    if kind == "tensor":
        return wrap(value.copy(), template[2])
    if kind is dict:
        return {k: _build(v) for k, v in value.items()}
    return kind(_build(v) for v in value)


def _plain_result(result: Any) -> Any:
    """The step's own result after a refused trace, with traced arrays made plain."""
    if isinstance(result, Tensor) and isinstance(result.array, TracedArray):
        result.array = numpy.ndarray.view(result.array, numpy.ndarray)
    elif isinstance(result, (tuple, list)):
        for r in result:
            _plain_result(r)
    elif isinstance(result, dict):
        for r in result.values():
            _plain_result(r)
    return result


def _check_externals(rec: Recorder) -> None:
    """Refuse a trace that read a plain array which did not outlive the step: it was made
    by a call the tracer does not see, so its values at replay would be stale."""
    if not rec.unknown_externals:
        return
    refs = []
    for slot in rec.unknown_externals:  # the tracer's own reference does not count
        refs.append(weakref.ref(slot.buf))
        slot.buf = None
    gc.collect()
    for slot, ref in zip(rec.unknown_externals, refs):
        slot.buf = ref()
    if any(slot.buf is None for slot in rec.unknown_externals):
        rec.refuse("an array made during the step by a call the tracer does not see (not a "
                   "NumPy creation function or minigrad's random generator) was used")


# --- verification -------------------------------------------------------------------------

class Snapshot:
    """The state a step changes, saved so that a replay can be undone and compared with
    eager: leaves' arrays and gradients, optimizers' state and counters, the generators."""

    def __init__(self, program: Program) -> None:
        self.leaves = program.state.leaves
        self.arrays = [t.array.copy() for t in self.leaves]
        self.grads = [(t._grad, None if t._grad is None else t._grad.array.copy())
                      for t in self.leaves]
        self.optimizers = program.optimizers
        self.opt_states = [copy.deepcopy(o.state_dict()) for o in self.optimizers]
        self.opt_attrs = [{k: v for k, v in vars(o).items() if scalar_key(v) is not None}
                          for o in self.optimizers]
        self.rng = backend.get_rng_state("cpu")

    def restore(self) -> None:
        for t, saved in zip(self.leaves, self.arrays):
            t.array[...] = saved
        for t, (grad, saved) in zip(self.leaves, self.grads):
            t._grad = grad
            if grad is not None:
                grad.array[...] = saved
        for o, state, attrs in zip(self.optimizers, self.opt_states, self.opt_attrs):
            o.load_state_dict(copy.deepcopy(state))
            vars(o).update(attrs)
        backend.set_rng_state(self.rng, "cpu")

    def capture(self, result: Any) -> dict[str, Any]:
        """What the call left (its results, the parameters, gradients, optimizer states,
        generator), each array as its :class:`_Digest`: comparing two captures is comparing
        the bits, without keeping a copy of a large model's state twice more."""
        return {"result": _digests(result),
                "params": [_Digest(t.array) for t in self.leaves],
                "grads": [None if t._grad is None else _Digest(t._grad.array)
                          for t in self.leaves],
                "optimizers": [_digests(o.state_dict()) for o in self.optimizers],
                "rng": _digests(backend.get_rng_state("cpu"))}


class _Digest:
    """An array's shape, dtype and a 256-bit BLAKE2 digest of its bytes: equal digests mean
    equal bits (up to a collision, which no difference a replay could make would find)."""

    __slots__ = ("shape", "dtype", "digest")

    def __init__(self, array: Any) -> None:
        self.shape, self.dtype = array.shape, array.dtype.str
        data = memoryview(numpy.ascontiguousarray(array))  # type: ignore[arg-type]
        self.digest = hashlib.blake2b(data.cast("B"), digest_size=32).digest()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Digest) and (self.shape, self.dtype, self.digest) == \
            (other.shape, other.dtype, other.digest)

    __hash__ = None  # type: ignore[assignment]


def _digests(value: Any) -> Any:
    """``value`` with every array (and tensor) replaced by its :class:`_Digest`."""
    if isinstance(value, Tensor):
        return _Digest(value.array)
    if isinstance(value, numpy.ndarray):
        return _Digest(value)
    if isinstance(value, (tuple, list)):
        return [_digests(v) for v in value]
    if isinstance(value, dict):
        return {k: _digests(v) for k, v in value.items()}
    return copy.deepcopy(value)


def _difference(a: Any, b: Any, where: str = "") -> str | None:
    """Where two captured states differ (arrays bit for bit), or None."""
    if isinstance(a, _Digest) or isinstance(b, _Digest):
        return None if a == b else (where or "a value")
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return where or "a structure"
        for k in a:
            found = _difference(a[k], b[k], f"{where}[{k!r}]")
            if found:
                return found
        return None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return where or "a structure"
        for k, (x, y) in enumerate(zip(a, b)):
            found = _difference(x, y, f"{where}[{k}]")
            if found:
                return found
        return None
    return None if a == b or (a != a and b != b) else (where or "a value")
