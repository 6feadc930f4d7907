"""Embedding: a lookup table of learned vectors, one per index (``torch.nn.Embedding``)."""
from __future__ import annotations

from typing import Any

from minigrad.autograd import no_grad
from minigrad.errors import ShapeError
from minigrad.nn import init
from minigrad.nn.functional.sparse import embedding, normalize_padding_idx
from minigrad.nn.linear import _empty
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.tensor import Tensor


class Embedding(Module):
    """Maps integer indices of any shape to rows of ``weight`` (num_embeddings,
    embedding_dim): the output has shape input.shape + (embedding_dim,).

    The weight is drawn from N(0, 1), as in PyTorch, with the row ``padding_idx`` (if given)
    zeroed; that row receives no gradient, so it stays what it is. ``max_norm``, ``norm_type``
    and ``scale_grad_by_freq`` are passed to :func:`minigrad.nn.functional.embedding`;
    ``max_norm`` renormalises looked-up rows in place. ``_weight`` supplies the weight
    (shared, not copied, and left as it is, padding row included) and ``_freeze`` makes it
    need no gradient; :meth:`from_pretrained` is the public way to do both. ``sparse=True``
    is not supported.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Tensor | None = None, _freeze: bool = False,
                 device: str | None = None, dtype: Any = None) -> None:
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"Embedding: {name} must be a non-negative int, got {value!r}")
        if sparse:
            raise NotImplementedError("Embedding: sparse=True (sparse gradients) is not "
                                      "supported; use sparse=False, which gives the same values "
                                      "and a dense gradient")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = normalize_padding_idx(padding_idx, num_embeddings)
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(_empty((num_embeddings, embedding_dim), device, dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if not isinstance(_weight, Tensor) or _weight.shape != (num_embeddings, embedding_dim):
                raise ShapeError(f"Embedding: _weight must be a Tensor of shape "
                                 f"({num_embeddings}, {embedding_dim}), got "
                                 f"{getattr(_weight, 'shape', type(_weight).__name__)}")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """Draw fresh values from N(0, 1) (seeded by ``mg.manual_seed``); zero the padding
        row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor) -> Tensor:
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2.0:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += ", scale_grad_by_freq=True"
        return text

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> "Embedding":
        """An Embedding whose weight is ``embeddings`` (2-D, shared, not copied); with
        ``freeze`` (the default) it needs no gradient, so training leaves it as it is."""
        if not isinstance(embeddings, Tensor) or embeddings.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: embeddings must be a 2-D Tensor, got "
                             f"{getattr(embeddings, 'shape', type(embeddings).__name__)}")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings,
                   _freeze=freeze)
