"""The training loop of ``python -m minigrad.train``, stripped to its bones.

Load the bundled digits, standardise them, and fit a two-layer MLP with AdamW; the full
script adds normalisation layers, dropout, a schedule, flags, a progress bar and a
checkpoint. Run: ``python examples/train_mlp.py`` (about 98% test accuracy in seconds).
"""
import minigrad as mg
from minigrad import nn
from minigrad.data import DataLoader, StandardScaler, TensorDataset
from minigrad.datasets import load_digits
from minigrad.nn.functional import cross_entropy
from minigrad.optim.adam import AdamW


def accuracy(model: nn.Module, X: mg.Tensor, y: mg.Tensor) -> float:
    with mg.no_grad():
        return (model(X).argmax(axis=1) == y).float().mean().item()


def main(epochs: int = 20) -> float:
    mg.manual_seed(0)
    (X_train, y_train), (X_test, y_test) = load_digits("train"), load_digits("test")
    scaler = StandardScaler().fit(X_train)  # statistics of the training set only
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=64, shuffle=True)

    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    for epoch in range(epochs):
        for X, y in loader:
            loss = cross_entropy(model(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch + 1:>2}: last batch loss {loss.item():.4f}")

    test_accuracy = accuracy(model, X_test, y_test)
    print(f"test accuracy {test_accuracy:.2%}")
    return test_accuracy


if __name__ == "__main__":
    main()
