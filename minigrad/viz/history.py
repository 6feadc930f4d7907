"""``plot_history``: the curves of one training run, from a :class:`History`."""
from __future__ import annotations

import math
import os
from typing import Any, Iterable, Sequence

import numpy as np

from minigrad.utils.history import History
from minigrad.viz._figure import new_figure, save


def smooth(values: Sequence[float] | np.ndarray, weight: float = 0.9) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average with weight ``weight`` on the
    past, divided by ``1 - weight**t`` so that the first points are not pulled towards zero.
    Non-finite values are left out of the average (their entry is NaN)."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smooth: weight must be in [0, 1), got {weight}")
    out = np.full(len(values), np.nan)
    average, count = 0.0, 0
    for i, value in enumerate(values):
        if not math.isfinite(value):
            continue
        count += 1
        average = weight * average + (1.0 - weight) * value
        out[i] = average / (1.0 - weight ** count)
    return out


def _role(name: str) -> str:
    lowered = name.lower()
    if lowered == "lr" or lowered.endswith("_lr") or "learning_rate" in lowered:
        return "lr"
    if "acc" in lowered:
        return "accuracy"
    return "loss"


def plot_history(history: History | str | os.PathLike, path: str | os.PathLike | None = None,
                 *, smoothed: Iterable[str] = ("loss",), weight: float = 0.9,
                 title: str | None = None) -> tuple[Any, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Draw a run: the loss metrics (``*loss*`` and anything else that is not an accuracy or
    a learning rate) on the left, with the learning rate (``lr``) on a second, logarithmic
    axis; the accuracies (``*acc*``) on the right. The per-step metrics named in
    ``smoothed`` are drawn faintly as logged and boldly smoothed (see :func:`smooth`).

    The x axis is the step when every drawn record has one (epoch-level metrics are drawn
    at the step their epoch ended), the epoch otherwise. ``history`` may also be the path
    of a saved history (JSON or CSV).

    Returns ``(figure, numbers)``: ``numbers[name] = (xs, values)`` for every curve drawn,
    the smoothed ones under ``name + " (smoothed)"``.
    """
    if not isinstance(history, History):
        history = History.load(history)
    names = history.metrics()
    if not names:
        raise ValueError("plot_history: the history is empty (nothing was logged)")
    smoothed = set(smoothed)
    by = "step" if all(r["step"] is not None for r in history) else "epoch"
    if by == "epoch" and any(r["epoch"] is None for r in history):
        raise ValueError("plot_history: every record needs a step, or every record an epoch, "
                         "to put them on one axis")
    roles = {name: _role(name) for name in names}
    has_accuracy = any(role == "accuracy" for role in roles.values())
    figure = new_figure(11.0 if has_accuracy else 6.5, 4.0)
    loss_axes = figure.add_subplot(1, 2 if has_accuracy else 1, 1)
    accuracy_axes = figure.add_subplot(1, 2, 2) if has_accuracy else None
    lr_axes = None
    numbers: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    colours: dict[str, str] = {}  # one colour per split: train_loss and train_accuracy alike
    positive_loss = True
    for name in names:
        logged_xs, logged_values = history.series(name, by=by)
        xs, values = np.asarray(logged_xs, dtype=float), np.asarray(logged_values, dtype=float)
        numbers[name] = (xs, values)
        role = roles[name]
        if role == "lr":
            if lr_axes is None:
                lr_axes = loss_axes.twinx()
                lr_axes.set_ylabel("learning rate", color="0.4")
                lr_axes.tick_params(axis="y", colors="0.4")
            lr_axes.plot(xs, values, color="0.5", linestyle="--", linewidth=1.2, label=name)
            if np.all(values[np.isfinite(values)] > 0):
                lr_axes.set_yscale("log")
            continue
        axes = accuracy_axes if role == "accuracy" else loss_axes
        assert axes is not None  # an accuracy metric set has_accuracy: accuracy_axes exists
        colour = colours.setdefault(name.split("_")[0], f"C{len(colours) % 10}")
        if role == "loss":
            positive_loss &= bool(np.all(values[np.isfinite(values)] > 0))
        if name in smoothed and len(values) > 1:
            curve = smooth(values, weight)
            numbers[name + " (smoothed)"] = (xs, curve)
            axes.plot(xs, values, color=colour, alpha=0.25, linewidth=0.8)
            axes.plot(xs, curve, color=colour, linewidth=1.8, label=f"{name} (smoothed)")
        else:
            marker = "o" if len(values) <= 50 else None
            axes.plot(xs, values, color=colour, marker=marker, markersize=3.5, linewidth=1.5,
                      label=name)
    loss_axes.set_xlabel(by)
    loss_axes.set_ylabel("loss")
    if positive_loss and any(r == "loss" for r in roles.values()):
        loss_axes.set_yscale("log")
    loss_axes.grid(True, alpha=0.3)
    handles, labels = loss_axes.get_legend_handles_labels()
    if lr_axes is not None:
        more = lr_axes.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    if handles:
        loss_axes.legend(handles, labels, fontsize=8, loc="upper right")
    loss_axes.set_title("loss" + (" and learning rate" if lr_axes is not None else ""))
    if accuracy_axes is not None:
        accuracy_axes.set_xlabel(by)
        accuracy_axes.set_ylabel("accuracy")
        accuracy_axes.grid(True, alpha=0.3)
        accuracy_axes.legend(fontsize=8, loc="lower right")
        accuracy_axes.set_title("accuracy")
    if title:
        figure.suptitle(title)
    save(figure, path)
    return figure, numbers
