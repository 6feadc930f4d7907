"""Optimizers, learning-rate schedulers, initializers, gradient clipping and weight averaging.

``torch.optim``'s names and semantics (``swa_utils`` included); beyond PyTorch's core, the
optimizers of the literature as optax, pytorch-optimizer and their authors' code have them:
FTRL, Lion, AdaBelief, ScheduleFreeAdamW, Muon, Yogi, Adan, SignSGD/Signum, QHM/QHAdam, ADOPT,
AdEMAMix, LAMB, LARS, NovoGrad, SM3, AggMo, AdaBound/AMSBound, MADGRAD, D-Adaptation, Prodigy,
SAdam, the second-order SophiaH, AdaHessian, Shampoo and SOAP, and the wrappers Lookahead,
Ranger, Ranger21 and SAM.
"""
from minigrad.optim import clip_grad, init, lr_scheduler, swa_utils
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
from minigrad.optim.lamb import LAMB
from minigrad.optim.lars import LARS
from minigrad.optim.novograd import NovoGrad
from minigrad.optim.sm3 import SM3
from minigrad.optim.aggmo import AggMo
from minigrad.optim.sophia import SophiaH
from minigrad.optim.adahessian import AdaHessian
from minigrad.optim.shampoo import Shampoo
from minigrad.optim.soap import SOAP
from minigrad.optim.adabound import AdaBound, AMSBound
from minigrad.optim.madgrad import MADGRAD
from minigrad.optim.dadaptation import DAdaptAdam, DAdaptSGD
from minigrad.optim.prodigy import Prodigy
from minigrad.optim.sam import SAM
from minigrad.optim.sadam import SAdam
from minigrad.optim.ranger21 import Ranger21
from minigrad.optim.gradient_centralization import centralize_gradient
from minigrad.optim.clip_grad import (adaptive_clip_grad_, clip_grad_norm_, clip_grad_value_,
                                      clip_grads_with_norm_, get_total_norm)

__all__ = ["Optimizer", "required", "NonFiniteError", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta",
           "Adamax", "NAdam", "RAdam", "ASGD", "Rprop", "Adafactor", "LBFGS", "FTRL", "Lion",
           "AdaBelief", "ScheduleFreeAdamW", "Muon", "Lookahead", "Ranger",
           "Yogi", "Adan", "SignSGD", "Signum", "QHM", "QHAdam", "ADOPT", "AdEMAMix",
           "LAMB", "LARS", "NovoGrad", "SM3", "AggMo",
           "SophiaH", "AdaHessian", "Shampoo", "SOAP",
           "AdaBound", "AMSBound", "MADGRAD", "DAdaptAdam", "DAdaptSGD", "Prodigy",
           "centralize_gradient", "clip_grad_norm_", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_", "adaptive_clip_grad_", "lr_scheduler", "init",
           "clip_grad", "SAdam", "Ranger21", "SAM", "swa_utils"]
