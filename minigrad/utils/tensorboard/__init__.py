"""TensorBoard logging at PyTorch's import path: ``from minigrad.utils.tensorboard import
SummaryWriter`` (``pip install "minigrad[tensorboard]"``, which brings tensorboardX; view the
logs with ``tensorboard --logdir runs``)."""
from minigrad.utils.tensorboard.writer import SummaryWriter

__all__ = ["SummaryWriter"]
