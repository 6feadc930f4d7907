"""Whether operations record the graph that backward walks, and whether anomaly detection
watches them.

Inside ``no_grad`` ops build no graph (inference, optimizer updates, the backward pass
itself unless ``create_graph=True``), so they cost what the array code costs. Both modes
belong to the thread that sets them, as in PyTorch: an evaluation thread under ``no_grad``
does not switch recording off in the training thread, and every new thread starts with
recording on and anomaly detection off.

:data:`enabled` is what the ops read, once per op: False, True, or :data:`ANOMALY` (a true
value meaning "recording, and checking each recorded op for NaN/inf"), so anomaly detection
costs nothing while it is off.
"""
from __future__ import annotations

from contextlib import ContextDecorator
from contextvars import ContextVar
from typing import Any, Union


class _Anomaly(int):
    """True as a flag; its identity says that anomaly detection is on."""

    def __repr__(self) -> str:
        return "ANOMALY"


ANOMALY = _Anomaly(1)
Mode = Union[bool, _Anomaly]


# Context variables are per thread (a new thread starts from the defaults) and cost half
# what a threading.local attribute does to read, which every recorded op does once.
enabled: ContextVar[Mode] = ContextVar("minigrad_grad_mode", default=True)
"""Grad mode as the ops read it: False, True, or :data:`ANOMALY`."""
anomaly: ContextVar[bool] = ContextVar("minigrad_anomaly_mode", default=False)


def mode_for(grad: bool) -> Mode:
    """What :data:`enabled` holds for grad mode ``grad`` under this thread's anomaly mode."""
    return (ANOMALY if anomaly.get() else True) if grad else False


def _set(grad: bool | None = None, anomaly_on: bool | None = None) -> None:
    if anomaly_on is not None:
        anomaly.set(bool(anomaly_on))
    enabled.set(mode_for(bool(enabled.get()) if grad is None else bool(grad)))


def is_grad_enabled() -> bool:
    return bool(enabled.get())


def is_anomaly_enabled() -> bool:
    return anomaly.get()


class _Block(ContextDecorator):
    """A ``with`` block (or decorator) that sets grad mode and restores it afterwards."""

    mode = True

    def __init__(self) -> None:
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(bool(enabled.get()))
        _set(grad=self.mode)

    def __exit__(self, *exc: object) -> None:
        _set(grad=self._previous.pop())


class no_grad(_Block):
    """Record no graph inside the block: ``with mg.no_grad(): ...``."""

    mode = False


class enable_grad(_Block):
    """Record the graph inside the block, even within ``no_grad``."""

    mode = True


class inference_mode(_Block):
    """PyTorch's faster ``no_grad`` for inference; here the same as ``no_grad`` (with
    ``mode=False``, a block that leaves grad mode as it is)."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__()
        self.active = bool(mode)

    def __enter__(self) -> None:
        self._previous.append(bool(enabled.get()))
        if self.active:
            _set(grad=False)


class set_grad_enabled(_Block):
    """Turn graph recording on or off: called alone it sets this thread's mode (as in
    PyTorch); as a ``with`` block or a decorator it restores the previous mode afterwards."""

    def __init__(self, mode: bool) -> None:
        super().__init__()
        self.mode = bool(mode)
        self._before: bool | None = bool(enabled.get())  # what a `with` block restores
        _set(grad=self.mode)

    def __enter__(self) -> None:
        self._previous.append(bool(enabled.get()) if self._before is None else self._before)
        self._before = None
        _set(grad=self.mode)

    def __call__(self, fn: Any) -> Any:
        if self._before is not None:  # a decorator changes nothing until the call
            _set(grad=self._before)
            self._before = None
        return super().__call__(fn)


class detect_anomaly(ContextDecorator):
    """Inside the block, the first recorded op whose output holds NaN or inf raises, and so
    does the first backward rule that produces one, naming the op and where in your code it
    was called (``with mg.autograd.detect_anomaly(): loss.backward()``). It slows every op:
    use it to find a bug, not to train."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = bool(check_nan)

    def __enter__(self) -> None:
        self._previous = anomaly.get()
        _set(anomaly_on=self.check_nan)

    def __exit__(self, *exc: object) -> None:
        _set(anomaly_on=self._previous)


class set_detect_anomaly(ContextDecorator):
    """Turn anomaly detection on or off for this thread: as a call, or for a ``with`` block."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._previous = anomaly.get()
        _set(anomaly_on=bool(mode) and check_nan)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _set(anomaly_on=self._previous)
