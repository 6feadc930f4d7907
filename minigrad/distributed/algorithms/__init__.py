"""Algorithms on top of ``minigrad.distributed``: ``ddp_comm_hooks``, the gradient
communication (and compression) hooks for ``DistributedDataParallel``."""
from . import ddp_comm_hooks

__all__ = ["ddp_comm_hooks"]
