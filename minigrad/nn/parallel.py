"""``minigrad.nn.parallel``: PyTorch's import path for DistributedDataParallel."""
from minigrad.distributed.ddp import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
