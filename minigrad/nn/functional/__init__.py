"""Functional forms of the layers and losses: ``import minigrad.nn.functional as F``.

The names and signatures are PyTorch's (``torch.nn.functional``).
"""
from minigrad.nn.functional.activation import (elu, gelu, leaky_relu, log_softmax, relu,
                                               relu6, sigmoid, silu, softmax, softplus, tanh)
from minigrad.nn.functional.dropout import dropout
from minigrad.nn.functional.linear import linear
from minigrad.nn.functional.encoding import one_hot
from minigrad.nn.functional.loss import (binary_cross_entropy, binary_cross_entropy_with_logits,
                                         cross_entropy, huber_loss, kl_div, l1_loss, mse_loss,
                                         nll_loss, smooth_l1_loss)
from minigrad.nn.functional.normalization import batch_norm, layer_norm, normalize
from minigrad.nn.functional.sparse import embedding
from minigrad.ops.special import erf

__all__ = ["relu", "relu6", "leaky_relu", "gelu", "tanh", "sigmoid", "softplus", "elu", "silu",
           "softmax", "log_softmax", "linear", "dropout", "batch_norm", "layer_norm", "normalize",
           "embedding", "one_hot", "cross_entropy", "nll_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "mse_loss", "l1_loss", "smooth_l1_loss",
           "huber_loss", "kl_div", "erf"]
