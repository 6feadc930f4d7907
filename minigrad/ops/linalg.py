"""Matrix products."""
from __future__ import annotations

from minigrad.errors import ShapeError
from minigrad.ops.elementwise import operands
from minigrad.ops.movement import reshape, transpose
from minigrad.tensor import Tensor, record


def matmul(a: "Tensor | object", b: "Tensor | object") -> Tensor:
    """``a @ b`` with NumPy's rules: 1-D operands are promoted, batch dimensions broadcast.

    Backward: dA = dC Bᵀ, dB = Aᵀ dC, each computed only when that input needs it.
    """
    a, b = operands(a, b)
    if a.array.ndim < 2 or b.array.ndim < 2:
        return _matmul_vectors(a, b)
    try:
        data = a.array @ b.array
    except ValueError:
        raise _shape_error(a, b) from None
    for_a, for_b = (b if a.requires_grad else None), (a if b.requires_grad else None)
    return record(data, a.device, (a, b),
                  lambda g, out: (None if for_a is None else g @ transpose(for_a, -1, -2),
                                  None if for_b is None else transpose(for_b, -1, -2) @ g))


def _matmul_vectors(a: Tensor, b: Tensor) -> Tensor:
    """1-D operands: promote to a matrix, multiply, drop the added dimension (NumPy's rule)."""
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul needs tensors with at least one dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    out = matmul(reshape(a, (1, -1)) if a.ndim == 1 else a,
                 reshape(b, (-1, 1)) if b.ndim == 1 else b)
    dims = list(out.shape)
    if b.ndim == 1:
        dims.pop(-1)
    if a.ndim == 1:
        dims.pop(-1 if b.ndim == 1 else -2)
    return reshape(out, tuple(dims))


def _shape_error(a: Tensor, b: Tensor) -> ShapeError:
    if a.shape[-1] != b.shape[-2]:
        return ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit: the last dimension "
                          f"of the first ({a.shape[-1]}) must equal the second-to-last of the "
                          f"second ({b.shape[-2]})")
    return ShapeError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be broadcast "
                      "together")
