"""Optimizers: update parameters from their gradients (``torch.optim``'s names and semantics)."""
from minigrad.optim.optimizer import Optimizer, required
from minigrad.optim.sgd import SGD
from minigrad.optim.adam import Adam, AdamW
from minigrad.optim.adagrad import Adagrad
from minigrad.optim.rmsprop import RMSprop
from minigrad.optim.adadelta import Adadelta
from minigrad.optim.adamax import Adamax
from minigrad.optim.nadam import NAdam
from minigrad.optim.radam import RAdam
from minigrad.optim.asgd import ASGD
from minigrad.optim.rprop import Rprop
from minigrad.optim.adafactor import Adafactor
from minigrad.optim.lbfgs import LBFGS

__all__ = ["Optimizer", "required", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta",
           "Adamax", "NAdam", "RAdam", "ASGD", "Rprop", "Adafactor", "LBFGS"]
