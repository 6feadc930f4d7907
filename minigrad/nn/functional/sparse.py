"""Embedding lookup (PyTorch keeps it in ``torch.nn.functional`` beside its sparse layers)."""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.autograd import no_grad
from minigrad.errors import DeviceError, ShapeError
from minigrad.ops.movement import check_index_range, index_into_zeros
from minigrad.tensor import Tensor, record, wrap

_RENORM_EPS = 1e-7  # PyTorch's embedding_renorm_ scales rows by max_norm / (norm + 1e-7)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer indices
    ``input`` (any shape): the result has shape input.shape + (embedding_dim,).

    The gradient of row k is the sum of the output gradients at the positions holding k
    (scattered with repeats accumulating), divided by the number of those positions with
    ``scale_grad_by_freq``; the row ``padding_idx`` gets none. With ``max_norm``, each
    looked-up row whose ``norm_type``-norm exceeds it is first scaled in place (under no
    grad, as in PyTorch) to norm max_norm: weight[k] *= max_norm / (norm + 1e-7). That
    changes ``weight``, so a graph recorded from it before the call can't be walked back.
    ``sparse=True`` (sparse gradients) is not supported.
    """
    num, indices = _check(input, weight, sparse)
    padding_idx = normalize_padding_idx(padding_idx, num)
    if max_norm is not None:
        _renorm_rows(weight, indices, max_norm, norm_type)
    xp = backend.xp(weight.device)
    rows_shape = weight.shape

    def backward(g: Tensor, out: Tensor) -> tuple[Tensor]:
        if scale_grad_by_freq:
            counts = xp.bincount(indices.reshape(-1), minlength=num)
            g = g * wrap((1.0 / counts[indices]).astype(weight.dtype)[..., None], weight.device)
        if padding_idx is not None:
            g = g * wrap((indices != padding_idx)[..., None], weight.device)
        return (index_into_zeros(g, rows_shape, (indices,)),)
    return record(weight.array[indices], weight.device, (weight,), backward)


def normalize_padding_idx(padding_idx: int | None, num_embeddings: int) -> int | None:
    """``padding_idx`` checked to lie in -num_embeddings..num_embeddings-1, made
    non-negative (-1 is the last row)."""
    if padding_idx is None:
        return None
    if not isinstance(padding_idx, int) or not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx must be within num_embeddings: an int in "
                         f"{-num_embeddings}..{num_embeddings - 1}, got {padding_idx!r}")
    return padding_idx % num_embeddings


def _check(input: Tensor, weight: Tensor, sparse: bool) -> tuple[int, Any]:
    """Check the lookup's arguments; returns num_embeddings and the indices to use (see
    :func:`minigrad.ops.movement.check_index_range`)."""
    if sparse:
        raise NotImplementedError("embedding: sparse=True (sparse gradients) is not supported; "
                                  "use sparse=False, which gives the same values and a dense "
                                  "gradient")
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(f"embedding: input and weight must be Tensors, got "
                        f"{type(input).__name__} and {type(weight).__name__}")
    if input.array.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must hold integer indices (e.g. mg.int64), got dtype "
                        f"{input.dtype}")
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {weight.shape}")
    if input.device != weight.device:
        raise DeviceError(f"embedding: input is on {input.device} but weight is on "
                          f"{weight.device}; move one with .to(device)")
    num = weight.shape[0]
    return num, check_index_range(input.array, num, "embedding",
                                  f"range for {num} embeddings (valid: 0..{num - 1})",
                                  weight.device)


def _renorm_rows(weight: Tensor, indices: Any, max_norm: float, norm_type: float) -> None:
    """Scale, in place, the looked-up rows of ``weight`` whose norm exceeds ``max_norm``."""
    xp = backend.xp(weight.device)
    rows = xp.unique(indices.reshape(-1))
    norms = xp.linalg.norm(weight.array[rows], ord=norm_type, axis=1)
    too_long = norms > max_norm
    if not bool(too_long.any()):
        return
    rows, norms = rows[too_long], norms[too_long]
    factor = (max_norm / (norms + _RENORM_EPS)).astype(weight.dtype)
    with no_grad():
        weight[wrap(rows, weight.device)] = wrap(weight.array[rows] * factor[:, None],
                                                 weight.device)
