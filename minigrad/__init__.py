"""minigrad: a small, readable reverse-mode autodiff framework on NumPy and CuPy.

``import minigrad as mg`` (or ``import minigrad as torch``): the names follow PyTorch's
wherever PyTorch has the same thing.
"""
import builtins

from minigrad import backend as backend_module

from minigrad.backend import (bool_, cuda_is_available, device, float16, float32, float64,
                              get_default_device, get_default_dtype, int8, int16, int32, int64,
                              set_default_device, set_default_dtype, uint8)
from minigrad.errors import CheckpointError, DeviceError, ShapeError
from minigrad.tensor import Tensor
from minigrad import autograd
from minigrad.grad_mode import (enable_grad, inference_mode, is_grad_enabled, no_grad,
                                set_grad_enabled)
from minigrad.creation import (BoolTensor, ByteTensor, DoubleTensor, FloatTensor, HalfTensor,
                               IntTensor, LongTensor, arange, as_tensor, empty, empty_like, eye,
                               from_numpy, full, full_like, linspace, logspace, ones, ones_like,
                               rand, rand_like, randint, randint_like, randn, randn_like,
                               randperm, tensor, zeros, zeros_like)
from minigrad.functions import (abs, acos, add, arccos, arcsin, arctan, asin, atan, ceil, clamp,
                                clip, cos, cosh, div, divide, erf, exp, expm1, floor, log, log1p,
                                log2, log10, matmul, maximum, minimum, mul, multiply, neg,
                                negative, pow, reciprocal, relu, rsqrt, sigmoid, sign, sin, sinh,
                                sqrt, square, sub, subtract, tan, tanh)
from minigrad.ops import (all, amax, amin, any, argmax, argmin, argsort, bitwise_and,
                          bitwise_not, bitwise_or, bitwise_xor, bmm, chunk, clone,
                          concatenate, cumsum, dot, eq, flatten, floor_divide, gather, ge, gt,
                          index_select, isclose, isfinite, isinf, isnan, le, log_softmax,
                          logical_and,
                          logical_not, logical_or, logical_xor, logsumexp, lt, masked_fill, max,
                          mean, min, mm, ne, norm, outer, permute, prod, remainder, repeat,
                          reshape, round, softmax, sort, split, squeeze, stack, std, std_mean,
                          sum, topk, transpose, tril, triu, unbind, unsqueeze, var, var_mean,
                          where)
from minigrad.ops.movement import meshgrid
from minigrad.serialization import load, save
from minigrad.random import (Generator, default_generator, get_rng_state, initial_seed,
                             manual_seed, seed, set_rng_state)
from minigrad import cuda, data, datasets, nn, optim, random, utils
from minigrad.jit import compile  # noqa: A001 (mg.compile, as torch.compile)

cat = concat = concatenate
Size = tuple  # shapes are tuples: mg.Size([2, 3]) == t.shape


def set_printoptions(precision: builtins.int | None = None,
                     threshold: builtins.int | None = None,
                     edgeitems: builtins.int | None = None, linewidth: builtins.int | None = None,
                     sci_mode: builtins.bool | None = None) -> None:
    """How tensors print (PyTorch's names; tensors print through NumPy's array printer)."""
    numpy = backend_module.xp("cpu")
    options = {k: v for k, v in dict(precision=precision, threshold=threshold,
                                      edgeitems=edgeitems, linewidth=linewidth).items()
               if v is not None}
    if sci_mode is not None:
        options["suppress"] = not sci_mode
    numpy.set_printoptions(**options)


def is_tensor(obj: object) -> builtins.bool:
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> builtins.int:
    return t.numel()


def allclose(a: Tensor, b: Tensor, rtol: builtins.float = 1e-5,
             atol: builtins.float = 1e-8) -> builtins.bool:
    return a.allclose(b, rtol, atol)


def equal(a: Tensor, b: Tensor) -> builtins.bool:
    return a.equal(b)


# PyTorch's dtype names; they shadow the builtins only inside this module's namespace.
float = float32
double = float64
half = float16
long = int64
int = int32
bool = bool_
uint8 = uint8

__version__ = "0.1.0"
