"""Golden numbers of ``torch.optim.swa_utils`` (torch 2.13.0, CPU, float64) for
tests/optim/test_swa_utils.py: SWALR's lr sequences, AveragedModel's averages with each
averaging function, and update_bn's statistics.

The inputs (model weights at each update, data batches) are drawn here with NumPy
(``default_rng(0)``) and stored in the JSON with the outputs, so the test feeds minigrad
exactly what torch saw. The model is ``Linear(3, 4) -> BatchNorm1d(4) -> Linear(4, 2)``
(the same parameter and buffer order in both libraries).

To regenerate swa_refs.json (torch installed in the scratch venv)::

    /tmp/refenv/bin/pip install torch numpy
    /tmp/refenv/bin/python tests/optim/golden/swa_refs.py

The test imports this module to run torch live when it is importable.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).with_suffix(".json")
BASES = [0.1, 0.02]

# SWALR: (kwargs, steps, optional (step, factor): scale every lr by hand before that step)
SWALR_CASES = [
    (dict(swa_lr=[0.05, 0.01], anneal_epochs=5, anneal_strategy="cos"), 12, None),
    (dict(swa_lr=0.03, anneal_epochs=3, anneal_strategy="linear"), 8, None),
    (dict(swa_lr=[0.05, 0.001], anneal_epochs=0), 5, None),
    (dict(swa_lr=0.05, anneal_epochs=1, anneal_strategy="linear"), 5, None),
    (dict(swa_lr=0.2, anneal_epochs=6, anneal_strategy="cos"), 10, (3, 0.5)),
]

# AveragedModel: name -> (constructor options, as strings the test maps to functions)
AVERAGE_CASES = {
    "swa": dict(),
    "swa-buffers": dict(use_buffers=True),
    "ema-avg_fn": dict(avg_fn=("ema", 0.9)),
    "ema-multi": dict(multi_avg_fn=("ema", 0.8)),
    "ema-multi-buffers": dict(multi_avg_fn=("ema", 0.7), use_buffers=True),
    "swa-avg_fn": dict(avg_fn=("swa",)),
    "swa-multi": dict(multi_avg_fn=("swa",)),
}
UPDATES = 6
SHAPES = {"0.weight": (4, 3), "0.bias": (4,), "1.weight": (4,), "1.bias": (4,),
          "2.weight": (2, 4), "2.bias": (2,)}
BUFFERS = {"1.running_mean": (4,), "1.running_var": (4,)}


def inputs() -> dict:
    rng = np.random.default_rng(0)
    states = []
    for k in range(UPDATES):
        state = {name: rng.normal(size=shape).tolist() for name, shape in SHAPES.items()}
        state.update({name: (rng.uniform(0.5, 2.0, size=shape) if "var" in name
                             else rng.normal(size=shape)).tolist()
                      for name, shape in BUFFERS.items()})
        state["1.num_batches_tracked"] = int(3 * k + 1)
        states.append(state)
    batches = [rng.normal(loc=0.5, scale=2.0, size=(8, 3)).tolist() for _ in range(5)]
    return {"states": states, "batches": batches}


def make_fn(torch, spec):
    from torch.optim import swa_utils as su
    kind, *args = spec
    if kind == "ema":
        return su.get_ema_avg_fn(*args), su.get_ema_multi_avg_fn(*args)
    return su.get_swa_avg_fn(), su.get_swa_multi_avg_fn()


def torch_model(torch):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                               torch.nn.Linear(4, 2)).double()


def load(torch, model, state):
    with torch.no_grad():
        for name, value in model.state_dict().items():
            value.copy_(torch.tensor(state[name], dtype=value.dtype))


def run_swalr(kwargs, steps, change):
    import torch
    params = [torch.zeros(2, requires_grad=True) for _ in BASES]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, BASES)],
                          lr=BASES[0])
    sched = torch.optim.swa_utils.SWALR(opt, **kwargs)
    lrs = [[g["lr"] for g in opt.param_groups]]
    for t in range(1, steps):
        opt.step()
        if change is not None and change[0] == t:
            for g in opt.param_groups:
                g["lr"] *= change[1]
        sched.step()
        lrs.append([float(g["lr"]) for g in opt.param_groups])
    return lrs


def run_sequential(swa_first):
    """SWALR inside SequentialLR (after, or before, a LinearLR warm-up), milestone 4."""
    import torch
    params = [torch.zeros(2, requires_grad=True) for _ in BASES]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, BASES)],
                          lr=BASES[0])
    warmup = torch.optim.lr_scheduler.LinearLR(opt, 0.2, 1.0, 3)
    swa = torch.optim.swa_utils.SWALR(opt, swa_lr=[0.03, 0.01], anneal_epochs=3)
    sched = torch.optim.lr_scheduler.SequentialLR(
        opt, [swa, warmup] if swa_first else [warmup, swa], [4])
    lrs = [[g["lr"] for g in opt.param_groups]]
    for _ in range(11):
        opt.step()
        sched.step()
        lrs.append([float(g["lr"]) for g in opt.param_groups])
    return lrs


def run_average(options, data):
    import torch
    from torch.optim import swa_utils as su
    model = torch_model(torch)
    kwargs = {}
    if "avg_fn" in options:
        kwargs["avg_fn"] = make_fn(torch, options["avg_fn"])[0]
    if "multi_avg_fn" in options:
        kwargs["multi_avg_fn"] = make_fn(torch, options["multi_avg_fn"])[1]
    if "use_buffers" in options:
        kwargs["use_buffers"] = options["use_buffers"]
    averaged = su.AveragedModel(model, **kwargs)
    history = []
    for state in data["states"]:
        load(torch, model, state)
        averaged.update_parameters(model)
        history.append({name: value.tolist() for name, value in averaged.state_dict().items()})
    return history


def run_update_bn(data):
    import torch
    from torch.optim import swa_utils as su
    model = torch_model(torch)
    load(torch, model, data["states"][0])
    model[1].momentum = 0.3
    model.eval()
    loader = [(torch.tensor(b, dtype=torch.float64), torch.zeros(8)) for b in data["batches"]]
    su.update_bn(loader, model)
    bn = model[1]
    return {"running_mean": bn.running_mean.tolist(), "running_var": bn.running_var.tolist(),
            "num_batches_tracked": int(bn.num_batches_tracked), "momentum": bn.momentum,
            "training": model.training}


def main() -> None:
    import torch
    data = inputs()
    out = {"torch": torch.__version__, "inputs": data,
           "swalr": [run_swalr(*case) for case in SWALR_CASES],
           "sequential": [run_sequential(False), run_sequential(True)],
           "average": {name: run_average(options, data)
                       for name, options in AVERAGE_CASES.items()},
           "update_bn": run_update_bn(data)}
    OUTPUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
