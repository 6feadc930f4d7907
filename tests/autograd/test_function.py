"""mg.autograd.Function: custom ops with their own backward, checked like built-in ones."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function, gradcheck, gradgradcheck


class Cube(Function):
    """x^3 with a backward written with tensor ops, so it can be differentiated again."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 3 * x * x


class Exp(Function):
    """Saves its output, as PyTorch's example does."""

    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * y


class ScaledMul(Function):
    """Two tensors and a number in; skips gradients nobody needs."""

    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        return a * b * scale

    @staticmethod
    def backward(ctx, grad_output):
        a, b = ctx.saved_tensors
        grad_a = grad_output * b * ctx.scale if ctx.needs_input_grad[0] else None
        grad_b = grad_output * a * ctx.scale if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


class SumAndMax(Function):
    """Two outputs, one of them integer (non-differentiable)."""

    @staticmethod
    def forward(ctx, x):
        index = x.argmax()
        ctx.mark_non_differentiable(index)
        ctx.save_for_backward(x, index)
        return x.sum() * 2, x.max(), index

    @staticmethod
    def backward(ctx, grad_sum, grad_max, grad_index):
        x, index = ctx.saved_tensors
        grad = grad_sum * 2 * mg.ones_like(x)
        hit = mg.zeros_like(x)
        hit[int(index)] = 1.0
        return grad + grad_max * hit


class NewStyle(Function):
    """forward without ctx plus setup_context, PyTorch 2's split."""

    @staticmethod
    def forward(x, power):
        return x ** power

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, power = inputs
        ctx.save_for_backward(x)
        ctx.power = power

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.power * x ** (ctx.power - 1), None


def _x(values):
    return mg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_gradcheck_and_gradgradcheck_of_custom_functions():
    x, y = _x([0.3, -1.2, 2.0]), _x([1.5, 0.4, -0.7])
    assert gradcheck(Cube.apply, (x,))
    assert gradgradcheck(Cube.apply, (x,))
    assert gradcheck(Exp.apply, (x,))
    assert gradgradcheck(Exp.apply, (x,))
    assert gradcheck(lambda a, b: ScaledMul.apply(a, b, 2.5), (x, y))
    assert gradgradcheck(lambda a, b: ScaledMul.apply(a, b, 2.5), (x, y))
    assert gradcheck(lambda a: NewStyle.apply(a, 3), (x,))


def test_several_outputs_and_a_non_differentiable_one():
    x = _x([0.5, 3.0, -1.0])
    total, largest, index = SumAndMax.apply(x)
    assert not index.requires_grad and index.item() == 1
    assert total.grad_fn.name() == "SumAndMaxBackward"
    (total + largest * 10).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 12.0, 2.0])
    x2 = _x([0.5, 3.0, -1.0])
    assert gradcheck(lambda a: SumAndMax.apply(a)[:2], (x2,))


def test_unused_output_gets_zeros():
    x = _x([0.5, 3.0, -1.0])
    _, largest, _ = SumAndMax.apply(x)
    largest.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1.0, 0.0])


def test_needs_input_grad_and_grad_fn():
    a, b = _x([1.0, 2.0]), mg.tensor([3.0, 4.0], dtype=mg.float64)
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen["needs"] = ctx.needs_input_grad
            seen["recording"] = mg.is_grad_enabled()
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g, None, None
    out = Probe.apply(a, b, 3)
    assert seen == {"needs": (True, False, False), "recording": False}
    assert out.requires_grad and out.grad_fn.name() == "ProbeBackward"
    assert out.grad_fn.next_functions[0][0].variable is a
    assert out.grad_fn.next_functions[1][0] is None
    with mg.no_grad():
        assert not Probe.apply(a, b, 3).requires_grad


def test_saved_tensor_changed_in_place_is_refused():
    x = _x([1.0, 2.0])
    base = x * 1
    y = Cube.apply(base)
    with mg.no_grad():
        base.add_(1.0)
    with pytest.raises(RuntimeError, match="saved by Cube.forward .* modified by an in-place"):
        y.sum().backward()


def test_wrong_backward_results_are_named():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    class BadShape(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return mg.ones(5, dtype=mg.float64)
    with pytest.raises(RuntimeError, match=r"TooFew.backward returned 1 gradients, expected 2"):
        TooFew.apply(_x([1.0]), _x([2.0])).sum().backward()
    with pytest.raises(ValueError, match=r"BadShape.backward returned a gradient of shape \(5,\)"):
        BadShape.apply(_x([1.0, 2.0])).sum().backward()
    with pytest.raises(TypeError, match="save_for_backward takes tensors"):
        class SavesNumber(Function):
            @staticmethod
            def forward(ctx, a):
                ctx.save_for_backward(3)
                return a
        SavesNumber.apply(_x([1.0]))


def test_returning_an_input_gives_a_new_tensor_of_the_graph():
    class Identity(Function):
        @staticmethod
        def forward(ctx, a):
            return a

        @staticmethod
        def backward(ctx, g):
            return g * 2
    x = _x([1.0, 2.0])
    y = Identity.apply(x)
    assert y is not x and x.is_leaf
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
