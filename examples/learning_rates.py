"""Gradient descent on a 1-D function: too small, good and too large learning rates.

On f(x) = x^2 (curvature f'' = 2) a step is x <- x - lr * 2x = (1 - 2 lr) x, so the distance
to the minimum shrinks by |1 - 2 lr| per step: a tiny rate crawls, lr = 0.5 lands in one
step, 0.5 < lr < 1 overshoots and oscillates in to the minimum, lr = 1 bounces between +x
and -x for ever, and lr > 1 diverges. Gradient *ascent* on a function with two peaks climbs
the nearest hill: started left of the valley between them it stops on the lower (local)
peak, never seeing the higher (global) one.

Run: ``python examples/learning_rates.py`` (``--quick`` for fewer steps); writes
``examples/figures/learning_rates.png`` and prints the table behind it.
"""
from __future__ import annotations


import numpy as np

import minigrad as mg
from minigrad.optim import SGD
from _shared import figure_path, needs_matplotlib, parser, small_figures, table

RATES = {"0.02 (crawls)": 0.02, "0.3 (converges)": 0.3, "0.9 (oscillates)": 0.9,
         "1.05 (diverges)": 1.05}


def descend(f, x0: float, lr: float, steps: int, maximize: bool = False) -> np.ndarray:
    """The iterates of SGD (plain gradient descent, or ascent) on the 1-D ``f``."""
    x = mg.tensor([x0], dtype=mg.float64, requires_grad=True)
    optimizer = SGD([x], lr=lr, maximize=maximize)
    path = [x0]
    for _ in range(steps):
        optimizer.zero_grad()
        f(x).sum().backward()
        optimizer.step()
        path.append(x.item())
    return np.array(path)


def square(x):
    return x * x


def two_peaks(x):
    """A lower peak (height ~1) at x ~ -1.5 and a higher one (height ~2) at x ~ 2."""
    return (-(x + 1.5) ** 2).exp() + 2 * (-((x - 2.0) ** 2) / 0.5).exp()


@small_figures
def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    needs_matplotlib("learning_rates.py")
    steps = 15 if args.quick else 30
    x0 = 2.0
    paths = {label: descend(square, x0, lr, steps) for label, lr in RATES.items()}
    rows = []
    for label, path in paths.items():
        lr = RATES[label]
        rows.append([label, path[-1], abs(1 - 2 * lr), abs(path[-1]) / abs(x0),
                     abs(1 - 2 * lr) ** steps])
    table(["learning rate", f"x after {steps}", "|1 - 2 lr|", "|x_T / x_0|",
           "|1 - 2 lr|^T"], rows, title=f"gradient descent on f(x) = x^2 from x = {x0}")
    ascent_start, ascent_lr = -3.0, 0.2
    ascent = descend(two_peaks, ascent_start, ascent_lr, 4 * steps, maximize=True)
    grid = np.linspace(-4.5, 4.0, 800)
    values = np.exp(-(grid + 1.5) ** 2) + 2 * np.exp(-((grid - 2.0) ** 2) / 0.5)
    top = two_peaks(mg.tensor(ascent[-1:], dtype=mg.float64)).item()
    table(["start", "stops at x", "f there", "global max x", "global max f"],
          [[ascent_start, ascent[-1], top, grid[values.argmax()], values.max()]],
          title="gradient ascent (SGD maximize=True) on the two-peak function")

    from minigrad.viz._figure import new_figure, save
    figure = new_figure(13.0, 4.0)
    curve_axes, error_axes, ascent_axes = (figure.add_subplot(1, 3, k) for k in (1, 2, 3))
    xs = np.linspace(-2.6, 2.6, 200)
    curve_axes.plot(xs, xs ** 2, color="0.6")
    for i, (label, path) in enumerate(paths.items()):
        shown = path[np.abs(path) < 2.6][:12]
        curve_axes.plot(shown, shown ** 2, "o-", color=f"C{i}", markersize=3.5, linewidth=1,
                        alpha=0.85, label=label)
        error_axes.semilogy(np.abs(path) + 1e-300, color=f"C{i}", marker=".", label=label)
    curve_axes.set_ylim(-0.3, 7.0)
    curve_axes.set_xlabel("x")
    curve_axes.set_ylabel("f(x) = x²")
    curve_axes.set_title("the first steps on the curve")
    curve_axes.legend(fontsize=8, loc="upper center")
    error_axes.set_ylim(1e-8, 1e2)
    error_axes.set_xlabel("step")
    error_axes.set_ylabel("|x - x*|")
    error_axes.set_title("distance to the minimum")
    error_axes.grid(True, alpha=0.3)
    error_axes.legend(fontsize=8, loc="lower left")
    ascent_axes.plot(grid, values, color="0.6")
    ascent_axes.plot(ascent, np.exp(-(ascent + 1.5) ** 2)
                     + 2 * np.exp(-((ascent - 2.0) ** 2) / 0.5), "o-", color="C3",
                     markersize=3, linewidth=1, label=f"ascent from {ascent_start}")
    ascent_axes.plot(grid[values.argmax()], values.max(), "*", color="gold",
                     markeredgecolor="k", markersize=14, label="global maximum")
    ascent_axes.set_xlabel("x")
    ascent_axes.set_ylabel("f(x)")
    ascent_axes.set_title("gradient ascent stops at the local maximum")
    ascent_axes.legend(fontsize=8, loc="upper left")
    save(figure, figure_path(args, "learning_rates.png"))
    return {"final": {label: float(path[-1]) for label, path in paths.items()},
            "ascent_end": float(ascent[-1]), "global_max": float(grid[values.argmax()]),
            "steps": steps}


if __name__ == "__main__":
    main()
