"""Optimizers: update parameters from their gradients (``torch.optim``'s names and semantics)."""
from minigrad.optim.optimizer import Optimizer, required
from minigrad.optim.sgd import SGD
from minigrad.optim.adam import Adam, AdamW
from minigrad.optim.radam import RAdam

__all__ = ["Optimizer", "required", "SGD", "Adam", "AdamW", "RAdam"]
