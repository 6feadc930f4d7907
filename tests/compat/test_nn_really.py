"""The "What is torch.nn really?" tutorial, ported by changing the imports only.

Logistic regression trained from scratch (hand-written log_softmax and negative log-likelihood,
manual SGD under no_grad), then refactored step by step: F.cross_entropy, nn.Module with
nn.Parameter, nn.Linear, optim.SGD, TensorDataset, DataLoader, validation with
shuffle=True, and the tutorial's fit/get_data/loss_batch. The bundled digits (64 features,
10 classes) stand in for MNIST (784 features); the tutorial's lr = 0.5 and bs = 64 are kept.
"""
import math

import numpy as np
import pytest

import minigrad as torch
from minigrad import nn, optim
import minigrad.nn.functional as F
from minigrad.utils.data import DataLoader, TensorDataset

from tests.compat.digits import digits_numpy

bs = 64  # batch size
lr = 0.5  # learning rate
epochs = 8  # how many epochs to train for (the tutorial: 2 over 50,000 MNIST images)


@pytest.fixture
def data():
    torch.manual_seed(0)
    x_train, y_train = digits_numpy("train")
    x_valid, y_valid = digits_numpy("val")
    x_train, y_train, x_valid, y_valid = map(
        torch.tensor, (x_train, y_train, x_valid, y_valid)
    )
    return x_train, y_train, x_valid, y_valid


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


def test_neural_net_from_scratch(data):
    x_train, y_train, x_valid, y_valid = data
    n, c = x_train.shape
    print(x_train, y_train)
    print(x_train.shape)
    print(y_train.min(), y_train.max())
    assert (n, c) == (1078, 64)
    assert y_train.min().item() == 0 and y_train.max().item() == 9

    weights = torch.randn(64, 10) / math.sqrt(64)
    weights.requires_grad_()
    bias = torch.zeros(10, requires_grad=True)
    assert weights.is_leaf and weights.requires_grad

    def log_softmax(x):
        return x - x.exp().sum(-1).log().unsqueeze(-1)

    def model(xb):
        return log_softmax(xb @ weights + bias)

    xb = x_train[0:bs]  # a mini-batch from x
    preds = model(xb)  # predictions
    print(preds[0], preds.shape)
    assert preds.shape == (bs, 10)
    assert preds.grad_fn is not None

    def nll(input, target):
        return -input[range(target.shape[0]), target].mean()

    loss_func = nll

    yb = y_train[0:bs]
    initial_loss = loss_func(preds, yb).item()
    initial_accuracy = accuracy(preds, yb).item()
    print(initial_loss, initial_accuracy)
    # the hand-written loss agrees with F.cross_entropy on the raw scores
    assert abs(initial_loss - F.cross_entropy(xb @ weights + bias, yb).item()) < 1e-5

    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            with torch.no_grad():
                weights -= weights.grad * lr
                bias -= bias.grad * lr
                weights.grad.zero_()
                bias.grad.zero_()

    final_loss = loss_func(model(xb), yb).item()
    final_accuracy = accuracy(model(xb), yb).item()
    print(final_loss, final_accuracy)
    assert weights.is_leaf and weights.requires_grad
    assert final_loss < 0.3 * initial_loss
    assert final_accuracy > 0.85
    assert accuracy(model(x_valid), y_valid).item() > 0.85

    # Using torch.nn.functional: F.cross_entropy fuses log_softmax and nll
    loss_func = F.cross_entropy

    def model(xb):
        return xb @ weights + bias

    assert abs(loss_func(model(xb), yb).item() - final_loss) < 1e-5
    assert abs(accuracy(model(xb), yb).item() - final_accuracy) < 1e-6


class Mnist_Logistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(64, 10) / math.sqrt(64))
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, xb):
        return xb @ self.weights + self.bias


class Mnist_Logistic_Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 10)

    def forward(self, xb):
        return self.lin(xb)


@pytest.mark.parametrize("Model", [Mnist_Logistic, Mnist_Logistic_Linear])
def test_refactor_using_nn_module(data, Model):
    x_train, y_train, x_valid, y_valid = data
    n, c = x_train.shape
    loss_func = F.cross_entropy
    model = Model()
    assert len(list(model.parameters())) == 2

    xb, yb = x_train[0:bs], y_train[0:bs]
    initial_loss = loss_func(model(xb), yb).item()

    def fit():
        for epoch in range(epochs):
            for i in range((n - 1) // bs + 1):
                start_i = i * bs
                end_i = start_i + bs
                xb = x_train[start_i:end_i]
                yb = y_train[start_i:end_i]
                pred = model(xb)
                loss = loss_func(pred, yb)

                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p -= p.grad * lr
                    model.zero_grad()
        return xb, yb

    xb, yb = fit()
    final_loss = loss_func(model(xb), yb).item()
    print(initial_loss, final_loss)
    assert final_loss < 0.3 * initial_loss
    assert accuracy(model(x_valid), y_valid).item() > 0.85


def get_model():
    model = Mnist_Logistic_Linear()
    return model, optim.SGD(model.parameters(), lr=lr)


def test_refactor_using_optim_and_dataset(data):
    x_train, y_train, x_valid, y_valid = data
    n, c = x_train.shape
    loss_func = F.cross_entropy

    model, opt = get_model()
    xb, yb = x_train[0:bs], y_train[0:bs]
    initial_loss = loss_func(model(xb), yb).item()
    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            opt.step()
            opt.zero_grad()
    optim_loss = loss_func(model(xb), yb).item()
    print(initial_loss, optim_loss)
    assert optim_loss < 0.3 * initial_loss

    # Refactor using Dataset: x and y slices come together
    train_ds = TensorDataset(x_train, y_train)
    assert len(train_ds) == n
    model, opt = get_model()
    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            xb, yb = train_ds[i * bs: i * bs + bs]
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            opt.step()
            opt.zero_grad()
    dataset_loss = loss_func(model(xb), yb).item()
    print(dataset_loss)
    assert xb.shape == (n - (n - 1) // bs * bs, 64)
    assert dataset_loss < 0.3 * initial_loss
    assert accuracy(model(x_valid), y_valid).item() > 0.85


def test_refactor_using_dataloader_with_validation(data):
    x_train, y_train, x_valid, y_valid = data
    loss_func = F.cross_entropy

    train_ds = TensorDataset(x_train, y_train)
    train_dl = DataLoader(train_ds, batch_size=bs)
    model, opt = get_model()
    first = None
    for epoch in range(epochs):
        for xb, yb in train_dl:
            pred = model(xb)
            loss = loss_func(pred, yb)
            if first is None:
                first = loss.item()

            loss.backward()
            opt.step()
            opt.zero_grad()
    print(first, loss_func(model(xb), yb))
    assert loss_func(model(xb), yb).item() < 0.3 * first

    # Add validation: shuffle the training data, not the validation data
    train_dl = DataLoader(train_ds, batch_size=bs, shuffle=True)
    valid_ds = TensorDataset(x_valid, y_valid)
    valid_dl = DataLoader(valid_ds, batch_size=bs * 2)

    model, opt = get_model()
    with torch.no_grad():
        start_valid_loss = sum(loss_func(model(xb), yb) for xb, yb in valid_dl) / len(valid_dl)
    valid_losses = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            opt.step()
            opt.zero_grad()

        model.eval()
        with torch.no_grad():
            valid_loss = sum(loss_func(model(xb), yb) for xb, yb in valid_dl)

        print(epoch, valid_loss / len(valid_dl))
        valid_losses.append((valid_loss / len(valid_dl)).item())
    assert len(valid_dl) == 3
    assert valid_losses[-1] < 0.3 * start_valid_loss.item()


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)

    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()

    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    val_losses = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss_batch(model, loss_func, xb, yb, opt)

        model.eval()
        with torch.no_grad():
            losses, nums = zip(
                *[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl]
            )
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)

        print(epoch, val_loss)
        val_losses.append(val_loss)
    return val_losses


def get_data(train_ds, valid_ds, bs):
    return (
        DataLoader(train_ds, batch_size=bs, shuffle=True),
        DataLoader(valid_ds, batch_size=bs * 2),
    )


def test_fit_and_get_data(data):
    x_train, y_train, x_valid, y_valid = data
    train_ds = TensorDataset(x_train, y_train)
    valid_ds = TensorDataset(x_valid, y_valid)
    loss_func = F.cross_entropy

    train_dl, valid_dl = get_data(train_ds, valid_ds, bs)
    model, opt = get_model()
    with torch.no_grad():
        start = loss_func(model(x_valid), y_valid).item()
    val_losses = fit(epochs, model, loss_func, opt, train_dl, valid_dl)
    assert val_losses[-1] < 0.3 * start

    # nn.Sequential with a momentum SGD, as the tutorial's last models
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with torch.no_grad():
        start = loss_func(model(x_valid), y_valid).item()
    val_losses = fit(epochs, model, loss_func, opt, train_dl, valid_dl)
    assert val_losses[-1] < 0.3 * start
    assert accuracy(model(x_valid), y_valid).item() > 0.9
