"""``minigrad.utils.data``: PyTorch's import path for the data tools of :mod:`minigrad.data`."""
from minigrad.data import DataLoader, Dataset, TensorDataset, default_collate

__all__ = ["DataLoader", "Dataset", "TensorDataset", "default_collate"]
