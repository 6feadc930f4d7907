"""The "Learning PyTorch with Examples" series, ported by changing the import only.

A third-order polynomial fitted to y = sin(x) on [-pi, pi] by minimising the summed squared
error, written seven ways: tensors with hand-written gradients, autograd, a custom
autograd.Function (Legendre P3), nn with a manual update, optim (RMSprop), a custom nn.Module,
and a dynamic graph that reuses one weight a random number of times. The tutorials' 2,000 steps
are kept (the dynamic graph's 30,000 cut to 3,000); each test checks that the loss fell far
below its start.
"""
import math
import random

import minigrad as torch


def record(losses, t, loss_value):
    losses.append(loss_value)
    if t % 100 == 99:
        print(t, loss_value)


def test_polynomial_tensors_manual_gradients():
    torch.manual_seed(0)
    dtype = torch.float
    device = torch.device("cpu")

    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    a = torch.randn((), device=device, dtype=dtype)
    b = torch.randn((), device=device, dtype=dtype)
    c = torch.randn((), device=device, dtype=dtype)
    d = torch.randn((), device=device, dtype=dtype)

    learning_rate = 1e-6
    losses = []
    for t in range(2000):
        y_pred = a + (b * x) + (c * x.pow(2)) + (d * x.pow(3))

        loss = (y_pred - y).pow(2).sum().item()
        record(losses, t, loss)

        # Backprop to compute gradients of a, b, c, d with respect to loss
        grad_y_pred = -2.0 * (y - y_pred)
        grad_a = grad_y_pred.sum()
        grad_b = torch.matmul(input=grad_y_pred, other=x).sum()
        grad_c = torch.matmul(input=grad_y_pred, other=x.pow(2)).sum()
        grad_d = torch.matmul(input=grad_y_pred, other=x.pow(3)).sum()

        a -= learning_rate * grad_a
        b -= learning_rate * grad_b
        c -= learning_rate * grad_c
        d -= learning_rate * grad_d

    print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
    assert isinstance(losses[-1], float)
    print(f'loss {losses[0]:.1f} -> {losses[-1]:.3f}')
    assert losses[-1] < 0.05 * losses[0]


def test_polynomial_autograd():
    torch.manual_seed(0)
    dtype = torch.float
    device = "cpu"

    x = torch.linspace(-math.pi, math.pi, 2000, dtype=dtype, device=device)
    y = torch.sin(x)

    a = torch.randn((), dtype=dtype, requires_grad=True)
    b = torch.randn((), dtype=dtype, requires_grad=True)
    c = torch.randn((), dtype=dtype, requires_grad=True)
    d = torch.randn((), dtype=dtype, requires_grad=True)

    learning_rate = 1e-6
    losses = []
    for t in range(2000):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3

        loss = (y_pred - y).pow(2).sum()
        record(losses, t, loss.item())

        loss.backward()

        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad

            # Manually zero the gradients after updating weights
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None

    print(f'Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3')
    for p in (a, b, c, d):
        assert p.is_leaf and p.requires_grad and p.grad is None
    print(f'loss {losses[0]:.1f} -> {losses[-1]:.3f}')
    assert losses[-1] < 0.05 * losses[0]


class LegendrePolynomial3(torch.autograd.Function):
    """P3(x) = (5x^3 - 3x) / 2 with its derivative written by hand: 3/2 (5x^2 - 1)."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


def test_polynomial_custom_autograd_function():
    torch.manual_seed(0)
    dtype = torch.float
    device = torch.device("cpu")

    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)

    # y = a + b * P3(c + d * x); start not too far from the answer so that it converges
    a = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, device=device, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, device=device, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, device=device, dtype=dtype, requires_grad=True)

    learning_rate = 5e-6
    losses = []
    for t in range(2000):
        P3 = LegendrePolynomial3.apply

        y_pred = a + b * P3(c + d * x)

        loss = (y_pred - y).pow(2).sum()
        record(losses, t, loss.item())
        if t == 0:
            assert y_pred.grad_fn is not None

        loss.backward()

        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad

            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None

    print(f'Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)')
    print(f'loss {losses[0]:.1f} -> {losses[-1]:.3f}')
    assert losses[-1] < 0.1 * losses[0]


def test_legendre_function_gradient_is_the_hand_written_one():
    torch.manual_seed(0)
    x = torch.randn(7, requires_grad=True)
    LegendrePolynomial3.apply(x).sum().backward()
    expected = 1.5 * (5 * x.detach() ** 2 - 1)
    assert torch.allclose(x.grad, expected)


def test_polynomial_nn_manual_update():
    torch.manual_seed(0)
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    # y is a linear function of (x, x^2, x^3): a linear layer network
    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)
    assert xx.shape == (2000, 3)

    model = torch.nn.Sequential(
        torch.nn.Linear(3, 1),
        torch.nn.Flatten(0, 1)
    )
    loss_fn = torch.nn.MSELoss(reduction='sum')

    learning_rate = 1e-6
    losses = []
    for t in range(2000):
        y_pred = model(xx)
        if t == 0:
            assert y_pred.shape == (2000,)

        loss = loss_fn(y_pred, y)
        record(losses, t, loss.item())

        model.zero_grad()

        loss.backward()

        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad

    linear_layer = model[0]
    print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + '
          f'{linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
    assert isinstance(linear_layer, torch.nn.Linear)
    assert linear_layer.weight.shape == (1, 3) and linear_layer.bias.shape == (1,)
    print(f'loss {losses[0]:.1f} -> {losses[-1]:.3f}')
    assert losses[-1] < 0.1 * losses[0]


def test_polynomial_optim_rmsprop():
    torch.manual_seed(0)
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)

    model = torch.nn.Sequential(
        torch.nn.Linear(3, 1),
        torch.nn.Flatten(0, 1)
    )
    loss_fn = torch.nn.MSELoss(reduction='sum')

    learning_rate = 1e-3
    optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)
    losses = []
    for t in range(2000):
        y_pred = model(xx)

        loss = loss_fn(y_pred, y)
        record(losses, t, loss.item())

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    linear_layer = model[0]
    print(f'Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + '
          f'{linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3')
    print(f'loss {losses[0]:.1f} -> {losses[-1]:.3f}')
    assert losses[-1] < 0.05 * losses[0]


class Polynomial3(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    def string(self):
        return f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3'


def test_polynomial_custom_module():
    torch.manual_seed(0)
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    model = Polynomial3()
    assert len(list(model.parameters())) == 4
    assert [name for name, _ in model.named_parameters()] == ['a', 'b', 'c', 'd']

    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    losses = []
    for t in range(2000):
        y_pred = model(x)

        loss = criterion(y_pred, y)
        record(losses, t, loss.item())

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    print(f'Result: {model.string()}')
    assert model.string().startswith('y = ')
    print(f'loss {losses[0]:.1f} -> {losses[-1]:.3f}')
    assert losses[-1] < 0.05 * losses[0]


class DynamicNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.randn(()))
        self.b = torch.nn.Parameter(torch.randn(()))
        self.c = torch.nn.Parameter(torch.randn(()))
        self.d = torch.nn.Parameter(torch.randn(()))
        self.e = torch.nn.Parameter(torch.randn(()))

    def forward(self, x):
        # A random number of orders (4 or 5) on each pass, reusing the weight e for each
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp
        return y

    def string(self):
        return (f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + '
                f'{self.d.item()} x^3 + {self.e.item()} x^4 ? + {self.e.item()} x^5 ?')


def test_dynamic_net_weight_sharing():
    torch.manual_seed(0)
    random.seed(0)
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)

    model = DynamicNet()

    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
    losses = []
    for t in range(3000):
        y_pred = model(x)

        loss = criterion(y_pred, y)
        record(losses, t, loss.item())

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    print(f'Result: {model.string()}')
    # the loss jumps with the random order; compare the typical (median) loss of the first and
    # last hundred steps
    first, last = sorted(losses[:100])[50], sorted(losses[-100:])[50]
    print(f'loss {first:.1f} -> {last:.3f}')
    assert last < 0.05 * first
