"""Golden trajectories of AdaBound / AMSBound, MADGRAD, DAdaptAdam, DAdaptSGD and Prodigy,
from their reference implementations, in float64.

The problem: two parameters, ``a`` (4 entries, p0 = [1, -2, 0.5, 3]) and ``b`` (3 entries,
p0 = [-0.7, 0.2, 1.4]), each with the gradient h p + c + 0.4 p^3 of the quartic loss of
tests/optim/problems.py (h and c below). Two parameters, because the D-Adaptation methods
and Prodigy sum over all of them; a case may also put them in two param groups (``groups``:
the per-group overrides, ``a`` in the first group and ``b`` in the second) and may halve
every group's lr before a given step (``halve_lr_at``: AdaBound scales its bounds by it).

References (PyPI packages, with torch 2.13.0+cpu):
    adabound 0.0.5 (Luolc/AdaBound; AMSBound is its ``amsbound=True``),
    madgrad 1.3 (facebookresearch/madgrad), dadaptation 3.2 (facebookresearch/dadaptation),
    prodigyopt 1.1.2 (konstmish/prodigy).
Compared with the heads of the repositories (the snapshots read for this work): madgrad
0d858b9 and prodigy 3efb213 hold the same code, AdaBound 2e928c3 adds only AdaBoundW, and
dadaptation c984980 differs only in how it adds the sums of several processes (FSDP), which
one process never uses.

To regenerate parameter_free_refs.json::

    /tmp/refenv/bin/pip install torch adabound madgrad dadaptation prodigyopt
    /tmp/refenv/bin/python tests/optim/golden/parameter_free_refs.py

The tests import this module to run the references live when torch and they are
importable.

The cases avoid the behaviours where minigrad deliberately differs from a reference (see
each class's docstring): a group with lr 0, DAdaptSGD groups with different momentum or
weight decay, MADGRAD with momentum 0 and eps 0, and zero gradients at DAdaptSGD's first
step.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

STEPS = 30
START = [[1.0, -2.0, 0.5, 3.0], [-0.7, 0.2, 1.4]]
CURVATURE = [np.array([1.0, 3.0, 0.5, 2.0]), np.array([2.5, 0.8, 1.5])]
SHIFT = [np.array([0.3, -0.2, 0.1, 0.0]), np.array([-0.4, 0.25, 0.05])]
OUTPUT = Path(__file__).with_suffix(".json")


def gradient(i, p):
    """The gradient of parameter ``i`` at ``p`` (a float64 array)."""
    return CURVATURE[i] * p + SHIFT[i] + 0.4 * p ** 3


def case(name, kwargs, groups=None, halve_lr_at=None):
    return dict(name=name, kwargs=kwargs, groups=groups, halve_lr_at=halve_lr_at)


CASES = [
    case("AdaBound", dict(lr=0.05)),
    case("AdaBound", dict(lr=0.02, betas=(0.8, 0.99), final_lr=0.05, gamma=0.1, eps=1e-6,
                          weight_decay=0.1), halve_lr_at=10),
    case("AdaBound", dict(lr=0.05, gamma=0.05), groups=[{}, {"lr": 0.02, "final_lr": 0.3}]),
    case("AMSBound", dict(lr=0.05, gamma=0.1)),
    case("AMSBound", dict(lr=0.05, betas=(0.9, 0.9), final_lr=0.05, gamma=0.2,
                          weight_decay=0.05), halve_lr_at=12),
    case("MADGRAD", dict(lr=0.05)),
    case("MADGRAD", dict(lr=0.02, momentum=0.0, eps=1e-4, weight_decay=0.1)),
    case("MADGRAD", dict(lr=0.03, momentum=0.5, eps=0.0, weight_decay=0.1,
                         decouple_decay=True)),
    case("MADGRAD", dict(lr=0.05, momentum=0.0, weight_decay=0.2, decouple_decay=True),
         groups=[{}, {"lr": 0.1, "eps": 1e-3}]),
    case("DAdaptAdam", dict(lr=1.0)),
    case("DAdaptAdam", dict(lr=0.5, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, d0=1e-3,
                            growth_rate=1.5)),
    case("DAdaptAdam", dict(lr=1.0, weight_decay=0.1, decouple=True, use_bias_correction=True,
                            d0=1e-4), groups=[{}, {"layer_scale": 0.5, "eps": 1e-4}]),
    case("DAdaptSGD", dict(lr=1.0)),
    case("DAdaptSGD", dict(lr=0.5, momentum=0.9, weight_decay=0.1, d0=1e-3, growth_rate=1.3)),
    case("DAdaptSGD", dict(lr=1.0, momentum=0.5, d0=1e-2), groups=[{}, {}], halve_lr_at=15),
    case("Prodigy", dict(lr=1.0)),
    case("Prodigy", dict(lr=0.5, betas=(0.8, 0.99), beta3=0.9, eps=1e-6, weight_decay=0.1,
                         d0=1e-3, d_coef=2.0, growth_rate=1.5)),
    case("Prodigy", dict(lr=1.0, betas=(0.0, 0.99), weight_decay=0.1, decouple=False,
                         use_bias_correction=True, d0=1e-4)),
    case("Prodigy", dict(lr=1.0, weight_decay=0.05, safeguard_warmup=True, slice_p=2),
         groups=[{}, {"eps": 1e-4, "weight_decay": 0.0, "slice_p": 1}], halve_lr_at=10),
]


def case_id(c):
    text = c["name"] + "(" + ",".join(f"{k}={v}" for k, v in c["kwargs"].items()) + ")"
    if c["groups"] is not None:
        text += "-groups" + json.dumps(c["groups"], separators=(",", ":"))
    if c["halve_lr_at"] is not None:
        text += f"-halve_lr_at{c['halve_lr_at']}"
    return text


def reference_class(name):
    """The reference optimizer class of ``name`` (ImportError when not installed)."""
    if name in ("AdaBound", "AMSBound"):
        from adabound import AdaBound
        return AdaBound
    if name == "MADGRAD":
        from madgrad import MADGRAD
        return MADGRAD
    if name == "DAdaptAdam":
        from dadaptation import DAdaptAdam
        return DAdaptAdam
    if name == "DAdaptSGD":
        from dadaptation import DAdaptSGD
        return DAdaptSGD
    from prodigyopt import Prodigy
    return Prodigy


def run_reference(c, steps=STEPS):
    """The reference's trajectory: ``trajectory[t - 1]`` is ``[a, b]`` after step t."""
    import contextlib
    import io
    import warnings

    import torch

    cls = reference_class(c["name"])
    kwargs = dict(c["kwargs"])
    if c["name"] == "AMSBound":
        kwargs["amsbound"] = True
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in START]
    if c["groups"] is None:
        spec = params
    else:
        spec = [dict(params=[p], **overrides) for p, overrides in zip(params, c["groups"])]
    with contextlib.redirect_stdout(io.StringIO()):  # "Using decoupled weight decay"
        opt = cls(spec, **kwargs)
    trajectory = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # adabound's deprecated add(Number, Tensor) form
        for t in range(1, steps + 1):
            if t == c["halve_lr_at"]:
                for group in opt.param_groups:
                    group["lr"] *= 0.5
            for i, p in enumerate(params):
                p.grad = torch.tensor(gradient(i, p.detach().numpy()), dtype=torch.float64)
            opt.step()
            trajectory.append([p.detach().numpy().tolist() for p in params])
    return trajectory


def load():
    """{case id: trajectory} as committed."""
    return json.loads(OUTPUT.read_text())["trajectories"]


def main():
    import importlib.metadata as metadata
    versions = {package: metadata.version(package)
                for package in ("torch", "adabound", "madgrad", "dadaptation", "prodigyopt")}
    trajectories = {case_id(c): run_reference(c) for c in CASES}
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in trajectories.items()]
    OUTPUT.write_text(f'{{"steps": {STEPS}, "versions": {json.dumps(versions)},\n'
                      ' "trajectories": {\n' + ",\n".join(lines) + "}}\n")
    print(f"wrote {len(trajectories)} trajectories to {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
