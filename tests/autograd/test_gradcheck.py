"""gradcheck must catch wrong gradients and explain where they are wrong."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import GradcheckError, gradcheck, gradgradcheck
from minigrad.tensor import record


def wrong_square(x):
    """x², with a backward that is off by a factor of 1.5."""
    return record(x.array ** 2, x.device, (x,), lambda g, out: (g * 3.0 * x,))


def wrong_second_derivative(x):
    """x³ whose first derivative is right in value but built from a constant (so d²=0)."""
    return record(x.array ** 3, x.device, (x,), lambda g, out: (g * mg.tensor(3 * x.array ** 2),))


def test_a_correct_gradient_passes():
    x = mg.tensor([[0.5, -1.0], [2.0, 1.5]], dtype=mg.float64, requires_grad=True)
    assert gradcheck(lambda t: (t * t).sum(axis=0), (x,))


def test_a_wrong_gradient_fails_and_reports_the_worst_element():
    x = mg.tensor([0.5, -1.0, 2.0], dtype=mg.float64, requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(wrong_square, (x,))
    message = str(info.value)
    assert "input 0 (shape (3,))" in message
    assert "output 0 index (2,)" in message and "input index (2,)" in message
    assert "analytic 6" in message and "numeric 4" in message
    assert gradcheck(wrong_square, (x,), raise_exception=False) is False


def test_gradgradcheck_catches_a_wrong_second_derivative():
    x = mg.tensor([0.5, -1.0, 2.0], dtype=mg.float64, requires_grad=True)
    assert gradcheck(wrong_second_derivative, (x,))
    with pytest.raises(GradcheckError):
        gradgradcheck(wrong_second_derivative, (x,))


def test_float32_inputs_are_checked_in_float64():
    x = mg.tensor([0.3, 0.7], requires_grad=True)
    assert x.dtype == mg.float32
    assert gradcheck(lambda t: t.exp(), (x,))
    assert x.dtype == mg.float32 and x.grad is None  # the caller's tensor is untouched


def test_outputs_computed_in_float32_are_refused():
    x = mg.tensor([0.3], dtype=mg.float64, requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t.float(), (x,))


def test_tuple_outputs_and_non_tensor_arguments():
    a = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    b = mg.tensor([3.0], dtype=mg.float64)  # no grad: held constant
    assert gradcheck(lambda a, b, k: (a * b * k, a.exp()), (a, b, 2.0))


def test_nothing_to_check_is_an_error():
    with pytest.raises(ValueError, match="requires_grad"):
        gradcheck(lambda t: t * 2.0, (mg.ones(2),))


def test_a_non_contiguous_input_is_perturbed_for_real():
    x = mg.tensor(np.arange(6.0).reshape(2, 3).T * 0.3 + 0.1, requires_grad=True)
    assert not x.array.flags.c_contiguous
    assert gradcheck(lambda t: (t * t).sum(dim=0), (x,))
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: record(t.array * 2, t.device, (t,), lambda g, out: (g * 3.0,)), (x,))


def test_empty_inputs_and_outputs_are_checked_too():
    empty = mg.zeros(0, 3, dtype=mg.float64, requires_grad=True)
    x = mg.tensor([0.5, 1.5, -1.0], dtype=mg.float64, requires_grad=True)
    assert gradcheck(lambda e, t: (e.sum(dim=0) + t * t), (empty, x))
    assert gradgradcheck(lambda e: e * e, (empty,))
