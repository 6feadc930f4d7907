"""Parameter: the tensor type that marks a module attribute as something to train."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.tensor import Tensor, _init, as_view_of, to_array


class Parameter(Tensor):
    """A tensor that a :class:`~minigrad.nn.Module` registers as a learnable parameter.

    Assigning a Parameter to a module attribute puts it in ``parameters()`` and
    ``state_dict()``. It requires a gradient unless ``requires_grad=False``; made from a
    tensor it shares that tensor's memory, as in PyTorch.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = backend.xp(backend.get_default_device()).zeros(
                0, dtype=backend.get_default_dtype())
        if isinstance(data, Tensor):
            _init(self, data.array, data.device)
            as_view_of(self, data)
        else:
            _init(self, *to_array(data, None, None))
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
