"""Optimizers' paths on a function of two variables: ``run_trajectory``, ``plot_trajectories``."""
from __future__ import annotations

import math
import os
import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor
from minigrad.viz._figure import new_figure, save

Objective = Callable[[Tensor], Tensor]
Factory = Callable[[list], Any]


def _check_start(start: Any) -> np.ndarray:
    point = np.asarray(start.numpy() if isinstance(start, Tensor) else start, dtype=np.float64)
    if point.shape != (2,) or not np.all(np.isfinite(point)):
        raise ValueError(f"start must be 2 finite numbers (x, y), got {start!r}")
    return point


def run_trajectory(f: Objective, make_optimizer: Factory, start: Any, steps: int,
                   stop: Callable[[np.ndarray, float], bool] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``f`` (a 2-element float64 tensor -> a scalar tensor) from ``start`` with the
    optimizer ``make_optimizer([point])`` for ``steps`` steps.

    Returns ``(path, losses)``: ``path[k]`` is the point after ``k`` steps (``path[0]`` is
    ``start``) and ``losses[k] = f(path[k])``. Each step computes ``f`` and its gradient once
    (an optimizer that re-evaluates the loss itself, such as LBFGS, is handed a closure
    and may call it more often; one whose ``step()`` refuses to run without a closure,
    such as SAM, gets the gradient and then the closure; one that says
    ``needs_create_graph``, such as AdaHessian, gets gradients made with
    ``backward(create_graph=True)``). A run whose loss, gradient or point stops being
    finite ends there, and so does one for which ``stop(point, loss)`` is true (after that
    point is recorded: a way to end runs that leave the region of interest of a function
    unbounded below), so the arrays may be shorter than ``steps + 1``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"run_trajectory: steps must be a non-negative int, got {steps!r}")
    point = mg.tensor(_check_start(start), dtype=mg.float64, requires_grad=True)
    optimizer = make_optimizer([point])

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = f(point)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise TypeError(f"f must return a one-element tensor, got {loss!r}")
        with warnings.catch_warnings():  # .grad is reset at every step: no graphs pile up
            warnings.filterwarnings("ignore", message=r"backward\(create_graph=True\)")
            loss.backward(create_graph=create_graph)
        return loss

    takes_closure = isinstance(optimizer, mg.optim.LBFGS)
    create_graph = bool(getattr(optimizer, "needs_create_graph", False))
    needs_closure = False
    path = [point.numpy().copy()]
    with mg.no_grad():
        losses = [float(f(point).item())]
    for _ in range(steps):
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # divergence ends the path
                if takes_closure:
                    optimizer.step(closure)
                else:
                    closure()
                    if needs_closure:
                        optimizer.step(closure)
                    else:
                        try:
                            optimizer.step()
                        except (ValueError, TypeError) as exc:
                            if "closure" not in str(exc):
                                raise
                            needs_closure = True
                            optimizer.step(closure)
                value = point.numpy().copy()
                with mg.no_grad():
                    loss = float(f(point).item())
        except (mg.optim.NonFiniteError, FloatingPointError, OverflowError):
            break
        if not (np.all(np.isfinite(value)) and math.isfinite(loss)):
            break
        path.append(value)
        losses.append(loss)
        if stop is not None and stop(value, loss):
            break
    return np.array(path), np.array(losses)


def _grid_values(f: Objective, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``f`` on the grid, in one call when ``f`` broadcasts over a (2, ny, nx) tensor."""
    X, Y = np.meshgrid(xs, ys)
    with mg.no_grad():
        try:
            values = f(mg.tensor(np.stack([X, Y]), dtype=mg.float64)).numpy()
            if values.shape == X.shape:
                return values.astype(np.float64)
        except Exception:  # f is written for one point only: evaluate point by point
            pass
        return np.array([[f(mg.tensor([x, y], dtype=mg.float64)).item() for x in xs]
                         for y in ys])


def plot_trajectories(f: Objective, optimizers: Mapping[str, Factory], start: Any, steps: int,
                      path: str | os.PathLike | None = None, *,
                      bounds: Sequence[Sequence[float]] | None = None,
                      minima: Sequence[Sequence[float]] = (), resolution: int = 150,
                      labels: tuple[str, str] = ("x", "y"), title: str | None = None,
                      stop: Callable[[np.ndarray, float], bool] | None = None
                      ) -> tuple[Any, dict[str, np.ndarray]]:
    """Contours of ``f`` with each optimizer's path from ``start`` (left) and ``f`` against
    the step (right). ``optimizers`` maps a label to a factory ``params -> optimizer``;
    ``bounds = ((xmin, xmax), (ymin, ymax))`` frames the contours (default: the paths with a
    margin), ``minima`` are marked with stars, ``labels`` names the two coordinates, and
    ``stop`` is handed to :func:`run_trajectory`.

    Returns ``(figure, paths)`` with ``paths[label]`` the ``(k + 1, 2)`` array of
    :func:`run_trajectory` (``k <= steps``).
    """
    if not optimizers:
        raise ValueError("plot_trajectories: optimizers is empty; give {label: factory}")
    start = _check_start(start)
    runs = {label: run_trajectory(f, factory, start, steps, stop)
            for label, factory in optimizers.items()}
    paths = {label: run[0] for label, run in runs.items()}
    if bounds is None:
        every = np.concatenate([p for p in paths.values()] +
                               [np.asarray(minima, dtype=float).reshape(-1, 2)])
        low, high = np.percentile(every, 1, axis=0), np.percentile(every, 99, axis=0)
        low, high = np.minimum(low, start), np.maximum(high, start)
        margin = np.maximum(0.15 * (high - low), 0.5)
        bounds = ((low[0] - margin[0], high[0] + margin[0]),
                  (low[1] - margin[1], high[1] + margin[1]))
    (x0, x1), (y0, y1) = bounds
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    Z = _grid_values(f, xs, ys)
    finite = Z[np.isfinite(Z)]
    levels = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, 30)))
    figure = new_figure(11.0, 4.6)
    contour_axes, loss_axes = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    if len(levels) > 1:
        filled = contour_axes.contourf(xs, ys, Z, levels=levels, cmap="viridis", alpha=0.85)
        contour_axes.contour(xs, ys, Z, levels=levels, colors="k", linewidths=0.3, alpha=0.4)
        colourbar = figure.colorbar(filled, ax=contour_axes, shrink=0.85)
        colourbar.set_label("f (levels at quantiles)")
        colourbar.set_ticks(levels[:: max(1, len(levels) // 6)])
    for i, (label, (trajectory, losses)) in enumerate(runs.items()):
        colour, style = f"C{i % 10}", ("-", "--", ":")[(i // 10) % 3]
        contour_axes.plot(trajectory[:, 0], trajectory[:, 1], style, color=colour,
                          linewidth=1.4, marker="." if len(trajectory) <= 60 else None,
                          markersize=3, label=label)
        contour_axes.plot(trajectory[-1, 0], trajectory[-1, 1], "o", color=colour, markersize=4)
        loss_axes.plot(np.arange(len(losses)), losses, style, color=colour, linewidth=1.4,
                       label=label)
    contour_axes.plot(*start, "ws", markeredgecolor="k", markersize=7, label="start")
    for minimum in minima:
        contour_axes.plot(*minimum, "*", color="gold", markeredgecolor="k", markersize=13)
    contour_axes.set_xlim(x0, x1)
    contour_axes.set_ylim(y0, y1)
    contour_axes.set_xlabel(labels[0])
    contour_axes.set_ylabel(labels[1])
    contour_axes.set_title("paths on the contours of f")
    every_loss = np.concatenate([run[1] for run in runs.values()])
    if np.all(every_loss > 0):
        loss_axes.set_yscale("log")
    elif len(every_loss) > 50:  # unbounded below: a jump to -1e20 would hide every other run
        low, high = np.percentile(every_loss, 2), every_loss.max()
        if every_loss.min() < low - (high - low):
            loss_axes.set_ylim(low - 0.1 * (high - low), high + 0.05 * (high - low))
            loss_axes.set_title("f along each path (a few values below the frame)")
    loss_axes.set_xlabel("step")
    loss_axes.set_ylabel("f")
    if not loss_axes.get_title():
        loss_axes.set_title("f along each path")
    loss_axes.grid(True, alpha=0.3)
    columns = 1 if len(runs) <= 10 else 2
    loss_axes.legend(fontsize=7, ncol=columns, loc="best")
    if title:
        figure.suptitle(title)
    save(figure, path)
    return figure, paths
