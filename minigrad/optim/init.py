"""Weight initialisers, with ``torch.nn.init``'s names, arguments and distributions.

Every function fills a tensor in place (it writes ``tensor.array``, so no graph is recorded)
and returns it. Random ones draw from ``backend.generator(tensor.device)``, which
``mg.manual_seed`` seeds, or from the ``generator`` passed in. Fans follow PyTorch's layout
of a weight, ``(out_features, in_features, *kernel)``.

The scaled initialisers keep activations and gradients at a steady variance from layer to
layer: Xavier/Glorot (Glorot & Bengio 2010, "Understanding the difficulty of training deep
feedforward neural networks") averages fan-in and fan-out, Kaiming/He (He et al. 2015,
"Delving Deep into Rectifiers") corrects for a rectifier's halving of the variance, LeCun
(LeCun et al. 1998, "Efficient BackProp") uses the fan-in alone.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

from minigrad import backend
from minigrad.tensor import Tensor

_UNIT_GAIN = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which to scale a weight's std so that ``nonlinearity`` keeps the variance.

    ``linear``, ``conv*``, ``conv_transpose*``, ``sigmoid``: 1; ``tanh``: 5/3; ``relu``: √2;
    ``leaky_relu``: √(2 / (1 + slope²)) with slope ``param`` (default 0.01); ``selu``: 3/4
    (PyTorch's empirical value; for self-normalising networks use ``"linear"``).
    """
    if nonlinearity in _UNIT_GAIN:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1.0 + slope ** 2))
    if nonlinearity == "selu":
        return 0.75
    known = ", ".join((*_UNIT_GAIN, "tanh", "relu", "leaky_relu", "selu"))
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}; expected one of: {known}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shaped ``(out, in, *kernel)``.

    Each input (output) unit of a convolution connects through every kernel position, so
    both fans are multiplied by the kernel's size: ``(8, 4, 3, 3)`` gives ``(36, 72)``.
    """
    _check_tensor(tensor)
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than "
                         f"2 dimensions (got shape {tuple(tensor.shape)})")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


# --- plain distributions --------------------------------------------------------------------

def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` with draws from U(a, b)."""
    _check_float(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_ needs a <= b, got a={a}, b={b}")
    draws = _generator(tensor, generator).random(tensor.shape)
    return _write(tensor, a + (b - a) * draws)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Any = None) -> Tensor:
    """Fill ``tensor`` with draws from N(mean, std²)."""
    _check_float(tensor, "normal_")
    if not std >= 0:
        raise ValueError(f"normal_ needs std >= 0, got std={std}")
    draws = _generator(tensor, generator).standard_normal(tensor.shape)
    return _write(tensor, mean + std * draws)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` with draws from N(mean, std²) conditioned on lying in [a, b].

    ``a`` and ``b`` are absolute values, not multiples of ``std`` (as in PyTorch): with
    ``std=0.02`` the default bounds ±2 cut nothing. The draws are exact (rejection sampling
    with a proposal chosen for the interval, see :func:`_standard_truncated_normal`), never
    clamped, so unlike PyTorch there is no warning for a mean far outside [a, b].
    """
    _check_float(tensor, "trunc_normal_")
    if not std > 0:
        raise ValueError(f"trunc_normal_ needs std > 0, got std={std}")
    if not a < b:
        raise ValueError(f"trunc_normal_ needs a < b, got a={a}, b={b}")
    draws = _standard_truncated_normal(tensor, (a - mean) / std, (b - mean) / std,
                                       _generator(tensor, generator))
    return _write(tensor, mean + std * draws)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val``."""
    _check_tensor(tensor)
    tensor.array.fill(val)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with zeros."""
    return constant_(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with ones."""
    return constant_(tensor, 1)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D ``tensor`` with the identity (ones on the main diagonal; may be rectangular).

    A linear layer initialised so passes its inputs through unchanged.
    """
    _check_tensor(tensor)
    if tensor.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {tuple(tensor.shape)}")
    return _write(tensor, backend.xp(tensor.device).eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta (an identity convolution).

    Output channel ``d`` of each of the ``groups`` copies the input channel ``d`` through the
    kernel's centre, so the convolution preserves as many input channels as it can.
    """
    _check_tensor(tensor)
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_ needs a 3-, 4- or 5-D tensor, got shape {tuple(tensor.shape)}")
    out_channels = tensor.shape[0]
    if not isinstance(groups, int) or groups < 1 or out_channels % groups:
        raise ValueError(f"dirac_: the {out_channels} output channels must divide into "
                         f"groups={groups!r} equal groups")
    per_group = out_channels // groups
    centre = tuple(size // 2 for size in tensor.shape[2:])
    tensor.array.fill(0)
    for g in range(groups):
        for d in range(min(per_group, tensor.shape[1])):
            tensor.array[(g * per_group + d, d, *centre)] = 1
    return tensor


# --- variance-scaling initialisers ----------------------------------------------------------

def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot's normalised initialisation: U(-a, a) with a = gain·√(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot initialisation, normal form: N(0, std²) with std = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator: Any = None) -> Tensor:
    """He initialisation, uniform form: U(-bound, bound) with bound = gain·√(3 / fan).

    ``gain = calculate_gain(nonlinearity, a)`` (``a``: the leaky ReLU's negative slope);
    ``mode="fan_in"`` keeps the forward activations' variance, ``"fan_out"`` the backward
    gradients'. The default (a=0, leaky_relu) gives gain √2, the ReLU correction.
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator: Any = None) -> Tensor:
    """He initialisation, normal form: N(0, std²) with std = gain / √fan (see kaiming_uniform_)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def lecun_uniform_(tensor: Tensor, generator: Any = None) -> Tensor:
    """LeCun initialisation, uniform form: U(-limit, limit) with limit = √(3 / fan_in).

    The variance is 1/fan_in, which suits SELU (self-normalising) networks.
    """
    fan_in, _ = _calculate_fan_in_and_fan_out(tensor)
    limit = math.sqrt(3.0 / max(1, fan_in))
    return uniform_(tensor, -limit, limit, generator)


def lecun_normal_(tensor: Tensor, generator: Any = None) -> Tensor:
    """LeCun initialisation, normal form as in Keras: std √(1 / fan_in), truncated at 2 std.

    The underlying normal is widened by 1/σ₂ (σ₂ ≈ 0.8796, the std of a unit normal cut at
    ±2), so that after the cut the std is exactly √(1 / fan_in).
    """
    fan_in, _ = _calculate_fan_in_and_fan_out(tensor)
    std = math.sqrt(1.0 / max(1, fan_in)) / _truncated_unit_std(2.0)
    return trunc_normal_(tensor, 0.0, std, -2.0 * std, 2.0 * std, generator)


#: Keras' std of a unit normal truncated to [-2, 2], the factor by which its
#: ``VarianceScaling`` widens the normal before the cut (the exact value is
#: ``_truncated_unit_std(2.0)``, the same to 16 digits)
KERAS_TRUNCATED_NORMAL_STD = 0.87962566103423978

_VS_MODES = ("fan_in", "fan_out", "fan_avg")
_VS_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


def variance_scaling_(tensor: Tensor, scale: float = 1.0, mode: str = "fan_in",
                      distribution: str = "truncated_normal", generator: Any = None) -> Tensor:
    """Keras' ``VarianceScaling`` initializer, as an in-place function: draws with variance
    ``scale / n``, where ``n`` is ``fan_in``, ``fan_out`` or their mean (``mode``, one of
    ``"fan_in"``, ``"fan_out"``, ``"fan_avg"``), at least 1.

    ``distribution``:

    * ``"truncated_normal"`` (the default): N(0, σ²) cut at ±2σ, with σ = √(scale / n) /
      0.87962566103423978 (Keras' constant, the std of a unit normal cut at ±2), so that the
      std after the cut is √(scale / n);
    * ``"untruncated_normal"``: N(0, scale / n);
    * ``"uniform"``: U(-limit, limit) with limit = √(3 scale / n).

    The fans are PyTorch's, of a weight laid out ``(out, in, *kernel)``; Keras lays a kernel
    out ``(*kernel, in, out)``, so the same layer gets the same fans. As in Keras a 1-D
    tensor has ``fan_in = fan_out = len`` and a 0-D one fans of 1. Glorot's initialisers are
    ``scale=1, mode="fan_avg"``, He's ``scale=2, mode="fan_in"``, LeCun's ``scale=1,
    mode="fan_in"`` (Keras' ``lecun_normal`` is :func:`lecun_normal_`). As in Keras,
    ``scale`` must be > 0, ``mode`` is case-sensitive, ``distribution`` is not, and
    ``"normal"`` (its older name) means ``"truncated_normal"``.
    """
    _check_float(tensor, "variance_scaling_")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or \
            not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"variance_scaling_: scale must be a finite number > 0, got {scale!r}")
    if mode not in _VS_MODES:
        raise ValueError(f"variance_scaling_: invalid mode {mode!r}; expected one of "
                         f"{', '.join(map(repr, _VS_MODES))}")
    if isinstance(distribution, str):
        distribution = distribution.lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
    if distribution not in _VS_DISTRIBUTIONS:
        raise ValueError(f"variance_scaling_: invalid distribution {distribution!r}; expected "
                         f"one of {', '.join(map(repr, _VS_DISTRIBUTIONS))}")
    if tensor.ndim == 0:
        fan_in = fan_out = 1
    elif tensor.ndim == 1:
        fan_in = fan_out = tensor.shape[0]
    else:
        fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    variance = scale / max(1.0, fan)
    if distribution == "truncated_normal":
        std = math.sqrt(variance) / KERAS_TRUNCATED_NORMAL_STD
        return trunc_normal_(tensor, 0.0, std, -2.0 * std, 2.0 * std, generator)
    if distribution == "untruncated_normal":
        return normal_(tensor, 0.0, math.sqrt(variance), generator)
    limit = math.sqrt(3.0 * variance)
    return uniform_(tensor, -limit, limit, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Fill ``tensor`` (flattened to ``(shape[0], rest)``) with a random (semi-)orthogonal
    matrix times ``gain`` (Saxe et al. 2013, "Exact solutions to the nonlinear dynamics of
    learning in deep linear neural networks").

    Rows are orthonormal when there are fewer rows than columns, columns otherwise. The sign
    fix of Q by R's diagonal makes the matrix uniformly (Haar) distributed.
    """
    _check_float(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dimensions, got shape "
                         f"{tuple(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    xp = backend.xp(tensor.device)
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _generator(tensor, generator).standard_normal((rows, cols))
    wide = rows < cols
    if wide:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q *= xp.sign(xp.diagonal(r))
    if wide:
        q = q.T
    return _write(tensor, gain * q.reshape(tensor.shape))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: Any = None) -> Tensor:
    """Fill a 2-D ``tensor`` with N(0, std²) and zero a ``sparsity`` fraction of each column.

    Each column keeps ``rows - ceil(sparsity · rows)`` non-zeros at random rows (Martens 2010,
    "Deep learning via Hessian-free optimization").
    """
    _check_float(tensor, "sparse_")
    if tensor.ndim != 2:
        raise ValueError(f"sparse_ needs a 2-D tensor, got shape {tuple(tensor.shape)}")
    if not 0.0 <= sparsity <= 1.0:
        raise ValueError(f"sparse_ needs sparsity in [0, 1], got {sparsity}")
    rows, cols = tensor.shape
    normal_(tensor, 0.0, std, generator)
    num_zeros = math.ceil(sparsity * rows)
    if num_zeros:
        xp = backend.xp(tensor.device)
        # argsort of uniform keys is a random permutation of the rows, one per column
        keys = _generator(tensor, generator).random((rows, cols))
        zero_rows = xp.argsort(keys, axis=0)[:num_zeros]
        tensor.array[zero_rows, xp.arange(cols)] = 0
    return tensor


# --- helpers --------------------------------------------------------------------------------

def _check_tensor(tensor: Any) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected a minigrad Tensor, got {type(tensor).__name__}")


def _check_float(tensor: Any, name: str) -> None:
    _check_tensor(tensor)
    if tensor.dtype.kind != "f":
        raise TypeError(f"{name} needs a floating-point tensor, got dtype {tensor.dtype}")


def _generator(tensor: Tensor, generator: Any) -> Any:
    return backend.generator(tensor.device) if generator is None else generator


def _write(tensor: Tensor, values: Any) -> Tensor:
    """Copy ``values`` (float64 draws) into ``tensor``'s own memory, in its dtype."""
    tensor.array[...] = values
    return tensor


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    """gain / √fan for the Kaiming initialisers; None for a tensor with no elements."""
    if not isinstance(mode, str) or mode.lower() not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    gain = calculate_gain(nonlinearity, a)
    if tensor.numel() == 0:
        warnings.warn("initializing a tensor with no elements does nothing", UserWarning,
                      stacklevel=3)
        return None
    return gain / math.sqrt(fan_in if mode.lower() == "fan_in" else fan_out)


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _truncated_unit_std(c: float) -> float:
    """Std of a unit normal conditioned on [-c, c]: √(1 - 2cφ(c) / (Φ(c) - Φ(-c)))."""
    density = math.exp(-0.5 * c * c) / math.sqrt(2.0 * math.pi)
    return math.sqrt(1.0 - 2.0 * c * density / (_normal_cdf(c) - _normal_cdf(-c)))


def _standard_truncated_normal(tensor: Tensor, alpha: float, beta: float, gen: Any) -> Any:
    """Exact draws from N(0, 1) conditioned on [alpha, beta], shaped like ``tensor``.

    Rejection sampling in vectorised rounds, with the proposal chosen so that at least about
    a third of the candidates are accepted wherever the interval lies (Robert 1995,
    "Simulation of truncated normal variables"): the normal itself when the interval holds
    enough of its mass, a uniform over a short interval, an exponential for a far tail. The
    work is thus bounded; the round limit is only reached with negligible probability.
    """
    xp = backend.xp(tensor.device)
    flip = beta <= 0  # sample the mirror image, so the interval always reaches above 0
    if flip:
        alpha, beta = -beta, -alpha
    propose = _proposal(alpha, beta, gen, xp)
    count = tensor.numel()
    accepted: list[Any] = []
    for _ in range(100):
        if count <= 0:
            break
        candidates = propose(2 * count + 16)
        candidates = candidates[(candidates >= alpha) & (candidates <= beta)]
        accepted.append(candidates[:count])
        count -= len(accepted[-1])
    else:
        raise RuntimeError("trunc_normal_: rejection sampling did not finish")
    draws = xp.concatenate(accepted) if accepted else xp.zeros(0)
    return (-draws if flip else draws).reshape(tensor.shape)


def _proposal(alpha: float, beta: float, gen: Any, xp: Any) -> Any:
    """A function ``n -> candidates`` whose accepted draws are N(0, 1) truncated to
    [alpha, beta] (``beta > 0``); rejected candidates come back outside [alpha, beta]."""
    width = beta - alpha
    mass = _normal_cdf(beta) - _normal_cdf(alpha)

    def normal(n: int) -> Any:
        return gen.standard_normal(n)

    def uniform(n: int) -> Any:
        x = alpha + width * gen.random(n)
        # accept with density(x) / density at the point of [alpha, beta] nearest 0
        nearest = max(alpha, 0.0)
        keep = gen.random(n) < xp.exp(0.5 * (nearest * nearest - x * x))
        return xp.where(keep, x, xp.nan)

    def exponential(n: int) -> Any:
        rate = 0.5 * (alpha + math.sqrt(alpha * alpha + 4.0))  # Robert's optimal rate
        x = alpha - xp.log1p(-gen.random(n)) / rate
        keep = gen.random(n) < xp.exp(-0.5 * (x - rate) ** 2)
        return xp.where(keep, x, xp.nan)

    if mass >= 0.3:
        return normal
    if alpha <= 0 or width <= _robert_uniform_width(alpha):
        return uniform
    return exponential


def _robert_uniform_width(alpha: float) -> float:
    """Widest [alpha, alpha + w] (alpha > 0) on which a uniform proposal beats Robert's
    exponential one."""
    root = math.sqrt(alpha * alpha + 4.0)
    scale = math.exp(0.25 * (alpha * alpha - alpha * root))
    return 2.0 * math.sqrt(math.e) / (alpha + root) * scale
