"""The Quickstart and "Optimizing Model Parameters" tutorials, ported by changing the imports.

The tutorials' train and test loops, with the bundled 8x8 digits (wrapped in TensorDataset as
(N, 1, 8, 8) images, like torchvision's FashionMNIST tensors) in place of the FashionMNIST
download; saving and loading the model's state_dict. The learning rate is raised from 1e-3 to
1e-1, and the quickstart runs 20 epochs, so that plain SGD on 1,078 unshuffled images reaches
the accuracy the check asks for (real PyTorch: about 0.95 after 20 epochs, 0.88 after 8).
"""
import minigrad as torch
from minigrad import nn
from minigrad.utils.data import DataLoader, TensorDataset

from tests.compat.digits import digits_numpy


def digits_dataset(split):
    images, labels = digits_numpy(split, flatten=False)
    return TensorDataset(torch.tensor(images).unsqueeze(1), torch.tensor(labels))


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(8 * 8, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


classes = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def test_quickstart(tmp_path):
    torch.manual_seed(0)
    training_data = digits_dataset("train")
    test_data = digits_dataset("test")

    batch_size = 64

    train_dataloader = DataLoader(training_data, batch_size=batch_size)
    test_dataloader = DataLoader(test_data, batch_size=batch_size)

    for X, y in test_dataloader:
        print(f"Shape of X [N, C, H, W]: {X.shape}")
        print(f"Shape of y: {y.shape} {y.dtype}")
        assert X.shape == (64, 1, 8, 8)
        assert y.shape == (64,) and y.dtype == torch.int64
        break

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"Using {device} device")

    model = NeuralNetwork().to(device)
    print(model)

    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-1)

    train_losses = []

    def train(dataloader, model, loss_fn, optimizer):
        size = len(dataloader.dataset)
        model.train()
        for batch, (X, y) in enumerate(dataloader):
            X, y = X.to(device), y.to(device)

            # Compute prediction error
            pred = model(X)
            loss = loss_fn(pred, y)

            # Backpropagation
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

            train_losses.append(loss.item())
            if batch % 10 == 0:
                loss, current = loss.item(), (batch + 1) * len(X)
                print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")

    def test(dataloader, model, loss_fn):
        size = len(dataloader.dataset)
        num_batches = len(dataloader)
        model.eval()
        test_loss, correct = 0, 0
        with torch.no_grad():
            for X, y in dataloader:
                X, y = X.to(device), y.to(device)
                pred = model(X)
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).type(torch.float).sum().item()
        test_loss /= num_batches
        correct /= size
        print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
        return test_loss, correct

    initial_test_loss, initial_accuracy = test(test_dataloader, model, loss_fn)
    epochs = 20
    for t in range(epochs):
        print(f"Epoch {t+1}\n-------------------------------")
        train(train_dataloader, model, loss_fn, optimizer)
        test_loss, accuracy = test(test_dataloader, model, loss_fn)
    print("Done!")

    assert len(train_losses) == epochs * len(train_dataloader) == epochs * 17
    assert isinstance(test_loss, float) and isinstance(accuracy, float)
    assert test_loss < 0.5 * initial_test_loss
    assert sum(train_losses[-17:]) < 0.5 * sum(train_losses[:17])
    assert accuracy > 0.9

    # Saving and loading the model's state
    path = tmp_path / "model.pth"
    torch.save(model.state_dict(), path)
    print(f"Saved PyTorch Model State to {path}")

    model = NeuralNetwork().to(device)
    reloaded_loss, reloaded_accuracy = test(test_dataloader, model, loss_fn)
    assert reloaded_accuracy < 0.5  # a fresh, untrained model
    model.load_state_dict(torch.load(path))
    reloaded_loss, reloaded_accuracy = test(test_dataloader, model, loss_fn)
    assert reloaded_accuracy == accuracy
    assert abs(reloaded_loss - test_loss) < 1e-6

    model.eval()
    x, y = test_data[0][0], test_data[0][1]
    with torch.no_grad():
        x = x.to(device)
        pred = model(x)
        predicted, actual = classes[pred[0].argmax(0)], classes[y]
        print(f'Predicted: "{predicted}", Actual: "{actual}"')
    assert pred.shape == (1, 10)
    assert actual in classes and predicted in classes


def test_optimization_loop():
    torch.manual_seed(0)
    training_data = digits_dataset("train")
    test_data = digits_dataset("val")

    learning_rate = 1e-1
    batch_size = 64
    epochs = 10

    train_dataloader = DataLoader(training_data, batch_size=batch_size, shuffle=True)
    test_dataloader = DataLoader(test_data, batch_size=batch_size)

    model = NeuralNetwork()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)

    first_losses = []

    def train_loop(dataloader, model, loss_fn, optimizer):
        size = len(dataloader.dataset)
        # Set the model to training mode
        model.train()
        assert model.training
        for batch, (X, y) in enumerate(dataloader):
            # Compute prediction and loss
            pred = model(X)
            loss = loss_fn(pred, y)

            # Backpropagation
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

            if batch % 100 == 0:
                loss, current = loss.item(), batch * batch_size + len(X)
                print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")
                first_losses.append(loss)

    def test_loop(dataloader, model, loss_fn):
        # Set the model to evaluation mode
        model.eval()
        assert not model.training
        size = len(dataloader.dataset)
        num_batches = len(dataloader)
        test_loss, correct = 0, 0

        # no gradients are computed in test mode
        with torch.no_grad():
            for X, y in dataloader:
                pred = model(X)
                assert not pred.requires_grad
                test_loss += loss_fn(pred, y).item()
                correct += (pred.argmax(1) == y).type(torch.float).sum().item()

        test_loss /= num_batches
        correct /= size
        print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
        return test_loss, correct

    for t in range(epochs):
        print(f"Epoch {t+1}\n-------------------------------")
        train_loop(train_dataloader, model, loss_fn, optimizer)
        test_loss, accuracy = test_loop(test_dataloader, model, loss_fn)
    print("Done!")

    assert len(first_losses) == epochs
    assert test_loss < 0.3 * first_losses[0]
    assert accuracy > 0.9
