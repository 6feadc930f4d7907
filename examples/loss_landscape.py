"""Loss landscapes of the digits MLP after training, with and without normalisation layers
(Li, Xu, Taylor, Studer & Goldstein 2018, "Visualizing the Loss Landscape of Neural Nets").

The training loss around the trained weights theta, at theta + alpha*delta + beta*eta for two
random Gaussian directions, filter-normalised (each row of a weight matrix scaled to the norm
of that row of the weights; biases and the normalisation layers' own parameters left still),
so that the pictures of differently scaled networks can be compared. See
``minigrad.viz.loss_landscape``. Li et al. found that the minimisers of networks that train
well sit in wide, convex-looking basins; here the two MLPs, one plain and one with
BatchNorm after each hidden layer, are trained the same way and their basins drawn on the
same grid.

Run: ``python examples/loss_landscape.py`` (``--quick``: a coarse grid, 2 epochs); writes
``examples/figures/loss_landscape_plain.png`` and ``examples/figures/loss_landscape_batchnorm.png``.
"""
from __future__ import annotations

import minigrad as mg
from minigrad.nn.functional import cross_entropy
from minigrad.optim import SGD
from minigrad.viz import loss_landscape, plot_landscape
from _shared import digits, figure_path, mlp, needs_matplotlib, parser, small_figures, table, train


@small_figures
def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    needs_matplotlib("loss_landscape.py")
    data = digits()
    X, y = data["train"]
    epochs = 2 if args.quick else 20
    resolution = 7 if args.quick else 31
    results = {}
    rows = []
    for name, norm in (("plain", None), ("batchnorm", "batch")):
        mg.manual_seed(0)
        model = mlp((64, 64), norm=norm)
        curves = train(model, SGD(model.parameters(), lr=0.05, momentum=0.9), data, epochs)
        landscape = loss_landscape(model, lambda m: cross_entropy(m(X), y),
                                   resolution=resolution, span=1.0, seed=0)
        plot_landscape(landscape, path=figure_path(args, f"loss_landscape_{name}.png"),
                       title=f"digits MLP 64-64-64-10, "
                             f"{'BatchNorm' if norm else 'no normalisation'}, "
                             f"after {epochs} epochs (training loss)")
        surface, middle = landscape.surface, resolution // 2
        quarter = resolution // 4
        ring = surface[middle - quarter:middle + quarter + 1,
                       middle - quarter:middle + quarter + 1]
        results[name] = {"center": landscape.center, "max": float(surface.max()),
                         "mean_at_half_span": float(ring.mean()),
                         "is_grid_min": bool(landscape.center <= surface.min() + 1e-12),
                         "test_accuracy": curves["test_accuracy"][-1]}
        rows.append([name, curves["test_accuracy"][-1], landscape.center,
                     results[name]["mean_at_half_span"], float(surface.max()),
                     "yes" if results[name]["is_grid_min"] else "no"])
    table(["model", "test accuracy", "loss at theta", "mean loss within |alpha|,|beta| <= 0.5",
           "max loss on the grid", "theta is the grid's minimum"], rows,
          title=f"training loss on a {resolution}x{resolution} grid, span 1")
    return results


if __name__ == "__main__":
    main()
