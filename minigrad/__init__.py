"""minigrad: a small, readable reverse-mode autodiff framework on NumPy and CuPy.

``import minigrad as mg``; the names follow PyTorch's wherever PyTorch has the same thing.
"""
from minigrad.backend import (bool_, cuda_is_available, float16, float32, float64,
                              get_default_device, get_default_dtype, int8, int16, int32, int64,
                              manual_seed, set_default_device, set_default_dtype, uint8)
from minigrad.errors import DeviceError, ShapeError
from minigrad.tensor import Tensor
from minigrad import autograd
from minigrad.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from minigrad.creation import (arange, eye, full, ones, ones_like, rand, randint, randn, tensor,
                               zeros, zeros_like)
from minigrad.ops import (abs, clip, concatenate, exp, log, matmul, maximum, minimum, relu,
                          sigmoid, sqrt, stack, tanh, where)
from minigrad.serialization import load, save
from minigrad import data, datasets, nn, optim

bool = bool_
clamp = clip
cat = concatenate

__version__ = "0.1.0"
