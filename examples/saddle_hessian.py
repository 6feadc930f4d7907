"""Saddle points seen through second-order autodiff: gradient, Hessian, eigenvectors.

At a critical point the gradient is zero and the Hessian says what kind it is. For the
saddle f = x^2 - y^2 at (0, 0) the Hessian is diag(2, -2): one positive and one negative
eigenvalue. Plain gradient descent started exactly at (0, 0) never moves (the gradient is
zero), but a tiny step along the negative-curvature eigenvector is amplified by (1 + 2 lr)
per step: the escape is exponential. For the monkey saddle f = x^3 - 3xy^2 the Hessian at
(0, 0) is the zero matrix: the second-order test says nothing (a *degenerate* critical
point). There the gradient is quadratic in the distance r, so gradient descent from a
small perturbation crawls: leaving from r takes about 1 / (3 lr r) steps instead of the
log(1/r) / log(1 + 2 lr) of the ordinary saddle (3,300 steps against 38 from r = 0.001), and
from the side of a ridge it creeps back towards the origin. Both Hessians are computed by
``minigrad.autograd.functional.hessian`` (double backward), and checked against the
formulas.

Run: ``python examples/saddle_hessian.py`` (``--quick``: fewer steps); writes
``examples/figures/saddle_hessian.png``.
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.autograd.functional import hessian
from minigrad.optim import SGD
from _shared import figure_path, needs_matplotlib, parser, small_figures, table


def saddle(v):
    return v[0] ** 2 - v[1] ** 2


def monkey_saddle(v):
    return v[0] ** 3 - 3 * v[0] * v[1] ** 2


def gradient(f, point) -> np.ndarray:
    x = mg.tensor(point, dtype=mg.float64, requires_grad=True)
    f(x).backward()
    return x.grad.numpy()


def descend(f, start, lr: float, steps: int, radius: float = 1.0) -> np.ndarray:
    """Plain gradient descent; stops once the point is ``radius`` away from the origin."""
    x = mg.tensor(start, dtype=mg.float64, requires_grad=True)
    optimizer = SGD([x], lr=lr)
    path = [x.numpy().copy()]
    for _ in range(steps):
        optimizer.zero_grad()
        f(x).backward()
        optimizer.step()
        path.append(x.numpy().copy())
        if np.linalg.norm(path[-1]) > radius:
            break
    return np.array(path)


@small_figures
def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    needs_matplotlib("saddle_hessian.py")
    steps = 60 if args.quick else 4000
    lr, eps = 0.1, 1e-3
    origin = mg.tensor([0.0, 0.0], dtype=mg.float64)
    found = {}
    rows = []
    for name, f in (("x^2 - y^2", saddle), ("x^3 - 3xy^2", monkey_saddle)):
        H = hessian(f, origin).numpy()
        values, vectors = np.linalg.eigh(H)
        g = gradient(f, [0.0, 0.0])
        found[name] = {"gradient": g, "hessian": H, "eigenvalues": values,
                       "eigenvectors": vectors}
        rows.append([name, str(g.tolist()), str(H.tolist()), str(values.tolist()),
                     str([np.round(v, 3).tolist() for v in vectors.T])])
    table(["f", "gradient at 0", "Hessian at 0", "eigenvalues", "eigenvectors"], rows,
          title="second-order autodiff at the origin")
    # the formulas: H(x^2 - y^2) = diag(2, -2); H(x^3 - 3xy^2) = [[6x, -6y], [-6y, -6x]] = 0
    assert np.array_equal(found["x^2 - y^2"]["hessian"], np.diag([2.0, -2.0]))
    assert not found["x^3 - 3xy^2"]["hessian"].any()
    point = mg.tensor([0.3, -0.2], dtype=mg.float64)
    np.testing.assert_allclose(hessian(monkey_saddle, point).numpy(),
                               [[6 * 0.3, 6 * 0.2], [6 * 0.2, -6 * 0.3]])

    negative = found["x^2 - y^2"]["eigenvectors"][:, 0]  # eigh sorts: -2 first
    runs = {
        "saddle, from (0, 0)": descend(saddle, [0.0, 0.0], lr, steps),
        "saddle, from eps * v-": descend(saddle, eps * negative, lr, steps),
        "saddle, from (1, eps)": descend(saddle, [1.0, eps], lr, steps),
        "monkey, from (-eps, 0)": descend(monkey_saddle, [-eps, 0.0], lr, steps),
        "monkey, from (eps, 0)": descend(monkey_saddle, [eps, 0.0], lr, steps),
    }
    rows = []
    for label, path in runs.items():
        distance = np.linalg.norm(path[-1])
        escaped = distance > 1.0
        rows.append([label, len(path) - 1, distance, "escaped" if escaped else "stayed"])
    table(["gradient descent (lr 0.1)", "steps", "final distance from 0", "outcome"], rows,
          title=f"escaping the saddles (radius 1, at most {steps} steps)")
    # on the saddle, y_t = (1 + 2 lr)^t y_0: steps to go from eps to 1
    predicted = int(np.ceil(np.log(1 / eps) / np.log(1 + 2 * lr)))

    from minigrad.viz._figure import new_figure, save
    figure = new_figure(13.0, 4.2)
    grid = np.linspace(-1.2, 1.2, 161)
    X, Y = np.meshgrid(grid, grid)
    for k, (name, Z, keys) in enumerate((
            ("x² − y²", X ** 2 - Y ** 2, ["saddle, from (0, 0)", "saddle, from eps * v-",
                                          "saddle, from (1, eps)"]),
            ("x³ − 3xy²  (monkey saddle)", X ** 3 - 3 * X * Y ** 2,
             ["monkey, from (-eps, 0)", "monkey, from (eps, 0)"]))):
        axes = figure.add_subplot(1, 3, k + 1)
        filled = axes.contourf(grid, grid, Z, levels=25, cmap="RdBu_r")
        axes.contour(grid, grid, Z, levels=25, colors="k", linewidths=0.3, alpha=0.4)
        figure.colorbar(filled, ax=axes, shrink=0.8)
        for i, key in enumerate(keys):
            path = runs[key]
            axes.plot(path[:, 0], path[:, 1], ".-", color=f"C{i + 1}", markersize=3,
                      label=key)
        info = found["x^2 - y^2" if k == 0 else "x^3 - 3xy^2"]
        for value, vector in zip(info["eigenvalues"], info["eigenvectors"].T):
            if value != 0:
                axes.annotate("", xy=0.6 * vector, xytext=(0, 0),
                              arrowprops=dict(arrowstyle="->", color="k", linewidth=1.8))
                axes.text(*(0.68 * vector), f"λ={value:g}", fontsize=9)
        axes.plot(0, 0, "ko", markersize=4)
        axes.set_xlim(-1.2, 1.2)
        axes.set_ylim(-1.2, 1.2)
        axes.set_aspect("equal")
        axes.set_title(name + ("" if k == 0 else ": Hessian = 0 at the origin"), fontsize=10)
        axes.legend(fontsize=7, loc="lower left")
    axes = figure.add_subplot(1, 3, 3)
    for i, key in enumerate(["saddle, from eps * v-", "monkey, from (-eps, 0)"]):
        path = runs[key]
        axes.loglog(np.arange(1, len(path) + 1), np.linalg.norm(path, axis=1),
                    color=("C2", "C1")[i], label=key)
    t = np.arange(predicted + 1)
    axes.loglog(t + 1, eps * (1 + 2 * lr) ** t, "k:", label="eps (1 + 2 lr)^t")
    t = np.arange(1, int(0.99 / (3 * lr * eps)))
    axes.loglog(t + 1, eps / (1 - 3 * lr * eps * t), "k--", linewidth=0.8,
                label="eps / (1 - 3 lr eps t)")
    axes.set_xlabel("step + 1")
    axes.set_ylabel("distance from the origin")
    axes.set_title("escape: exponential vs ~1/r (degenerate)", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    save(figure, figure_path(args, "saddle_hessian.png"))
    return {"found": found, "steps_taken": {k: len(p) - 1 for k, p in runs.items()},
            "final_distance": {k: float(np.linalg.norm(p[-1])) for k, p in runs.items()},
            "predicted_saddle_escape": predicted, "max_steps": steps}


if __name__ == "__main__":
    main()
