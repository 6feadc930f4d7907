"""Feature standardisation, fitted on the training set and applied unchanged to the others.

Scaling every feature to zero mean and unit variance makes one learning rate suit all
input directions; the statistics must come from the training data only, so validation and
test measure what a model sees in deployment.
"""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.autograd import no_grad
from minigrad.creation import tensor
from minigrad.errors import ShapeError
from minigrad.ops import where
from minigrad.tensor import Tensor

# A standard deviation this many float epsilons of the feature's magnitude is rounding
# noise of a constant feature, not spread.
_CONSTANT_TOLERANCE = 10.0


class StandardScaler:
    """Standardise features: ``x' = (x - mean) / scale``, per feature (column).

    ``mean_`` and ``scale_`` (the population standard deviation) are learnt by :meth:`fit`
    over the first dimension (samples). A feature that is constant in the fitted data gets
    ``scale_ = 1``, so it maps to 0 instead of dividing by zero, as in scikit-learn's
    ``StandardScaler`` whose names this follows.
    """

    def __init__(self) -> None:
        self.mean_: Tensor | None = None
        self.scale_: Tensor | None = None

    def fit(self, X: Any) -> "StandardScaler":
        """Learn each feature's mean and standard deviation from ``X`` (samples x features)."""
        X = _as_float_tensor(X, "fit")
        if X.shape[0] == 0:
            raise ValueError("StandardScaler.fit needs at least one sample, got 0")
        with no_grad():
            mean = X.mean(axis=0)
            if not bool(backend.xp(X.device).isfinite(mean.array).all()):
                raise ValueError("StandardScaler.fit: X holds NaN or inf values (a feature's "
                                 "mean is not finite); remove or impute them before fitting")
            std = X.var(axis=0, unbiased=False).sqrt()
            eps = float(backend.xp(X.device).finfo(X.dtype).eps)
            constant = std <= _CONSTANT_TOLERANCE * eps * mean.abs().clip(min=1.0)
            self.scale_ = where(constant, 1.0, std).detach()
            self.mean_ = mean.detach()
        return self

    def transform(self, X: Any) -> Tensor:
        """``X`` standardised with the fitted statistics."""
        X = self._checked(X, "transform")
        assert self.mean_ is not None and self.scale_ is not None  # _checked: fitted
        return (X - self.mean_.to(X.device, X.dtype)) / self.scale_.to(X.device, X.dtype)

    def fit_transform(self, X: Any) -> Tensor:
        """:meth:`fit` on ``X``, then ``X`` standardised."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> Tensor:
        """Undo :meth:`transform`: ``x = x' * scale + mean``."""
        X = self._checked(X, "inverse_transform")
        assert self.mean_ is not None and self.scale_ is not None  # _checked: fitted
        return X * self.scale_.to(X.device, X.dtype) + self.mean_.to(X.device, X.dtype)

    def _checked(self, X: Any, method: str) -> Tensor:
        if self.mean_ is None:
            raise RuntimeError(f"StandardScaler.{method} called before fit")
        X = _as_float_tensor(X, method)
        if X.shape[1:] != self.mean_.shape:
            raise ShapeError(f"StandardScaler.{method}: expected samples of shape "
                             f"{self.mean_.shape} (as fitted), got input of shape {X.shape}")
        return X

    def __repr__(self) -> str:
        fitted = "unfitted" if self.mean_ is None else f"features={tuple(self.mean_.shape)}"
        return f"StandardScaler({fitted})"


def _as_float_tensor(X: Any, method: str) -> Tensor:
    if not isinstance(X, Tensor):
        X = tensor(X)
    if X.ndim == 0:
        raise ShapeError(f"StandardScaler.{method} needs samples along a first dimension, "
                         f"got a 0-d input")
    if X.dtype.kind != "f":
        X = X.to(backend.get_default_dtype())
    return X
