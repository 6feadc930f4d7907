"""``Future``: a value that becomes available later (the subset of ``torch.futures.Future``
that communication hooks use), and ``Work``: the handle an ``async_op=True`` collective
returns.

MPI completes a nonblocking collective only inside MPI calls, so a Future made from a
``Work`` is completed by waiting on (or polling) its MPI request: ``wait()`` blocks on it,
``done()`` tests it. A future made by ``then(callback)`` completes when its parent does,
with the callback's return value.
"""
from __future__ import annotations

from typing import Any, Callable


class Future:
    """A result that is set once, by ``set_result`` (or by the operation it stands for).

    ``wait()`` blocks until it is set and returns it (re-raising an exception the operation
    or a callback raised); ``value()`` returns it once set; ``done()`` says whether it is;
    ``then(callback)`` returns a new Future holding ``callback(self)`` once this one is
    done (if the callback returns a Future, the new one holds that future's value).
    """

    def __init__(self, *, _wait: Callable[[], Any] | None = None,
                 _poll: Callable[[], Any] | None = None) -> None:
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Future], None]] = []
        self._wait, self._poll = _wait, _poll  # what drives completion (a Work's request)

    def done(self) -> bool:
        if not self._done and self._poll is not None:
            self._poll()
        return self._done

    def wait(self) -> Any:
        if not self._done and self._wait is not None:
            self._wait()
        if not self._done:
            raise RuntimeError("Future.wait(): nothing will complete this future (it was not "
                               "made by a collective and set_result was never called)")
        if self._error is not None:
            raise self._error
        return self._value

    def value(self) -> Any:
        if not self._done:
            raise RuntimeError("Future.value() before the future is done: call wait() first, "
                               "or read it inside a callback passed to then()")
        if self._error is not None:
            raise self._error
        return self._value

    def set_result(self, result: Any) -> None:
        if self._done:
            raise RuntimeError("Future.set_result: the future already holds a result")
        self._value, self._done = result, True
        self._wait = self._poll = None  # no cycle left to keep the result alive
        self._run_callbacks()

    def set_exception(self, error: BaseException) -> None:
        if self._done:
            raise RuntimeError("Future.set_exception: the future already holds a result")
        self._error, self._done = error, True
        self._wait = self._poll = None
        self._run_callbacks()

    def then(self, callback: Callable[["Future"], Any]) -> "Future":
        if not callable(callback):
            raise TypeError(f"Future.then: callback must be callable, got "
                            f"{type(callback).__name__}")
        child = Future(_wait=self.wait, _poll=self.done)

        def run(parent: Future) -> None:
            try:
                result = callback(parent)
                if isinstance(result, Future):
                    result = result.wait()
            except Exception as error:  # noqa: BLE001 - handed to whoever waits on child
                child.set_exception(error)
            else:
                child.set_result(result)

        self.add_done_callback(run)
        return child

    def add_done_callback(self, callback: Callable[["Future"], None]) -> None:
        if self._done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def _run_callbacks(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)

    def __repr__(self) -> str:
        return f"Future(done={self._done})"


class Work:
    """A collective started with ``async_op=True``: ``wait()`` blocks until it has finished
    (the tensors then hold the result), ``is_completed()`` tests without blocking,
    ``get_future()`` is a :class:`Future` whose value is the list of output tensors, as in
    PyTorch (``fut.value()[0]`` is the reduced tensor of ``all_reduce``)."""

    def __init__(self, request: Any, finish: Callable[[], None] | None, result: list[Any]) -> None:
        self._request, self._finish, self._result = request, finish, result
        self._future = Future(_wait=self.wait, _poll=self.is_completed)
        if request is None:
            self._complete()

    def _complete(self) -> None:
        self._request = None
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()
        self._future.set_result(self._result)

    def wait(self, timeout: Any = None) -> bool:
        if self._request is not None:
            self._request.Wait()
            self._complete()
        return True

    def is_completed(self) -> bool:
        if self._request is not None and self._request.Test():
            self._complete()
        return self._future._done

    def is_success(self) -> bool:
        return self.is_completed()

    def result(self) -> list[Any]:
        self.wait()
        return self._result

    def get_future(self) -> Future:
        return self._future

    def __repr__(self) -> str:
        return f"Work(completed={self._future._done})"
