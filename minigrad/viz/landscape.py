"""Loss landscapes as in Li, Xu, Taylor, Studer & Goldstein (2018), "Visualizing the Loss
Landscape of Neural Nets" (NeurIPS): ``loss_landscape`` and ``plot_landscape``.

The loss is evaluated at ``theta + alpha * delta + beta * eta`` for a grid of ``(alpha,
beta)``, where ``theta`` are the trained parameters and ``delta``, ``eta`` two random
directions drawn from a Gaussian and *filter-normalised*: each filter of a direction is
rescaled to the norm of the matching filter of the weights, so that the picture does not
depend on the scale of the weights (which a ReLU network, or one with normalisation layers,
can change without changing its function). For a Linear weight of shape (out, in) a filter is
one row: ``d[i] <- d[i] * ||theta[i]|| / (||d[i]|| + 1e-10)``. Parameters with one dimension
or none (biases, and the weights and biases of BatchNorm/LayerNorm) get a zero direction, as
in the paper's experiments: they stay at their trained values.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import minigrad as mg
from minigrad import backend
from minigrad.nn import Module
from minigrad.tensor import Tensor, wrap
from minigrad.viz._figure import new_figure, save

LossFn = Callable[[Module], Tensor]


@dataclass
class Landscape:
    """The numbers of :func:`loss_landscape`.

    ``alphas`` and ``betas`` are the grid's coordinates along ``directions[0]`` and
    ``directions[1]`` (the middle one exactly 0); ``surface[i, j]`` is the loss at
    ``(alphas[i], betas[j])``; ``line`` is the 1-D slice ``surface[:, middle]``; ``center``
    is the model's loss itself; ``directions[k]`` lists one NumPy array per parameter, in
    ``model.parameters()`` order, and ``names`` their names.
    """

    alphas: np.ndarray
    betas: np.ndarray
    surface: np.ndarray
    center: float
    directions: tuple[list[np.ndarray], list[np.ndarray]]
    names: list[str]

    @property
    def line(self) -> np.ndarray:
        return self.surface[:, len(self.betas) // 2]


def filter_normalized_direction(model: Module, seed: int = 0) -> list[np.ndarray]:
    """One random Gaussian direction in the model's parameter space, filter-normalised (see
    the module's docstring): a float64 NumPy array per parameter, zero for the parameters
    with fewer than two dimensions."""
    rng = np.random.default_rng(seed)
    direction = []
    for p in model.parameters():
        weights = backend.to_numpy(p.array).astype(np.float64)
        d = rng.standard_normal(weights.shape)
        if weights.ndim < 2:
            direction.append(np.zeros_like(weights))
            continue
        filters, d_filters = weights.reshape(len(weights), -1), d.reshape(len(d), -1)
        scale = np.linalg.norm(filters, axis=1) / (np.linalg.norm(d_filters, axis=1) + 1e-10)
        direction.append((d_filters * scale[:, None]).reshape(weights.shape))
    return direction


def _grid(resolution: int, span: float) -> np.ndarray:
    """``resolution`` points from ``-span`` to ``span`` whose middle one is exactly 0."""
    half = (resolution - 1) // 2
    return span * (np.arange(resolution) - half) / half


def loss_landscape(model: Module, loss_fn: LossFn, resolution: int = 41, span: float = 1.0,
                   seed: int = 0) -> Landscape:
    """The loss ``loss_fn(model)`` on a ``resolution`` x ``resolution`` grid over
    ``[-span, span]^2`` in the plane of two filter-normalised random directions (drawn from
    ``seed`` and ``seed + 1``).

    ``loss_fn`` takes the model and returns a one-element tensor: the loss on a fixed set
    of data (full batch, so that the surface is a function of the parameters alone). It is
    evaluated in eval mode, without gradients: Dropout is off and BatchNorm uses its running
    statistics, so every point is deterministic and no buffer is changed. Afterwards the
    parameters hold exactly (bit for bit) the values they had, and the model is back in the
    mode it was in. ``resolution`` must be odd, so that the grid has a centre, where the
    value is the model's own loss (``Landscape.center``).
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 3 \
            or resolution % 2 == 0:
        raise ValueError(f"loss_landscape: resolution must be an odd int >= 3 (the grid needs "
                         f"a centre), got {resolution!r}")
    if not (isinstance(span, (int, float)) and span > 0 and np.isfinite(span)):
        raise ValueError(f"loss_landscape: span must be a positive number, got {span!r}")
    named = list(model.named_parameters())
    if not named:
        raise ValueError("loss_landscape: the model has no parameters")
    params = [p for _, p in named]
    saved = [p.array.copy() for p in params]
    directions = (filter_normalized_direction(model, seed),
                  filter_normalized_direction(model, seed + 1))
    originals = [backend.to_numpy(a).astype(np.float64) for a in saved]
    alphas, betas = _grid(resolution, float(span)), _grid(resolution, float(span))
    surface = np.empty((resolution, resolution))
    was_training = model.training
    model.eval()
    try:
        with mg.no_grad():
            center = _loss(loss_fn, model)
            for i, alpha in enumerate(alphas):
                for j, beta in enumerate(betas):
                    for p, theta, d1, d2 in zip(params, originals, *directions):
                        moved = theta + alpha * d1 + beta * d2
                        p.copy_(wrap(backend.to_device(moved.astype(p.array.dtype), p.device),
                                     p.device))
                    surface[i, j] = _loss(loss_fn, model)
    finally:
        with mg.no_grad():
            for p, array in zip(params, saved):
                p.copy_(wrap(array, p.device))
        model.train(was_training)
    return Landscape(alphas, betas, surface, center, directions, [name for name, _ in named])


def _loss(loss_fn: LossFn, model: Module) -> float:
    loss = loss_fn(model)
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise TypeError(f"loss_landscape: loss_fn(model) must return a one-element tensor, "
                        f"got {loss!r}")
    return float(loss.item())


def plot_landscape(landscape: Landscape | Module, loss_fn: LossFn | None = None,
                   path: str | os.PathLike | None = None, *, title: str | None = None,
                   log: bool = True, **kwargs: Any) -> tuple[Any, Landscape]:
    """The 1-D slice, the contours and the surface of a :class:`Landscape` (or of
    ``loss_landscape(model, loss_fn, **kwargs)`` when given a model). ``log`` draws the
    contours and the surface of ``log10(loss)`` (a positive loss), which shows the basin
    and the walls alike. Returns ``(figure, landscape)``."""
    if isinstance(landscape, Module):
        if loss_fn is None:
            raise TypeError("plot_landscape(model, loss_fn, ...): loss_fn is needed with a model")
        landscape = loss_landscape(landscape, loss_fn, **kwargs)
    elif kwargs or loss_fn is not None:
        raise TypeError("plot_landscape: loss_fn and loss_landscape's options go with a model, "
                        "not with a Landscape")
    surface = landscape.surface
    shown = np.log10(surface) if log and np.all(surface > 0) else surface
    label = "log10 loss" if shown is not surface else "loss"
    figure = new_figure(13.0, 4.2)
    line_axes = figure.add_subplot(1, 3, 1)
    line_axes.plot(landscape.alphas, landscape.line, color="C0", linewidth=1.8)
    line_axes.plot(0.0, landscape.center, "o", color="C3", label=f"model: {landscape.center:.4g}")
    line_axes.set_xlabel("alpha (along direction 1)")
    line_axes.set_ylabel("loss")
    if np.all(landscape.line > 0):
        line_axes.set_yscale("log")
    line_axes.grid(True, alpha=0.3)
    line_axes.legend(fontsize=8)
    line_axes.set_title("1-D slice")
    contour_axes = figure.add_subplot(1, 3, 2)
    A, B = np.meshgrid(landscape.alphas, landscape.betas, indexing="ij")
    filled = contour_axes.contourf(A, B, shown, levels=30, cmap="viridis")
    contour_axes.contour(A, B, shown, levels=30, colors="k", linewidths=0.3, alpha=0.5)
    contour_axes.plot(0.0, 0.0, "r*", markersize=10)
    figure.colorbar(filled, ax=contour_axes, shrink=0.85).set_label(label)
    contour_axes.set_xlabel("alpha")
    contour_axes.set_ylabel("beta")
    contour_axes.set_aspect("equal")
    contour_axes.set_title("2-D contours")
    surface_axes = figure.add_subplot(1, 3, 3, projection="3d")
    surface_axes.plot_surface(A, B, shown, cmap="viridis", linewidth=0, antialiased=True)
    surface_axes.set_xlabel("alpha")
    surface_axes.set_ylabel("beta")
    surface_axes.set_zlabel(label)
    surface_axes.set_title("surface")
    if title:
        figure.suptitle(title)
    save(figure, path)
    return figure, landscape
