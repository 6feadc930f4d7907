"""Datasets: anything indexable by sample number that knows its length.

``Dataset`` is the base for custom datasets (PyTorch's map-style dataset protocol);
``TensorDataset`` wraps tensors that share their first dimension, and is what
:class:`~minigrad.data.DataLoader` batches fastest, by indexing whole arrays at once.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

from minigrad.data.random import host_generator
from minigrad.errors import ShapeError
from minigrad.tensor import Tensor


class Dataset:
    """A map-style dataset: subclasses implement ``__getitem__(i)`` and ``__len__()``.

    A sample is a tensor, an array, a number, or a tuple of these (e.g. ``(features, label)``);
    the DataLoader stacks samples field by field into batches.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Samples are rows of the given tensors: ``dataset[i] == (t[i] for t in tensors)``.

    All tensors must have the same size in their first dimension, e.g.
    ``TensorDataset(features, labels)``.
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset takes tensors; argument {i} is a "
                                f"{type(t).__name__} (wrap it with mg.tensor)")
            if t.ndim == 0:
                raise ShapeError(f"TensorDataset needs tensors with a first dimension; "
                                 f"argument {i} is 0-d")
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) > 1:
            shapes = ", ".join(str(t.shape) for t in tensors)
            raise ShapeError(f"TensorDataset tensors must have the same first dimension, "
                             f"got shapes {shapes}")
        self.tensors = tuple(tensors)

    def __getitem__(self, index: int) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __getitem__(self, index: int) -> Any:
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Dataset, lengths: Sequence[float], generator: Any = None,
                 seed: int | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given ``lengths``:
    counts that add up to ``len(dataset)``, or fractions that add up to 1 (the remainder of
    rounding down goes one by one to the first subsets, as in PyTorch). The order comes from
    ``generator`` (an ``mg.Generator``), else a private one seeded by ``seed``, else the global
    generator."""
    n = len(dataset)
    if lengths and all(0 <= x <= 1 for x in lengths) and math.isclose(sum(lengths), 1) \
            and sum(lengths) != n:
        counts = [int(math.floor(n * x)) for x in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        counts = [int(x) for x in lengths]
    if sum(counts) != n or any(c < 0 for c in counts):
        raise ValueError(f"random_split: lengths {list(lengths)} must be counts adding up to "
                         f"the dataset's {n} samples, or fractions adding up to 1")
    order = host_generator(seed, generator=generator).permutation(n).tolist()
    subsets, start = [], 0
    for count in counts:
        subsets.append(Subset(dataset, order[start:start + count]))
        start += count
    return subsets
