"""The "Automatic Differentiation with torch.autograd" tutorial, ported by changing the import.

A one-layer network with parameters w and b, its computational graph (grad_fn), gradients by
loss.backward(), disabling tracking with no_grad() and detach(), and Jacobian-vector products
with gradient accumulation. A few gradient-descent steps at the end check that the gradients
the tutorial prints really lower its loss.
"""
import numpy as np

import minigrad as torch


def test_one_layer_network_gradients():
    torch.manual_seed(0)
    x = torch.ones(5)  # input tensor
    y = torch.zeros(3)  # expected output
    w = torch.randn(5, 3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    z = torch.matmul(x, w) + b
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)

    print(f"Gradient function for z = {z.grad_fn}")
    print(f"Gradient function for loss = {loss.grad_fn}")
    assert z.grad_fn is not None and loss.grad_fn is not None
    assert w.grad_fn is None and w.is_leaf and not z.is_leaf
    assert loss.shape == ()

    loss.backward()
    print(w.grad)
    print(b.grad)
    # d loss / d z = (sigmoid(z) - y) / 3 (mean over 3 outputs); w.grad is its outer product with x
    z_np = z.detach().numpy().astype(np.float64)
    dz = (1.0 / (1.0 + np.exp(-z_np)) - 0.0) / 3
    assert w.grad.shape == (5, 3) and b.grad.shape == (3,)
    np.testing.assert_allclose(b.grad.numpy(), dz, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(w.grad.numpy(), np.outer(np.ones(5), dz), rtol=1e-5, atol=1e-7)
    # the loss itself: BCE with logits against zeros is mean(log(1 + exp(z)))
    np.testing.assert_allclose(loss.item(), np.mean(np.log1p(np.exp(z_np))), rtol=1e-5)

    # Disabling gradient tracking
    z = torch.matmul(x, w) + b
    print(z.requires_grad)
    assert z.requires_grad is True
    with torch.no_grad():
        z = torch.matmul(x, w) + b
    print(z.requires_grad)
    assert z.requires_grad is False

    z = torch.matmul(x, w) + b
    z_det = z.detach()
    print(z_det.requires_grad)
    assert z_det.requires_grad is False

    # Train the layer a little with the gradients it computes: the loss must fall
    learning_rate = 0.5
    losses = []
    for _ in range(50):
        z = torch.matmul(x, w) + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
        losses.append(loss.item())
        w.grad = None
        b.grad = None
        loss.backward()
        with torch.no_grad():
            w -= learning_rate * w.grad
            b -= learning_rate * b.grad
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    assert losses[-1] < 0.1 * losses[0]


def test_jacobian_vector_products_accumulate():
    inp = torch.eye(4, 5, requires_grad=True)
    out = (inp + 1).pow(2).t()
    assert out.shape == (5, 4)
    out.backward(torch.ones_like(out), retain_graph=True)
    print(f"First call\n{inp.grad}")
    first = inp.grad.clone()
    expected = 2 * (np.eye(4, 5) + 1)
    np.testing.assert_allclose(first.numpy(), expected)

    out.backward(torch.ones_like(out), retain_graph=True)
    print(f"\nSecond call\n{inp.grad}")
    np.testing.assert_allclose(inp.grad.numpy(), 2 * expected)  # gradients accumulate

    inp.grad.zero_()
    out.backward(torch.ones_like(out), retain_graph=True)
    print(f"\nCall after zeroing gradients\n{inp.grad}")
    np.testing.assert_allclose(inp.grad.numpy(), expected)
    np.testing.assert_allclose(first.numpy(), expected)  # the clone kept its own values
