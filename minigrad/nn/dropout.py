"""The Dropout layer."""
from __future__ import annotations

from minigrad.nn import functional as F
from minigrad.checks import require_number
from minigrad.nn.module import Module
from minigrad.tensor import Tensor


class Dropout(Module):
    """Inverted dropout while training (zero with probability ``p``, scale the rest by
    1 / (1 - p)); the identity in evaluation mode. ``inplace`` is accepted for PyTorch
    compatibility; the result is computed out of place."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        require_number(p, "Dropout", "p", 0.0, 1.0)
        self.p = p
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
