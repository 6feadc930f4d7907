"""Small 2-D classification problems for trying models: spirals, moons and Gaussian blobs.

Each generator returns ``(X, y)``: float features of shape (n_samples, n_features) in the
default dtype and int64 class labels, shuffled. Randomness comes from a private generator
when ``seed`` is given, else from the global one seeded by ``mg.manual_seed``.
"""
from __future__ import annotations

import math
import operator
from typing import Any, Sequence

from minigrad import backend
from minigrad.creation import tensor
from minigrad.data.random import host_generator
from minigrad.tensor import Tensor

_np = backend.xp("cpu")  # the points are drawn on the host, then moved to ``device``


def spirals(n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, *,
            shuffle: bool = True, seed: int | None = None,
            device: str | None = None) -> tuple[Tensor, Tensor]:
    """Interleaved spiral arms, one per class, in the unit disc; not linearly separable.

    Arm ``k`` runs from the centre outwards (radius 0 to 1) through the angles
    ``4k .. 4(k+1)`` radians; ``noise`` is the standard deviation of Gaussian noise on the
    angle.
    """
    n_classes = _count(n_classes, "n_classes")
    sizes = _split_evenly(_count(n_samples, "n_samples"), n_classes)
    _check_noise(noise)
    gen = host_generator(seed)
    points = []
    for k, n in enumerate(sizes):
        radius = _np.linspace(0.0, 1.0, n)
        angle = _np.linspace(4.0 * k, 4.0 * (k + 1), n) + noise * gen.standard_normal(n)
        points.append(_np.stack([radius * _np.sin(angle), radius * _np.cos(angle)], axis=1))
    return _finish(points, gen, shuffle, device)


def moons(n_samples: int = 100, noise: float = 0.0, *, shuffle: bool = True,
          seed: int | None = None, device: str | None = None) -> tuple[Tensor, Tensor]:
    """Two interleaving half circles (class 0 on top, class 1 below), with Gaussian noise of
    standard deviation ``noise`` on both coordinates."""
    top, bottom = _split_evenly(_count(n_samples, "n_samples"), 2)
    _check_noise(noise)
    gen = host_generator(seed)
    t_top = _np.linspace(0.0, math.pi, top)
    t_bottom = _np.linspace(0.0, math.pi, bottom)
    points = [_np.stack([_np.cos(t_top), _np.sin(t_top)], axis=1),
              _np.stack([1.0 - _np.cos(t_bottom), 0.5 - _np.sin(t_bottom)], axis=1)]
    points = [p + noise * gen.standard_normal(p.shape) for p in points]
    return _finish(points, gen, shuffle, device)


def blobs(n_samples: int = 100, n_features: int = 2, centers: int | Sequence[Any] = 3,
          cluster_std: float = 1.0, center_box: tuple[float, float] = (-10.0, 10.0), *,
          shuffle: bool = True, seed: int | None = None,
          device: str | None = None) -> tuple[Tensor, Tensor]:
    """Isotropic Gaussian clusters, one class per centre.

    ``centers`` is a number of centres drawn uniformly from ``center_box`` in every
    coordinate, or the centres themselves (k x n_features); ``cluster_std`` is each
    cluster's standard deviation.
    """
    n_samples = _count(n_samples, "n_samples")
    gen = host_generator(seed)
    if isinstance(centers, (int, _np.integer)):
        n_features = _count(n_features, "n_features")
        low, high = center_box
        means = gen.uniform(low, high, size=(_count(centers, "centers"), n_features))
    else:
        means = _np.asarray(centers, dtype=float)
        if means.ndim != 2 or len(means) == 0:
            raise ValueError(f"centers must be a count or a (k, n_features) array of centres, "
                             f"got shape {means.shape}")
    _check_noise(cluster_std, "cluster_std")
    sizes = _split_evenly(n_samples, len(means))
    points = [mean + cluster_std * gen.standard_normal((n, len(mean)))
              for mean, n in zip(means, sizes)]
    return _finish(points, gen, shuffle, device)


def _finish(points: list[Any], gen: Any, shuffle: bool,
            device: str | None) -> tuple[Tensor, Tensor]:
    """Stack per-class point arrays into (X, y) tensors, optionally shuffled together."""
    X = _np.concatenate(points)
    y = _np.concatenate([_np.full(len(p), k, dtype="int64") for k, p in enumerate(points)])
    if shuffle:
        order = gen.permutation(len(X))
        X, y = X[order], y[order]
    return (tensor(X, dtype=backend.get_default_dtype(), device=device),
            tensor(y, device=device))


def _split_evenly(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` sizes that differ by at most one (the first ones larger)."""
    size, extra = divmod(total, parts)
    return [size + (k < extra) for k in range(parts)]


def _count(value: Any, name: str, minimum: int = 1) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {number}")
    return number


def _check_noise(value: float, name: str = "noise") -> None:
    if not value >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
