"""DataLoader: a dataset served as shuffled mini-batches of tensors on the model's device.

Each pass (epoch) draws one new order of the samples and cuts it into consecutive batches,
so every sample is seen exactly once per epoch. A :class:`TensorDataset` is batched by
indexing its whole arrays with each batch's indices (one gather per tensor, no Python loop
over samples); any other dataset is read sample by sample and collated.
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Iterator, Sequence

from minigrad import backend
from minigrad.creation import tensor
from minigrad.data.dataset import Dataset, TensorDataset
from minigrad.data.random import check_generator, host_generator
from minigrad.errors import ShapeError
from minigrad.ops import stack
from minigrad.tensor import Tensor, wrap


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack samples into a batch: tensors, arrays and numbers become one tensor with a new
    first dimension; tuples (or lists) of them are stacked field by field into a tuple."""
    if len(samples) == 0:
        raise ValueError("default_collate: no samples to collate (an empty batch); a batch "
                         "needs at least one sample")
    first = samples[0]
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ShapeError(f"samples have different numbers of fields: "
                             f"{sorted({len(s) for s in samples})}")
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    rows = [s if isinstance(s, Tensor) else tensor(s) for s in samples]
    shapes = {r.shape for r in rows}
    if len(shapes) > 1:
        raise ShapeError(f"samples of different shapes cannot be stacked into a batch: "
                         f"{sorted(shapes)}; pass a collate_fn that pads or crops them")
    return stack(rows)


class DataLoader:
    """Iterate over ``dataset`` in mini-batches of ``batch_size`` samples.

    ``shuffle=True`` draws a new order every epoch: from ``generator`` (an ``mg.Generator``)
    when given, from a private generator when ``seed`` is given, else from the global one
    seeded by ``mg.manual_seed`` (whose state ``mg.get_rng_state`` saves). ``drop_last=True``
    skips a last, smaller batch. Batches are tuples of tensors for TensorDataset (like PyTorch),
    on ``device`` (None: where the data is). ``collate_fn`` turns a list of samples into a
    batch for other datasets (default: :func:`default_collate`).

    A TensorDataset's tensors are copied to ``device`` once, when the loader is made, so a
    batch costs one gather on the device rather than a transfer.

    ``num_workers`` and ``pin_memory`` are accepted for PyTorch programs; batches are always
    made in this process (a gather per batch is faster than sending samples between
    processes), and memory is not pinned.

    ``sampler``: an iterable of dataset indices with a length (a
    :class:`~minigrad.data.DistributedSampler`) that gives each epoch's order instead of
    ``shuffle`` (passing both is an error, as in PyTorch).

    An empty dataset is refused when the loader is made (a ValueError naming it), rather than
    giving epochs without batches.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, device: str | None = None,
                 collate_fn: Callable[[list[Any]], Any] | None = None, num_workers: int = 0,
                 pin_memory: bool = False, generator: Any = None, sampler: Any = None) -> None:
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader needs a dataset with __getitem__ and __len__, "
                            f"got {type(dataset).__name__}")
        if len(dataset) == 0:
            raise ValueError(f"DataLoader got an empty dataset ({_describe(dataset)} has 0 "
                             "samples): there is nothing to batch")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: pass seed= or generator=, not both")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle: the sampler "
                             "decides the order (DistributedSampler shuffles on its own)")
        if sampler is not None and not (hasattr(sampler, "__iter__") and
                                        hasattr(sampler, "__len__")):
            raise TypeError(f"DataLoader: sampler must be iterable with a length (indices into "
                            f"the dataset), got {type(sampler).__name__}")
        self.sampler = sampler
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative int, got {num_workers!r}")
        self.dataset = dataset
        self.num_workers, self.pin_memory = num_workers, bool(pin_memory)
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = None if device is None else backend.normalize_device(device)
        self.collate_fn = default_collate if collate_fn is None else collate_fn
        self.generator = check_generator(generator)
        self._generator = None if seed is None else host_generator(seed)
        self._sources = None
        if isinstance(dataset, TensorDataset) and collate_fn is None:
            self._sources = [self._on_device(t) for t in dataset.tensors]

    def __len__(self) -> int:
        """The number of batches per epoch."""
        batches, rest = divmod(self._count(), self.batch_size)
        return batches if self.drop_last or rest == 0 else batches + 1

    def __iter__(self) -> Iterator[Any]:
        order = self._epoch_order()
        if self._sources is not None:
            return self._gathered_batches(order)
        return self._collated_batches(order)

    def _epoch_order(self) -> Any:
        """The sample indices of one epoch, as a host int64 array."""
        n = len(self.dataset)
        if self.sampler is not None:
            return backend.xp("cpu").asarray(list(self.sampler), dtype=backend.int64)
        if not self.shuffle:
            return backend.xp("cpu").arange(n)
        if self._generator is not None:
            gen = self._generator
        else:  # resolved each epoch: seeding or setting a generator's state replaces its own
            gen = host_generator(generator=self.generator)
        return gen.permutation(n)

    def _count(self) -> int:
        """Samples per epoch: the sampler's (``sampler=``), else the dataset's."""
        return len(self.dataset) if self.sampler is None else len(self.sampler)

    def _batch_bounds(self) -> range:
        n = self._count()
        if self.drop_last:
            n -= n % self.batch_size
        return range(0, n, self.batch_size)

    def _on_device(self, t: Tensor) -> tuple[Any, str]:
        device = t.device if self.device is None else self.device
        return backend.to_device(t.array, device), device

    def _gathered_batches(self, order: Any) -> Iterator[tuple[Tensor, ...]]:
        assert self._sources is not None  # __iter__ comes here only for a TensorDataset
        orders = {device: backend.to_device(order, device) for _, device in self._sources}
        for start in self._batch_bounds():
            stop = start + self.batch_size
            yield tuple(wrap(array[orders[device][start:stop]], device)
                        for array, device in self._sources)

    def _collated_batches(self, order: Any) -> Iterator[Any]:
        indices = order.tolist()
        for start in self._batch_bounds():
            samples = [self.dataset[i] for i in indices[start:start + self.batch_size]]
            batch = self.collate_fn(samples)
            yield batch if self.device is None else _to_device(batch, self.device)


def _to_device(batch: Any, device: str) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch


def _describe(dataset: Any) -> str:
    """The dataset as a message names it: its own repr where it defines one, else its type."""
    if type(dataset).__repr__ is not object.__repr__:
        return repr(dataset)
    return f"the {type(dataset).__name__}"


def _positive_int(value: Any, name: str) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if number < 1 or isinstance(value, bool):
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return number
