"""Initialisation and normalisation: what a 10-layer MLP's activations and gradients look
like at initialisation, and how it trains.

Glorot & Bengio (2010) followed activations and back-propagated gradients layer by layer:
with weights drawn from N(0, 1) a 64-wide layer multiplies the scale by about sqrt(64) = 8
(the activations explode within a few layers); LeCun's N(0, 1/fan_in) and Glorot's ("Xavier")
N(0, 2/(fan_in + fan_out)) keep a *linear* layer's scale, but a ReLU halves the second moment,
so after ReLU they shrink by ~1/sqrt(2) per layer; He et al. (2015) double the variance,
N(0, 2/fan_in), and keep ReLU networks at a constant scale. BatchNorm or LayerNorm after each
linear layer resets the scale whatever the initialisation.

Last, the inputs, with He's initialisation (which passes the inputs' scale on to the
logits): pixels as 0..16 (std about 6) make the logits, and the first steps, too large for
this rate; in [0, 1] (std about 0.4, as minigrad loads them) the plain network does best;
standardised pixel by pixel (StandardScaler), the nearly blank border pixels are divided by
standard deviations of about 0.002, so a validation digit with a little ink there gets
inputs near 80, and the plain network's validation loss stalls while its training loss
falls. With BatchNorm after each linear layer the three end close together.

Run: ``python examples/init_and_norm.py`` (``--quick``: fewer runs, one epoch); writes
``examples/figures/init_and_norm_stats.png`` and ``examples/figures/init_and_norm_training.png``.
"""
from __future__ import annotations

import math

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.optim import SGD
from minigrad.viz import layer_stats
from _shared import digits, figure_path, mlp, needs_matplotlib, parser, small_figures, table, train

INITS = {
    "N(0, 1)": lambda w: nn.init.normal_(w, 0.0, 1.0),
    "LeCun": lambda w: nn.init.normal_(w, 0.0, 1.0 / math.sqrt(w.shape[1])),
    "Xavier": lambda w: nn.init.xavier_normal_(w),
    "He": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
}
NORMS = {"no normalisation": None, "BatchNorm": "batch", "LayerNorm": "layer"}
DEPTH = 10  # linear layers


def network(init: str, norm: str | None, seed: int = 0) -> nn.Sequential:
    mg.manual_seed(seed)
    model = mlp((64,) * (DEPTH - 1), norm=norm)
    with mg.no_grad():
        for layer in model:
            if isinstance(layer, nn.Linear):
                INITS[init](layer.weight)
                layer.bias.zero_()
    return model


@small_figures
def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    needs_matplotlib("init_and_norm.py")
    data = digits()
    X, y = data["train"]
    size = 128 if args.quick else 256
    batch = (X[:size], y[:size])
    stats = {}
    rows = []
    for norm_label, norm in NORMS.items():
        for init in INITS:
            s = layer_stats(network(init, norm), *batch)
            relu = [k for k, flag in enumerate(s.is_activation) if flag]
            stats[(init, norm_label)] = (s.activation_std[relu], s.gradient_std[relu])
            a, g = stats[(init, norm_label)]
            rows.append([init, norm_label, a[0], a[-1], a[-1] / a[0], g[0], g[-1]])
    table(["init", "normalisation", "act std L1", f"act std L{DEPTH - 1}", "ratio",
           "grad std L1", f"grad std L{DEPTH - 1}"], rows,
          title=f"{DEPTH}-layer ReLU MLP (64 wide) at initialisation, {size} digits")

    epochs = 1 if args.quick else 10
    configs = ([("He", None), ("He", "batch")] if args.quick else
               [(init, norm) for norm in (None, "batch") for init in INITS])
    runs = {}
    for init, norm in configs:
        model = network(init, norm)
        optimizer = SGD(model.parameters(), lr=0.01, momentum=0.9)
        runs[f"{init}, {norm or 'no'} norm"] = train(model, optimizer, data, epochs)
    initialisations = list(runs)
    unit = digits(standardize=False)  # as loaded: pixels / 16, in [0, 1]
    inputs = {"pixels 0..16": {k: (X * 16.0, y) for k, (X, y) in unit.items()},
              "pixels in [0, 1]": unit,
              "standardised per pixel": data}
    table(["inputs", "train std", "largest |value| in val"],
          [[label, float(d["train"][0].numpy().std()), float(abs(d["val"][0].numpy()).max())]
           for label, d in inputs.items()], title="the three kinds of inputs")
    for label, d in inputs.items():
        for norm in ((None,) if args.quick else (None, "batch")):
            key = f"He, {label}, {norm or 'no'} norm"
            if label.startswith("standardised") and f"He, {norm or 'no'} norm" in runs:
                runs[key] = runs[f"He, {norm or 'no'} norm"]  # the same run as above
                continue
            if args.quick and label == "pixels in [0, 1]":
                continue
            model = network("He", norm)
            runs[key] = train(model, SGD(model.parameters(), lr=0.01, momentum=0.9), d, epochs)
    table(["run (SGD 0.01, momentum 0.9)", "final train loss", "final val loss",
           "test accuracy"],
          [[label, r["train_loss"][-1], r["val_loss"][-1], r["test_accuracy"][-1]]
           for label, r in runs.items()], title=f"training, {epochs} epoch(s)")

    from minigrad.viz._figure import new_figure, save
    figure = new_figure(13.0, 6.5, layout=None)  # (constrained layout is slow with 6 panels)
    figure.subplots_adjust(left=0.06, right=0.99, bottom=0.08, top=0.95, wspace=0.22,
                           hspace=0.4)
    depth = np.arange(1, DEPTH)
    for column, norm_label in enumerate(NORMS):
        for row, what in enumerate(("activation std", "gradient std")):
            axes = figure.add_subplot(2, 3, 3 * row + column + 1)
            for i, init in enumerate(INITS):
                axes.semilogy(depth, stats[(init, norm_label)][row], "o-", color=f"C{i}",
                              markersize=3.5, label=init if init != "Xavier"
                              else "Xavier (= LeCun on the square hidden layers)")
            if row == 0 and column > 0:  # normalised: flat, on a scale that shows it
                axes.set_ylim(0.05, 5.0)
            axes.set_title(f"{what}: {norm_label}", fontsize=10)
            axes.set_xlabel("ReLU layer")
            axes.set_xticks(depth)
            axes.grid(True, alpha=0.3)
            if column == 0:
                axes.set_ylabel(what)
                axes.legend(fontsize=8)
    save(figure, figure_path(args, "init_and_norm_stats.png"))
    figure = new_figure(12.0, 4.2)
    axes = figure.add_subplot(1, 2, 1)
    epochs_axis = np.arange(1, epochs + 1)
    for label in initialisations:
        axes.plot(epochs_axis, runs[label]["val_loss"], "-o" if "batch" in label else "--o",
                  markersize=3, color=f"C{list(INITS).index(label.rsplit(', ', 1)[0])}",
                  label=label + (" (diverged: NaN)" if np.isnan(runs[label]["val_loss"][-1])
                                 else ""))
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation cross-entropy")
    axes.set_title("training (dashed: no norm, solid: BatchNorm)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    axes = figure.add_subplot(1, 2, 2)
    for i, label in enumerate(inputs):
        for norm in (None, "batch"):
            key = f"He, {label}, {norm or 'no'} norm"
            if key in runs:
                axes.plot(epochs_axis, runs[key]["val_loss"], "-o" if norm else "--o",
                          markersize=3, color=f"C{i + 4}", label=key[4:])
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("validation cross-entropy")
    axes.set_title("inputs, He init (dashed: no norm, solid: BatchNorm)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    save(figure, figure_path(args, "init_and_norm_training.png"))
    return {"stats": stats, "runs": runs}


if __name__ == "__main__":
    main()
