"""Every optimizer in minigrad.optim on the same small job: a digits MLP, a fixed budget.

Each run starts from the same seeded weights and sees the same batches; the table shows
the mean training loss of the last epoch, the validation accuracy and the wall time.
The test suite runs every entry on a smaller budget (tests/optim/test_digits_smoke.py).

    python examples/compare_optimizers.py [--epochs 5] [--hidden 64]
"""
from __future__ import annotations

import argparse
import time
import warnings
from typing import Callable

import minigrad as mg
from minigrad import nn, optim

OptimizerFactory = Callable[[list], optim.Optimizer]


def _muon(params: list) -> optim.Optimizer:
    matrices = [p for p in params if p.ndim == 2]
    vectors = [p for p in params if p.ndim != 2]
    return optim.Muon([{"params": matrices}, {"params": vectors, "use_muon": False}],
                      lr=0.02, weight_decay=0.0, adamw_lr=3e-3)


# Ranger21 lays its warm-up and warm-down over the run it is told of: 5 epochs of
# ceil(1078 training digits / batch 64) batches.
DIGITS_BATCHES = 17

# A learning rate that suits each optimizer on this short budget; everything else default.
OPTIMIZERS: dict[str, OptimizerFactory] = {
    "SGD": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
    "SGD nesterov": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    "Adagrad": lambda p: optim.Adagrad(p, lr=0.05),
    "RMSprop": lambda p: optim.RMSprop(p, lr=3e-3),
    "Adadelta": lambda p: optim.Adadelta(p, lr=1.0),
    "Adam": lambda p: optim.Adam(p, lr=1e-2),
    "AdamW": lambda p: optim.AdamW(p, lr=1e-2),
    "Adamax": lambda p: optim.Adamax(p, lr=1e-2),
    "NAdam": lambda p: optim.NAdam(p, lr=1e-2),
    "RAdam": lambda p: optim.RAdam(p, lr=3e-2),
    "ASGD": lambda p: optim.ASGD(p, lr=0.5),
    "Rprop": lambda p: optim.Rprop(p, lr=1e-3),
    "Adafactor": lambda p: optim.Adafactor(p, lr=0.1),
    "LBFGS": lambda p: optim.LBFGS(p, lr=1.0, max_iter=4, history_size=10,
                                   line_search_fn="strong_wolfe"),
    "FTRL": lambda p: optim.FTRL(p, lr=0.5),
    "Lion": lambda p: optim.Lion(p, lr=3e-3),
    "AdaBelief": lambda p: optim.AdaBelief(p, lr=1e-2),
    "ScheduleFreeAdamW": lambda p: optim.ScheduleFreeAdamW(p, lr=1e-2),
    "Muon": _muon,
    "Lookahead(Adam)": lambda p: optim.Lookahead(optim.Adam(p, lr=1e-2)),
    "Ranger": lambda p: optim.Ranger(p, lr=3e-2),
    "Yogi": lambda p: optim.Yogi(p, lr=1e-2),
    "Adan": lambda p: optim.Adan(p, lr=1e-2),
    "SignSGD": lambda p: optim.SignSGD(p, lr=1e-3),
    "Signum": lambda p: optim.Signum(p, lr=1e-3),
    "QHM": lambda p: optim.QHM(p, lr=0.3, momentum=0.9, nu=0.7),
    "QHAdam": lambda p: optim.QHAdam(p, lr=1e-2, nus=(0.7, 1.0)),
    "ADOPT": lambda p: optim.ADOPT(p, lr=1e-2),
    "AdEMAMix": lambda p: optim.AdEMAMix(p, lr=1e-2),
    "LAMB": lambda p: optim.LAMB(p, lr=3e-2),
    "LARS": lambda p: optim.LARS(p, lr=10.0),
    "NovoGrad": lambda p: optim.NovoGrad(p, lr=5e-2),
    "SM3": lambda p: optim.SM3(p, lr=0.1),
    "AggMo": lambda p: optim.AggMo(p, lr=0.1),
    "AdaBound": lambda p: optim.AdaBound(p, lr=1e-2),
    "AMSBound": lambda p: optim.AMSBound(p, lr=1e-2),
    "MADGRAD": lambda p: optim.MADGRAD(p, lr=1e-2),
    "DAdaptAdam": lambda p: optim.DAdaptAdam(p, lr=0.5, d0=1e-4),
    "DAdaptSGD": lambda p: optim.DAdaptSGD(p, momentum=0.9, d0=0.1, growth_rate=1.05),
    "Prodigy": lambda p: optim.Prodigy(p, d_coef=0.5),
    "SAdam": lambda p: optim.SAdam(p, lr=0.1),
    "Ranger21": lambda p: optim.Ranger21(p, lr=2e-2, num_epochs=5,
                                         num_batches_per_epoch=DIGITS_BATCHES),
    "SophiaH": lambda params: optim.SophiaH(params, lr=6e-2, p=0.1),
    "AdaHessian": lambda params: optim.AdaHessian(params, lr=0.15),
    "Shampoo": lambda params: optim.Shampoo(params, lr=0.5),
    "SOAP": lambda params: optim.SOAP(params, lr=1e-2),
    "SAM(SGD)": lambda p: optim.SAM(p, optim.SGD, lr=0.1, momentum=0.9),
}

# FTRL-Proximal writes each weight as a closed-form function of its accumulated gradients
# (w = -z / (sqrt(n) / lr) without l1/l2), which forgets a random initialisation at the first
# step: the hidden units of an MLP collapse onto each other. It is made for linear models
# that start at zero, so it trains softmax regression here.
LINEAR_MODEL_ONLY = {"FTRL"}


def _set_mode(opt: optim.Optimizer, training: bool) -> None:
    """Schedule-free optimizers keep different weights for training and evaluation."""
    switch = getattr(opt, "train" if training else "eval", None)
    if callable(switch):
        switch()


def digits_model(hidden: int) -> nn.Module:
    """A 64-hidden-hidden-10 ReLU MLP, or softmax regression (64-10) when ``hidden`` is 0."""
    if hidden == 0:
        return nn.Linear(64, 10)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 10))


def train_digits(make_optimizer: OptimizerFactory, epochs: int = 5, hidden: int = 64,
                 batch_size: int = 64, seed: int = 0) -> dict[str, float]:
    """Train :func:`digits_model`; return the first/last epoch losses and val accuracy."""
    mg.manual_seed(seed)
    X, y = mg.datasets.load_digits("train")
    X_val, y_val = mg.datasets.load_digits("val")
    model = digits_model(hidden)
    loss_fn = nn.CrossEntropyLoss()
    opt = make_optimizer(list(model.parameters()))
    loader = mg.data.DataLoader(mg.data.TensorDataset(X, y), batch_size=batch_size,
                                shuffle=True, seed=seed)
    epoch_losses = []
    for _ in range(epochs):
        _set_mode(opt, training=True)
        total = 0.0
        for xb, yb in loader:
            def closure() -> mg.Tensor:
                opt.zero_grad()
                loss = loss_fn(model(xb), yb)
                if getattr(opt, "needs_create_graph", False):  # SophiaH, AdaHessian: H v
                    with warnings.catch_warnings():  # their step releases the graph it warns of
                        warnings.filterwarnings("ignore", r"backward\(create_graph", UserWarning)
                        loss.backward(create_graph=True)
                else:
                    loss.backward()
                return loss
            total += float(opt.step(closure)) * len(xb)
        epoch_losses.append(total / len(X))
    _set_mode(opt, training=False)
    with mg.no_grad():
        accuracy = float((model(X_val).argmax(axis=1) == y_val).numpy().mean())
    return {"first_loss": epoch_losses[0], "last_loss": epoch_losses[-1], "val_accuracy": accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"digits MLP 64-{args.hidden}-{args.hidden}-10, {args.epochs} epochs, batch 64, "
          f"seed {args.seed}")
    print(f"{'optimizer':20s} {'last-epoch loss':>16s} {'val accuracy':>13s} {'seconds':>8s}")
    for name, factory in OPTIMIZERS.items():
        start = time.perf_counter()
        hidden = 0 if name in LINEAR_MODEL_ONLY else args.hidden
        result = train_digits(factory, args.epochs, hidden, seed=args.seed)
        print(f"{name + (' (linear)' if hidden == 0 else ''):20s} {result['last_loss']:16.4f} {result['val_accuracy']:13.3f} "
              f"{time.perf_counter() - start:8.2f}")


if __name__ == "__main__":
    main()
