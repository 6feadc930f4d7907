"""Weight decay: Adam with an L2 penalty against AdamW's decoupled decay, on the digits MLP;
and plain SGD, where the two are the same thing.

Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization": adding (lambda/2)|w|^2
to the loss puts lambda*w into the gradient, and Adam then divides it by the root of its
second-moment estimate, so weights with large gradients are barely decayed and the
regularisation depends on the gradient statistics. AdamW shrinks the weights directly,
w <- w - lr*lambda*w, outside the adaptive step. For SGD without momentum the two coincide:
w - lr*(g + lambda*w) = (1 - lr*lambda) w - lr*g, so SGD(weight_decay=lambda) and a decoupled
step with the same lambda follow the same path (to rounding).

Run: ``python examples/weight_decay.py`` (``--quick``: fewer runs and epochs); writes
``examples/figures/weight_decay.png``.
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.optim import SGD, Adam, AdamW
from _shared import (digits, evaluate, figure_path, mlp, needs_matplotlib, parser, small_figures,
                     table, train)


def weight_norm(model) -> float:
    return float(np.sqrt(sum((p.numpy().astype(np.float64) ** 2).sum()
                             for name, p in model.named_parameters() if "weight" in name)))


def fit(data, make, decay: float, epochs: int, seed: int = 0):
    mg.manual_seed(seed)
    model = mlp((128,))
    optimizer = make(model.parameters(), decay)
    curves = train(model, optimizer, data, epochs, seed=seed)
    return model, curves


@small_figures
def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    needs_matplotlib("weight_decay.py")
    data = digits()
    epochs = 2 if args.quick else 30
    decays = [0.0, 0.1] if args.quick else [0.0, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
    lr = 2e-3
    kinds = {"Adam + L2": lambda params, wd: Adam(params, lr=lr, weight_decay=wd),
             "AdamW": lambda params, wd: AdamW(params, lr=lr, weight_decay=wd)}
    results = {kind: [] for kind in kinds}
    rows = []
    for kind, make in kinds.items():
        for decay in decays:
            model, curves = fit(data, make, decay, epochs)
            train_loss, train_accuracy = evaluate(model, *data["train"])
            row = {"decay": decay, "weight_norm": weight_norm(model),
                   "train_loss": train_loss, "val_loss": curves["val_loss"][-1],
                   "test_accuracy": curves["test_accuracy"][-1]}
            results[kind].append(row)
            rows.append([kind, decay, row["weight_norm"], train_loss, row["val_loss"],
                         row["test_accuracy"]])
    table(["optimizer", "weight decay", "|W|", "train loss", "val loss", "test accuracy"],
          rows, title=f"digits MLP 64-128-10, lr {lr}, {epochs} epochs")

    # SGD: L2 in the gradient == decoupled shrinking, step by step
    sgd_lr, sgd_decay, sgd_epochs = 0.05, 0.01, 1 if args.quick else 3
    mg.manual_seed(1)
    coupled = mlp((128,))
    mg.manual_seed(1)
    decoupled = mlp((128,))
    train(coupled, SGD(coupled.parameters(), lr=sgd_lr, weight_decay=sgd_decay), data,
          sgd_epochs, seed=1)
    params = list(decoupled.parameters())

    def shrink():
        with mg.no_grad():
            for p in params:
                p.mul_(1.0 - sgd_lr * sgd_decay)
    train(decoupled, SGD(params, lr=sgd_lr), data, sgd_epochs, seed=1, before_step=shrink)
    gap = max(float(np.max(np.abs(a.numpy() - b.numpy())))
              for a, b in zip(coupled.parameters(), decoupled.parameters()))
    scale = max(float(np.max(np.abs(a.numpy()))) for a in coupled.parameters())
    table(["SGD, lr 0.05, decay 0.01", "value"],
          [["largest parameter difference, L2 vs decoupled", gap],
           ["largest parameter", scale],
           ["test accuracy (L2)", evaluate(coupled, *data["test"])[1]],
           ["test accuracy (decoupled)", evaluate(decoupled, *data["test"])[1]]],
          title=f"plain SGD: the two kinds of decay agree ({sgd_epochs} epoch(s))")

    from minigrad.viz._figure import new_figure, save
    figure = new_figure(12.0, 4.0)
    shown = [d if d > 0 else decays[1] / 10 for d in decays]  # 0 drawn at the left edge
    for k, (key, label) in enumerate((("test_accuracy", "test accuracy"),
                                      ("weight_norm", "norm of the weights |W|"))):
        axes = figure.add_subplot(1, 2, k + 1)
        for i, kind in enumerate(kinds):
            axes.plot(shown, [r[key] for r in results[kind]], "o-", color=f"C{i}", label=kind)
        axes.set_xscale("log")
        axes.set_xlabel("weight decay λ (leftmost point: 0)")
        axes.set_ylabel(label)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=9)
        axes.set_title(label + " after training")
    save(figure, figure_path(args, "weight_decay.png"))
    return {"results": results, "sgd_gap": gap, "sgd_scale": scale}


if __name__ == "__main__":
    main()
