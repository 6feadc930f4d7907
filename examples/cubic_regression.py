"""Fit y = 3x^3 + 2x + noise (20 points) in (a, b) with GD, momentum and Adam.

The model y ~ a x^3 + b x is linear in (a, b), so the mean squared error is a quadratic
bowl, long and thin because x^3 and x are correlated and differently scaled. Plain gradient
descent, with the largest rate the steep direction allows, crawls along the valley;
momentum builds up speed along it, gets there much sooner, and overshoots (its path swings
past the minimum and comes back); Adam moves each coordinate by about lr per step whatever
the gradient, so its first steps, where the gradients are large, are no longer than its
last, and from this start it is the slowest of the three.

Run: ``python examples/cubic_regression.py`` (``--quick``: fewer steps); writes
``examples/figures/cubic_regression.png``.
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.optim import SGD, Adam
from minigrad.viz import plot_trajectories, run_trajectory
from _shared import figure_path, needs_matplotlib, parser, small_figures, table


def make_data(n: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-2.0, 2.0, n))
    return x, 3 * x ** 3 + 2 * x + rng.normal(0.0, 1.0, n)


@small_figures
def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    needs_matplotlib("cubic_regression.py")
    steps = 60 if args.quick else 200
    x, y = make_data()
    features = np.stack([x ** 3, x], axis=1)
    best, *_ = np.linalg.lstsq(features, y, rcond=None)
    X3, X1, Y = (mg.tensor(v, dtype=mg.float64) for v in (x ** 3, x, y))

    def mse(v):
        a, b = v[0], v[1]
        if a.ndim:  # a grid of (a, b): broadcast against the 20 points
            a, b = a.reshape(a.shape + (1,)), b.reshape(b.shape + (1,))
        return ((a * X3 + b * X1 - Y) ** 2).mean(axis=-1)

    # The steep direction's curvature bounds plain GD's rate: lr < 2 / largest eigenvalue.
    H = 2 * features.T @ features / len(x)
    curvature = np.linalg.eigvalsh(H)
    lr_gd = 1.0 / curvature[-1]
    optimizers = {
        f"GD (lr {lr_gd:.3f})": lambda p: SGD(p, lr=lr_gd),
        f"momentum 0.9 (lr {lr_gd:.3f})": lambda p: SGD(p, lr=lr_gd, momentum=0.9),
        "Adam (lr 0.05)": lambda p: Adam(p, lr=0.05),
    }
    start = (-2.0, 6.0)
    figure, paths = plot_trajectories(
        mse, optimizers, start, steps, figure_path(args, "cubic_regression.png"),
        bounds=((-2.6, 4.4), (-3.5, 9.5)), minima=[tuple(best)], resolution=100,
        labels=("a (coefficient of x³)", "b (coefficient of x)"),
        title="y = 3x³ + 2x + noise: the loss in (a, b)")
    rows = []
    optimum = float(mse(mg.tensor(best, dtype=mg.float64)).item())
    for label, factory in optimizers.items():
        path, losses = run_trajectory(mse, factory, start, steps)
        gap = losses - optimum
        reach = np.nonzero(gap < 0.01 * (losses[0] - optimum))[0]
        overshoot = float(np.max((path[:, 0] - best[0]) * np.sign(best[0] - start[0])))
        rows.append([label, losses[-1], int(reach[0]) if len(reach) else "-",
                     max(overshoot, 0.0), str(np.round(path[-1], 3).tolist())])
    table(["optimizer", f"loss after {steps}", "steps to 1% of the gap", "overshoot in a",
           "final (a, b)"], rows,
          title=f"least squares: (a, b) = {np.round(best, 3).tolist()}, loss {optimum:.4g}; "
                f"Hessian eigenvalues {np.round(curvature, 2).tolist()}")
    return {"rows": rows, "best": best, "optimum": optimum, "paths": paths}


if __name__ == "__main__":
    main()
