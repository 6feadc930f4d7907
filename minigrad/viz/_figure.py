"""The one place minigrad.viz reaches matplotlib: a new Figure, and writing it to a file."""
from __future__ import annotations

import os
from typing import Any


def new_figure(width: float, height: float, layout: Any = "constrained") -> Any:
    """A matplotlib Figure of ``width`` x ``height`` inches, laid out by matplotlib's
    constrained layout (``layout=None`` for many panels, where it is slow), made without
    pyplot (no global figure list, no display needed)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('minigrad.viz needs matplotlib: pip install "minigrad[viz]" '
                          "(or pip install matplotlib)") from None
    return Figure(figsize=(width, height), layout=layout)


def save(figure: Any, path: str | os.PathLike | None, dpi: int = 100) -> None:
    """Write ``figure`` to ``path`` (format from the extension, PNG when it has none)."""
    if path is None:
        return
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    figure.savefig(path, dpi=dpi, format=None if os.path.splitext(path)[1] else "png")
