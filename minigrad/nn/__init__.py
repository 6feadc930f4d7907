"""Neural-network building blocks with PyTorch's names: ``from minigrad import nn``."""
from minigrad.nn import functional, init, utils
from minigrad.nn.activation import (ELU, GELU, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid,
                                    SiLU, Softmax, Softplus, Tanh)
from minigrad.nn.container import ModuleDict, ModuleList, ParameterList, Sequential
from minigrad.nn.dropout import Dropout
from minigrad.nn.flatten import Flatten
from minigrad.nn.linear import Identity, Linear
from minigrad.nn.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss,
                              L1Loss, MSELoss, NLLLoss, SmoothL1Loss)
from minigrad.nn.module import Module
from minigrad.nn.normalization import BatchNorm1d, LayerNorm
from minigrad.nn.parameter import Parameter
from minigrad.nn.sparse import Embedding
from minigrad.nn.sync_batchnorm import SyncBatchNorm
from minigrad.nn import parallel  # noqa: E402 - after the layers DistributedDataParallel uses

__all__ = ["functional", "init", "utils", "parallel", "Module", "Parameter", "Sequential",
           "ModuleList", "ModuleDict", "ParameterList",
           "Linear", "Identity", "Flatten", "Dropout", "BatchNorm1d", "SyncBatchNorm",
           "LayerNorm", "Embedding",
           "ReLU", "ReLU6", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "Softplus", "ELU", "SiLU",
           "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
           "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss"]
