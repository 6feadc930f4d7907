"""Module: the base class of layers and models.

A module owns parameters, buffers (state that is saved but not trained, such as running
statistics) and submodules, all registered by plain attribute assignment. Registered
values are also kept as ordinary instance attributes, so reading ``self.weight`` in a
``forward`` costs no more than any attribute lookup.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any, Callable, Iterator

from minigrad import backend
from minigrad.autograd import no_grad
from minigrad.nn.parameter import Parameter
from minigrad.tensor import Tensor, bump_version, wrap

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class for all layers and models: subclass it and define ``forward``.

    Calling a module calls ``forward``. Assigning a :class:`Parameter`, a Module or (via
    :meth:`register_buffer`) a Tensor to an attribute registers it, so that
    :meth:`parameters`, :meth:`state_dict`, :meth:`to` and :meth:`train` reach it.
    """

    training: bool
    # the registries (set in __init__ through __dict__, which __setattr__ would route)
    _parameters: dict[str, "Parameter | None"]
    _buffers: dict[str, "Tensor | None"]
    _non_persistent: set[str]
    _modules: dict[str, "Module | None"]

    def __init__(self) -> None:
        state = self.__dict__
        state["training"] = True
        state["_parameters"] = {}
        state["_buffers"] = {}
        state["_non_persistent"] = set()
        state["_modules"] = {}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # --- registration ---------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        state = self.__dict__
        if isinstance(value, (Parameter, Module)):
            if "_parameters" not in state:
                raise AttributeError(f"cannot assign {type(value).__name__} '{name}' before "
                                     "Module.__init__() ran; call super().__init__() first")
            if name not in state["_parameters"] and name not in state["_modules"]:
                state.pop(name, None)  # a plain attribute (or buffer) gives way
            if isinstance(value, Parameter):
                self.register_parameter(name, value)
            else:
                self.add_module(name, value)
        elif name in state.get("_parameters", ()):
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter '{name}': "
                                "expected an nn.Parameter or None")
            self.register_parameter(name, None)
        elif name in state.get("_modules", ()):
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to submodule '{name}': "
                                "expected an nn.Module or None")
            self.add_module(name, None)
        elif name in state.get("_buffers", ()):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} to buffer '{name}': "
                                "expected a Tensor or None")
            self._buffers[name] = state[name] = value
        else:
            object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if self._unregister(name):
            del self.__dict__[name]
        else:
            object.__delattr__(self, name)

    def _unregister(self, name: str) -> bool:
        """Drop ``name`` from the registries; True if it was registered."""
        found = False
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                found = True
        self._non_persistent.discard(name)
        return found

    def _register(self, registry: dict[str, Any], name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot register '{name}' before Module.__init__() ran; call "
                                 "super().__init__() first")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"a registered name must be a non-empty string without '.', "
                           f"got {name!r}")
        if name not in registry and not self._unregister(name) and hasattr(self, name):
            raise KeyError(f"attribute '{name}' already exists and is not a parameter, buffer "
                           "or submodule")
        registry[name] = value  # a replaced entry keeps its place in the order
        self.__dict__[name] = value

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` as the learnable parameter ``name`` (None: declared, unset)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register a {type(param).__name__} as parameter '{name}': "
                            "wrap it in nn.Parameter")
        self._register(self._parameters, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register ``tensor`` as state that is not trained but moves with ``to()`` and is
        saved in ``state_dict()`` (unless ``persistent=False``)."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot register a {type(tensor).__name__} as buffer '{name}': "
                            "expected a Tensor or None")
        self._register(self._buffers, name, tensor)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Register ``module`` as the submodule ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"cannot register a {type(module).__name__} as submodule '{name}': "
                            "expected an nn.Module")
        self._register(self._modules, name, module)

    register_module = add_module

    # --- traversal ------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """This module and every submodule below it, with dotted names ('' for this one)."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, _join(prefix, name), remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        owners = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        seen: set[int] = set()
        for owner_name, owner in owners:
            for name, value in getattr(owner, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield _join(owner_name, name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name; a parameter shared by two layers once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def apply(self, fn: Callable[["Module"], Any]) -> "Module":
        """Call ``fn`` on every submodule (children first), then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # --- modes and gradients --------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (True) or evaluation mode (False) here and in every submodule;
        it changes what Dropout and BatchNorm do."""
        if not isinstance(mode, bool):
            raise TypeError(f"train(mode) expects a bool, got {type(mode).__name__}")
        for module in self.modules():
            module.__dict__["training"] = mode
        return self

    def eval(self) -> "Module":
        """Evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Switch gradient tracking of every parameter on or off (e.g. to freeze layers)."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of all parameters (None, or zeros with set_to_none=False)."""
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad = wrap(backend.xp(param.device).zeros_like(param.array), param.device)

    # --- devices and dtypes ---------------------------------------------------------------
    def to(self, *args: Any, device: str | None = None, dtype: Any = None) -> "Module":
        """Move parameters and buffers to ``device`` and/or cast floating ones to ``dtype``.

        The change is made in place: the Parameter objects stay the same, so an optimizer
        made before ``to()`` keeps working. ``to("cuda")``, ``to(mg.float64)`` and
        ``to(device=..., dtype=...)`` all work; ``dtype`` must be a floating-point type.
        """
        for arg in args:
            if isinstance(arg, str):
                device = arg
            else:
                dtype = arg
        if device is not None:
            device = backend.normalize_device(device)
            backend.xp(device)  # fail here, with the install hint, if the device is missing
        if dtype is not None:
            dtype = backend.as_dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to() only casts to floating-point dtypes, got {dtype}")
        for module in self.modules():
            for tensor in (*module._parameters.values(), *module._buffers.values()):
                if tensor is not None:
                    _move_in_place(tensor, device, dtype)
        return self

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self) -> "Module":
        return self.to("cuda")

    def double(self) -> "Module":
        return self.to(dtype=backend.float64)

    def float(self) -> "Module":
        return self.to(dtype=backend.float32)

    # --- state ----------------------------------------------------------------------------
    def state_dict(self, destination: dict[str, Tensor] | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Tensor]:
        """Parameters and persistent buffers by dotted name, as tensors sharing their memory
        (detached from the graph unless ``keep_vars``). Save it with ``mg.save``."""
        if destination is None:
            destination = {}
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else param.detach()
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent:
                destination[prefix + name] = buf if keep_vars else buf.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers, in place.

        With ``strict`` a missing or unexpected key is an error; a shape mismatch always is.
        Nothing is copied unless every entry checks out. Returns the missing and unexpected
        keys.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict expects a dict, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        errors = []
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected)))
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(map(repr, missing)))
        converted = {}
        for key, target in own.items():
            if key in state_dict:
                value, problems = _converted(key, state_dict[key], target)
                errors.extend(problems)
                converted[key] = value
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with no_grad():  # every value checked out: now copy them all
            for key, value in converted.items():
                target = own[key]
                target.array[...] = backend.to_device(value, target.device)
                bump_version(target)
        return IncompatibleKeys(missing, unexpected)

    # --- printing -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's settings, shown inside the parentheses of its repr."""
        return ""

    def __repr__(self) -> str:
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        lines += [f"({name}): " + repr(module).replace("\n", "\n  ")
                  for name, module in self._modules.items()]
        if not self._modules:
            return f"{type(self).__name__}({', '.join(lines)})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _move_in_place(tensor: Tensor, device: str | None, dtype: Any) -> None:
    """Give ``tensor`` (and its gradient) a new device and/or floating dtype, keeping the
    Tensor object itself; integer and boolean tensors keep their dtype."""
    data = tensor.array
    if device is not None and device != tensor.device:
        data = backend.to_device(data, device)
    if dtype is not None and data.dtype.kind == "f" and data.dtype != dtype:
        data = data.astype(dtype)
    if data is not tensor.array:  # new memory: no longer a view of what it viewed
        tensor.data = wrap(data, device or tensor.device)
    if tensor.grad is not None:
        grad = wrap(tensor.grad.array, tensor.grad.device)
        _move_in_place(grad, device, dtype)
        tensor.grad = grad


def _converted(key: str, value: Any, target: Tensor) -> tuple[Any, list[str]]:
    """``value`` as a host array of ``target``'s shape and dtype, or the problems that stop
    it: not a tensor or array, a wrong shape, values that don't convert, or values that are
    not finite after the cast (1e300 into float32)."""
    if not (isinstance(value, Tensor) or backend.is_array(value)):
        return None, [f"value for {key} is a {type(value).__name__}, expected a Tensor"]
    array = backend.to_numpy(value.array if isinstance(value, Tensor) else value)
    if tuple(array.shape) != target.shape:
        return None, [f"size mismatch for {key}: copying a value of shape {tuple(array.shape)} "
                      f"from the state_dict, the shape in the current model is {target.shape}"]
    if array.dtype.kind not in "biuf":
        return None, [f"value for {key} has dtype {array.dtype}, which can't be converted to "
                      f"{target.dtype}"]
    numpy = backend.xp("cpu")
    with numpy.errstate(over="ignore", invalid="ignore"):
        cast = array.astype(target.dtype)
    if cast.dtype.kind == "f" and not numpy.isfinite(cast).all():
        where = "after the cast to " + str(target.dtype) if numpy.isfinite(array).all() else ""
        return None, [f"value for {key} holds NaN or inf {where}".rstrip() +
                      " (a corrupt or diverged checkpoint?)"]
    return cast, []
