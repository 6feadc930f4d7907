"""A bumpy, flat-bottomed loss: fit the first layer of a 1-2-5-1 ReLU6 network.

A "teacher" network x -> ReLU6(W1 x) -> ReLU6(W2 . + b2) -> W3 . + b3 (W1: 2 x 1, no bias)
makes the data on 64 points of [-1, 1]. The student has the teacher's W2, b2, W3, b3 and
learns only W1 = (w1, w2), so the loss is a function of two numbers that we can draw.
ReLU6 clips at 0 and at 6: once |w| is large, almost every point lands on a flat part of
the unit, the loss is a wide plateau and its gradient is tiny (only points with
|x| < 6/|w| contribute). Started on that plateau, gradient descent and momentum, with rates
that suit the bumpy region near the teacher, barely move; Adam divides the gradient by its
own running scale, so a tiny but consistent gradient still gives steps of about lr, and it
walks off the plateau to the teacher's weights.

Run: ``python examples/bumpy_relu6.py`` (``--quick``: fewer steps); writes
``examples/figures/bumpy_relu6.png``.
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.optim import SGD, Adam
from minigrad.viz import plot_trajectories, run_trajectory
from _shared import figure_path, needs_matplotlib, parser, small_figures, table

TEACHER_W1 = (3.0, -4.0)
START = (30.0, 30.0)


def make_problem(seed: int = 0):
    """The loss of the first-layer weights (a function of a 2-element tensor)."""
    rng = np.random.default_rng(seed)
    x = mg.tensor(np.linspace(-1.0, 1.0, 64).reshape(-1, 1), dtype=mg.float64)
    W2 = mg.tensor(rng.normal(0.0, 1.5, (5, 2)), dtype=mg.float64)
    b2 = mg.tensor(rng.normal(0.0, 1.0, 5), dtype=mg.float64)
    W3 = mg.tensor(rng.normal(0.0, 1.0, (1, 5)), dtype=mg.float64)
    b3 = mg.tensor([0.0], dtype=mg.float64)

    def network(w1):
        hidden = (x * w1.reshape(1, 2)).clamp(0.0, 6.0)          # ReLU6, no bias
        hidden = (hidden @ W2.T + b2).clamp(0.0, 6.0)            # ReLU6
        return hidden @ W3.T + b3

    y = network(mg.tensor(TEACHER_W1, dtype=mg.float64))

    def loss(w1):
        return ((network(w1) - y) ** 2).mean()
    return loss


def gradient_norm(loss, point) -> float:
    w = mg.tensor(point, dtype=mg.float64, requires_grad=True)
    loss(w).backward()
    return float(np.linalg.norm(w.grad.numpy()))


@small_figures
def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    needs_matplotlib("bumpy_relu6.py")
    steps = 130 if args.quick else 300
    loss = make_problem()
    lr_gd, lr_adam = 0.5, 0.3
    optimizers = {f"GD (lr {lr_gd})": lambda p: SGD(p, lr=lr_gd),
                  f"momentum 0.9 (lr {lr_gd})": lambda p: SGD(p, lr=lr_gd, momentum=0.9),
                  f"Adam (lr {lr_adam})": lambda p: Adam(p, lr=lr_adam)}
    # the same GD converges when started near the teacher: the rate is not the problem
    near, near_losses = run_trajectory(loss, optimizers[f"GD (lr {lr_gd})"], (3.5, -3.5), steps)
    start_loss = float(loss(mg.tensor(START, dtype=mg.float64)).item())
    rows, results = [], {}
    for label, factory in optimizers.items():
        path, losses = run_trajectory(loss, factory, START, steps)
        moved = float(np.linalg.norm(path[-1] - path[0]))
        left = bool(losses[-1] < 0.5 * start_loss)
        results[label] = {"final_loss": float(losses[-1]), "moved": moved,
                          "left_plateau": left, "final": path[-1]}
        rows.append([label, losses[-1], moved, str(np.round(path[-1], 3).tolist()),
                     "left the plateau" if left else "stalled"])
    table(["optimizer", f"loss after {steps}", "distance moved", "final (w1, w2)", "outcome"],
          rows, title=f"from {START} on the plateau (loss {start_loss:.4g}, gradient norm "
                      f"{gradient_norm(loss, START):.2g}); teacher {TEACHER_W1}")
    table(["check", "value"], [["GD from (3.5, -3.5): loss after " + str(steps), near_losses[-1]],
                               ["GD from (3.5, -3.5): final (w1, w2)",
                                str(np.round(near[-1], 3).tolist())]])
    plot_trajectories(loss, optimizers, START, steps, figure_path(args, "bumpy_relu6.png"),
                      bounds=((-12.0, 36.0), (-12.0, 36.0)), minima=[TEACHER_W1],
                      resolution=30 if args.quick else 90, labels=("w1", "w2"),
                      title="fitting the first layer of a ReLU6 network: a plateau")
    return {"results": results, "start_loss": start_loss, "near_final_loss": float(near_losses[-1])}


if __name__ == "__main__":
    main()
