"""``minigrad.utils.data``: PyTorch's import path for the data tools of :mod:`minigrad.data`."""
from minigrad.data import (DataLoader, Dataset, DistributedSampler, Subset, TensorDataset,
                           default_collate, random_split)

__all__ = ["DataLoader", "Dataset", "DistributedSampler", "Subset", "TensorDataset",
           "default_collate", "random_split"]
