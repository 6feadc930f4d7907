"""Containers: modules that hold other modules (or parameters) in order or by name."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator

from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter


def _position(index: int, length: int, kind: str) -> int:
    if not isinstance(index, int):
        raise TypeError(f"{kind} indices must be integers or slices, not {type(index).__name__}")
    if not -length <= index < length:
        raise IndexError(f"index {index} is out of range for a {kind} of length {length}")
    return index % length


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Made from modules (named "0", "1", ...) or from one OrderedDict of named modules;
    supports ``len``, iteration, integer indexing and slicing (a slice is a Sequential).
    """

    # entries come through the typed methods below, which take modules, not Module's
    # None placeholders; narrowing the inherited dict's value type is deliberate
    _modules: dict[str, Module]  # type: ignore[assignment]

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def forward(self, input: Any) -> Any:
        for module in self._modules.values():
            input = module(input)
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Module:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[_position(index, len(items), "Sequential")][1]

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters belong to the owner (a plain list's would not).

    It has no ``forward``: the owner decides how to use its entries.
    """

    # entries come through the typed methods below, which take modules, not Module's
    # None placeholders; narrowing the inherited dict's value type is deliberate
    _modules: dict[str, Module]  # type: ignore[assignment]

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> "Module | ModuleList":
        entries = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(entries[index])
        return entries[_position(index, len(entries), "ModuleList")]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(str(_position(index, len(self), "ModuleList")), module)

    def __delitem__(self, index: int) -> None:
        entries = list(self._modules.values())
        del entries[_position(index, len(entries), "ModuleList")]
        self._renumber(entries)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        entries = list(self._modules.values())
        entries.insert(index, module)
        self._renumber(entries)

    def _renumber(self, entries: list[Module]) -> None:
        for name in list(self._modules):
            delattr(self, name)
        for module in entries:
            self.append(module)


class ModuleDict(Module):
    """A dict of modules, by name, whose parameters belong to the owner."""

    # entries come through the typed methods below, which take modules, not Module's
    # None placeholders; narrowing the inherited dict's value type is deliberate
    _modules: dict[str, Module]  # type: ignore[assignment]

    def __init__(self, modules: "dict[str, Module] | Iterable[tuple[str, Module]] | None" = None
                 ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def update(self, modules: Any) -> None:
        for key, module in (modules.items() if hasattr(modules, "items") else modules):
            self[key] = module


class ParameterList(Module):
    """A list of parameters that belong to the owner (a plain list's would not)."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        for value in values or ():
            self.append(value)

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Parameter:
        entries = list(self._parameters.values())
        return entries[_position(index, len(entries), "ParameterList")]  # type: ignore[return-value]

    def append(self, value: Any) -> "ParameterList":
        param = value if isinstance(value, Parameter) else Parameter(value)
        self.register_parameter(str(len(self)), param)
        return self

    def extend(self, values: Iterable[Any]) -> "ParameterList":
        for value in values:
            self.append(value)
        return self
