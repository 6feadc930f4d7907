"""Matrix products."""
from __future__ import annotations

from typing import Any

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
    for_a = b if a.requires_grad else None
    for_b = a if b.requires_grad else None
    return record(data, a.device, (a, b),
                  lambda g, out: (None if for_a is None else g @ transpose(for_a, -1, -2),
                                  None if for_b is None else transpose(for_b, -1, -2) @ g))


def _matmul_vectors(a: Tensor, b: Tensor) -> Tensor:
    """1-D operands: promote to a matrix, multiply, drop the added dimension (NumPy's rule)."""
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul needs tensors with at least one dimension, got shapes "
                         f"{a.shape} and {b.shape}")
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != inner_b:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit: the last dimension "
                         f"of the first ({a.shape[-1]}) must equal the "
                         f"{'length' if b.ndim == 1 else 'second-to-last dimension'} of the "
                         f"second ({inner_b})")
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


def _check_product(name: str, a: Any, b: Any, ndim: int, what: str) -> None:
    """Both operands tensors with ``ndim`` dimensions and one dtype, as PyTorch requires."""
    for label, t in (("first", a), ("second", b)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: the {label} operand must be a Tensor, got "
                            f"{type(t).__name__}")
    if a.ndim != ndim or b.ndim != ndim:
        raise ShapeError(f"{name} needs two {what} ({ndim}-D tensors), got shapes "
                         f"{a.shape} and {b.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"{name}: both operands must have the same dtype, got {a.dtype} and "
                        f"{b.dtype}")


def mm(a: Tensor, b: Tensor) -> Tensor:
    """The matrix product of two 2-D tensors (no broadcasting; :func:`matmul` has that)."""
    _check_product("mm", a, b, 2, "matrices")
    if a.shape[1] != b.shape[0]:
        raise ShapeError(f"mm: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({a.shape[1]} columns against {b.shape[0]} rows)")
    return matmul(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (one batch size, no
    broadcasting)."""
    _check_product("bmm", a, b, 3, "batches of matrices")
    if a.shape[0] != b.shape[0]:
        raise ShapeError(f"bmm: the batch sizes of shapes {a.shape} and {b.shape} differ "
                         f"({a.shape[0]} and {b.shape[0]})")
    if a.shape[2] != b.shape[1]:
        raise ShapeError(f"bmm: shapes {a.shape} and {b.shape} cannot be multiplied "
                         f"({a.shape[2]} columns against {b.shape[1]} rows)")
    return matmul(a, b)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """The inner product of two 1-D tensors of one length (a 0-d tensor)."""
    _check_product("dot", a, b, 1, "vectors")
    if a.shape != b.shape:
        raise ShapeError(f"dot: the vectors must have the same length, got shapes {a.shape} "
                         f"and {b.shape}")
    return matmul(a, b)


def outer(a: Tensor, b: Tensor) -> Tensor:
    """The outer product of two 1-D tensors: ``out[i, j] = a[i] * b[j]``."""
    for label, t in (("first", a), ("second", b)):
        if not isinstance(t, Tensor):
            raise TypeError(f"outer: the {label} operand must be a Tensor, got "
                            f"{type(t).__name__}")
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer needs two vectors (1-D tensors), got shapes {a.shape} and "
                         f"{b.shape}")
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))
