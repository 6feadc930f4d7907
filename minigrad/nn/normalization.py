"""Normalisation layers: BatchNorm1d and LayerNorm."""
from __future__ import annotations

from typing import Any, Sequence

from minigrad import backend
from minigrad.errors import ShapeError
from minigrad.nn import functional as F
from minigrad.nn.functional.normalization import _as_shape
from minigrad.nn.module import Module
from minigrad.nn.parameter import Parameter
from minigrad.checks import require_number, require_tensor
from minigrad.tensor import Tensor, wrap


def _filled(shape: tuple[int, ...], value: float, device: str | None, dtype: Any) -> Tensor:
    device = backend.normalize_device(device)
    dtype = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    return wrap(backend.xp(device).full(shape, value, dtype=dtype), device)


class BatchNorm1d(Module):
    """Batch normalisation of (N, C) or (N, C, L) input (Ioffe & Szegedy, 2015).

    Training: normalise with the batch mean and biased variance, and update the running
    mean and *unbiased* running variance with ``momentum`` (None: a cumulative average over
    ``num_batches_tracked`` batches). Evaluation: normalise with the running statistics
    (or the batch's, with ``track_running_stats=False``).
    """

    weight: Parameter | None
    bias: Parameter | None
    running_mean: Tensor | None  # buffers (None without track_running_stats)
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device: str | None = None, dtype: Any = None) -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(f"BatchNorm1d: num_features must be a positive int, got "
                             f"{num_features!r}")
        self.num_features = num_features
        self.eps = require_number(eps, "BatchNorm1d", "eps", 0.0)
        self.momentum = None if momentum is None else \
            require_number(momentum, "BatchNorm1d", "momentum", 0.0, 1.0)
        self.affine = affine
        self.track_running_stats = track_running_stats
        shape = (num_features,)
        self.weight = Parameter(_filled(shape, 1.0, device, dtype)) if affine else None
        self.bias = Parameter(_filled(shape, 0.0, device, dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", _filled(shape, 0.0, device, dtype))
            self.register_buffer("running_var", _filled(shape, 1.0, device, dtype))
            self.register_buffer("num_batches_tracked", _filled((), 0, device, backend.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            mean, var, count = self.running_mean, self.running_var, self.num_batches_tracked
            # __init__ registers the three buffers as tensors when track_running_stats is set
            assert mean is not None and var is not None and count is not None
            mean.array[...] = 0.0
            var.array[...] = 1.0
            count.array[...] = 0

    def forward(self, input: Tensor) -> Tensor:
        require_tensor(input, "BatchNorm1d")
        if input.ndim not in (2, 3) or input.shape[1] != self.num_features:
            raise ShapeError(f"BatchNorm1d({self.num_features}) expects input of shape "
                             f"(N, {self.num_features}) or (N, {self.num_features}, L), got "
                             f"shape {input.shape}")
        momentum = self.momentum
        if self.training and self.track_running_stats:
            count = self.num_batches_tracked
            assert count is not None  # a tensor buffer when track_running_stats is set
            count.array += 1
            if momentum is None:  # the cumulative average
                # on the GPU 1 / count stays there: reading the count would wait for it
                momentum = 1.0 / count.array if count.device in backend.deferring_devices \
                    else 1.0 / float(count.item())
        use_batch_stats = self.training or not self.track_running_stats
        return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch_stats, 0.0 if momentum is None else momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` dimensions of each sample
    (Ba et al., 2016), with a learnable elementwise scale and (if ``bias``) shift."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.normalized_shape = _as_shape(normalized_shape, "LayerNorm")
        self.eps = require_number(eps, "LayerNorm", "eps", 0.0)
        self.elementwise_affine = elementwise_affine
        shape = self.normalized_shape
        self.weight = Parameter(_filled(shape, 1.0, device, dtype)) if elementwise_affine else None
        self.bias = (Parameter(_filled(shape, 0.0, device, dtype))
                     if elementwise_affine and bias else None)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
