"""What a traced program assumes of the Python world, checked at every call (the guards of
:mod:`minigrad.jit`).

A replay runs none of the step's Python code, so every Python value that code used while it
was traced is, in effect, part of the program: a number it multiplied by (``x * SCALE``), a
module or array it used, a branch it took on a flag. :class:`StateGuard` reads those values
again at each call, and the replay runs only if each one is still the very object it was when
the step was traced, or a scalar equal to it bit for bit (:func:`same`). What is read:

* each leaf tensor's array (by identity; ``.data =``, ``.to()`` and casts replace it) and its
  ``requires_grad``; grad mode; the default dtype;
* every entry of the ``__dict__`` of every module the step reaches, and their number: plain
  attributes (``training``, ``p``, ``eps``, ``momentum``, ...) by value, parameters, buffers,
  submodules and anything else by identity;
* for every plain Python function the step reaches (:attr:`Found.functions`: the step itself,
  the functions found in its closure, defaults and globals, and theirs, to the depth of the
  walk; the methods of module classes defined outside minigrad, such as a user's
  ``forward``): its closure cells, the globals its code (and the code nested in it: lambdas,
  comprehensions, inner functions) reads, writes or deletes by name (a name that was not a
  global must stay absent, or it would now shadow a builtin), and its ``__defaults__``,
  ``__kwdefaults__`` and ``__code__``;
* the entries of plain objects and dicts that such a function holds directly (in a closure
  cell, a named global, a default, or as the ``self`` of a bound method) whose names its
  code mentions: ``cfg.temperature`` (an attribute name) and ``hparams["temperature"]`` (a
  string constant), if the entry exists when the step is traced.

A scalar is a ``bool``, ``int``, ``float``, ``complex``, ``str``, ``bytes``, ``None``, a NumPy
scalar, or a tuple of these; anything else is compared by identity only, so a list, dict or
object changed in place is not seen through (except for the entries named above).

Not guarded, and so still baked in: class attributes, and entries added to an object or
dict after the trace; attributes or keys read by a computed name (``getattr(cfg, name)``,
``hp[key]``) or not named by a string; objects two or more steps away from a function
(``cfg.train.lr`` guards ``cfg.train`` but not ``lr`` in it); functions reached only through a
module object (``utils.scale(x)``) or past the walk's depth; the arguments of a
``functools.partial``; minigrad's own functions (their module state is library configuration,
read through the guarded grad mode and default dtype); and values from outside Python's
object graph (``time.time()``, ``random.random()``, a file).

The common case, nothing changed, is one generated straight-line function of identity tests
(:func:`_compile_check`); the per-value comparison runs only when an identity differs, and
when it finds equal scalars it adopts the new objects, so the next call is fast again. A
step that rebinds a guarded value itself (``global counter; counter += 1``) is refused at
trace time (:meth:`StateGuard.first_change`): a replay would not repeat the change.
"""
from __future__ import annotations

import dis
import functools
import struct
import types
from typing import Any, Callable, Iterable

import numpy

from minigrad import backend, grad_mode
from minigrad.tensor import Tensor

__all__ = ["StateGuard", "same", "scalar_key", "global_names", "mentioned_names",
           "is_library_code"]

_ABSENT = object()  # a dict entry that is not there (a global name that resolves to builtins)
_EMPTY = object()   # an empty closure cell (a variable of the enclosing scope not yet bound)
_NEVER = object()   # a grad mode that no call matches (anomaly mode: such calls run eagerly)
_SCALAR_TYPES = (bool, int, str, bytes, type(None))


def scalar_key(value: Any) -> Any:
    """A key that is equal for two values exactly when they are the same scalar bit for bit
    (same type; ``-0.0`` is not ``0.0``, ``1`` is not ``True``), or None when ``value`` is
    not a scalar (see the module doc)."""
    kind = type(value)
    if kind is float:
        return kind, struct.pack("<d", value)
    if kind is complex:
        return kind, struct.pack("<dd", value.real, value.imag)
    if kind in _SCALAR_TYPES:
        return kind, value
    if kind is tuple:
        keys = tuple(map(scalar_key, value))
        return None if None in keys else (kind, keys)
    if isinstance(value, numpy.generic) and value.dtype.kind != "O":
        return kind, value.dtype.str, value.tobytes()
    return None


def same(a: Any, b: Any) -> bool:
    """Whether ``a`` may stand for ``b`` in a replay: the same object, or equal scalars."""
    if a is b:
        return True
    key = scalar_key(a)
    return key is not None and key == scalar_key(b)


def is_library_code(obj: Any) -> bool:
    """Whether ``obj`` (a function or class) is minigrad's own."""
    module = getattr(obj, "__module__", None) or ""
    return module == "minigrad" or module.startswith("minigrad.")


def _codes(code: types.CodeType) -> Iterable[types.CodeType]:
    """``code`` and every code object nested in it (lambdas, comprehensions, inner defs)."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


@functools.lru_cache(maxsize=4096)
def global_names(code: types.CodeType) -> tuple[str, ...]:
    """The names ``code`` (and the code nested in it) looks up, assigns or deletes as
    globals: exactly the ``*_GLOBAL`` instructions' names, not attribute names."""
    names: dict[str, None] = {}
    for c in _codes(code):
        for ins in dis.get_instructions(c):
            if ins.opname in ("LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL"):
                names[ins.argval] = None
    return tuple(names)


@functools.lru_cache(maxsize=4096)
def mentioned_names(code: types.CodeType) -> frozenset[str]:
    """Every name ``code`` (and the code nested in it) uses for a global or an attribute,
    and every string constant in it: the attributes and keys it may read from an object or
    a dict it holds."""
    names: set[str] = set()
    for c in _codes(code):
        names.update(c.co_names)
        names.update(v for v in c.co_consts if isinstance(v, str))
    return frozenset(names)


def _read_attribute(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name)
    except ValueError:  # an empty cell's cell_contents
        return _EMPTY
    except AttributeError:
        return _ABSENT


class StateGuard:
    """The Python values a traced program depends on (see the module doc), read when the
    step is about to be traced, and :meth:`ok` when they still hold.

    Every value is one read, described by a label (for messages) and made in one of three
    ways: an attribute (``object.name``: leaves' arrays and flags, closure cells, functions'
    defaults and code), a dict entry (``d.get(key)``: globals, entries of the objects and
    dicts functions hold) or an entry of a module's ``__dict__`` (whose size is checked too).
    The reads are compiled into one straight-line function (:func:`_compile_check`)."""

    def __init__(self, found: Any) -> None:
        self.leaves: list[Tensor] = list(found.leaves)
        self._objects: list[Any] = []                               # attribute reads
        self._names: list[str] = []
        self._attr_labels: list[str] = []
        self._dicts: list[dict[Any, Any]] = []                      # entry reads
        self._keys: list[Any] = []
        self._entry_labels: list[str] = []
        self._seen_entries: set[tuple[int, Any]] = set()
        for t in self.leaves:
            self._attribute(t, "array", f"the array of a leaf of shape {t.shape}")
            self._attribute(t, "requires_grad", f"requires_grad of a leaf of shape {t.shape}")
        for fn in found.functions:
            self._function(fn)
        for method in found.methods:
            self._holder(method.__self__, mentioned_names(method.__func__.__code__),
                         f"self of {method.__func__.__qualname__}")
        self._labels = self._attr_labels + self._entry_labels
        self._modules = [vars(m) for m in found.modules]
        self._module_names = [type(m).__name__ for m in found.modules]
        self._module_keys = [list(d) for d in self._modules]
        self._labels += [f"the attribute {key!r} of module {name}"
                         for name, keys in zip(self._module_names, self._module_keys)
                         for key in keys]
        self._expected = self._read_safely()
        self._check = self._compile()
        self.mode: Any = grad_mode.enabled.get()
        self.dtype = backend.get_default_dtype()
        if self.mode is getattr(grad_mode, "ANOMALY", None):
            self.mode = _NEVER

    # --- what is read -------------------------------------------------------------------
    def _attribute(self, obj: Any, name: str, label: str) -> None:
        self._objects.append(obj)
        self._names.append(name)
        self._attr_labels.append(label)

    def _entry(self, d: dict[Any, Any], key: Any, label: str) -> None:
        if (id(d), key) not in self._seen_entries:
            self._seen_entries.add((id(d), key))
            self._dicts.append(d)
            self._keys.append(key)
            self._entry_labels.append(label)

    def _function(self, fn: types.FunctionType) -> None:
        """The closure cells, named globals, defaults and code of ``fn``, and the entries
        of the objects and dicts they hold whose names ``fn``'s code mentions."""
        name = fn.__qualname__
        code = fn.__code__
        held: list[tuple[Any, str]] = []
        for var, cell in zip(code.co_freevars, fn.__closure__ or ()):
            self._attribute(cell, "cell_contents", f"the variable {var!r} that {name} closes over")
            held.append((_read_attribute(cell, "cell_contents"), f"{var!r} of {name}"))
        namespace = fn.__globals__
        for var in global_names(code):
            self._entry(namespace, var, f"the global {var!r} of {name}")
            held.append((namespace.get(var, _ABSENT), f"the global {var!r}"))
        for attr in ("__code__", "__defaults__", "__kwdefaults__"):
            self._attribute(fn, attr, f"{attr} of {name}")
        held.extend((value, f"a default of {name}") for value in fn.__defaults__ or ())
        kwdefaults = fn.__kwdefaults__ or {}
        for key, value in kwdefaults.items():
            self._entry(kwdefaults, key, f"the default of {key!r} of {name}")
            held.append((value, f"the default of {key!r} of {name}"))
        names = mentioned_names(code)
        for value, where in held:
            self._holder(value, names, where)

    def _holder(self, value: Any, names: frozenset[str], where: str) -> None:
        """The entries of a plain object (its ``__dict__``) or dict at ``names``."""
        from minigrad.nn.module import Module
        if isinstance(value, dict):
            namespace = value
        elif isinstance(value, (Module, Tensor, type, types.ModuleType, types.FunctionType)) \
                or not isinstance(getattr(value, "__dict__", None), dict) \
                or hasattr(value, "param_groups"):  # modules: all of it; optimizers: opaque
            return
        else:
            namespace = vars(value)
        for key in names:
            if key in namespace:  # an entry added later is not seen (see the module doc)
                self._entry(namespace, key, f"the entry {key!r} of {where}")

    # --- checking -----------------------------------------------------------------------
    def _read_safely(self) -> list[Any]:
        """Every value, in the order of the labels, read one by one without raising."""
        values = [_read_attribute(o, name) for o, name in zip(self._objects, self._names)]
        values += [d.get(k, _ABSENT) for d, k in zip(self._dicts, self._keys)]
        values += [d.get(k, _ABSENT) for d, keys in zip(self._modules, self._module_keys)
                   for k in keys]
        return values

    def _compile(self) -> Callable[[], bool]:
        reads = [f"{{}}.{name}" for name in self._names]
        reads += [f"{{}}.get({key!r}, ABSENT)" for key in self._keys]
        reads += [f"{{}}[{key!r}]" for keys in self._module_keys for key in keys]
        holders = [*self._objects, *self._dicts,
                   *(d for d, keys in zip(self._modules, self._module_keys) for _ in keys)]
        sizes = [(d, len(keys)) for d, keys in zip(self._modules, self._module_keys)]
        return _compile_check(reads, holders, self._expected, sizes)

    def ok(self) -> bool:
        """Whether every value still holds (identity; equal scalars are adopted)."""
        if grad_mode.enabled.get() is not self.mode or \
                backend.get_default_dtype() is not self.dtype:
            return False
        try:
            if self._check():
                return True
        except (ValueError, KeyError):  # an empty cell, a module attribute deleted
            pass
        return self.first_change() is None

    def first_change(self) -> str | None:
        """What no longer holds (a description), or None; equal scalars found in place of
        the objects seen are adopted (the check is compiled again), so that the fast check
        holds again."""
        for name, d, keys in zip(self._module_names, self._modules, self._module_keys):
            if list(d) != keys:
                return f"the attributes of module {name} (one was added, removed or moved)"
        current = self._read_safely()
        for now, then, label in zip(current, self._expected, self._labels):
            if not same(now, then):
                return label
        if any(now is not then for now, then in zip(current, self._expected)):
            self._expected = current
            self._check = self._compile()
        return None


_TERMS_PER_FUNCTION = 128  # compiling one expression costs time quadratic in its length


def _compile_check(reads: list[str], holders: list[Any], expected: list[Any],
                   sizes: list[tuple[dict[str, Any], int]]) -> Callable[[], bool]:
    """A function of no arguments that is True when ``len(d) == n`` for each ``(d, n)`` of
    ``sizes`` and each read gives its expected object (by identity).

    ``reads[i]`` is a Python expression with one ``{}`` for ``holders[i]`` (``{}.array``,
    ``{}.get('SCALE', ABSENT)``, ``{}['training']``). The function is generated as a
    straight-line expression over closure variables, as ``dataclasses`` generates methods:
    a read and an ``is`` cost a few bytecodes each, several times less than looping over
    lists (this runs before every replay). Only attribute names and the ``repr`` of string
    keys, both chosen by this module, enter the source. Long checks are split into
    functions of :data:`_TERMS_PER_FUNCTION` terms."""
    names: dict[str, Any] = {}
    terms: list[tuple[str, tuple[str, ...]]] = []
    for k, (d, n) in enumerate(sizes):
        names[f"d{k}"] = d
        terms.append((f"len(d{k}) == {n}", (f"d{k}",)))
    for k, (read, holder, value) in enumerate(zip(reads, holders, expected)):
        names[f"h{k}"], names[f"e{k}"] = holder, value
        terms.append((f"{read.format(f'h{k}')} is e{k}", (f"h{k}", f"e{k}")))
    parts = []
    for start in range(0, len(terms), _TERMS_PER_FUNCTION):
        chunk = terms[start:start + _TERMS_PER_FUNCTION]
        used = {"ABSENT": _ABSENT} | {v: names[v] for _, variables in chunk for v in variables}
        source = (f"def make({', '.join(used)}):\n"
                  f"    return lambda: {' and '.join(term for term, _ in chunk)}\n")
        namespace: dict[str, Any] = {}
        exec(compile(source, "<mg.compile guard>", "exec"), namespace)  # noqa: S102
        parts.append(namespace["make"](**used))
    if len(parts) == 1:
        return parts[0]
    return lambda: all(part() for part in parts)
