"""Idioms from PyTorch programs that fail silently, not loudly, when a framework gets them wrong.

Each runs without an error on a framework that gets it wrong and just stops learning (or
counts wrongly): in-place updates of parameters under no_grad, updates through ``.data``, and
``.grad.zero_()`` and ``zero_grad()`` resetting accumulated gradients, and ``torch.max`` over a
dimension returning (values, indices). Each test checks the update really
happened and that a short training run with it really learns.
"""
import minigrad as torch
from minigrad import nn
import minigrad.nn.functional as F


def regression_problem():
    torch.manual_seed(0)
    X = torch.randn(64, 5)
    true_w = torch.tensor([[1.0], [-2.0], [0.5], [3.0], [-1.0]])
    y = X @ true_w + 0.3
    return X, y


def train(model, X, y, update, steps=100, lr=0.05):
    loss_fn = nn.MSELoss()
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(X), y)
        losses.append(loss.item())
        model.zero_grad()
        loss.backward()
        update(model, lr)
    return losses


def test_in_place_subtraction_under_no_grad_changes_the_parameter():
    torch.manual_seed(0)
    p = torch.randn(3, requires_grad=True)
    before = p.detach().clone()
    (p * p).sum().backward()
    with torch.no_grad():
        p -= 0.1 * p.grad
    assert not torch.allclose(p.detach(), before)
    assert torch.allclose(p.detach(), before * 0.8)  # p - 0.1 * 2p
    assert p.is_leaf and p.requires_grad and p.grad_fn is None

    def update(model, lr):
        with torch.no_grad():
            for param in model.parameters():
                param -= lr * param.grad

    X, y = regression_problem()
    model = nn.Linear(5, 1)
    ids = [id(q) for q in model.parameters()]
    losses = train(model, X, y, update)
    assert [id(q) for q in model.parameters()] == ids  # updated in place, not rebound
    assert losses[-1] < 0.01 * losses[0]


def test_update_through_data_changes_the_parameter_and_keeps_training():
    torch.manual_seed(0)
    p = torch.randn(3, requires_grad=True)
    before = p.detach().clone()
    (p * p).sum().backward()
    p.data -= 0.1 * p.grad
    assert torch.allclose(p.detach(), before * 0.8)
    assert p.requires_grad and p.is_leaf

    # the gradient of the next step sees the updated value
    p.grad = None
    (p * p).sum().backward()
    assert torch.allclose(p.grad, 2 * before * 0.8)

    def update(model, lr):
        for param in model.parameters():
            param.data -= lr * param.grad

    X, y = regression_problem()
    model = nn.Linear(5, 1)
    losses = train(model, X, y, update)
    assert losses[-1] < 0.01 * losses[0]


def test_data_add_with_alpha_updates_the_parameters():
    torch.manual_seed(0)
    p = torch.randn(3, requires_grad=True)
    before = p.detach().clone()
    (p * p).sum().backward()
    p.data.add_(p.grad, alpha=-0.1)
    assert torch.allclose(p.detach(), before * 0.8)

    def update(model, lr):
        for param in model.parameters():
            param.data.add_(param.grad, alpha=-lr)

    X, y = regression_problem()
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
    losses = train(model, X, y, update, steps=300)
    assert losses[-1] < 0.05 * losses[0]


def test_gradients_accumulate_in_place_and_zero_resets_them():
    torch.manual_seed(0)
    w = torch.randn(4, requires_grad=True)
    (3 * w).sum().backward()
    g = w.grad
    (3 * w).sum().backward()
    assert w.grad is g  # accumulated into the same tensor (a held reference sees the sum)
    assert w.grad.tolist() == [6.0] * 4
    w.grad.zero_()
    assert w.grad is g and g.tolist() == [0.0] * 4
    (3 * w).sum().backward()
    assert w.grad.tolist() == [3.0] * 4

    # model.zero_grad() between steps: without it the gradients would pile up
    X, y = regression_problem()
    model = nn.Linear(5, 1)
    loss_fn = nn.MSELoss()
    loss_fn(model(X), y).backward()
    first = model.weight.grad.clone()
    model.zero_grad()
    loss_fn(model(X), y).backward()
    assert torch.allclose(model.weight.grad, first)


def test_max_over_a_dimension_gives_values_and_indices():
    outputs = torch.tensor([[0.1, 2.0, -1.0],
                            [3.0, 0.0, 1.0],
                            [-1.0, -2.0, -0.5],
                            [0.0, 0.0, 5.0]])
    _, predicted = torch.max(outputs, 1)
    assert predicted.dtype == torch.int64
    assert predicted.tolist() == [1, 0, 2, 2]
    values, indices = torch.max(outputs, 1)
    assert values.tolist() == [2.0, 3.0, -0.5, 5.0]
    assert torch.equal(indices, outputs.argmax(1))
    result = outputs.max(dim=1)
    assert torch.equal(result.values, values) and torch.equal(result.indices, indices)
    assert torch.max(outputs).item() == 5.0  # no dim: the single largest value
    _, predicted_from_data = torch.max(outputs.data, 1)  # the CIFAR-10 tutorial's spelling
    assert predicted_from_data.tolist() == [1, 0, 2, 2]

    # the CIFAR-10 tutorial's accuracy count
    labels = torch.tensor([1, 0, 0, 2])
    total, correct = 0, 0
    total += labels.size(0)
    correct += (predicted == labels).sum().item()
    assert (total, correct) == (4, 3)

    # and in a training run: accuracy counted this way rises as the loss falls
    torch.manual_seed(0)
    X = torch.randn(200, 2)
    labels = (X[:, 0] + X[:, 1] > 0).long()
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(50):
        outputs = model(X)
        loss = F.cross_entropy(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        _, predicted = torch.max(model(X), 1)
    correct = (predicted == labels).sum().item()
    assert correct / labels.size(0) > 0.95
