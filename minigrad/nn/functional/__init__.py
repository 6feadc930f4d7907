"""Functional forms of the layers and losses: ``import minigrad.nn.functional as F``.

The names and signatures are PyTorch's (``torch.nn.functional``).
"""
from minigrad.nn.functional.activation import (elu, gelu, leaky_relu, log_softmax, relu,
                                               relu6, sigmoid, silu, softmax, softplus, tanh)
from minigrad.nn.functional.dropout import dropout
from minigrad.nn.functional.linear import linear
from minigrad.nn.functional.loss import cross_entropy, mse_loss, nll_loss
from minigrad.nn.functional.normalization import batch_norm, layer_norm
from minigrad.ops.special import erf

__all__ = ["relu", "relu6", "leaky_relu", "gelu", "tanh", "sigmoid", "softplus", "elu", "silu",
           "softmax", "log_softmax", "linear", "dropout", "batch_norm", "layer_norm",
           "cross_entropy", "nll_loss", "mse_loss", "erf"]
