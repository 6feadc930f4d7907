"""Dropout (Srivastava et al., 2014), in the inverted form."""
from __future__ import annotations

from minigrad import backend
from minigrad.tensor import Tensor, wrap, record


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p), so the
    expected value is unchanged and evaluation needs no rescaling. Identity unless
    ``training``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    draws = backend.generator(input.device).random(input.shape, dtype=backend.float32)
    mask = (draws >= p).astype(input.dtype)
    if p < 1.0:
        mask *= 1.0 / (1.0 - p)
    return record(input.array * mask, input.device, (input,),
                  lambda g, out: (g * wrap(mask, input.device),))
