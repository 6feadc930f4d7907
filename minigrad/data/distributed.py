"""DistributedSampler: each rank's share of a dataset, for data-parallel training."""
from __future__ import annotations

import math
import operator
from typing import Any, Iterator

import numpy as np


def _int(value: Any, name: str) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"DistributedSampler: {name} must be an int, got "
                        f"{type(value).__name__}") from None
    if isinstance(value, bool):
        raise TypeError(f"DistributedSampler: {name} must be an int, got a bool")
    return number


class DistributedSampler:
    """The indices of rank ``rank``'s part of ``dataset`` among ``num_replicas`` ranks, a
    new order each epoch (PyTorch's sampler, with its arithmetic).

    Every rank draws the same permutation of all indices, from a generator seeded with
    ``seed + epoch`` (call :meth:`set_epoch` at the start of each epoch, or every epoch
    repeats the first's order), and keeps every ``num_replicas``-th index from position
    ``rank``. So that each rank gets ``num_samples`` indices, the permutation is padded by
    repeating its start up to ``num_samples * num_replicas`` (``drop_last=False``), or cut
    to that length (``drop_last=True``, ``num_samples = ceil((n - R) / R)`` when ``R`` does
    not divide ``n``). ``num_replicas`` and ``rank`` default to the default process group's.

    The permutation is NumPy's (``default_rng(seed + epoch).permutation``), so the orders
    differ from PyTorch's ``randperm`` for the same seed; the split and padding are the same.
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if not hasattr(dataset, "__len__"):
            raise TypeError(f"DistributedSampler needs a dataset with __len__, got "
                            f"{type(dataset).__name__}")
        if num_replicas is None or rank is None:
            from minigrad.distributed import process_group as pg
            if not pg.is_initialized():
                raise RuntimeError("DistributedSampler: num_replicas and rank default to the "
                                   "process group's, which is not initialised; call "
                                   "minigrad.distributed.init_process_group() first, or pass "
                                   "num_replicas= and rank=")
            num_replicas = pg.get_world_size() if num_replicas is None else num_replicas
            rank = pg.get_rank() if rank is None else rank
        num_replicas, rank = _int(num_replicas, "num_replicas"), _int(rank, "rank")
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be positive, got "
                             f"{num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.seed = _int(seed, "seed")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def _all_indices(self) -> list[int]:
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            padding = self.total_size - len(indices)
            if padding <= len(indices):
                indices += indices[:padding]
            else:
                indices += (indices * math.ceil(padding / len(indices)))[:padding]
        else:
            indices = indices[:self.total_size]
        return indices

    def __iter__(self) -> Iterator[int]:
        indices = self._all_indices()[self.rank:self.total_size:self.num_replicas]
        assert len(indices) == self.num_samples
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order to draw (the same on every rank)."""
        self.epoch = _int(epoch, "epoch")
