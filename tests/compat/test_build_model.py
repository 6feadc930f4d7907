"""The "Build the Neural Network" tutorial, ported by changing the imports only.

The FashionMNIST classifier (Flatten, then Linear/ReLU stacks) on random 28x28 images: device
choice, printing the model, class probabilities with nn.Softmax, each layer on a minibatch of
three images, nn.Sequential, and the parameters by name. One SGD step at the end checks the
model trains.
"""
import minigrad as torch
from minigrad import nn


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def test_define_and_call_the_model():
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"Using {device} device")

    model = NeuralNetwork().to(device)
    print(model)
    text = str(model)
    assert text.startswith("NeuralNetwork(")
    assert "(flatten): Flatten(start_dim=1, end_dim=-1)" in text
    assert "(0): Linear(in_features=784, out_features=512, bias=True)" in text
    assert "(1): ReLU()" in text
    assert "(4): Linear(in_features=512, out_features=10, bias=True)" in text

    X = torch.rand(1, 28, 28, device=device)
    logits = model(X)
    pred_probab = nn.Softmax(dim=1)(logits)
    y_pred = pred_probab.argmax(1)
    print(f"Predicted class: {y_pred}")
    assert logits.shape == (1, 10)
    assert abs(pred_probab.sum().item() - 1.0) < 1e-5
    assert y_pred.shape == (1,) and y_pred.dtype == torch.int64
    assert 0 <= y_pred.item() < 10
    assert y_pred.item() == logits.argmax().item()


def test_model_layers():
    torch.manual_seed(0)
    input_image = torch.rand(3, 28, 28)
    print(input_image.size())
    assert input_image.size() == (3, 28, 28)

    flatten = nn.Flatten()
    flat_image = flatten(input_image)
    print(flat_image.size())
    assert flat_image.size() == (3, 784)

    layer1 = nn.Linear(in_features=28 * 28, out_features=20)
    hidden1 = layer1(flat_image)
    print(hidden1.size())
    assert hidden1.size() == (3, 20)

    print(f"Before ReLU: {hidden1}\n\n")
    assert (hidden1 < 0).any()
    hidden1 = nn.ReLU()(hidden1)
    print(f"After ReLU: {hidden1}")
    assert (hidden1 >= 0).all()

    seq_modules = nn.Sequential(
        flatten,
        layer1,
        nn.ReLU(),
        nn.Linear(20, 10)
    )
    input_image = torch.rand(3, 28, 28)
    logits = seq_modules(input_image)
    assert logits.shape == (3, 10)

    softmax = nn.Softmax(dim=1)
    pred_probab = softmax(logits)
    assert pred_probab.shape == (3, 10)
    row_sums = pred_probab.sum(dim=1)
    assert torch.allclose(row_sums, torch.ones(3))


def test_model_parameters():
    torch.manual_seed(0)
    model = NeuralNetwork()
    print(f"Model structure: {model}\n\n")

    names, sizes = [], []
    for name, param in model.named_parameters():
        print(f"Layer: {name} | Size: {param.size()} | Values : {param[:2]} \n")
        names.append(name)
        sizes.append(tuple(param.size()))
        assert param.requires_grad
        assert param[:2].shape[0] == 2
    assert names == [
        "linear_relu_stack.0.weight", "linear_relu_stack.0.bias",
        "linear_relu_stack.2.weight", "linear_relu_stack.2.bias",
        "linear_relu_stack.4.weight", "linear_relu_stack.4.bias",
    ]
    assert sizes == [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)]
    assert sum(p.numel() for p in model.parameters()) == 669706

    # the model trains: a few SGD steps on one random batch lower its cross-entropy
    X = torch.rand(8, 28, 28)
    y = torch.randint(0, 10, (8,))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-1)
    losses = []
    for _ in range(10):
        loss = loss_fn(model(X), y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(losses)
    assert losses[-1] < 0.5 * losses[0]
