"""The Tensor: an array on a device plus the record of how it was computed.

A tensor made by an op that has an input requiring a gradient remembers its inputs
(``_parents``) and its backward rule (``_backward(grad, out) -> grads of the inputs``).
That is the whole graph; :mod:`minigrad.autograd.engine` walks it in reverse.

This module is the bottom of the stack above the backend: it knows nothing of the ops.
Every method a user calls is declared here, with its signature; the ops package and the
engine, which sit above, register their implementations with :func:`install` when they are
imported, so the imports only ever point downwards.

In-place changes are tracked as PyTorch tracks them. Every in-place write advances one
process-wide clock (``clocks.now``) and stamps the written memory's version box, which
belongs to the tensor owning the memory (a view knows its ``_base``); every recorded op is
stamped with the clock when it is recorded.
A backward rule that needs a tensor whose box is newer than its own stamp would compute
with changed values, and the engine refuses to run it.
"""
from __future__ import annotations

import os
import traceback
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence, Union
# Tensor's methods bool, int and float shadow the builtins in annotations of the class body
# after them (PyTorch's stubs use the same aliases)
from builtins import bool as _bool, float as _float, int as _int

from minigrad import backend
from minigrad.grad_mode import ANOMALY, enabled as _grad_enabled
from minigrad.backend import device as Device
from minigrad.errors import DeviceError, ShapeError

Backward = Callable[["Tensor", "Tensor"], Sequence["Tensor | None"]]
Operand = Union["Tensor", float, int, bool]
DeviceLike = Union[str, Device, None]
Dims = Union[int, Sequence[int], None]

# Filled by the layers above (ops, autograd) when they are imported; see install().
_ops: Any = SimpleNamespace()
_engine: Any = SimpleNamespace()


def install(ops: Any = None, engine: Any = None) -> None:
    """Register the implementations of Tensor's methods (the ops) and of ``backward``.

    The operators whose method only forwards to the op of the same meaning (``a + b`` is
    ``add(a, b)``) then call the op directly: these dominate the per-op cost of a model, and
    this saves one Python call each. Their declarations in the class stay what they document.
    """
    global _ops, _engine
    if ops is not None:
        _ops = ops
        for method, op in _DIRECT_OPERATORS.items():
            setattr(Tensor, method, getattr(ops, op))
    if engine is not None:
        _engine = engine


_DIRECT_OPERATORS = {"__add__": "add", "__sub__": "sub", "__mul__": "mul",
                     "__truediv__": "div", "__pow__": "pow", "__matmul__": "matmul",
                     "__neg__": "neg", "__getitem__": "getitem"}


# --- versions of memory -------------------------------------------------------------------

class Clocks:
    """The process-wide clock of in-place writes (see the module doc)."""

    __slots__ = ("now", "rebase")

    def __init__(self) -> None:
        self.now = 0     # advanced by every in-place write; recorded ops are stamped with it
        self.rebase = 0  # the time of the last recorded in-place op


clocks = Clocks()


class VersionBox:
    """The version of one block of memory: ``stamp`` is the clock at its last in-place
    write, ``count`` the number of writes (PyTorch's ``_version``). It hangs on the tensor
    that owns the memory (a view's ``_base``), made at the first write."""

    __slots__ = ("stamp", "count")

    def __init__(self) -> None:
        self.stamp = 0
        self.count = 0


def versions_of(t: "Tensor") -> VersionBox | None:
    """The version box of ``t``'s memory (None while it was never written in place)."""
    base = t._base
    return (t if base is None else base)._versions


def bump_version(t: "Tensor") -> None:
    """Note an in-place write to ``t``'s memory (and so to every view of it)."""
    box = version_box(t)
    clocks.now += 1
    box.stamp = clocks.now
    box.count += 1


def version_box(t: "Tensor") -> VersionBox:
    """The version box of ``t``'s memory, made if it has none yet."""
    owner = t if t._base is None else t._base
    box = owner._versions
    if box is None:
        box = owner._versions = VersionBox()
    return box


def take_grad_spare(leaf: "Tensor", array_type: type, shape: tuple[int, ...],
                    dtype: Any) -> Any:
    """The array ``leaf``'s last gradient had, kept by ``Optimizer.zero_grad`` for the next
    gradient to be computed into, if it is an array of ``array_type``, ``shape`` and
    ``dtype``; else None (the parameter may have been replaced by one of another shape since).
    A spare is used once: it is given up either way."""
    spare = leaf._grad_spare
    if spare is None:
        return None
    leaf._grad_spare = None
    if spare.shape == shape and spare.dtype == dtype and type(spare) is array_type:
        return spare
    return None


def bump_versions(boxes: "Iterable[VersionBox]") -> None:
    """Note one in-place write to each of the memories of ``boxes``, at one clock tick (an
    optimizer step writes all its parameters at once)."""
    clocks.now += 1
    now = clocks.now
    for box in boxes:
        box.stamp = now
        box.count += 1


class GradHome(Protocol):
    """Where backward may put a leaf's gradient instead of a new array (a slot of a flat
    buffer): :meth:`claim` returns the Tensor to write into, or None when that memory is
    still in use elsewhere and a fresh array must be allocated."""

    def claim(self) -> "Tensor | None": ...


def as_view_of(view: "Tensor", base: "Tensor") -> "Tensor":
    """Mark ``view`` as sharing ``base``'s memory, so writes to either are seen by both."""
    view._base = base if base._base is None else base._base
    return view


# --- the tensor ---------------------------------------------------------------------------

class RemovableHandle:
    """What registering a hook returns: ``remove()`` takes the hook out again."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Any]) -> None:
        self.hooks, self.id = hooks, RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self.hooks.pop(self.id, None)


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``array`` is the backend array (``numpy.ndarray`` on ``"cpu"``, ``cupy.ndarray`` on
    ``"cuda"``), what minigrad computes with; ``data`` is a Tensor sharing that memory but
    outside any graph (PyTorch's meaning). ``grad`` is a Tensor filled by ``backward()`` for
    leaves that require a gradient. Tensors hash by identity, so they can key dictionaries
    (optimizer state), and take any extra attribute a program sets on them.

    ``mg.Tensor(data)`` follows PyTorch's legacy constructor: it always makes a tensor of the
    default floating dtype, and ``mg.Tensor(2, 3)`` one of shape (2, 3) (uninitialised in
    PyTorch; zeros here, so that runs repeat).
    Use :func:`minigrad.tensor` to keep the data's own dtype.
    """

    __slots__ = ("array", "requires_grad", "device", "_backward", "_parents", "_base", "_stamp",
                 "__dict__", "__weakref__")
    __array_priority__ = 1000.0  # ndarray (op) Tensor defers to Tensor's reflected op
    __hash__ = object.__hash__

    array: Any
    requires_grad: bool
    device: Device
    _backward: Backward | None
    _parents: tuple["Tensor", ...]
    _base: "Tensor | None"  # the tensor whose memory this one views (None: its own)
    _stamp: int
    # Rarely set, so kept out of the slots that every new tensor fills: a class default
    # answers until a tensor gets a value of its own.
    _grad: "Tensor | None" = None
    _versions: VersionBox | None = None
    _retains_grad = False
    _history: "list[tuple[int, Tensor]] | None" = None  # see minigrad.ops.inplace
    _grad_fn_name: str | None = None
    _anomaly_stack: list[traceback.FrameSummary] | None = None  # where the op was called, in anomaly mode
    # where backward writes this leaf's next gradient when .grad is None: a view into an
    # optimizer's flat gradient buffer (see minigrad.optim.flat)
    _grad_home: "GradHome | None" = None
    # the array of this leaf's last gradient, kept by zero_grad() when nothing else refers to
    # it, for the next gradient to be computed into (see Optimizer.zero_grad)
    _grad_spare: Any = None
    # register_post_accumulate_grad_hook's hooks, by handle id (None: none, the engine's test)
    _post_accumulate_grad_hooks: "dict[int, Callable[[Tensor], None]] | None" = None

    def __init__(self, *data: Any, dtype: Any = None, device: DeviceLike = None,
                 requires_grad: bool = False) -> None:
        if dtype is None:
            dtype = backend.get_default_dtype()
        if data and all(isinstance(n, int) and not isinstance(n, bool) for n in data):
            if min(data) < 0:
                raise ValueError(f"Tensor(*size): sizes must be non-negative, got {data}")
            device = backend.normalize_device(device)
            array = backend.xp(device).zeros(data, dtype=dtype)  # "uninitialised": zeros here
        elif len(data) == 1:
            array, device = to_array(data[0], dtype, device)
        elif not data:
            array, device = to_array([], dtype, device)
        else:
            raise TypeError(f"Tensor() takes data or a shape of ints, got {data!r}")
        _init(self, array, device)
        if requires_grad:
            self.requires_grad_(True)

    # --- what it is ----------------------------------------------------------------------
    @property
    def data(self) -> "Tensor":
        """The same memory as a tensor that requires no gradient and is never recorded.

        Writes through it (``p.data.add_(...)``) are not tracked, as in PyTorch; assigning
        ``p.data = t`` makes ``p`` hold ``t``'s values (shape, dtype and device may change)
        while staying the same object, so optimizers and modules keep referring to it.
        """
        return wrap(self.array, self.device)

    @data.setter
    def data(self, value: Any) -> None:
        if isinstance(value, Tensor):
            self.array, self.device = value.array, value.device
        else:
            self.array, self.device = to_array(value, None, None)
        self._base, self._versions = None, None  # new memory

    @property
    def grad(self) -> "Tensor | None":
        """The gradient accumulated by ``backward()`` (None until then, or after zero_grad)."""
        return self._grad

    @grad.setter
    def grad(self, value: "Tensor | None") -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad must be a Tensor or None, got "
                                f"{type(value).__name__}")
            if value.shape != self.shape:
                raise ShapeError(f"assigned grad has shape {value.shape}, but the tensor has "
                                 f"shape {self.shape}")
            if value.dtype != self.dtype:
                raise TypeError(f"assigned grad has dtype {value.dtype}, but the tensor has "
                                f"dtype {self.dtype}")
            if value.device != self.device:
                raise DeviceError(f"assigned grad is on {value.device}, but the tensor is on "
                                  f"{self.device}")
        self._grad = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self.array.shape

    @property
    def ndim(self) -> int:
        return self.array.ndim

    @property
    def dtype(self) -> Any:
        return self.array.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user made (and for results of ops needing no gradient)."""
        return self._backward is None

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

    @property
    def grad_fn(self) -> "GradFn | None":
        """The node that made this tensor in the graph (None for leaves)."""
        return None if self._backward is None else GradFn(self)

    @property
    def _version(self) -> int:
        """How many times this tensor's memory was written in place."""
        box = versions_of(self)
        return 0 if box is None else box.count

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return self.array.shape
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"size(dim): dim must be an int, got {dim!r}")
        if not -self.array.ndim <= dim < self.array.ndim:
            raise IndexError(f"size(dim): dim {dim} is out of range for a tensor with "
                             f"{self.array.ndim} dimensions")
        return self.array.shape[dim]

    def dim(self) -> int:
        return self.array.ndim

    def numel(self) -> int:
        return int(self.array.size)

    nelement = numel

    def element_size(self) -> int:
        return int(self.array.itemsize)

    def is_floating_point(self) -> bool:
        return self.array.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self.array.flags.c_contiguous)

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self) -> Iterator["Tensor"]:
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        body = backend.xp("cpu").array2string(backend.to_numpy(self.array), separator=", ",
                                              prefix="tensor(")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.array.dtype != backend.get_default_dtype() and self.array.dtype.kind == "f":
            extras.append(f"dtype={self.array.dtype}")
        if self._parents:  # a live graph node (a freed one has dropped its inputs)
            extras.append(f"grad_fn=<{op_name(self)}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # --- conversion ----------------------------------------------------------------------
    def numpy(self) -> Any:
        """The values as a NumPy array on the host (the same memory on ``"cpu"``).

        Unlike PyTorch, this works on a tensor that requires grad too (a program written
        for PyTorch calls ``.detach().numpy()``, which works as well)."""
        return backend.to_numpy(self.array)

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        host = backend.to_numpy(self.array)
        return host if dtype is None else host.astype(dtype)

    def tolist(self) -> Any:
        return backend.to_numpy(self.array).tolist()

    def item(self) -> Any:
        if self.array.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        backend.flush_deferred_checks()  # a read waits for the device: report its checks
        return self.array.reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.array.dtype.kind not in "iub" or self.array.size != 1:
            raise TypeError(f"only integer tensors with one element can be used as an index, "
                            f"got dtype {self.dtype} and shape {self.shape}")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        if not spec:
            return repr(self)
        if self.array.size == 1:
            return format(self.item(), spec)
        raise ValueError(f"format spec {spec!r} needs a tensor with one element, got shape "
                         f"{self.shape}; format t.item(), or t.tolist()")

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use .any() or .all()")
        return bool(self.item())

    def to(self, *args: Any, dtype: Any = None, device: DeviceLike = None,
           copy: bool = False) -> "Tensor":
        """This tensor on another device and/or with another dtype (differentiable).

        ``t.to("cuda")``, ``t.to(mg.float64)``, ``t.to(other_tensor)``,
        ``t.to(device="cpu", dtype=mg.float32)``.
        """
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif isinstance(arg, str):
                device = arg
            else:
                dtype = arg
        out = self
        if device is not None:
            out = _ops.to_device(out, backend.normalize_device(device))
        if dtype is not None:
            out = _ops.to_dtype(out, backend.as_dtype(dtype))
        return _ops.clone(out) if copy and out is self else out

    def type(self, dtype: Any = None) -> Any:
        """With a dtype: this tensor cast to it; without: the type's name, as in PyTorch."""
        if dtype is None:
            return _TYPE_NAMES.get(self.array.dtype.name, self.array.dtype.name)
        if isinstance(dtype, str):  # a type name: "torch.FloatTensor", "minigrad.LongTensor"
            name = "minigrad." + dtype.rsplit(".", 1)[-1]
            found = [d for d, n in _TYPE_NAMES.items() if n == name]
            if not found:
                raise TypeError(f"type(dtype): unknown dtype or tensor type name {dtype!r}")
            dtype = found[0]
        return self.to(backend.as_dtype(dtype))

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.dtype)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device: DeviceLike = None) -> "Tensor":
        return self.to("cuda")

    def double(self) -> "Tensor":
        return self.to(backend.float64)

    def float(self) -> "Tensor":
        return self.to(backend.float32)

    def half(self) -> "Tensor":
        return self.to(backend.float16)

    def long(self) -> "Tensor":
        return self.to(backend.int64)

    def int(self) -> "Tensor":
        return self.to(backend.int32)

    def bool(self) -> "Tensor":
        return self.to(backend.bool_)

    def clone(self) -> "Tensor":
        """A copy with its own memory; gradients flow back to this tensor."""
        return _ops.clone(self)

    def contiguous(self) -> "Tensor":
        return self if self.array.flags.c_contiguous else _ops.clone(self)

    def new_tensor(self, data: Any, dtype: Any = None, device: DeviceLike = None,
                   requires_grad: _bool = False) -> "Tensor":
        array, device = to_array(data, dtype or self.dtype, device or self.device)
        return wrap(array, device).requires_grad_(requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, device: DeviceLike = None) -> "Tensor":
        return _new_filled(self, size, 0, dtype, device)

    def new_ones(self, *size: Any, dtype: Any = None, device: DeviceLike = None) -> "Tensor":
        return _new_filled(self, size, 1, dtype, device)

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None,
                 device: DeviceLike = None) -> "Tensor":
        return _new_filled(self, (size,), fill_value, dtype, device)

    def new_empty(self, *size: Any, dtype: Any = None, device: DeviceLike = None) -> "Tensor":
        return _new_filled(self, size, 0, dtype, device)

    # --- autograd ------------------------------------------------------------------------
    def backward(self, gradient: "Tensor | None" = None, retain_graph: _bool | None = None,
                 create_graph: _bool = False, inputs: Sequence["Tensor"] | None = None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``gradient`` is needed for a non-scalar tensor (the vector of the vector-Jacobian
        product). The graph is freed afterwards unless ``retain_graph`` (default:
        ``create_graph``); ``create_graph=True`` records the backward pass itself, so the
        gradients can be differentiated again. ``inputs`` limits accumulation to those.
        """
        _engine.run_backward([self], [gradient], retain_graph, create_graph,
                             None if inputs is None else list(inputs))

    def detach(self) -> "Tensor":
        """The same memory, cut from the graph; in-place writes to it are still tracked."""
        return as_view_of(wrap(self.array, self.device), self)

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph, making it a leaf."""
        self._backward, self._parents, self.requires_grad = None, (), False
        return self

    def requires_grad_(self, requires_grad: _bool = True) -> "Tensor":
        if requires_grad and self.array.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require gradients, not {self.dtype}")
        if not requires_grad and self._backward is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf tensor; "
                               "use .detach() for a non-leaf")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` of this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True

    @property
    def retains_grad(self) -> _bool:
        return bool(self._retains_grad) and self._backward is not None

    def register_post_accumulate_grad_hook(
            self, hook: Callable[["Tensor"], None]) -> "RemovableHandle":
        """Call ``hook(self)`` each time backward has accumulated a gradient into this leaf's
        ``.grad`` (PyTorch's hook of the same name: the hook sees the finished ``.grad`` and
        returns None; DistributedDataParallel starts a bucket's allreduce from it). Returns
        a handle whose ``remove()`` unregisters the hook."""
        if self._backward is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors (they run when a leaf's .grad is accumulated)")
        if not callable(hook):
            raise TypeError(f"register_post_accumulate_grad_hook: hook must be callable, got "
                            f"{type(hook).__name__}")
        hooks = self.__dict__.get("_post_accumulate_grad_hooks")
        if hooks is None:
            hooks = self._post_accumulate_grad_hooks = {}
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    # --- arithmetic operators ------------------------------------------------------------
    def __add__(self, other: Operand) -> "Tensor": return _ops.add(self, other)
    def __radd__(self, other: Operand) -> "Tensor": return _ops.add(other, self)
    def __sub__(self, other: Operand) -> "Tensor": return _ops.sub(self, other)
    def __rsub__(self, other: Operand) -> "Tensor": return _ops.sub(other, self)
    def __mul__(self, other: Operand) -> "Tensor": return _ops.mul(self, other)
    def __rmul__(self, other: Operand) -> "Tensor": return _ops.mul(other, self)
    def __truediv__(self, other: Operand) -> "Tensor": return _ops.div(self, other)
    def __rtruediv__(self, other: Operand) -> "Tensor": return _ops.div(other, self)
    def __pow__(self, other: Operand) -> "Tensor": return _ops.pow(self, other)
    def __rpow__(self, other: Operand) -> "Tensor": return _ops.pow(other, self)
    def __matmul__(self, other: Operand) -> "Tensor": return _ops.matmul(self, other)
    def __rmatmul__(self, other: Operand) -> "Tensor": return _ops.matmul(other, self)
    def __floordiv__(self, other: Operand) -> "Tensor": return _ops.floor_divide(self, other)
    def __rfloordiv__(self, other: Operand) -> "Tensor": return _ops.floor_divide(other, self)
    def __mod__(self, other: Operand) -> "Tensor": return _ops.remainder(self, other)
    def __neg__(self) -> "Tensor": return _ops.neg(self)
    def __pos__(self) -> "Tensor": return self
    def __abs__(self) -> "Tensor": return _ops.abs(self)
    def __invert__(self) -> "Tensor": return _ops.bitwise_not(self)
    def __and__(self, other: Operand) -> "Tensor": return _ops.bitwise_and(self, other)
    def __or__(self, other: Operand) -> "Tensor": return _ops.bitwise_or(self, other)
    def __xor__(self, other: Operand) -> "Tensor": return _ops.bitwise_xor(self, other)
    def logical_not(self) -> "Tensor": return _ops.logical_not(self)
    def logical_and(self, other: Operand) -> "Tensor": return _ops.logical_and(self, other)
    def logical_or(self, other: Operand) -> "Tensor": return _ops.logical_or(self, other)
    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    # in place: ``t += x`` changes t's memory (see minigrad.ops.inplace for the rules)
    def __iadd__(self, other: Operand) -> "Tensor": return _ops.add_(self, other)
    def __isub__(self, other: Operand) -> "Tensor": return _ops.sub_(self, other)
    def __imul__(self, other: Operand) -> "Tensor": return _ops.mul_(self, other)
    def __itruediv__(self, other: Operand) -> "Tensor": return _ops.div_(self, other)
    def __ipow__(self, other: Operand) -> "Tensor": return _ops.pow_(self, other)
    def __imatmul__(self, other: Operand) -> "Tensor":
        raise RuntimeError("in-place matrix multiplication (@=) is not supported; use t = t @ x")

    # comparisons give boolean tensors (no gradient); tensors still hash by identity
    def __eq__(self, other: Any) -> "Tensor": return _ops.eq(self, other)  # type: ignore[override]
    def __ne__(self, other: Any) -> "Tensor": return _ops.ne(self, other)  # type: ignore[override]
    def __lt__(self, other: Operand) -> "Tensor": return _ops.lt(self, other)
    def __le__(self, other: Operand) -> "Tensor": return _ops.le(self, other)
    def __gt__(self, other: Operand) -> "Tensor": return _ops.gt(self, other)
    def __ge__(self, other: Operand) -> "Tensor": return _ops.ge(self, other)
    def eq(self, other: Operand) -> "Tensor": return _ops.eq(self, other)
    def ne(self, other: Operand) -> "Tensor": return _ops.ne(self, other)
    def lt(self, other: Operand) -> "Tensor": return _ops.lt(self, other)
    def le(self, other: Operand) -> "Tensor": return _ops.le(self, other)
    def gt(self, other: Operand) -> "Tensor": return _ops.gt(self, other)
    def ge(self, other: Operand) -> "Tensor": return _ops.ge(self, other)
    def equal(self, other: "Tensor") -> _bool:
        return self.shape == other.shape and bool((self.array == other.array).all())
    def allclose(self, other: "Tensor", rtol: _float = 1e-5, atol: _float = 1e-8) -> _bool:
        return bool(backend.xp(self.device).allclose(self.array, other.array, rtol, atol))

    def __getitem__(self, index: Any) -> "Tensor": return _ops.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``t[index] = value`` in place; recorded in the graph when a gradient is wanted."""
        _ops.setitem(self, index, value)

    # --- elementwise math ----------------------------------------------------------------
    def add(self, other: Operand, alpha: _float = 1) -> "Tensor":
        return _ops.add(self, other if alpha == 1 else other * alpha)
    def sub(self, other: Operand, alpha: _float = 1) -> "Tensor":
        return _ops.sub(self, other if alpha == 1 else other * alpha)
    def mul(self, other: Operand) -> "Tensor": return _ops.mul(self, other)
    def div(self, other: Operand) -> "Tensor": return _ops.div(self, other)
    def pow(self, exponent: Operand) -> "Tensor": return _ops.pow(self, exponent)
    def neg(self) -> "Tensor": return _ops.neg(self)
    def exp(self) -> "Tensor": return _ops.exp(self)
    def expm1(self) -> "Tensor": return _ops.expm1(self)
    def log(self) -> "Tensor": return _ops.log(self)
    def log2(self) -> "Tensor": return _ops.log2(self)
    def log10(self) -> "Tensor": return _ops.log10(self)
    def log1p(self) -> "Tensor": return _ops.log1p(self)
    def sqrt(self) -> "Tensor": return _ops.sqrt(self)
    def rsqrt(self) -> "Tensor": return _ops.rsqrt(self)
    def square(self) -> "Tensor": return _ops.square(self)
    def reciprocal(self) -> "Tensor": return _ops.reciprocal(self)
    def abs(self) -> "Tensor": return _ops.abs(self)
    def sign(self) -> "Tensor": return _ops.sign(self)
    def floor(self) -> "Tensor": return _ops.floor(self)
    def ceil(self) -> "Tensor": return _ops.ceil(self)
    def round(self, decimals: _int = 0) -> "Tensor": return _ops.round(self, decimals)
    def sin(self) -> "Tensor": return _ops.sin(self)
    def cos(self) -> "Tensor": return _ops.cos(self)
    def tan(self) -> "Tensor": return _ops.tan(self)
    def asin(self) -> "Tensor": return _ops.asin(self)
    def acos(self) -> "Tensor": return _ops.acos(self)
    def atan(self) -> "Tensor": return _ops.atan(self)
    def sinh(self) -> "Tensor": return _ops.sinh(self)
    def cosh(self) -> "Tensor": return _ops.cosh(self)
    def tanh(self) -> "Tensor": return _ops.tanh(self)
    def sigmoid(self) -> "Tensor": return _ops.sigmoid(self)
    def relu(self) -> "Tensor": return _ops.relu(self)
    def erf(self) -> "Tensor": return _ops.erf(self)
    def clamp(self, min: Any = None, max: Any = None) -> "Tensor":
        return _ops.clamp(self, min, max)
    clip = clamp
    def maximum(self, other: Operand) -> "Tensor": return _ops.maximum(self, other)
    def minimum(self, other: Operand) -> "Tensor": return _ops.minimum(self, other)
    def where(self, condition: Any, other: Operand) -> "Tensor":
        return _ops.where(condition, self, other)
    def masked_fill(self, mask: Any, value: Operand) -> "Tensor":
        return _ops.masked_fill(self, mask, value)
    def softmax(self, dim: _int | None = None, **kw: Any) -> "Tensor":
        return _ops.softmax(self, dim, **kw)
    def log_softmax(self, dim: _int | None = None, **kw: Any) -> "Tensor":
        return _ops.log_softmax(self, dim, **kw)

    # --- in-place versions (PyTorch's trailing underscore) ---------------------------------
    def add_(self, other: Operand, alpha: _float = 1) -> "Tensor":
        return _ops.add_(self, other if alpha == 1 else other * alpha)
    def sub_(self, other: Operand, alpha: _float = 1) -> "Tensor":
        return _ops.sub_(self, other if alpha == 1 else other * alpha)
    def mul_(self, other: Operand) -> "Tensor": return _ops.mul_(self, other)
    def div_(self, other: Operand) -> "Tensor": return _ops.div_(self, other)
    def pow_(self, exponent: Operand) -> "Tensor": return _ops.pow_(self, exponent)
    def neg_(self) -> "Tensor": return _ops.neg_(self)
    def exp_(self) -> "Tensor": return _ops.exp_(self)
    def sqrt_(self) -> "Tensor": return _ops.sqrt_(self)
    def abs_(self) -> "Tensor": return _ops.abs_(self)
    def relu_(self) -> "Tensor": return _ops.relu_(self)
    def sigmoid_(self) -> "Tensor": return _ops.sigmoid_(self)
    def tanh_(self) -> "Tensor": return _ops.tanh_(self)
    def clamp_(self, min: Any = None, max: Any = None) -> "Tensor":
        return _ops.clamp_(self, min, max)
    clip_ = clamp_
    def masked_fill_(self, mask: Any, value: Operand) -> "Tensor":
        return _ops.masked_fill_(self, mask, value)
    def zero_(self) -> "Tensor": return _ops.fill_(self, 0)
    def fill_(self, value: Operand) -> "Tensor": return _ops.fill_(self, value)
    def copy_(self, src: Any) -> "Tensor": return _ops.copy_(self, src)
    def uniform_(self, a: _float = 0.0, b: _float = 1.0) -> "Tensor":
        return _ops.uniform_(self, a, b)
    def normal_(self, mean: _float = 0.0, std: _float = 1.0) -> "Tensor":
        return _ops.normal_(self, mean, std)

    # --- reductions ----------------------------------------------------------------------
    def sum(self, dim: Dims = None, keepdim: _bool = False, **kw: Any) -> "Tensor":
        return _ops.sum(self, dim, keepdim, **kw)
    def mean(self, dim: Dims = None, keepdim: _bool = False, **kw: Any) -> "Tensor":
        return _ops.mean(self, dim, keepdim, **kw)
    def prod(self, dim: _int | None = None, keepdim: _bool = False, **kw: Any) -> "Tensor":
        return _ops.prod(self, dim, keepdim, **kw)
    def var(self, dim: Dims = None, unbiased: _bool = True, keepdim: _bool = False,
            **kw: Any) -> "Tensor":
        return _ops.var(self, dim, unbiased, keepdim, **kw)
    def std(self, dim: Dims = None, unbiased: _bool = True, keepdim: _bool = False,
            **kw: Any) -> "Tensor":
        return _ops.std(self, dim, unbiased, keepdim, **kw)
    def norm(self, p: Any = "fro", dim: Dims = None, keepdim: _bool = False,
             **kw: Any) -> "Tensor":
        return _ops.norm(self, p, dim, keepdim, **kw)
    def logsumexp(self, dim: Dims = None, keepdim: _bool = False, **kw: Any) -> "Tensor":
        return _ops.logsumexp(self, dim, keepdim, **kw)
    def cumsum(self, dim: _int | None = None, **kw: Any) -> "Tensor":
        return _ops.cumsum(self, dim, **kw)
    def max(self, dim: Any = None, keepdim: _bool = False, **kw: Any) -> Any:
        """The largest value; with ``dim``, the named tuple (values, indices) as in PyTorch;
        with another tensor, the elementwise maximum. NumPy's ``axis=`` gives values only."""
        return _ops.max(self, dim, keepdim, **kw)
    def min(self, dim: Any = None, keepdim: _bool = False, **kw: Any) -> Any:
        """The smallest value; with ``dim``, (values, indices); see :meth:`max`."""
        return _ops.min(self, dim, keepdim, **kw)
    def amax(self, dim: Dims = None, keepdim: _bool = False, **kw: Any) -> "Tensor":
        return _ops.amax(self, dim, keepdim, **kw)
    def amin(self, dim: Dims = None, keepdim: _bool = False, **kw: Any) -> "Tensor":
        return _ops.amin(self, dim, keepdim, **kw)
    def argmax(self, dim: _int | None = None, keepdim: _bool = False, **kw: Any) -> "Tensor":
        return _ops.argmax(self, dim, keepdim, **kw)
    def argmin(self, dim: _int | None = None, keepdim: _bool = False, **kw: Any) -> "Tensor":
        return _ops.argmin(self, dim, keepdim, **kw)
    def any(self, dim: Dims = None, keepdim: _bool = False, **kw: Any) -> "Tensor":
        return _ops.any(self, dim, keepdim, **kw)
    def all(self, dim: Dims = None, keepdim: _bool = False, **kw: Any) -> "Tensor":
        return _ops.all(self, dim, keepdim, **kw)
    def topk(self, k: _int, dim: _int | None = None, largest: _bool = True, sorted: _bool = True,
             **kw: Any) -> Any:
        return _ops.topk(self, k, dim, largest, sorted, **kw)
    def sort(self, dim: _int | None = None, descending: _bool = False, stable: _bool = False,
             **kw: Any) -> Any:
        return _ops.sort(self, dim, descending, stable, **kw)
    def argsort(self, dim: _int | None = None, descending: _bool = False, stable: _bool = False,
                **kw: Any) -> "Tensor":
        return _ops.argsort(self, dim, descending, stable, **kw)

    # --- products ------------------------------------------------------------------------
    def matmul(self, other: "Tensor") -> "Tensor": return _ops.matmul(self, other)
    def mm(self, other: "Tensor") -> "Tensor": return _ops.mm(self, other)
    def bmm(self, other: "Tensor") -> "Tensor": return _ops.bmm(self, other)
    def dot(self, other: "Tensor") -> "Tensor": return _ops.dot(self, other)
    def outer(self, other: "Tensor") -> "Tensor": return _ops.outer(self, other)

    # --- shapes and movement -------------------------------------------------------------
    def reshape(self, *shape: Any) -> "Tensor": return _ops.reshape(self, *shape)
    def view(self, *shape: Any) -> "Tensor": return _ops.view(self, *shape)
    def view_as(self, other: "Tensor") -> "Tensor": return _ops.view(self, other.shape)
    def reshape_as(self, other: "Tensor") -> "Tensor": return _ops.reshape(self, other.shape)
    def permute(self, *dims: Any) -> "Tensor": return _ops.permute(self, *dims)
    def transpose(self, dim0: _int | None = None, dim1: _int | None = None) -> "Tensor":
        return _ops.transpose(self, dim0, dim1)
    def t(self) -> "Tensor":
        if self.array.ndim > 2:
            raise ValueError(f"t() expects a tensor with <= 2 dimensions, got {self.ndim}")
        return _ops.transpose(self, 0, 1) if self.array.ndim == 2 else self
    @property
    def T(self) -> "Tensor":
        return _ops.transpose(self, 0, 1) if self.array.ndim == 2 else _ops.transpose(self)
    @property
    def mT(self) -> "Tensor": return _ops.transpose(self, -1, -2)
    def flatten(self, start_dim: _int = 0, end_dim: _int = -1) -> "Tensor":
        return _ops.flatten(self, start_dim, end_dim)
    def squeeze(self, dim: _int | None = None, **kw: Any) -> "Tensor":
        return _ops.squeeze(self, dim, **kw)
    def unsqueeze(self, dim: _int | None = None, **kw: Any) -> "Tensor":
        return _ops.unsqueeze(self, dim, **kw)
    def expand(self, *sizes: Any) -> "Tensor": return _ops.expand(self, *sizes)
    def expand_as(self, other: "Tensor") -> "Tensor": return _ops.expand(self, other.shape)
    def broadcast_to(self, *shape: Any) -> "Tensor": return _ops.broadcast_to(self, *shape)
    def sum_to(self, shape: tuple[_int, ...]) -> "Tensor": return _ops.sum_to(self, shape)
    def repeat(self, *sizes: Any) -> "Tensor": return _ops.repeat(self, *sizes)
    def split(self, split_size_or_sections: Any, dim: _int | None = None,
              **kw: Any) -> tuple["Tensor", ...]:
        return _ops.split(self, split_size_or_sections, dim, **kw)
    def chunk(self, chunks: _int, dim: _int | None = None, **kw: Any) -> tuple["Tensor", ...]:
        return _ops.chunk(self, chunks, dim, **kw)
    def unbind(self, dim: _int | None = None, **kw: Any) -> tuple["Tensor", ...]:
        return _ops.unbind(self, dim, **kw)
    def tril(self, diagonal: _int = 0) -> "Tensor": return _ops.tril(self, diagonal)
    def triu(self, diagonal: _int = 0) -> "Tensor": return _ops.triu(self, diagonal)
    def isclose(self, other: Operand, rtol: _float = 1e-05, atol: _float = 1e-08,
                equal_nan: _bool = False) -> "Tensor":
        return _ops.isclose(self, other, rtol, atol, equal_nan)
    def gather(self, dim: _int | None = None, index: "Tensor | None" = None,
               **kw: Any) -> "Tensor":
        return _ops.gather(self, dim, index, **kw)
    def index_select(self, dim: _int | None = None, index: "Tensor | None" = None,
                     **kw: Any) -> "Tensor":
        return _ops.index_select(self, dim, index, **kw)


_TYPE_NAMES = {"float32": "minigrad.FloatTensor", "float64": "minigrad.DoubleTensor",
               "float16": "minigrad.HalfTensor", "int64": "minigrad.LongTensor",
               "int32": "minigrad.IntTensor", "bool": "minigrad.BoolTensor",
               "uint8": "minigrad.ByteTensor"}


class GradFn:
    """The node of the graph that produced a tensor, as ``t.grad_fn`` shows it.

    ``name()`` is the op's name (``MulBackward0``); ``next_functions`` holds, per input,
    ``(its node, 0)``: the input's GradFn, an :class:`AccumulateGrad` for a leaf that
    requires a gradient, or None.
    """

    __slots__ = ("_tensor",)

    def __init__(self, tensor: Tensor) -> None:
        self._tensor = tensor

    def name(self) -> str:
        return op_name(self._tensor)

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        return tuple((_node_of(p), 0) for p in self._tensor._parents)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GradFn) and other._tensor is self._tensor

    def __hash__(self) -> int:
        return id(self._tensor)

    def __repr__(self) -> str:
        return f"<{self.name()} object>"


class AccumulateGrad:
    """The end of a path in the graph: a leaf that requires a gradient (``.variable``)."""

    __slots__ = ("variable",)

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def name(self) -> str:
        return "AccumulateGrad"

    next_functions: tuple = ()

    def __repr__(self) -> str:
        return "<AccumulateGrad object>"


def _node_of(t: Tensor) -> Any:
    if t._backward is not None:
        return GradFn(t)
    return AccumulateGrad(t) if t.requires_grad else None


def op_name(t: Tensor) -> str:
    """The PyTorch-style name of the op that made ``t`` (``AddBackward0``)."""
    if t._grad_fn_name is not None:
        return t._grad_fn_name
    qualname = getattr(t._backward, "__qualname__", "Op").split(".")[0].strip("_")
    return "".join(part[:1].upper() + part[1:] for part in qualname.split("_")) + "Backward0"


def _init(t: Tensor, array: Any, device: str) -> None:
    t.array = array
    t.device = device  # type: ignore[assignment]
    t.requires_grad = False
    t._backward = None
    t._parents = ()
    t._base = None


_new = object.__new__
_numpy_scalar = backend.HOST_SCALAR


def wrap(array: Any, device: str) -> Tensor:
    """A tensor around a backend array (no copy, no checks): how an op that needs no
    gradient, or a backward rule, makes its result."""
    if isinstance(array, _numpy_scalar):  # NumPy returns scalars from 0-d arithmetic
        array = backend.xp("cpu").asarray(array)
    t = _new(Tensor)
    t.array = array
    t.device = device  # type: ignore[assignment]
    t.requires_grad = False
    t._backward = None
    t._parents = ()
    t._base = None
    return t


def record(array: Any, device: str, parents: tuple[Tensor, ...], backward: Backward) -> Tensor:
    """The output of an op: remembers inputs and backward rule when a gradient is wanted.

    ``backward(grad, out)`` returns one gradient (or None) per parent, written with tensor
    ops so that it is itself differentiable; the engine sums each gradient back to its
    parent's shape, so rules may return broadcast shapes. The tensors a rule uses are the
    ones its closure holds: the engine checks those for in-place changes before running it.
    """
    # wrap(), inlined: this is the one path every op takes, and a call costs as much as a
    # third of the framework's work per op
    if isinstance(array, _numpy_scalar):
        array = backend.xp("cpu").asarray(array)
    out = _new(Tensor)
    out.array = array
    out.device = device  # type: ignore[assignment]
    out._base = None
    mode = _grad_enabled.get()
    if mode:
        for p in parents:
            if p.requires_grad:
                out.requires_grad = True
                out._parents = parents
                out._backward = backward
                out._stamp = clocks.now
                if mode is ANOMALY:
                    check_forward_anomaly(out)
                return out
    out.requires_grad = False
    out._backward = None
    out._parents = ()
    return out


# --- anomaly detection (mg.autograd.detect_anomaly) ---------------------------------------

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def user_frame(stack: Sequence[traceback.FrameSummary]) -> str:
    """Where in the user's code (outside minigrad) the stack was: 'file:line in fn: code'."""
    for frame in reversed(stack):
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR + os.sep):
            return f"{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}"
    return "(inside minigrad)"


def holds_nonfinite(t: Tensor) -> bool:
    """True when a floating-point tensor holds NaN or inf."""
    return t.array.dtype.kind in "fc" and not bool(backend.xp(t.device).isfinite(t.array).all())


def check_forward_anomaly(out: Tensor) -> None:
    """Anomaly mode: remember where the op was called, and raise if its output is NaN/inf."""
    stack = traceback.extract_stack()[:-3]
    out._anomaly_stack = stack
    if holds_nonfinite(out):
        name = op_name(out).removesuffix("Backward0")
        raise FloatingPointError(
            f"anomaly detected: the op {name} produced NaN or inf in its output (shape "
            f"{out.shape}), called at {user_frame(stack)}")


def to_array(data: Any, dtype: Any, device: DeviceLike) -> tuple[Any, Device]:
    """``data`` (a tensor, array, number or nested list) as a new backend array, checked."""
    if isinstance(data, Tensor):
        data = data.array
    if device is None:
        device = backend.device_of(data) if backend.is_array(data) else backend.get_default_device()
    device = backend.normalize_device(device)
    xp = backend.xp(device)
    if dtype is not None:
        dtype = backend.as_dtype(dtype)
    elif not backend.is_array(data) and _holds_python_float(data):
        dtype = backend.get_default_dtype()
    if backend.is_array(data) and backend.device_of(data) != device:
        data = backend.to_device(data, device)
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in data):
        data = [backend.to_numpy(x.array) if isinstance(x, Tensor) else x for x in data]
    try:
        array = xp.array(data, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"cannot make a tensor from {type(data).__name__}: {exc}") from None
    if array.dtype.kind not in "biufc":
        raise TypeError(f"cannot make a tensor of dtype {array.dtype} from {type(data).__name__}")
    return array, device


def _holds_python_float(data: Any) -> bool:
    """True when nested Python data holds a float (so the default float dtype applies)."""
    if isinstance(data, float):
        return True
    if isinstance(data, (list, tuple)):
        return any(_holds_python_float(x) for x in data)
    return False


def _new_filled(like: Tensor, size: tuple[Any, ...], value: Any, dtype: Any,
                device: DeviceLike) -> Tensor:
    shape = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in shape):
        raise ValueError(f"new tensor: size must be non-negative ints, got {shape!r}")
    if isinstance(value, str) or not isinstance(value, (bool, int, float, complex)):
        raise TypeError(f"new_full: fill_value must be a number, got {type(value).__name__}")
    device = backend.normalize_device(device or like.device)
    array = backend.xp(device).full(shape, value, dtype=backend.as_dtype(dtype or like.dtype))
    return wrap(array, device)


def index_arrays(index: Any) -> Any:
    """An index with tensors replaced by their arrays (for NumPy/CuPy indexing)."""
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, tuple):
        return tuple(i.array if isinstance(i, Tensor) else i for i in index)
    return index


def constant(value: Any, like: Tensor) -> Tensor:
    """A number or array as a tensor on ``like``'s device, taking its dtype for numbers.

    PyTorch's rule: a number keeps the tensor's dtype unless it is of a higher kind (bool <
    int < float), so an int with a boolean tensor gives int64 and a float with an integer
    or boolean tensor gives the default float dtype.
    """
    if isinstance(value, (int, float, bool)):
        kind = like.array.dtype.kind
        if isinstance(value, float) and kind not in "fc":
            dtype = backend.get_default_dtype()
        elif kind == "b" and not isinstance(value, bool):
            dtype = backend.int64
        else:
            dtype = like.array.dtype
        return wrap(backend.xp(like.device).asarray(value, dtype=dtype), like.device)
    array, device = to_array(value, None, like.device)
    return wrap(array, device)


def check_same_device(*tensors: Tensor) -> None:
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise DeviceError(f"tensors are on different devices ({', '.join(sorted(devices))}); "
                          "move them to one with .to(device)")
