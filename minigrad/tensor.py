"""The Tensor: an array on a device plus the record of how it was computed.

A tensor made by an op that has an input requiring a gradient remembers its inputs
(``_parents``) and its backward rule (``_backward(grad, out) -> grads of the inputs``).
That is the whole graph; :mod:`minigrad.autograd.engine` walks it in reverse. Ops live in
:mod:`minigrad.ops` and are bound as methods at the bottom of this module.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from minigrad import backend
from minigrad.errors import DeviceError

Backward = Callable[["Tensor", "Tensor"], Sequence["Tensor | None"]]


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``data`` is the backend array (``numpy.ndarray`` on ``"cpu"``, ``cupy.ndarray`` on
    ``"cuda"``); ``grad`` is a Tensor filled by ``backward()`` for leaves that require a
    gradient. Tensors hash by identity, so they can key dictionaries (optimizer state).
    """

    __slots__ = ("array", "grad", "requires_grad", "device", "_backward", "_parents",
                 "_retains_grad", "__weakref__")
    __array_priority__ = 1000.0  # ndarray (op) Tensor defers to Tensor's reflected op
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 device: str | None = None) -> None:
        array, device = _to_array(data, dtype, device)
        _init(self, array, device)
        if requires_grad:
            self.requires_grad_(True)

    # --- what it is ----------------------------------------------------------------------
    @property
    def data(self) -> "Tensor":
        """A tensor sharing this one's memory that requires no gradient and is never recorded."""
        return _make(self.array, self.device)

    @data.setter
    def data(self, value: Any) -> None:
        array, device = _to_array(value, None, None) if not isinstance(value, Tensor) else \
            (value.array, value.device)
        self.array, self.device = array, device

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

    def size(self, dim: int | None = None) -> Any:
        return self.array.shape if dim is None else self.array.shape[dim]

    def numel(self) -> int:
        return int(self.array.size)

    def __len__(self) -> int:
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self):
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
            extras.append(f"grad_fn=<{_op_name(self._backward)}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    # --- conversion ----------------------------------------------------------------------
    def numpy(self) -> Any:
        """The values as a NumPy array on the host (the same memory on ``"cpu"``)."""
        return backend.to_numpy(self.array)

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def item(self) -> Any:
        if self.array.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.array.reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.array.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use .any() or .all()")
        return bool(self.item())

    def to(self, *args: Any, dtype: Any = None, device: str | None = None) -> "Tensor":
        """This tensor on another device and/or with another dtype (differentiable).

        ``t.to("cuda")``, ``t.to(mg.float64)``, ``t.to(device="cpu", dtype=mg.float32)``.
        """
        for arg in args:
            if isinstance(arg, str):
                device = arg
            else:
                dtype = arg
        out = self
        if device is not None:
            out = to_device(out, backend.normalize_device(device))
        if dtype is not None:
            out = to_dtype(out, backend.as_dtype(dtype))
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def double(self) -> "Tensor":
        return self.to(backend.float64)

    def float(self) -> "Tensor":
        return self.to(backend.float32)

    def long(self) -> "Tensor":
        return self.to(backend.int64)

    # --- autograd ------------------------------------------------------------------------
    def backward(self, gradient: "Tensor | None" = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``gradient`` is needed for a non-scalar tensor (the vector of the vector-Jacobian
        product). The graph is freed afterwards unless ``retain_graph`` (default:
        ``create_graph``); ``create_graph=True`` records the backward pass itself, so the
        gradients can be differentiated again.
        """
        engine.backward([self], [gradient], retain_graph=retain_graph, create_graph=create_graph)

    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return _make(self.array, self.device)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
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

    def __setitem__(self, index: Any, value: Any) -> None:
        if self.requires_grad and grad_mode.enabled:
            raise RuntimeError("in-place assignment to a tensor that requires grad would corrupt "
                               "its gradient; assign under mg.no_grad() or use mg.where")
        value = value.array if isinstance(value, Tensor) else value
        self.array[_index_arrays(index)] = value


def _init(t: Tensor, data: Any, device: str) -> None:
    t.array = data
    t.device = device
    t.grad = None
    t.requires_grad = False
    t._backward = None
    t._parents = ()
    t._retains_grad = False


_new = object.__new__
_numpy_scalar = backend.HOST_SCALAR


def _make(data: Any, device: str) -> Tensor:
    """A tensor around a backend array, without checks (internal fast path)."""
    if isinstance(data, _numpy_scalar):  # NumPy returns scalars from 0-d arithmetic
        data = backend.xp("cpu").asarray(data)
    t = _new(Tensor)
    _init(t, data, device)
    return t


def record(data: Any, device: str, parents: tuple[Tensor, ...], backward: Backward) -> Tensor:
    """The output of an op: remembers inputs and backward rule when a gradient is wanted.

    ``backward(grad, out)`` returns one gradient (or None) per parent, written with tensor
    ops so that it is itself differentiable; the engine sums each gradient back to its
    parent's shape, so rules may return broadcast shapes.
    """
    out = _make(data, device)
    if grad_mode.enabled:
        for p in parents:
            if p.requires_grad:
                out.requires_grad = True
                out._parents = parents
                out._backward = backward
                break
    return out


def _op_name(backward: Backward) -> str:
    return getattr(backward, "__qualname__", "Backward").split(".")[0].lstrip("_") + "Backward"


def _to_array(data: Any, dtype: Any, device: str | None) -> tuple[Any, str]:
    if isinstance(data, Tensor):
        data = data.array
    if device is None:
        device = backend.device_of(data) if backend.is_array(data) else backend.get_default_device()
    device = backend.normalize_device(device)
    xp = backend.xp(device)
    if dtype is not None:
        dtype = backend.as_dtype(dtype)
    elif not backend.is_array(data) and _python_floats(data):
        dtype = backend.get_default_dtype()
    if backend.is_array(data) and backend.device_of(data) != device:
        data = backend.to_device(data, device)
    try:
        array = xp.array(data, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"cannot make a tensor from {type(data).__name__}: {exc}") from None
    if array.dtype.kind not in "biufc":
        raise TypeError(f"cannot make a tensor of dtype {array.dtype} from {type(data).__name__}")
    return array, device


def _python_floats(data: Any) -> bool:
    """True when nested Python data holds a float (so the default float dtype applies)."""
    if isinstance(data, float):
        return True
    if isinstance(data, (list, tuple)):
        return any(_python_floats(x) for x in data)
    return False


def _index_arrays(index: Any) -> Any:
    """An index with tensors replaced by their arrays (for NumPy/CuPy indexing)."""
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, tuple):
        return tuple(i.array if isinstance(i, Tensor) else i for i in index)
    return index


def constant(value: Any, like: Tensor) -> Tensor:
    """A number or array as a tensor on ``like``'s device, taking its dtype for numbers.

    A float with an integer tensor gives the default float dtype, as in PyTorch.
    """
    if isinstance(value, (int, float, bool)):
        if like.array.dtype.kind in "fc" or not isinstance(value, float):
            dtype = like.array.dtype
        else:
            dtype = backend.get_default_dtype()
        return _make(backend.xp(like.device).asarray(value, dtype=dtype), like.device)
    return Tensor(value, device=like.device)


def check_same_device(*tensors: Tensor) -> None:
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise DeviceError(f"tensors are on different devices ({', '.join(sorted(devices))}); "
                          "move them to one with .to(device)")


# Ops (and the autograd package, which uses them) import Tensor from here: import them last.
from minigrad.autograd import engine, grad_mode  # noqa: E402
from minigrad.ops.movement import to_device, to_dtype  # noqa: E402
from minigrad.ops import bind_tensor_methods  # noqa: E402

bind_tensor_methods(Tensor)
