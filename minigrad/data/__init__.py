"""Feeding data to a model: datasets, mini-batch loading and feature standardisation.

The counterpart of PyTorch's ``torch.utils.data`` (same names and semantics), plus a
scikit-learn-style :class:`StandardScaler`.
"""
from minigrad.data.dataloader import DataLoader, default_collate
from minigrad.data.distributed import DistributedSampler
from minigrad.data.dataset import Dataset, Subset, TensorDataset, random_split
from minigrad.data.preprocessing import StandardScaler

__all__ = ["DataLoader", "Dataset", "DistributedSampler", "StandardScaler", "Subset",
           "TensorDataset",
           "default_collate", "random_split"]
