"""Optimizers, learning-rate schedulers, initializers and gradient clipping.

``torch.optim``'s names and semantics; beyond PyTorch's core: FTRL, Lion, AdaBelief,
ScheduleFreeAdamW, Muon, and the Lookahead / Ranger wrappers.
"""
from minigrad.optim import clip_grad, init, lr_scheduler
from minigrad.optim.optimizer import NonFiniteError, Optimizer, required
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
from minigrad.optim.ftrl import FTRL
from minigrad.optim.lion import Lion
from minigrad.optim.adabelief import AdaBelief
from minigrad.optim.schedule_free import ScheduleFreeAdamW
from minigrad.optim.muon import Muon
from minigrad.optim.lookahead import Lookahead
from minigrad.optim.ranger import Ranger
from minigrad.optim.yogi import Yogi
from minigrad.optim.adan import Adan
from minigrad.optim.signum import SignSGD, Signum
from minigrad.optim.qh import QHM, QHAdam
from minigrad.optim.adopt import ADOPT
from minigrad.optim.ademamix import AdEMAMix
from minigrad.optim.gradient_centralization import centralize_gradient
from minigrad.optim.clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["Optimizer", "required", "NonFiniteError", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta",
           "Adamax", "NAdam", "RAdam", "ASGD", "Rprop", "Adafactor", "LBFGS", "FTRL", "Lion",
           "AdaBelief", "ScheduleFreeAdamW", "Muon", "Lookahead", "Ranger",
           "Yogi", "Adan", "SignSGD", "Signum", "QHM", "QHAdam", "ADOPT", "AdEMAMix",
           "centralize_gradient", "clip_grad_norm_", "clip_grad_value_", "lr_scheduler", "init",
           "clip_grad"]
