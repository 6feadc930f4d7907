"""The error function, which the exact GELU needs and the array libraries lack.

erf is computed in float64 from two expansions, each used where it converges fast
(Abramowitz & Stegun, chapter 7), to about 1e-15 absolute error:

* |x| < 2.5: erf(x) = 2/sqrt(pi) exp(-x^2) sum_n (2x^2)^n x / (1*3*...*(2n+1)), a series of
  positive terms (no cancellation), 36 terms;
* |x| >= 2.5: erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
  Laplace's continued fraction, 30 levels.
"""
from __future__ import annotations

import math
from typing import Any

from minigrad import backend
from minigrad.tensor import Tensor, record

_SERIES_TERMS = 36
_FRACTION_DEPTH = 30
_SPLIT = 2.5
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def erf_array(x: Any, xp: Any) -> Any:
    """erf of a backend array, in the array's dtype (computed in float64)."""
    x64 = x.astype(backend.float64)
    out = xp.empty_like(x64)
    small = xp.abs(x64) < _SPLIT
    out[small] = _series(x64[small], xp)
    large = x64[~small]
    out[~small] = xp.sign(large) * (1.0 - _erfc_fraction(xp.abs(large), xp))
    return out.astype(x.dtype, copy=False)


def _series(x: Any, xp: Any) -> Any:
    """erf for |x| < 2.5: the series sum_n u^n / (3*5*...*(2n+1)), u = 2x^2, evaluated from
    its last term inwards as 1 + u/3 (1 + u/5 (1 + ...)), in place."""
    u = 2.0 * x * x
    total = xp.ones_like(x)
    for n in range(_SERIES_TERMS - 1, 0, -1):
        total *= u
        total *= 1.0 / (2 * n + 1)
        total += 1.0
    return _TWO_OVER_SQRT_PI * x * xp.exp(-x * x) * total


def _erfc_fraction(x: Any, xp: Any) -> Any:
    """erfc for x >= 2.5, evaluating the continued fraction from its deepest level up."""
    denominator = x.copy()
    for k in range(_FRACTION_DEPTH, 0, -1):
        xp.divide(0.5 * k, denominator, out=denominator)
        denominator += x
    return xp.exp(-x * x) / (math.sqrt(math.pi) * denominator)


def erf(input: Tensor) -> Tensor:
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt, elementwise.

    Its derivative 2/sqrt(pi) exp(-x^2) is written with tensor ops, so erf can be
    differentiated to any order.
    """
    if input.array.dtype.kind != "f":
        raise TypeError(f"erf needs a floating-point tensor, got {input.dtype}")
    data = erf_array(input.array, backend.xp(input.device))
    return record(data, input.device, (input,),
                  lambda g, out: (g * (input * input * -1.0).exp() * _TWO_OVER_SQRT_PI,))
