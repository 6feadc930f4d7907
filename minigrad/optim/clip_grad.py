"""Gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``.

Clipping bounds the size of an update when a batch produces an exploding gradient (Pascanu
et al. 2013, "On the difficulty of training recurrent neural networks"). Both functions
change the ``.grad`` of the given parameters in place and skip parameters without one.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Iterable

import numpy

from minigrad import backend
from minigrad.tensor import Tensor, wrap

Parameters = Tensor | Iterable[Tensor]


def clip_grad_norm_(parameters: Parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients so that their joint norm is at most ``max_norm``; return that norm.

    The total norm is the ``norm_type``-norm of all gradients seen as one vector (``inf``:
    the largest absolute entry). Every gradient is multiplied by
    ``min(1, max_norm / (total_norm + 1e-6))``, which keeps their direction. ``foreach`` is
    accepted for PyTorch compatibility; there is one implementation.

    A non-finite total norm (some gradient holds NaN or inf, or the norm overflowed) raises
    ``RuntimeError`` before any gradient is changed when ``error_if_nonfinite=True``. With
    ``error_if_nonfinite=False`` (the default, as in PyTorch) the gradients are scaled as
    PyTorch scales them: by ``max_norm / inf = 0`` for an infinite norm (finite entries
    become 0, infinite ones NaN) or by NaN for a NaN norm (every entry becomes NaN), and a
    ``RuntimeWarning`` says so, so the NaN is never written silently. An optimizer's next
    ``step()`` then raises or skips the step (its ``on_nonfinite``).

    Returns the total norm before clipping, a 0-d tensor on the first gradient's device
    (``tensor(0.)`` when no parameter has a gradient).
    """
    _check_bound("max_norm", max_norm)
    norm_type = _check_norm_type(norm_type)
    _check_foreach(foreach)
    grads = _grads(parameters)
    if not grads:
        return wrap(backend.xp("cpu").zeros((), dtype=backend.get_default_dtype()), "cpu")
    device, dtype = grads[0].device, grads[0].dtype
    xp = backend.xp(device)
    per_grad = [_vector_norm(g.array, norm_type, xp) if g.device == device else
                backend.to_device(_vector_norm(g.array, norm_type, backend.xp(g.device)), device)
                for g in grads]
    total = _vector_norm(xp.stack(per_grad).astype(dtype), norm_type, xp)
    if not error_if_nonfinite and backend.defers_checks(device):
        _clip_on_device(grads, total, max_norm, norm_type, xp)
        return wrap(total, device)
    finite = bool(xp.isfinite(total))
    if error_if_nonfinite and not finite:
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is "
                           f"{float(total)}, so they cannot be clipped; pass "
                           "error_if_nonfinite=False to clip anyway (the gradients become NaN)")
    if not finite:
        warnings.warn(_nonfinite_warning(norm_type, float(total)), RuntimeWarning, stacklevel=2)
    scale = float(max_norm / (float(total) + 1e-6))
    if not scale >= 1.0:  # also true for NaN, which PyTorch propagates into the gradients
        with numpy.errstate(invalid="ignore"):  # inf * 0: warned about above
            for g in grads:
                g.array *= g.array.dtype.type(scale)
    return wrap(total, device)


def _nonfinite_warning(norm_type: float, total: float) -> str:
    return (f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}; "
            "as in PyTorch they are scaled by max_norm / total_norm anyway, which writes NaN "
            "into them (pass error_if_nonfinite=True to raise instead)")


def _clip_on_device(grads: list[Tensor], total: Any, max_norm: float, norm_type: float,
                    xp: Any) -> None:
    """Scale ``grads`` by min(1, max_norm / (total + 1e-6)) without reading ``total`` on the
    host (that would wait for the GPU): the factor is computed on the device, as on the host
    (in float64, then in each gradient's dtype, so the results are bit-identical), and every
    gradient is multiplied by it, by exactly 1 where nothing is clipped. A non-finite total
    warns, as on the host, at the next synchronisation (``backend.defer_check``)."""
    backend.defer_check(~xp.isfinite(total), RuntimeWarning,
                        lambda: _nonfinite_warning(norm_type, float(total)))
    scale = xp.minimum(max_norm / (total.astype(xp.float64) + 1e-6), 1.0)  # NaN stays NaN
    device = grads[0].device
    factors: dict[tuple[str, Any], Any] = {}
    with numpy.errstate(invalid="ignore"):  # inf * 0: warned about
        for g in grads:
            key = (g.device, g.array.dtype)
            factor = factors.get(key)
            if factor is None:
                here = scale if g.device == device else backend.to_device(xp.asarray(scale),
                                                                          g.device)
                factor = factors[key] = here.astype(key[1])
            g.array *= factor


def clip_grad_value_(parameters: Parameters, clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]``, in place.

    Unlike norm clipping this changes the gradient's direction; it bounds each coordinate.
    """
    _check_bound("clip_value", clip_value)
    _check_foreach(foreach)
    for g in _grads(parameters):
        backend.xp(g.device).clip(g.array, -clip_value, clip_value, out=g.array)


def _grads(parameters: Parameters) -> list[Tensor]:
    """The ``.grad`` tensors of ``parameters`` (one tensor or an iterable), skipping None."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters must be Tensors, got {type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def _vector_norm(array: Any, norm_type: float, xp: Any) -> Any:
    """The ``norm_type``-norm of all entries of ``array``, as a 0-d array (NumPy's
    reductions return scalars, hence the ``asarray``)."""
    magnitudes = xp.abs(array)
    if math.isinf(norm_type):
        norm = magnitudes.max() if magnitudes.size else 0.0
    elif norm_type == 2.0:
        norm = xp.sqrt((magnitudes * magnitudes).sum())
    else:
        norm = (magnitudes ** norm_type).sum() ** (1.0 / norm_type)
    return xp.asarray(norm, dtype=array.dtype)


def _check_bound(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def _check_norm_type(norm_type: Any) -> float:
    try:
        value = float(norm_type)
    except (TypeError, ValueError):
        raise ValueError(f"norm_type must be a positive number or inf, got {norm_type!r}") from None
    if not value > 0:
        raise ValueError(f"norm_type must be a positive number or inf, got {norm_type!r}")
    return value


def _check_foreach(foreach: Any) -> None:
    if foreach not in (None, True, False):
        raise ValueError(f"foreach must be None, True or False, got {foreach!r}")
