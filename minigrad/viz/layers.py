"""Per-layer statistics of activations and back-propagated gradients: ``layer_stats`` and
``plot_layer_stats``, the picture behind the initialisation lectures.

Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
networks", followed the distribution of each layer's activations, and of the gradient of the
cost with respect to them, through a deep network at initialisation: with a badly scaled
initialisation the activations shrink (or blow up) from layer to layer and so do the
gradients on the way back. Their normalised ("Xavier") initialisation, He et al.'s (2015) for
ReLU, and normalisation layers keep both roughly constant with depth.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import minigrad as mg
from minigrad.autograd import grad as autograd_grad
from minigrad.nn import Module, Sequential
from minigrad.nn.functional import cross_entropy
from minigrad.tensor import Tensor
from minigrad.viz._figure import new_figure, save


@dataclass
class LayerStats:
    """``names[k]`` is layer k (``"3 ReLU"``); ``activation_mean/std[k]`` the mean and
    standard deviation of its output over the batch and features, ``gradient_mean/std[k]``
    those of the loss's gradient with respect to that output; ``activations[k]`` and
    ``gradients[k]`` the values themselves (flattened NumPy arrays); ``is_activation[k]``
    whether the layer is an activation function (those are what the plot shows)."""

    names: list[str]
    activation_mean: np.ndarray
    activation_std: np.ndarray
    gradient_mean: np.ndarray
    gradient_std: np.ndarray
    activations: list[np.ndarray] = field(repr=False)
    gradients: list[np.ndarray] = field(repr=False)
    is_activation: list[bool] = field(repr=False)


def _layers(model: Module | Any) -> list[Module]:
    if isinstance(model, Sequential):
        children = list(model.children())
    elif isinstance(model, (list, tuple)):
        children = list(model)
    else:
        raise TypeError("layer_stats: the model must be an nn.Sequential (or a list of "
                        f"modules applied in turn), got {type(model).__name__}")
    layers: list[Module] = []
    for child in children:
        layers.extend(_layers(child) if isinstance(child, Sequential) else [child])
    return layers


def layer_stats(model: Sequential, x: Tensor, y: Tensor | None = None,
                loss_fn: Callable[[Tensor], Tensor] | None = None) -> LayerStats:
    """Run ``x`` through the layers of ``model`` one by one, keeping each layer's output, and
    take the gradient of the loss with respect to every output.

    The loss is ``loss_fn(output)`` when given, else ``cross_entropy(output, y)`` when ``y``
    is given, else ``0.5 * mean(output ** 2)``. The gradients are returned by
    ``minigrad.autograd.grad``, so no parameter's ``.grad`` changes; the model runs in the
    mode it is in (train mode: BatchNorm normalises with the batch's statistics) and its
    buffers (BatchNorm's running statistics) are put back as they were.
    """
    layers = _layers(model)
    if not layers:
        raise ValueError("layer_stats: the model has no layers")
    buffers = [(b, b.array.copy()) for layer in layers for b in layer.buffers()]
    with mg.enable_grad():
        h = x
        outputs = []
        for layer in layers:
            h = layer(h)
            outputs.append(h)
        if loss_fn is not None:
            loss = loss_fn(h)
        elif y is not None:
            loss = cross_entropy(h, y)
        else:
            loss = 0.5 * (h * h).mean()
        wanted = [o for o in outputs if o.requires_grad]
        if not wanted:
            raise ValueError("layer_stats: no layer output requires grad (is grad mode off, "
                             "or does no layer have parameters?)")
        found = iter(autograd_grad(loss, wanted, allow_unused=True))
        gradients = [next(found) if o.requires_grad else None for o in outputs]
    with mg.no_grad():
        for b, array in buffers:
            b.array[...] = array
    acts = [o.detach().numpy().astype(np.float64).ravel() for o in outputs]
    grads = [np.zeros_like(a) if g is None else g.numpy().astype(np.float64).ravel()
             for a, g in zip(acts, gradients)]
    return LayerStats(
        names=[f"{k} {type(layer).__name__}" for k, layer in enumerate(layers)],
        activation_mean=np.array([a.mean() for a in acts]),
        activation_std=np.array([a.std() for a in acts]),
        gradient_mean=np.array([g.mean() for g in grads]),
        gradient_std=np.array([g.std() for g in grads]),
        activations=acts, gradients=grads,
        is_activation=[type(layer).__module__ == "minigrad.nn.activation" for layer in layers])


def plot_layer_stats(model: Sequential, x: Tensor, y: Tensor | None = None,
                     path: str | os.PathLike | None = None, *,
                     loss_fn: Callable[[Tensor], Tensor] | None = None,
                     title: str | None = None) -> tuple[Any, LayerStats]:
    """Four panels from :func:`layer_stats`: the mean and standard deviation of each
    activation layer's output against depth, the histograms of those outputs, and the same
    two for the gradients. (When the model has no activation layers, every layer is shown.)
    Returns ``(figure, stats)``."""
    stats = layer_stats(model, x, y, loss_fn)
    shown = [k for k, flag in enumerate(stats.is_activation) if flag] or \
        list(range(len(stats.names)))
    figure = new_figure(11.0, 7.0)
    depth = np.arange(1, len(shown) + 1)
    panels = (("activation", stats.activation_mean, stats.activation_std, stats.activations),
              ("gradient", stats.gradient_mean, stats.gradient_std, stats.gradients))
    for row, (what, means, stds, values) in enumerate(panels):
        axes = figure.add_subplot(2, 2, 2 * row + 1)
        axes.plot(depth, stds[shown], "o-", color="C0", label="std")
        axes.plot(depth, np.abs(means[shown]), "s--", color="C1", label="|mean|")
        positive = np.concatenate([stds[shown], np.abs(means[shown])])
        if np.any(positive > 0):
            axes.set_yscale("log")
        axes.set_xlabel(f"layer ({_type_names(stats, shown)})")
        axes.set_ylabel(what)
        axes.set_xticks(depth)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8)
        axes.set_title(f"{what}s per layer")
        hist_axes = figure.add_subplot(2, 2, 2 * row + 2)
        every = np.concatenate([values[k] for k in shown])
        low, high = np.percentile(every, [0.5, 99.5]) if every.size else (-1.0, 1.0)
        if low == high:
            low, high = low - 1.0, high + 1.0
        bins = np.linspace(low, high, 60)
        from matplotlib import colormaps
        colormap = colormaps["viridis"]
        for i, k in enumerate(shown):
            counts, edges = np.histogram(values[k], bins=bins, density=True)
            centres = 0.5 * (edges[1:] + edges[:-1])
            hist_axes.plot(centres, counts, color=colormap(i / max(1, len(shown) - 1)),
                           linewidth=1.2, label=f"layer {i + 1}" if len(shown) <= 12 else None)
        hist_axes.set_xlabel(what)
        hist_axes.set_ylabel("density")
        hist_axes.set_title(f"{what} histograms (dark: first layer)")
        if len(shown) <= 12:
            hist_axes.legend(fontsize=7, ncol=2)
    if title:
        figure.suptitle(title)
    save(figure, path)
    return figure, stats


def _type_names(stats: LayerStats, shown: list[int]) -> str:
    kinds = sorted({stats.names[k].split(" ", 1)[1] for k in shown})
    return ", ".join(kinds) + " outputs"
