"""Every optimizer in ``minigrad.optim`` on five classic test functions of two variables.

Rosenbrock's curved valley, Beale's flat plateau and steep walls, the saddle x^2 - y^2, the
monkey saddle x^3 - 3xy^2 (three valleys, a zero Hessian at the origin) and the bumpy
(cos x / x)(sin y / y), full of local minima. Each optimizer runs with its defaults except
the learning rate, the best of its default times 1, 10 and 100 (``--quick``: times 10 only,
and fewer steps): the one that reaches the target value in the fewest steps, else the one
with the lowest final value. A run ends early once it leaves the picture by half its size
(on the saddles, that is an escape), falls into the bumpy function's pole at x = 0, or stops
being finite; a run that ends so without reaching the target counts as diverged (final
value inf). The optimizers are found at run time, so newly added ones
join in; one that cannot run on a single 2-element parameter is listed with the reason.

Run: ``python examples/test_functions.py``; writes ``examples/figures/test_functions_<name>.png``
(the paths of eight well-known optimizers) and prints, for each function, a table of every
optimizer's final value and the steps it took to reach the target value.
"""
from __future__ import annotations

import inspect
import math
import warnings
from typing import Any, Callable

import numpy as np

from minigrad import optim
from minigrad.viz import plot_trajectories, run_trajectory
from _shared import figure_path, needs_matplotlib, parser, small_figures, table


def rosenbrock(v):
    return (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2


def beale(v):
    x, y = v[0], v[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2 + (2.625 - x + x * y ** 3) ** 2


def saddle(v):
    return v[0] ** 2 - v[1] ** 2


def monkey_saddle(v):
    return v[0] ** 3 - 3 * v[0] * v[1] ** 2


def bumpy(v):
    return (v[0].cos() / v[0]) * (v[1].sin() / v[1])


# name -> (f, start, target value, contour bounds, minima to mark)
# (the bumpy function falls to -infinity at its pole x = 0: a run that gets below FLOOR
# there has left the bumps, and counts as diverged)
FLOOR = {"bumpy": -1.0}
FUNCTIONS: dict[str, tuple[Callable, tuple, float, tuple, list]] = {
    "rosenbrock": (rosenbrock, (-1.5, 2.0), 1e-2, ((-2.0, 2.0), (-1.0, 3.0)), [(1.0, 1.0)]),
    "beale": (beale, (1.0, 1.5), 1e-2, ((-1.0, 4.5), (-1.5, 2.5)), [(3.0, 0.5)]),
    "saddle": (saddle, (1.0, 1e-3), -1.0, ((-1.5, 1.5), (-1.5, 1.5)), []),
    "monkey_saddle": (monkey_saddle, (0.6, 0.15), -1.0, ((-1.5, 1.5), (-1.5, 1.5)), []),
    "bumpy": (bumpy, (5.0, 2.5), -0.3, ((1.0, 10.0), (-5.0, 5.0)), [(2.798, 0.0)]),
}
# values for hyper-parameters an optimizer requires without a default (QHM: the paper's
# recommended nu = 0.7, beta = 0.999)
REQUIRED = {"momentum": 0.999, "nu": 0.7}
DRAWN = ("SGD", "SGD momentum=0.9", "Adam", "RMSprop", "Adagrad", "Rprop", "Lion", "LBFGS")


def optimizer_factories(steps: int) -> tuple[dict[str, tuple[Callable, float]], dict[str, str]]:
    """label -> (factory(params, lr), default lr) for every optimizer minigrad.optim exports,
    and label -> reason for those left out. A wrapper of an optimizer (Lookahead) wraps
    Adam; one that takes an optimizer class (SAM) gets SGD; one that must know the length
    of training for its built-in schedule (Ranger21) is told ``steps`` (one epoch)."""
    factories: dict[str, tuple[Callable, float]] = {}
    skipped: dict[str, str] = {}
    for name in optim.__all__:
        cls = getattr(optim, name)
        if not (inspect.isclass(cls) and issubclass(cls, optim.Optimizer)) \
                or cls is optim.Optimizer:
            continue
        parameters = inspect.signature(cls).parameters
        first = next(iter(parameters))
        if first != "params":  # a wrapper (Lookahead): around Adam
            def wrapped(params, lr, cls=cls):
                return cls(optim.Adam(params, lr=lr))
            factories[f"{name}(Adam)"] = (wrapped, 1e-3)
            continue
        if "base_optimizer" in parameters:  # SAM: around SGD, the paper's base
            def around(params, lr, cls=cls):
                return cls(params, optim.SGD, lr=lr)
            factories[f"{name}(SGD)"] = (around, 1e-3)
            continue
        if "lr" not in parameters:
            skipped[name] = "takes no lr"
            continue
        default = parameters["lr"].default
        lr = default if isinstance(default, float) and default > 0 else 1e-3
        needed = [p for p, spec in parameters.items()
                  if p not in ("params", "lr") and spec.default is optim.required]
        if any(p not in REQUIRED for p in needed):
            skipped[name] = f"requires {', '.join(needed)} (no default to use)"
            continue
        required = {p: REQUIRED[p] for p in needed}
        if "num_epochs" in parameters and "num_batches_per_epoch" in parameters:
            required.update(num_epochs=1, num_batches_per_epoch=steps)

        def make(params, lr, cls=cls, name=name, required=required):
            extra: dict[str, Any] = dict(required)
            if name == "LBFGS":  # one iteration per step, with a line search
                extra.update(max_iter=1, line_search_fn="strong_wolfe")
            optimizer = cls(params, lr=lr, **extra)
            if hasattr(optimizer, "train") and callable(optimizer.train):
                optimizer.train()  # Schedule-Free: evaluate gradients at its y point
            return optimizer
        factories[name] = (make, lr)
        if name == "SGD":
            factories["SGD momentum=0.9"] = (
                lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9), lr)
    return factories, skipped


def _steps_to(losses: np.ndarray, target: float) -> int | None:
    hit = np.nonzero(losses <= target)[0]
    return int(hit[0]) if len(hit) else None


@small_figures
def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    needs_matplotlib("test_functions.py")
    steps = 12 if args.quick else 300
    multipliers = (10.0,) if args.quick else (1.0, 10.0, 100.0)
    names = ("rosenbrock", "saddle") if args.quick else tuple(FUNCTIONS)
    factories, skipped = optimizer_factories(steps)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for fname in names:
        f, start, target, bounds, minima = FUNCTIONS[fname]
        results[fname] = {}
        (x0, x1), (y0, y1) = bounds
        width, height = x1 - x0, y1 - y0

        floor = FLOOR.get(fname, -math.inf)

        def outside(point, loss, x0=x0, x1=x1, y0=y0, y1=y1, width=width, height=height,
                    floor=floor):
            """Out of the picture by half its size: the run has left (or escaped)."""
            return loss < floor or not (x0 - width / 2 <= point[0] <= x1 + width / 2
                                        and y0 - height / 2 <= point[1] <= y1 + height / 2)
        for label, (make, lr0) in factories.items():
            best = None
            for m in multipliers:
                lr = lr0 * m
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        _, losses = run_trajectory(f, lambda p: make(p, lr), start, steps,
                                                   stop=outside)
                except Exception as exc:  # an optimizer that cannot run here: say why
                    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:60]}"
                    skipped[f"{label} on {fname}"] = reason
                    best = None
                    break
                reached = _steps_to(losses, target)
                if losses[-1] < floor:  # fell into the pole
                    reached = None
                stopped = len(losses) < steps + 1
                final = losses[-1] if not stopped or reached is not None else math.inf
                rank = (math.inf if reached is None else reached, final)
                if best is None or rank < best["rank"]:
                    best = {"lr": lr, "final": float(final), "steps_to_target": reached,
                            "rank": rank}
            if best is not None:
                results[fname][label] = best
        rows = sorted(results[fname].items(), key=lambda kv: (kv[1]["rank"], kv[0]))
        table(["optimizer", "lr", f"f after {steps}", f"steps to f <= {target:g}"],
              [[label, r["lr"], r["final"], "-" if r["steps_to_target"] is None
                else r["steps_to_target"]] for label, r in rows],
              title=f"{fname} from {start}")
        drawn = {label: (lambda p, make=factories[label][0], lr=results[fname][label]["lr"]:
                         make(p, lr))
                 for label in DRAWN if label in results[fname]}
        if args.quick and fname != names[0]:
            continue  # one figure is enough to test the drawing
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plot_trajectories(f, drawn, start, steps,
                              figure_path(args, f"test_functions_{fname}.png"),
                              bounds=bounds, minima=minima, resolution=60 if args.quick else 150,
                              title=f"{fname}: each optimizer at its best lr of the grid",
                              stop=outside)
    if skipped:
        table(["optimizer", "why it is not in the tables"], sorted(skipped.items()),
              title="left out")
    return {"results": results, "skipped": skipped, "steps": steps,
            "optimizers": sorted(factories)}


if __name__ == "__main__":
    main()
