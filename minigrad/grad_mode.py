"""Whether operations record the graph that backward walks.

Inside ``no_grad`` ops build no graph (inference, optimizer updates, the backward pass
itself unless ``create_graph=True``), so they cost what the array code costs. The switch
is process-wide, as minigrad runs one training loop per process.
"""
from __future__ import annotations

from contextlib import ContextDecorator

enabled = True


def is_grad_enabled() -> bool:
    return enabled


class set_grad_enabled(ContextDecorator):
    """Turn graph recording on or off, for a ``with`` block or a decorated function."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        global enabled
        self._previous.append(enabled)
        enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        global enabled
        enabled = self._previous.pop()


class no_grad(set_grad_enabled):
    """Record no graph inside the block: ``with mg.no_grad(): ...``."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record the graph inside the block, even within ``no_grad``."""

    def __init__(self) -> None:
        super().__init__(True)


class inference_mode(set_grad_enabled):
    """PyTorch's faster ``no_grad`` for inference; here the same as ``no_grad`` (or, with
    ``mode=False``, a block that leaves grad mode as it is)."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__(False)
        self.active = bool(mode)

    def __enter__(self) -> None:
        if self.active:
            super().__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.active:
            super().__exit__(*exc)
