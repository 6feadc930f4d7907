"""Small helpers the reproduction examples share: the ``--quick``/``--out`` flags, the
standardised digits, an MLP, a training loop, and a plain-text table.

Not an example itself; each example imports it from its own folder.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Iterable, Sequence

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.data import DataLoader, StandardScaler, TensorDataset
from minigrad.datasets import load_digits
from minigrad.nn.functional import cross_entropy

FIGURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures")
_WRITTEN: list[str] = []


def parser(doc: str) -> argparse.ArgumentParser:
    """The flags every example takes: ``--quick`` and ``--out``."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="a tiny budget (seconds): the test suite runs every example so")
    p.add_argument("--out", default=FIGURES, help="folder for the figures")
    return p


def figure_path(args: argparse.Namespace, name: str) -> str:
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, name)
    if not args.quick:
        _WRITTEN.append(path)
    return path


def small_figures(main: Callable) -> Callable:
    """Decorate an example's ``main``: once it returns, the PNGs it wrote (outside
    ``--quick``) are re-encoded with an adaptive palette of 256 colours (Pillow's octree,
    which keeps the lines' colours; Pillow comes with matplotlib), a quarter of the size, so
    the committed figures stay small."""
    def run(argv: list[str] | None = None) -> Any:
        del _WRITTEN[:]
        result = main(argv)
        try:
            from PIL import Image
        except ImportError:
            return result
        for path in _WRITTEN:
            if path.endswith(".png") and os.path.exists(path):
                with Image.open(path) as image:
                    small = image.convert("RGB").quantize(
                        colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
                small.save(path, optimize=True)
        del _WRITTEN[:]
        return result
    run.__doc__, run.__name__ = main.__doc__, main.__name__
    return run


def needs_matplotlib(script: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit(f'{script} needs matplotlib: pip install -e ".[viz]"')


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> str:
    """A plain-text table (numbers to 4 significant digits), printed and returned."""
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "nan" if np.isnan(value) else f"{value:.4g}"
        return str(value)
    body = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(headers)]
    lines = [("  ".join(h.ljust(w) for h, w in zip(headers, widths))).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += [("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w)
                         for c, w in zip(row, widths))).rstrip() for row in body]
    text = ("\n" if title else "") + (f"{title}\n" if title else "") + "\n".join(lines)
    print(text, flush=True)
    return text


def _numeric(text: str) -> bool:
    try:
        float(text.rstrip("%"))
        return True
    except ValueError:
        return False


def digits(standardize: bool = True) -> dict[str, tuple[mg.Tensor, mg.Tensor]]:
    """The bundled digits' train/val/test splits, standardised with the training set's
    statistics unless ``standardize=False`` (then the pixels as loaded, in [0, 1])."""
    splits = {name: load_digits(name) for name in ("train", "val", "test")}
    if standardize:
        scaler = StandardScaler().fit(splits["train"][0])
        splits = {name: (scaler.transform(X), y) for name, (X, y) in splits.items()}
    return splits


def mlp(hidden: Sequence[int] = (64,), norm: str | None = None, in_features: int = 64,
        classes: int = 10) -> nn.Sequential:
    """Linear -> [BatchNorm1d | LayerNorm] -> ReLU blocks, then a Linear to the logits."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers.append(nn.Linear(width, size))
        if norm == "batch":
            layers.append(nn.BatchNorm1d(size))
        elif norm == "layer":
            layers.append(nn.LayerNorm(size))
        layers.append(nn.ReLU())
        width = size
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def evaluate(model: nn.Module, X: mg.Tensor, y: mg.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    with mg.no_grad():
        logits = model(X)
        loss = cross_entropy(logits, y).item()
        accuracy = (logits.argmax(axis=1) == y).float().mean().item()
    model.train(was_training)
    return loss, accuracy


def train(model: nn.Module, optimizer: Any, data: dict[str, tuple[mg.Tensor, mg.Tensor]],
          epochs: int, batch_size: int = 64, seed: int = 0, scheduler: Any = None,
          per_step_scheduler: bool = False,
          before_step: Callable[[], None] | None = None) -> dict[str, list[float]]:
    """Minibatch training; returns per-epoch ``train_loss`` (mean over the epoch's batches),
    ``val_loss``, ``val_accuracy``, ``test_accuracy`` and the ``lr`` at each epoch's start.
    A non-finite loss stops the run (the remaining epochs are NaN)."""
    X, y = data["train"]
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True, seed=seed)
    curves: dict[str, list[float]] = {k: [] for k in ("train_loss", "val_loss", "val_accuracy",
                                                       "test_accuracy", "lr")}
    diverged = False
    for _ in range(epochs):
        curves["lr"].append(optimizer.param_groups[0]["lr"])
        if diverged:
            for key in ("train_loss", "val_loss", "val_accuracy", "test_accuracy"):
                curves[key].append(float("nan"))
            continue
        model.train()
        total, batches = 0.0, 0
        for xb, yb in loader:
            loss = cross_entropy(model(xb), yb)
            value = loss.item()
            if not np.isfinite(value):
                diverged = True
                break
            optimizer.zero_grad()
            loss.backward()
            if before_step is not None:
                before_step()
            optimizer.step()
            if scheduler is not None and per_step_scheduler:
                scheduler.step()
            total, batches = total + value, batches + 1
        if scheduler is not None and not per_step_scheduler:
            scheduler.step()
        curves["train_loss"].append(total / max(batches, 1) if not diverged else float("nan"))
        val_loss, val_accuracy = evaluate(model, *data["val"])
        curves["val_loss"].append(val_loss)
        curves["val_accuracy"].append(val_accuracy)
        curves["test_accuracy"].append(evaluate(model, *data["test"])[1])
    return curves
