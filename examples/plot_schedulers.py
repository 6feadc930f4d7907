"""Plot the learning rate of every minigrad scheduler over one run, one panel each.

Each schedule drives SGD(lr=0.1, momentum=0.9) for ``--steps`` steps (default 100), stepped
in the documented order (``optimizer.step()`` then ``scheduler.step()``).
ReduceLROnPlateau watches a made-up validation loss that stops improving at step 40.

Run: ``python examples/plot_schedulers.py --out scheduler_curves.png`` (needs matplotlib:
``pip install -e ".[plot]"``).
"""
import argparse
import math
import sys

import minigrad as mg
from minigrad.optim import lr_scheduler as sched
from minigrad.optim.sgd import SGD

# name -> function (optimizer, steps) -> scheduler
SCHEDULES = {
    "LambdaLR  1/√(1 + t/5)": lambda o, n: sched.LambdaLR(o, lambda t: (1 + t / 5) ** -0.5),
    "MultiplicativeLR  ×0.97": lambda o, n: sched.MultiplicativeLR(o, lambda t: 0.97),
    "StepLR  (20, γ=0.5)": lambda o, n: sched.StepLR(o, step_size=20, gamma=0.5),
    "MultiStepLR  [30, 60, 80]": lambda o, n: sched.MultiStepLR(o, [30, 60, 80], gamma=0.3),
    "ConstantLR  (⅓ for 10)": lambda o, n: sched.ConstantLR(o, total_iters=10),
    "LinearLR  warm-up": lambda o, n: sched.LinearLR(o, 0.05, 1.0, total_iters=n // 4),
    "LinearLR  decay": lambda o, n: sched.LinearLR(o, 1.0, 0.05, total_iters=n),
    "ExponentialLR  γ=0.96": lambda o, n: sched.ExponentialLR(o, gamma=0.96),
    "ExponentialDecayLR  k=0.04": lambda o, n: sched.ExponentialDecayLR(o, decay_rate=0.04),
    "InverseTimeLR  k=0.1": lambda o, n: sched.InverseTimeLR(o, decay_rate=0.1),
    "PolynomialLR  power 2": lambda o, n: sched.PolynomialLR(o, total_iters=n, power=2.0),
    "CosineAnnealingLR": lambda o, n: sched.CosineAnnealingLR(o, T_max=n, eta_min=0.005),
    "CosineAnnealingWarmRestarts": lambda o, n: sched.CosineAnnealingWarmRestarts(
        o, T_0=max(1, n // 7), T_mult=2, eta_min=0.005),
    "CyclicLR  triangular2": lambda o, n: sched.CyclicLR(
        o, 0.01, 0.1, step_size_up=max(1, n // 8), mode="triangular2"),
    "CyclicLR  exp_range": lambda o, n: sched.CyclicLR(
        o, 0.01, 0.1, step_size_up=max(1, n // 8), mode="exp_range", gamma=0.98),
    "OneCycleLR": lambda o, n: sched.OneCycleLR(o, max_lr=0.1, total_steps=n),
    "OneCycleLR  three-phase, linear": lambda o, n: sched.OneCycleLR(
        o, max_lr=0.1, total_steps=n, three_phase=True, anneal_strategy="linear"),
    "ReduceLROnPlateau  (patience 5)": lambda o, n: sched.ReduceLROnPlateau(
        o, factor=0.5, patience=5),
    "warmup_cosine  (a SequentialLR)": lambda o, n: sched.warmup_cosine(
        o, n // 10, n, eta_min=0.005),
    "warmup_linear  (a SequentialLR)": lambda o, n: sched.warmup_linear(o, n // 10, n),
    "ChainedScheduler  cosine × 0.98ᵗ": lambda o, n: sched.ChainedScheduler(
        [sched.CosineAnnealingLR(o, T_max=n // 4), sched.ExponentialLR(o, gamma=0.98)]),
}


def validation_loss(step: int) -> float:
    """A loss that falls, then plateaus from step 40 on (with a little wiggle)."""
    return 1.0 / (1.0 + min(step, 40) / 10) + 0.002 * math.sin(step)


def lr_curve(make_scheduler, steps: int) -> list[float]:
    optimizer = SGD([mg.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    scheduler = make_scheduler(optimizer, steps)
    lrs = []
    for step in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # a real loop computes the loss and gradients first
        if isinstance(scheduler, sched.ReduceLROnPlateau):
            scheduler.step(validation_loss(step))
        else:
            scheduler.step()
    return lrs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="scheduler_curves.png", help="PNG file to write")
    parser.add_argument("--steps", type=int, default=100, help="steps per run")
    args = parser.parse_args(argv)
    try:
        import matplotlib
    except ImportError:
        sys.exit('plot_schedulers.py needs matplotlib: pip install -e ".[plot]"')
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    columns = 4
    rows = math.ceil(len(SCHEDULES) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.7 * rows))
    for ax, (name, make) in zip(axes.flat, SCHEDULES.items()):
        ax.plot(lr_curve(make, args.steps), color="tab:blue")
        ax.set_title(name, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(SCHEDULES):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("lr")
    fig.suptitle(f"minigrad LR schedulers: lr per step, base lr 0.1, {args.steps} steps")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
