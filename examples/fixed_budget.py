"""A fixed budget of gradient evaluations: minibatch SGD against full-batch GD and L-BFGS.

Bottou & Bousquet (2008), "The Tradeoffs of Large Scale Learning": when computing time, not
data, is the limit, what matters is the test error reached for a given number of gradient
evaluations, and there a cheap, noisy optimizer wins: an epoch of minibatch SGD makes
len(train) / batch updates for the price of one full-batch gradient. Here each method gets
the same budget, counted in per-sample gradients (one epoch = 1,078 of them): minibatch SGD
(batch 32), full-batch gradient descent (one step per epoch), and full-batch L-BFGS with a
strong-Wolfe line search (each function evaluation, line-search ones included, costs an
epoch). The test error is recorded as the budget is spent.

Run: ``python examples/fixed_budget.py`` (``--quick``: 3 epochs of budget); writes
``examples/figures/fixed_budget.png``.
"""
from __future__ import annotations

import minigrad as mg
from minigrad.nn.functional import cross_entropy
from minigrad.optim import LBFGS, SGD
from _shared import (digits, evaluate, figure_path, mlp, needs_matplotlib, parser, small_figures,
                     table, train)


@small_figures
def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    needs_matplotlib("fixed_budget.py")
    data = digits()
    X, y = data["train"]
    budget = 3 if args.quick else 40  # in epochs of per-sample gradients
    curves: dict[str, tuple[list[float], list[float]]] = {}

    mg.manual_seed(0)
    model = mlp((64,))
    history = train(model, SGD(model.parameters(), lr=0.05, momentum=0.9), data, budget,
                    batch_size=32)
    curves["minibatch SGD (batch 32, lr 0.05, momentum 0.9)"] = (
        list(range(1, budget + 1)), [1 - a for a in history["test_accuracy"]])

    mg.manual_seed(0)
    model = mlp((64,))
    optimizer = SGD(model.parameters(), lr=0.5, momentum=0.9)
    errors = []
    for _ in range(budget):
        loss = cross_entropy(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        errors.append(1 - evaluate(model, *data["test"])[1])
    curves["full-batch GD (lr 0.5, momentum 0.9)"] = (list(range(1, budget + 1)), errors)

    mg.manual_seed(0)
    model = mlp((64,))
    optimizer = LBFGS(model.parameters(), lr=1.0, max_iter=budget, max_eval=budget,
                      history_size=20, line_search_fn="strong_wolfe")
    spent, errors = [], []

    def closure():
        optimizer.zero_grad()
        loss = cross_entropy(model(X), y)
        loss.backward()
        spent.append(len(spent) + 1)
        errors.append(1 - evaluate(model, *data["test"])[1])  # of the point just evaluated
        return loss
    while len(spent) < budget:
        before = len(spent)
        optimizer.step(closure)
        if len(spent) == before:  # converged: no more evaluations
            break
    curves["full-batch L-BFGS (strong Wolfe)"] = (spent[:budget], errors[:budget])

    table(["method", "gradient evaluations (epochs)", "updates", "final test error"],
          [[label, xs[-1], xs[-1] * 34 if "minibatch" in label
            else (xs[-1] if "GD" in label else f"<= {xs[-1]}"), errs[-1]]
           for label, (xs, errs) in curves.items()],
          title=f"the same budget: {budget} epochs of per-sample gradients, digits MLP 64-64-10")

    from minigrad.viz._figure import new_figure, save
    figure = new_figure(7.0, 4.2)
    axes = figure.add_subplot(1, 1, 1)
    for i, (label, (xs, errs)) in enumerate(curves.items()):
        axes.plot(xs, errs, "o-", markersize=3, color=f"C{i}", label=label)
    axes.set_yscale("log")
    axes.set_xlabel("gradient evaluations (in epochs of the training set)")
    axes.set_ylabel("test error")
    axes.set_title("test error for a fixed budget of gradient evaluations")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    save(figure, figure_path(args, "fixed_budget.png"))
    return {"curves": curves, "budget": budget}


if __name__ == "__main__":
    main()
