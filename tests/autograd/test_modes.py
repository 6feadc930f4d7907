"""Grad mode and anomaly detection: per thread, as in PyTorch, and exact in what they report."""
import threading

import numpy as np
import pytest

import minigrad as mg


def test_no_grad_in_another_thread_leaves_this_thread_recording():
    inside, release = threading.Event(), threading.Event()

    def evaluator():
        with mg.no_grad():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=evaluator)
    thread.start()
    inside.wait(5)
    w = mg.ones(2, requires_grad=True)
    failures = 0
    for _ in range(200):
        if not (w * 2).requires_grad:
            failures += 1
    release.set()
    thread.join()
    assert failures == 0 and mg.is_grad_enabled()


def test_threads_leaving_no_grad_out_of_order_leave_every_thread_as_it_was():
    entered = threading.Barrier(2)
    first_out = threading.Event()
    modes = {}

    def worker(name, wait_for):
        with mg.no_grad():
            entered.wait(5)
            if wait_for is not None:
                wait_for.wait(5)
        if wait_for is None:
            first_out.set()
        modes[name] = mg.is_grad_enabled()

    threads = [threading.Thread(target=worker, args=("a", first_out)),
               threading.Thread(target=worker, args=("b", None))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert modes == {"a": True, "b": True} and mg.is_grad_enabled()


def test_a_new_thread_starts_recording_even_from_inside_no_grad():
    seen = []
    with mg.no_grad():
        t = threading.Thread(target=lambda: seen.append(mg.is_grad_enabled()))
        t.start()
        t.join()
        assert not mg.is_grad_enabled()
    assert seen == [True]


def test_set_grad_enabled_as_call_block_and_decorator():
    mg.set_grad_enabled(False)
    assert not mg.is_grad_enabled()
    mg.set_grad_enabled(True)
    with mg.set_grad_enabled(False):
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()

    @mg.set_grad_enabled(False)
    def evaluate():
        return mg.is_grad_enabled()
    assert mg.is_grad_enabled() and evaluate() is False and mg.is_grad_enabled()

    @mg.no_grad()
    def recursive(n):
        return mg.is_grad_enabled() if n == 0 else recursive(n - 1)
    assert recursive(3) is False and mg.is_grad_enabled()
    with mg.no_grad():
        with mg.enable_grad():
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()


# --- anomaly detection ---------------------------------------------------------------------

def test_anomaly_mode_names_the_forward_op_and_the_user_line():
    x = mg.tensor([1.0, -1.0], requires_grad=True)
    with mg.autograd.detect_anomaly():
        assert mg.autograd.is_anomaly_enabled()
        with pytest.raises(FloatingPointError) as info:
            x.log()  # the line to be named
    message = str(info.value)
    assert "the op Log produced NaN" in message and "test_modes.py" in message
    assert "x.log()  # the line to be named" in message
    assert not mg.autograd.is_anomaly_enabled()


def test_anomaly_mode_names_the_backward_that_made_nan():
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    with mg.autograd.detect_anomaly():
        y = x.sqrt()  # finite forward, infinite gradient at 0
        with pytest.raises(FloatingPointError, match=r"SqrtBackward0 returned NaN or inf .* "
                                                     r"y = x.sqrt\(\)"):
            (y * 0).sum().backward()


def test_anomaly_mode_off_costs_nothing_and_changes_nothing():
    x = mg.tensor([1.0, -1.0], requires_grad=True)
    assert np.isnan(x.log().numpy()[1])  # off: NaN flows, as in PyTorch
    mg.autograd.set_detect_anomaly(True)
    try:
        with pytest.raises(FloatingPointError):
            x.log()
        with mg.no_grad():
            assert np.isnan(x.log().numpy()[1])  # only recorded ops are watched
    finally:
        mg.autograd.set_detect_anomaly(False)
    assert mg.is_grad_enabled() and not mg.autograd.is_anomaly_enabled()
    assert mg.tensor(1.0, requires_grad=True).exp().requires_grad
