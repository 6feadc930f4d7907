"""Every differentiable op, by family. Importing this package registers them as the
implementations of :class:`~minigrad.tensor.Tensor`'s methods (``a + b``, ``a.sum()``...)."""
from __future__ import annotations

import sys

from minigrad.tensor import install
from minigrad.ops import elementwise, inplace, linalg, movement, reduce, special
from minigrad.ops.elementwise import (abs, acos, add, asin, atan, bitwise_and, bitwise_not,
                                      bitwise_or, bitwise_xor, ceil, clamp, clip, clone, cos,
                                      cosh, div, eq, exp, expm1, floor, floor_divide, floating,
                                      ge, gt, isclose, isfinite, isinf, isnan, le, log, log1p, log2,
                                      log10,
                                      logical_and,
                                      logical_not, logical_or, logical_xor, lt, masked_fill,
                                      maximum, minimum, mul, ne, neg, pow, reciprocal, relu,
                                      remainder, round, rsqrt, sigmoid, sign, sin, sinh, sqrt,
                                      square, sub, tan, tanh, where)
from minigrad.ops.inplace import (abs_, add_, clamp_, copy_, div_, exp_, fill_, masked_fill_,
                                  mul_, neg_, normal_, pow_, relu_, setitem, sigmoid_, sqrt_,
                                  sub_, tanh_, uniform_)
from minigrad.ops.linalg import bmm, dot, matmul, mm, outer
from minigrad.ops.movement import (broadcast_to, chunk, concatenate, expand, flatten, gather,
                                   meshgrid, tril, triu,
                                   getitem, index_select, permute, repeat, reshape, split,
                                   squeeze, stack, sum_to, to_device, to_dtype, transpose,
                                   unbind, unsqueeze, view)
from minigrad.ops.reduce import (amax, amin, argmax, argmin, argsort, cumsum, log_softmax,
                                 logsumexp, max, mean, min, norm, prod, return_types, softmax,
                                 sort, std, std_mean, sum, topk, var, var_mean)
from minigrad.ops.special import erf
from minigrad.ops.reduce import any, all  # noqa: E402  (after the builtins they shadow)

install(ops=sys.modules[__name__])
