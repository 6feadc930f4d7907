"""SyncBatchNorm: batch normalisation with the statistics of the whole distributed batch.

In data-parallel training each rank sees only its part of the batch; plain BatchNorm then
normalises with per-rank statistics (noisy for small per-rank batches, and not what one
process on the whole batch computes). SyncBatchNorm sums the per-channel counts, sums
and squared deviations over the ranks, so every rank normalises with the mean and
(biased) variance of the concatenated batch, and the running statistics follow those.

The forward is written with differentiable ops around one differentiable collective,
:func:`all_reduce_sum` (its backward sums the incoming gradients over the ranks too), so
the backward needs no hand-written rule: each rank's input gradient is its slice of the
gradient of the concatenated batch, and its weight/bias gradients are its share of the
full ones (DistributedDataParallel's averaging then finishes them).

With one process, in evaluation mode, or before a process group exists, it is
BatchNorm (PyTorch does the same), bit for bit.
"""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.autograd.function import Function
from minigrad.checks import require_tensor
from minigrad.errors import ShapeError
from minigrad.grad_mode import no_grad
from minigrad.nn.functional.normalization import _blend
from minigrad.nn.module import Module
from minigrad.nn.normalization import BatchNorm1d
from minigrad.tensor import Tensor, wrap


class _AllReduceSum(Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, group: Any) -> Tensor:
        from minigrad.distributed import all_reduce
        ctx.group = group
        out = wrap(x.array.copy(), x.device)
        all_reduce(out, group=group)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        from minigrad.distributed import all_reduce
        out = wrap(grad.array.copy(), grad.device)
        all_reduce(out, group=ctx.group)
        return out, None


def all_reduce_sum(x: Tensor, group: Any = None) -> Tensor:
    """The sum of ``x`` over the ranks, differentiable: the gradient reaching each rank's
    ``x`` is the sum over the ranks of the gradients of their results."""
    return _AllReduceSum.apply(x, group)


class SyncBatchNorm(BatchNorm1d):
    """Batch normalisation of (N, C, ...) input over every rank's batch (PyTorch's
    ``nn.SyncBatchNorm``): statistics per channel C over N and all trailing dimensions of
    the concatenated batch; running statistics as in BatchNorm1d (the variance unbiased
    with the total count). ``process_group``: the ranks to synchronise (default: all)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Any = None, device: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype)
        self.process_group = process_group

    def _world(self) -> int:
        from minigrad.distributed import process_group as pg
        if self.process_group is None and not pg.is_initialized():
            return 1
        return pg.resolve(self.process_group).size()

    def forward(self, input: Tensor) -> Tensor:
        require_tensor(input, "SyncBatchNorm")
        if input.ndim < 2 or input.shape[1] != self.num_features:
            raise ShapeError(f"SyncBatchNorm({self.num_features}) expects input of shape "
                             f"(N, {self.num_features}, ...), got shape {input.shape}")
        batch_stats = self.training or not self.track_running_stats
        if not batch_stats or self._world() == 1:
            if input.ndim <= 3:
                return super().forward(input)
            shape = input.shape
            return super().forward(input.reshape(shape[0], shape[1], -1)).reshape(shape)
        return self._synced(input)

    def _synced(self, input: Tensor) -> Tensor:
        from minigrad.distributed import process_group as pg
        group = pg.resolve(self.process_group)
        channels, ndim = self.num_features, input.ndim
        axes = (0,) + tuple(range(2, ndim))
        stat_shape = (1, channels) + (1,) * (ndim - 2)
        local = input.array.size // channels
        count = group.comm.allreduce(local)  # ranks may hold batches of different sizes
        if count < 2:
            raise ValueError(f"SyncBatchNorm needs more than one value per channel over all "
                             f"ranks when training, got {count}")
        mean = all_reduce_sum(input.sum(axes), group) / count
        centered = input - mean.reshape(stat_shape)
        var = all_reduce_sum((centered * centered).sum(axes), group) / count
        out = centered / (var + self.eps).sqrt().reshape(stat_shape)
        if self.weight is not None:
            bias = self.bias
            assert bias is not None  # affine sets weight and bias together
            out = out * self.weight.reshape(stat_shape) + bias.reshape(stat_shape)
        if self.track_running_stats:
            running_mean, running_var = self.running_mean, self.running_var
            batches = self.num_batches_tracked
            # __init__ registers the three buffers as tensors when track_running_stats is set
            assert running_mean is not None and running_var is not None and batches is not None
            with no_grad():
                batches.array += 1
                momentum = self.momentum
                if momentum is None:
                    momentum = 1.0 / float(batches.item())
                _blend(running_mean, mean.array, momentum)
                _blend(running_var, var.array * (count / (count - 1)), momentum)
        return out

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every BatchNorm1d replaced by a SyncBatchNorm holding the same
        parameters, buffers and mode (the module itself when it is a BatchNorm1d)."""
        if isinstance(module, BatchNorm1d) and not isinstance(module, SyncBatchNorm):
            device, dtype = _placement(module)
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, process_group, device=device,
                            dtype=dtype)
            if module.affine:
                converted.weight, converted.bias = module.weight, module.bias
            if module.track_running_stats:
                converted.running_mean = module.running_mean
                converted.running_var = module.running_var
                converted.num_batches_tracked = module.num_batches_tracked
            converted.train(module.training)
            return converted
        for name, child in list(module._modules.items()):
            if child is not None:
                new = cls.convert_sync_batchnorm(child, process_group)
                if new is not child:
                    setattr(module, name, new)
        return module


def _placement(bn: BatchNorm1d) -> tuple[str, Any]:
    for t in (bn.weight, bn.running_mean):
        if t is not None:
            return t.device, t.dtype
    return "cpu", backend.get_default_dtype()
