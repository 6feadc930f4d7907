"""Gradient clipping, as ``torch.nn.utils``: ``clip_grad_norm_`` (and its two halves,
``get_total_norm`` and ``clip_grads_with_norm_``), ``clip_grad_value_``, and adaptive
gradient clipping (``adaptive_clip_grad_``, Brock et al. 2021).

Clipping bounds the size of an update when a batch produces an exploding gradient (Pascanu
et al. 2013, "On the difficulty of training recurrent neural networks"). The clipping
functions change the ``.grad`` of the given parameters in place and skip parameters without
one.
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


def get_total_norm(tensors: Parameters, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of ``tensors`` (one Tensor or an iterable of them) seen as one
    vector, as ``torch.nn.utils.get_total_norm``: the norm of the vector of their norms
    (``inf``: the largest absolute entry).

    Unlike :func:`clip_grad_norm_` it takes the tensors themselves (e.g. the gradients), not
    the parameters. Returns a 0-d tensor on the first tensor's device, in its dtype
    (``tensor(0.)`` for no tensors). ``error_if_nonfinite=True`` reads the norm (a device
    synchronisation) and raises ``RuntimeError`` if it is NaN or infinite; otherwise nothing
    is read. ``foreach`` is accepted for PyTorch compatibility; there is one implementation.
    """
    norm_type = _check_norm_type(norm_type)
    _check_foreach(foreach)
    arrays = _arrays("tensors", tensors)
    if not arrays:
        return wrap(backend.xp("cpu").zeros((), dtype=backend.get_default_dtype()), "cpu")
    device = backend.device_of(arrays[0])
    dtype = arrays[0].dtype
    xp = backend.xp(device)
    per_tensor = [_vector_norm(a, norm_type, xp) if backend.device_of(a) == device else
                  backend.to_device(_vector_norm(a, norm_type,
                                                 backend.xp(backend.device_of(a))), device)
                  for a in arrays]
    total = _vector_norm(xp.stack(per_tensor).astype(dtype), norm_type, xp)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is "
                           f"{float(total)}, so they cannot be clipped; pass "
                           "error_if_nonfinite=False to clip anyway (the gradients become NaN)")
    return wrap(total, device)


def clip_grads_with_norm_(parameters: Parameters, max_norm: float, total_norm: Tensor | float,
                          foreach: bool | None = None) -> None:
    """Scale the gradients of ``parameters`` by ``min(1, max_norm / (total_norm + 1e-6))``,
    in place, as ``torch.nn.utils.clip_grads_with_norm_``: the second half of
    :func:`clip_grad_norm_`, with a norm computed beforehand (by :func:`get_total_norm`,
    e.g. over several models, or reduced across processes).

    ``total_norm`` is a 0-d (or one-element) tensor, or a number. A non-finite norm scales as
    PyTorch does (by 0 for inf, by NaN for NaN) and warns (``RuntimeWarning``), on the GPU at
    the next synchronisation, so that no NaN is written silently. On the GPU the factor is
    computed on the device and nothing is read.
    """
    _check_bound("max_norm", max_norm)
    _check_foreach(foreach)
    grads = _grads(parameters)
    _scale_grads(grads, max_norm, _norm_array(total_norm), "clip_grads_with_norm_")


def clip_grad_norm_(parameters: Parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale the gradients so that their joint norm is at most ``max_norm``; return that norm.

    :func:`get_total_norm` of the gradients, then :func:`clip_grads_with_norm_`, as in
    PyTorch. The total norm is the ``norm_type``-norm of all gradients seen as one vector
    (``inf``: the largest absolute entry). Every gradient is multiplied by
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
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    if grads:
        _scale_grads(grads, max_norm, total.array, "clip_grad_norm_", norm_type)
    return total


def _scale_grads(grads: list[Tensor], max_norm: float, total: Any, caller: str,
                 norm_type: float | None = None) -> None:
    """Multiply ``grads`` by ``min(1, max_norm / (total + 1e-6))``: on the host when
    ``total`` is there, else on its device without reading it."""
    if not grads:
        return
    device = backend.device_of(total)
    if backend.defers_checks(device):
        _clip_on_device(grads, total, max_norm, caller, norm_type, backend.xp(device))
        return
    value = float(total)
    if not math.isfinite(value):
        warnings.warn(_nonfinite_warning(caller, norm_type, value), RuntimeWarning,
                      stacklevel=3)
    scale = float(max_norm / (value + 1e-6))
    if not scale >= 1.0:  # also true for NaN, which PyTorch propagates into the gradients
        with numpy.errstate(invalid="ignore"):  # inf * 0: warned about above
            for g in grads:
                g.array *= g.array.dtype.type(scale)


def _nonfinite_warning(caller: str, norm_type: float | None, total: float) -> str:
    order = "" if norm_type is None else f" of order {norm_type}"
    return (f"{caller}: the total norm{order} of the gradients is {total}; as in PyTorch "
            "they are scaled by max_norm / total_norm anyway, which writes NaN into them "
            "(pass error_if_nonfinite=True to clip_grad_norm_ or get_total_norm to raise "
            "instead)")


def _clip_on_device(grads: list[Tensor], total: Any, max_norm: float, caller: str,
                    norm_type: float | None, xp: Any) -> None:
    """Scale ``grads`` by min(1, max_norm / (total + 1e-6)) without reading ``total`` on the
    host (that would wait for the GPU): the factor is computed on the device, as on the host
    (in float64, then in each gradient's dtype, so the results are bit-identical), and every
    gradient is multiplied by it, by exactly 1 where nothing is clipped. A non-finite total
    warns, as on the host, at the next synchronisation (``backend.defer_check``)."""
    backend.defer_check(~xp.isfinite(total), RuntimeWarning,
                        lambda: _nonfinite_warning(caller, norm_type, float(total)))
    scale = xp.minimum(max_norm / (total.astype(xp.float64) + 1e-6), 1.0)  # NaN stays NaN
    device = backend.device_of(total)
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


# --- adaptive gradient clipping ---------------------------------------------------------------

def unitwise_norm(array: Any, norm_type: float = 2.0) -> Any:
    """The ``norm_type``-norms of the units of ``array``: over all dimensions but the first
    (one per output row of a Linear weight ``(out, in)``, one per filter of a convolution
    weight ``(out, in, *kernel)``), kept as size-1 dimensions so that the result broadcasts
    against ``array``; the norm of the whole tensor, as a 0-d array, for a vector or a
    scalar (a bias, a gain). This is NFNets' (and timm's) ``unitwise_norm``."""
    xp = backend.xp(backend.device_of(array))
    if array.ndim <= 1:
        return _vector_norm(array, norm_type, xp)
    axes = tuple(range(1, array.ndim))
    magnitudes = xp.abs(array)
    if math.isinf(norm_type):
        return magnitudes.max(axis=axes, keepdims=True)
    if norm_type == 2.0:
        magnitudes *= magnitudes
        return xp.sqrt(magnitudes.sum(axis=axes, keepdims=True))
    return (magnitudes ** norm_type).sum(axis=axes, keepdims=True) ** (1.0 / norm_type)


def adaptive_clip(param: Any, grad: Any, clip_factor: float = 0.01, eps: float = 1e-3,
                  norm_type: float = 2.0) -> Any:
    """The adaptively clipped ``grad`` of the parameter array ``param`` (a new array; neither
    input is changed): where a unit's gradient norm exceeds ``clip_factor * max(|unit of
    param|, eps)``, that unit's gradient is scaled down to that norm (see
    :func:`adaptive_clip_grad_`). Optimizers that clip inside their step (Ranger21) call
    this."""
    xp = backend.xp(backend.device_of(grad))
    max_norm = xp.maximum(unitwise_norm(param, norm_type), eps)
    max_norm *= clip_factor
    grad_norm = unitwise_norm(grad, norm_type)
    clipped = grad * (max_norm / xp.maximum(grad_norm, 1e-6))
    return xp.where(grad_norm > max_norm, clipped, grad)


def adaptive_clip_grad_(parameters: Parameters, clip_factor: float = 0.01, eps: float = 1e-3,
                        norm_type: float = 2.0) -> None:
    """Adaptive gradient clipping (Brock, De, Smith & Simonyan 2021, "High-Performance
    Large-Scale Image Recognition Without Normalization"), in place on each ``.grad``.

    Unit by unit (:func:`unitwise_norm`: each output row of a Linear weight, each filter of a
    convolution, the whole tensor for a vector or a scalar), with ``W`` the parameter's unit
    and ``G`` its gradient's::

        max_norm = clip_factor * max(||W||, eps)
        G = G * max_norm / max(||G||, 1e-6)     where ||G|| > max_norm, else unchanged

    So a gradient may not be larger than ``clip_factor`` times the weights it changes; ``eps``
    keeps zero-initialised units (biases) from being frozen. Defaults as NFNets' and timm's
    (``clip_factor=0.01, eps=1e-3``); the same function clips inside :class:`Ranger21`.
    Parameters without a gradient are skipped. ``clip_factor`` and ``eps`` must be finite
    and >= 0, ``norm_type`` positive (or inf).
    """
    _check_bound("clip_factor", clip_factor, finite=True)
    _check_bound("eps", eps, finite=True)
    norm_type = _check_norm_type(norm_type)
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters must be Tensors, got {type(p).__name__} at "
                            f"position {i}")
    for p in params:
        g = p.grad
        if g is None:
            continue
        clipped = adaptive_clip(backend.to_device(p.array, g.device), g.array, clip_factor,
                                eps, norm_type)
        g.array[...] = clipped


# --- helpers ------------------------------------------------------------------------------------

def _grads(parameters: Parameters) -> list[Tensor]:
    """The ``.grad`` tensors of ``parameters`` (one tensor or an iterable), skipping None."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters must be Tensors, got {type(p).__name__}")
    return [p.grad for p in params if p.grad is not None]


def _arrays(name: str, tensors: Parameters) -> list[Any]:
    """The arrays of ``tensors`` (one Tensor or an iterable of Tensors)."""
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    items = list(tensors)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be Tensors, got {type(t).__name__} at position {i}")
    return [t.array for t in items]


def _norm_array(total_norm: Any) -> Any:
    """``total_norm`` (a one-element tensor or a real number) as a 0-d array."""
    if isinstance(total_norm, Tensor):
        if total_norm.numel() != 1:
            raise ValueError(f"total_norm must be a tensor of one element, got shape "
                             f"{tuple(total_norm.shape)}")
        return total_norm.array.reshape(())
    if isinstance(total_norm, bool) or not isinstance(total_norm, numbers.Real):
        raise TypeError(f"total_norm must be a tensor or a number, got "
                        f"{type(total_norm).__name__}")
    return numpy.asarray(float(total_norm))


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


def _check_bound(name: str, value: Any, finite: bool = False) -> None:
    number = not isinstance(value, bool) and isinstance(value, numbers.Real)
    if not number or not float(value) >= 0 or (finite and not math.isfinite(value)):
        raise ValueError(f"{name} must be a {'finite ' if finite else ''}number >= 0, got "
                         f"{value!r}")


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
