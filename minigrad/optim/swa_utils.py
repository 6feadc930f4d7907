"""Stochastic weight averaging, with ``torch.optim.swa_utils``' names and semantics.

SWA (Izmailov et al. 2018, "Averaging Weights Leads to Wider Optima and Better
Generalization") averages the weights a model passes through late in training, at a
constant or cyclical learning rate, and uses the average::

    swa_model = AveragedModel(model)
    swa_scheduler = SWALR(optimizer, swa_lr=0.05)
    for epoch in range(epochs):
        train_one_epoch(model, optimizer)
        if epoch >= swa_start:
            swa_model.update_parameters(model)
            swa_scheduler.step()
    update_bn(train_loader, swa_model)   # BatchNorm statistics of the averaged weights
    evaluate(swa_model)

:class:`AveragedModel` keeps a deep copy of the model whose parameters are the running
mean (or, with :func:`get_ema_multi_avg_fn`, an exponential moving average, "EMA") of the
model's; :class:`SWALR` anneals each group's lr to a constant ``swa_lr``; :func:`update_bn`
recomputes BatchNorm's running statistics for the averaged weights with one pass over the
data.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Iterable, Sequence, cast

from minigrad import backend
from minigrad.grad_mode import no_grad
from minigrad.nn.module import Module
from minigrad.optim.checks import NONNEGATIVE, Choice, Integer, Real
from minigrad.optim.lr_scheduler import LRScheduler, _param_groups
from minigrad.tensor import Tensor, bump_version, wrap

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn",
           "get_swa_multi_avg_fn", "get_ema_avg_fn", "get_swa_avg_fn"]

AvgFn = Callable[[Tensor, Tensor, Any], Tensor]
MultiAvgFn = Callable[[Sequence[Tensor], Sequence[Tensor], Any], None]

_DECAY = Real(0.0, 1.0)


def _check_decay(decay: Any) -> float:
    if not _DECAY.accepts(decay):
        raise ValueError(f"Invalid decay value {decay!r} provided. Please provide a value in "
                         "[0,1] range.")
    return float(decay)


def _count(num_averaged: Any) -> float:
    """``num_averaged`` (an int, or the ``n_averaged`` tensor) as a number."""
    if isinstance(num_averaged, Tensor):
        return float(num_averaged.item())
    return float(num_averaged)


def _lerp_(start: Any, end: Any, weight: float) -> None:
    """``start += weight * (end - start)`` in place, in the two forms PyTorch's ``lerp_``
    uses (the one from ``end`` for weights >= 0.5 keeps ``weight=1`` exact)."""
    if weight < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1.0 - weight)


def _average_into(averaged: Any, value: Any) -> None:
    """Write ``value`` (an array) into the array ``averaged``, cast to its dtype (integer
    buffers truncate, as PyTorch's ``copy_`` does)."""
    if averaged.dtype.kind in "fc":
        averaged[...] = value
    else:
        averaged[...] = value.astype(averaged.dtype) if hasattr(value, "astype") else value


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """The in-place exponential moving average of lists of tensors, for ``AveragedModel(...,
    multi_avg_fn=...)``: ``W_ema <- decay * W_ema + (1 - decay) * W_model``, computed as
    PyTorch's ``lerp`` with weight ``1 - decay``. The first update copies the model (the
    average starts at ``W_0``). ``decay`` must lie in [0, 1]."""
    decay = _check_decay(decay)

    def ema_update(ema_param_list: Sequence[Tensor], current_param_list: Sequence[Tensor],
                   _: Any) -> None:
        for p_ema, p_model in zip(ema_param_list, current_param_list):
            target = p_ema.array
            if target.dtype.kind in "fc":
                _lerp_(target, p_model.array, 1.0 - decay)
            else:
                _average_into(target, target * decay + p_model.array * (1.0 - decay))
            bump_version(p_ema)
    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """The in-place running mean of lists of tensors, for ``AveragedModel(...,
    multi_avg_fn=...)``: ``W_swa <- W_swa + (W_model - W_swa) / (n + 1)`` with ``n`` the
    number of models averaged so far (the float entries as ``lerp`` with weight ``1 / (n +
    1)``, PyTorch's form)."""

    def swa_update(averaged_param_list: Sequence[Tensor], current_param_list: Sequence[Tensor],
                   num_averaged: Any) -> None:
        n = _count(num_averaged)
        for p_avg, p_model in zip(averaged_param_list, current_param_list):
            target = p_avg.array
            if target.dtype.kind in "fc":
                _lerp_(target, p_model.array, 1.0 / (n + 1.0))
            else:
                _average_into(target, target + (p_model.array - target) / (n + 1.0))
            bump_version(p_avg)
    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
    """The exponential moving average of one tensor, for ``AveragedModel(..., avg_fn=...)``:
    returns ``decay * W_ema + (1 - decay) * W_model``. ``decay`` must lie in [0, 1]."""
    decay = _check_decay(decay)

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn() -> AvgFn:
    """The running mean of one tensor, for ``AveragedModel(..., avg_fn=...)``: returns
    ``W_swa + (W_model - W_swa) / (n + 1)``."""

    def swa_update(averaged_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (_count(num_averaged) + 1)
    return swa_update


class AveragedModel(Module):
    """A deep copy of ``model`` whose parameters are an average of ``model``'s over the calls
    of :meth:`update_parameters` (Izmailov et al. 2018 for SWA; an EMA with
    :func:`get_ema_multi_avg_fn`).

    * The default average is the running mean: the first update copies the model, the
      ``n+1``-th one sets ``W <- W + (W_model - W) / (n + 1)``, computed in this form (as
      PyTorch does on the CPU; its CUDA path uses ``lerp``, equal up to rounding).
    * ``avg_fn(averaged, current, n_averaged)`` returns the new average of one tensor;
      ``multi_avg_fn(averaged_list, current_list, n_averaged)`` updates lists of tensors in
      place (one call per device and dtype). Give at most one; ``n_averaged`` is the count
      tensor.
    * ``use_buffers=False`` (the default): the buffers (BatchNorm's running statistics) are
      copied from ``model`` at each update, not averaged; then call :func:`update_bn` on the
      averaged model before using it. ``use_buffers=True`` averages buffers with the
      parameters (integer buffers are truncated after averaging, as in PyTorch).
    * ``device``: where the copy lives (the model's values are moved there at each update).

    ``n_averaged`` is an int64 buffer (it is in :meth:`state_dict`, so a checkpoint resumes
    the average). Forward calls the averaged copy. Reading ``n_averaged`` at each update is
    one device synchronisation, as in PyTorch.

    Unlike PyTorch, whose ``zip`` silently stops at the shorter list, a ``model`` with
    other parameters (count or shapes) than the averaged copy raises ``ValueError`` before
    anything is changed.
    """

    n_averaged: Tensor  # a buffer (registered in __init__)

    def __init__(self, model: Module, device: str | None = None, avg_fn: AvgFn | None = None,
                 multi_avg_fn: MultiAvgFn | None = None, use_buffers: bool = False) -> None:
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel expects a minigrad Module, got "
                            f"{type(model).__name__}")
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give only one of avg_fn and multi_avg_fn")
        for name, fn in (("avg_fn", avg_fn), ("multi_avg_fn", multi_avg_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"AveragedModel: {name} must be a function, got "
                                f"{type(fn).__name__}")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module.to(device)
        where = backend.normalize_device(device) if device is not None else _device_of(model)
        count = backend.xp(where).zeros((), dtype=backend.int64)
        self.register_buffer("n_averaged", wrap(count, where))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = bool(use_buffers)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def _averaged(self, model: Module) -> tuple[list[Tensor], list[Tensor]]:
        if self.use_buffers:
            mine = [*self.module.parameters(), *self.module.buffers()]
            theirs = [*model.parameters(), *model.buffers()]
        else:
            mine, theirs = list(self.parameters()), list(model.parameters())
        what = "parameters and buffers" if self.use_buffers else "parameters"
        _check_pairs(what, mine, theirs)
        return mine, theirs

    def update_parameters(self, model: Module) -> None:
        """Average ``model``'s current parameters (and buffers, see ``use_buffers``) in."""
        if not isinstance(model, Module):
            raise TypeError(f"update_parameters expects a minigrad Module, got "
                            f"{type(model).__name__}")
        mine, theirs = self._averaged(model)
        if not self.use_buffers:
            _check_pairs("buffers", list(self.module.buffers()), list(model.buffers()))
        with no_grad():
            current = [wrap(backend.to_device(p.array, a.device), a.device)
                       for a, p in zip(mine, theirs)]
            n = int(self.n_averaged.item())
            if n == 0:
                for a, value in zip(mine, current):
                    a.array[...] = value.array
                    bump_version(a)
            elif self.avg_fn is not None:
                for a, value in zip(mine, current):
                    result = self.avg_fn(a.detach(), value, self.n_averaged)
                    result = result.array if isinstance(result, Tensor) else result
                    _average_into(a.array, result)
                    bump_version(a)
            elif self.multi_avg_fn is not None:
                groups: dict[tuple[str, Any], tuple[list[Tensor], list[Tensor]]] = {}
                for a, value in zip(mine, current):
                    pair = groups.setdefault((a.device, a.dtype), ([], []))
                    pair[0].append(a.detach())
                    pair[1].append(value)
                for averaged, values in groups.values():
                    self.multi_avg_fn(averaged, values, self.n_averaged)
                for a in mine:
                    bump_version(a)
            else:
                for a, value in zip(mine, current):
                    target = a.array
                    _average_into(target, target + (value.array - target) / (n + 1))
                    bump_version(a)
            if not self.use_buffers:
                for b_mine, b_model in zip(self.module.buffers(), model.buffers()):
                    b_mine.array[...] = backend.to_device(b_model.array, b_mine.device)
                    bump_version(b_mine)
            self.n_averaged.array += 1


def _device_of(model: Module) -> str:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return backend.normalize_device(None)


def _check_pairs(what: str, mine: list[Tensor], theirs: list[Tensor]) -> None:
    if len(mine) != len(theirs):
        raise ValueError(f"AveragedModel.update_parameters: the model has {len(theirs)} "
                         f"{what}, the averaged copy {len(mine)}; pass the model (of the same "
                         "architecture) the AveragedModel was made from")
    for i, (a, p) in enumerate(zip(mine, theirs)):
        if tuple(a.shape) != tuple(p.shape):
            raise ValueError(f"AveragedModel.update_parameters: {what} {i} has shape "
                             f"{tuple(p.shape)} in the model, {tuple(a.shape)} in the averaged "
                             "copy")


def _is_batch_norm(module: Module) -> bool:
    """A BatchNorm layer: one with running statistics to reset and a ``momentum``."""
    return (callable(getattr(module, "reset_running_stats", None))
            and hasattr(module, "momentum") and hasattr(module, "running_mean"))


def update_bn(loader: Iterable[Any], model: Module, device: str | None = None) -> None:
    """Recompute the running statistics of every BatchNorm layer of ``model`` with one pass
    over ``loader``.

    The statistics are reset, and while the pass runs each layer's ``momentum`` is None, so
    the running mean and variance become the plain (cumulative) average over the batches.
    Each item of ``loader`` is a tensor, or a list/tuple whose first element is the input
    (``(inputs, targets)`` batches); ``device`` moves it there first. The pass runs in train
    mode without recording a graph; the layers' momenta and the model's train/eval mode are
    restored afterwards (also if the loader or the model raises). A model without BatchNorm
    is left alone, as in PyTorch.
    """
    if not isinstance(model, Module):
        raise TypeError(f"update_bn expects a minigrad Module, got {type(model).__name__}")
    momenta = {}
    for module in model.modules():
        if _is_batch_norm(module):
            module = cast(Any, module)  # a BatchNorm, found by its attributes
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, (list, tuple)):
                    if not batch:
                        raise ValueError("update_bn: the loader gave an empty batch")
                    batch = batch[0]
                if device is not None:
                    batch = batch.to(device)
                model(batch)
    finally:
        for module, momentum in momenta.items():
            module.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to ``swa_lr`` over ``anneal_epochs`` epochs, then keep it
    there (the SWA phase of training; Izmailov et al. 2018).

    With ``alpha_t = f(min(1, t / max(1, anneal_epochs)))``, ``f(x) = (1 - cos(pi x)) / 2``
    (``anneal_strategy="cos"``) or ``x`` (``"linear"``), the lr of step ``t`` is::

        lr_t = swa_lr * alpha_t + lr_0 * (1 - alpha_t)

    from the lr ``lr_0`` the group had when annealing began. It is computed as PyTorch does,
    from the current lr: ``lr_0`` is recovered from the last lr as ``(lr - alpha_{t-1}
    swa_lr) / (1 - alpha_{t-1})``, so a schedule used before SWALR carries in, and the
    values agree with PyTorch's bit for bit. ``t`` counts this scheduler's steps (PyTorch's
    ``_step_count - 1``, not ``last_epoch``), starting at 0 at construction, where the lr
    stays as it is; with ``anneal_epochs=0`` construction already sets ``swa_lr``.
    ``swa_lr`` is one value or one per group, stored as each group's ``"swa_lr"`` (so the
    optimizer's state dict keeps it, as in PyTorch).
    """

    argument_checks = {**LRScheduler.argument_checks, "swa_lr": NONNEGATIVE,
                       "anneal_epochs": Integer(0), "anneal_strategy": Choice("cos", "linear"),
                       "_step_count": Integer(0)}

    def __init__(self, optimizer: Any, swa_lr: float | Sequence[float], anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1) -> None:
        groups = _param_groups(optimizer)
        self._check_arguments(anneal_epochs=anneal_epochs, anneal_strategy=anneal_strategy)
        swa_lrs = self._per_group_checked("swa_lr", swa_lr, groups)
        for group, value in zip(groups, swa_lrs):
            group["swa_lr"] = value
        self.anneal_epochs = int(anneal_epochs)
        self.anneal_strategy = anneal_strategy
        self._step_count = 0
        super().__init__(optimizer, last_epoch)

    def _anneal(self, t: float) -> float:
        if self.anneal_strategy == "cos":
            return (1 - math.cos(math.pi * t)) / 2
        return t

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self._anneal(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        alpha = self._anneal(max(0, min(1, step / max(1, self.anneal_epochs))))
        lrs = []
        for group in self.optimizer.param_groups:
            swa_lr = group["swa_lr"]
            start = swa_lr if prev_alpha == 1 else \
                (group["lr"] - prev_alpha * swa_lr) / (1 - prev_alpha)
            lrs.append(swa_lr * alpha + start * (1 - alpha))
        return lrs

    def _advance(self) -> None:
        self._step_count += 1
        super()._advance()

    def _jump(self, epoch: int) -> None:
        """``step(epoch)``: as in PyTorch, SWALR has no closed form; the step is counted and
        the lr computed as by :meth:`step`, with ``last_epoch = epoch``."""
        self._step_count += 1
        self.last_epoch = epoch
        self._apply(self.get_lr())

    def _rewind(self) -> None:
        super()._rewind()
        self._step_count -= 1
