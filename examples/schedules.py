"""Learning-rate schedules: every scheduler's curve, warmup + cosine against a constant
rate on the digits MLP, and the linear scaling rule.

1. Each scheduler in ``minigrad.optim.lr_scheduler`` drives SGD for 100 steps (found at
   run time; one without a recipe here is listed as not drawn).
2. SGD with momentum on the digits MLP, a constant rate against a linear warmup followed by
   a cosine decay to zero (stepped every batch), at the same, high, peak rate (0.3): the
   constant rate bounces around and its validation loss creeps up, the decaying one settles.
3. The linear scaling rule of Goyal et al. (2017), "Accurate, Large Minibatch SGD": with k
   times the batch, k times the rate (after a short warmup) gives about the same curve per
   epoch as the small batch, in k times fewer steps; the big batch at the small batch's
   rate falls behind.

Run: ``python examples/schedules.py`` (``--quick``: 2 epochs); writes
``examples/figures/schedules_curves.png`` and ``examples/figures/schedules_digits.png``.
"""
from __future__ import annotations

import inspect
import math

import numpy as np

import minigrad as mg
from minigrad.optim import SGD
from minigrad.optim import lr_scheduler as sched
from _shared import digits, figure_path, mlp, needs_matplotlib, parser, small_figures, table, train

# class name -> (optimizer, steps) -> scheduler
RECIPES = {
    "LambdaLR": lambda o, n: sched.LambdaLR(o, lambda t: 1 / math.sqrt(1 + t / 5)),
    "MultiplicativeLR": lambda o, n: sched.MultiplicativeLR(o, lambda t: 0.97),
    "StepLR": lambda o, n: sched.StepLR(o, step_size=n // 5, gamma=0.5),
    "MultiStepLR": lambda o, n: sched.MultiStepLR(o, [n * 3 // 10, n * 6 // 10, n * 8 // 10],
                                                  gamma=0.3),
    "ConstantLR": lambda o, n: sched.ConstantLR(o, total_iters=n // 10),
    "LinearLR": lambda o, n: sched.LinearLR(o, 0.05, 1.0, total_iters=n // 4),
    "ExponentialLR": lambda o, n: sched.ExponentialLR(o, gamma=0.96),
    "ExponentialDecayLR": lambda o, n: sched.ExponentialDecayLR(o, decay_rate=0.04),
    "InverseTimeLR": lambda o, n: sched.InverseTimeLR(o, decay_rate=0.1),
    "PolynomialLR": lambda o, n: sched.PolynomialLR(o, total_iters=n, power=2.0),
    "CosineAnnealingLR": lambda o, n: sched.CosineAnnealingLR(o, T_max=n, eta_min=0.005),
    "CosineAnnealingWarmRestarts": lambda o, n: sched.CosineAnnealingWarmRestarts(
        o, T_0=max(1, n // 7), T_mult=2, eta_min=0.005),
    "CyclicLR": lambda o, n: sched.CyclicLR(o, 0.01, 0.1, step_size_up=max(1, n // 8),
                                            mode="triangular2"),
    "OneCycleLR": lambda o, n: sched.OneCycleLR(o, max_lr=0.1, total_steps=n),
    "ReduceLROnPlateau": lambda o, n: sched.ReduceLROnPlateau(o, factor=0.5, patience=5),
    "SequentialLR": lambda o, n: sched.warmup_cosine(o, n // 10, n, eta_min=0.005),
    "ChainedScheduler": lambda o, n: sched.ChainedScheduler(
        [sched.CosineAnnealingLR(o, T_max=n // 4), sched.ExponentialLR(o, gamma=0.98)]),
    "WarmupStableDecayLR": lambda o, n: sched.WarmupStableDecayLR(o, n // 10, n // 2,
                                                                  n - n // 10 - n // 2),
    "InverseSqrtLR": lambda o, n: sched.InverseSqrtLR(o, warmup_steps=n // 10),
    "Ranger21LR": lambda o, n: sched.Ranger21LR(o, total_steps=n),
}
NOTES = {"SequentialLR": "warmup_cosine", "ChainedScheduler": "cosine x 0.98^t",
         "ReduceLROnPlateau": "plateau from step 40"}


def schedulers() -> list[str]:
    return [name for name in sched.__all__
            if inspect.isclass(getattr(sched, name))
            and issubclass(getattr(sched, name), sched.LRScheduler)
            and name != "LRScheduler"]


def curve(name: str, steps: int) -> list[float]:
    optimizer = SGD([mg.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    scheduler = RECIPES[name](optimizer, steps)
    rates = []
    for step in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if isinstance(scheduler, sched.ReduceLROnPlateau):
            scheduler.step(1.0 / (1.0 + min(step, 40) / 10))  # stops improving at step 40
        else:
            scheduler.step()
    return rates


def run(data, batch_size: int, lr: float, epochs: int, warmup_cosine: bool = False,
        warmup_epochs: float = 0.0, seed: int = 0) -> dict[str, list[float]]:
    mg.manual_seed(seed)
    model = mlp((64,))
    optimizer = SGD(model.parameters(), lr=lr, momentum=0.9)
    steps_per_epoch = math.ceil(len(data["train"][1]) / batch_size)
    total = epochs * steps_per_epoch
    warmup = int(warmup_epochs * steps_per_epoch)
    if warmup_cosine:
        scheduler = sched.warmup_cosine(optimizer, max(1, warmup), total)
    elif warmup:
        scheduler = sched.LinearLR(optimizer, 1.0 / warmup, 1.0, total_iters=warmup)
    else:
        scheduler = None
    return train(model, optimizer, data, epochs, batch_size=batch_size, seed=seed,
                 scheduler=scheduler, per_step_scheduler=True)


@small_figures
def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    needs_matplotlib("schedules.py")
    from minigrad.viz._figure import new_figure, save
    names = schedulers()
    drawn = [n for n in names if n in RECIPES]
    curves = {name: curve(name, 100) for name in drawn}
    table(["scheduler", "lr at 0", "at 25", "at 50", "at 99", "min", "max"],
          [[n, c[0], c[25], c[50], c[99], min(c), max(c)] for n, c in curves.items()],
          title="100 steps of SGD(lr=0.1) under each scheduler")
    missing = [n for n in names if n not in RECIPES]
    if missing:
        print("not drawn (no recipe in this example):", ", ".join(missing))
    columns = 5
    rows = math.ceil(len(drawn) / columns)
    figure = new_figure(14.0, 2.0 * rows + 0.4, layout=None)  # (constrained layout: slow)
    figure.subplots_adjust(left=0.04, right=0.99, bottom=0.05, top=0.9, wspace=0.25,
                           hspace=0.55)
    for k, name in enumerate(drawn):
        axes = figure.add_subplot(rows, columns, k + 1)
        axes.plot(curves[name], color="C0", linewidth=1.6)
        axes.set_title(name + (f"\n({NOTES[name]})" if name in NOTES else ""), fontsize=9)
        axes.set_ylim(0, 0.105)
        axes.tick_params(labelsize=7)
        axes.grid(True, alpha=0.3)
    figure.suptitle("learning rate against step (SGD, lr = 0.1, 100 steps)")
    save(figure, figure_path(args, "schedules_curves.png"), dpi=80)

    epochs = 2 if args.quick else 15
    data = digits()
    peak = 0.3  # high: a constant rate this size never settles, the decay lets it
    constant = run(data, 64, peak, epochs)
    cosine = run(data, 64, peak, epochs, warmup_cosine=True, warmup_epochs=1)
    table(["schedule (SGD momentum 0.9, batch 64)", "final train loss", "final val loss",
           "test accuracy"],
          [[f"constant {peak}", constant["train_loss"][-1], constant["val_loss"][-1],
            constant["test_accuracy"][-1]],
           [f"1-epoch warmup + cosine, peak {peak}", cosine["train_loss"][-1],
            cosine["val_loss"][-1], cosine["test_accuracy"][-1]]],
          title=f"digits MLP 64-64-10, {epochs} epochs")
    k, small_batch, small_lr = 4, 32, 0.02
    scaling = {f"batch {small_batch}, lr {small_lr}": run(data, small_batch, small_lr, epochs),
               f"batch {k * small_batch}, lr {k * small_lr:g} (scaled, warmup)":
                   run(data, k * small_batch, k * small_lr, epochs, warmup_epochs=1),
               f"batch {k * small_batch}, lr {small_lr} (not scaled)":
                   run(data, k * small_batch, small_lr, epochs)}
    table(["run", "steps", "final train loss", "final val loss", "test accuracy"],
          [[label, epochs * math.ceil(1078 / int(label.split()[1].rstrip(","))),
            c["train_loss"][-1], c["val_loss"][-1], c["test_accuracy"][-1]]
           for label, c in scaling.items()],
          title=f"the linear scaling rule, k = {k}")

    figure = new_figure(12.0, 4.2)
    axes = figure.add_subplot(1, 2, 1)
    epochs_axis = np.arange(1, epochs + 1)
    for i, (label, c) in enumerate((("constant", constant), ("warmup + cosine", cosine))):
        axes.plot(epochs_axis, c["train_loss"], "--", color=f"C{i}", label=f"{label}: train")
        axes.plot(epochs_axis, c["val_loss"], "-o", color=f"C{i}", markersize=3,
                  label=f"{label}: val")
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("cross-entropy")
    axes.set_title("constant rate vs warmup + cosine")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    twin = axes.twinx()
    twin.plot(epochs_axis, constant["lr"], ":", color="C0", alpha=0.6)
    twin.plot(epochs_axis, cosine["lr"], ":", color="C1", alpha=0.6)
    twin.set_ylabel("lr at the epoch's start (dotted)", color="0.4")
    axes = figure.add_subplot(1, 2, 2)
    for i, (label, c) in enumerate(scaling.items()):
        axes.plot(epochs_axis, c["val_loss"], "-o", markersize=3, color=f"C{i + 2}",
                  label=label)
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation cross-entropy")
    axes.set_title(f"linear scaling rule (k = {k})")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    save(figure, figure_path(args, "schedules_digits.png"))
    return {"curves": curves, "missing": missing, "constant": constant, "cosine": cosine,
            "scaling": scaling}


if __name__ == "__main__":
    main()
