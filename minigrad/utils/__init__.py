"""PyTorch's ``torch.utils`` paths: ``minigrad.utils.data``."""
from minigrad.utils import data

__all__ = ["data"]
