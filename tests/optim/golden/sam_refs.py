"""Golden trajectories of SAM / ASAM from the reference implementation, davda54/sam
(``sam.py`` at commit 3c3afdbd71cff2462ec91c734b3d1170bd0f3707), run under torch 2.13.0
(CPU, float64) with torch.optim.SGD and torch.optim.Adam as base optimizers, for
tests/optim/test_sam.py.

The problem is the quartic loss of tests/optim/problems.py, sum(0.5 h p^2 + b p + 0.1 p^4),
over three parameters (a 3x4 matrix, a 4-vector, a scalar) whose start, h and b are drawn
here (``default_rng(5)``) and stored in the JSON. Each step is the reference's usage:
``zero_grad(); loss.backward(); optimizer.step(closure)`` with a closure that recomputes the
loss and calls ``backward()``.

To regenerate sam_refs.json::

    git --git-dir=<mirror of davda54/sam> show HEAD:sam.py > /tmp/sam_ref/sam.py
    PYTHONPATH=/tmp/sam_ref /tmp/refenv/bin/python tests/optim/golden/sam_refs.py

The test imports this module to run the reference live when ``sam`` and torch are importable.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).with_suffix(".json")
STEPS = 50
SHAPES = [(3, 4), (4,), ()]


def problem() -> tuple[list, list, list]:
    rng = np.random.default_rng(5)
    start = [rng.uniform(-1.5, 1.5, shape) for shape in SHAPES]
    curvature = [rng.uniform(0.5, 3.0, shape) for shape in SHAPES]
    shift = [rng.uniform(-0.5, 0.5, shape) for shape in SHAPES]
    return start, curvature, shift


# name -> (base optimizer class name, SAM keyword arguments, group layout)
# layout None: one group of all parameters; else a list of (param indices, group options)
CASES = {
    "sgd": ("SGD", dict(rho=0.05, lr=0.05, momentum=0.9), None),
    "sgd-asam": ("SGD", dict(rho=0.5, adaptive=True, lr=0.05, momentum=0.9, nesterov=True,
                             weight_decay=0.01), None),
    "adam": ("Adam", dict(rho=0.05, lr=0.02), None),
    "adam-asam": ("Adam", dict(rho=1.0, adaptive=True, lr=0.02, betas=(0.8, 0.99),
                               weight_decay=0.01), None),
    "sgd-groups": ("SGD", dict(rho=0.1, lr=0.05),
                   [([0, 1], {}), ([2], dict(rho=0.02, adaptive=True, lr=0.1))]),
}


def run_reference(name: str) -> list[list]:
    import torch
    from sam import SAM
    base, kwargs, layout = CASES[name]
    start, curvature, shift = problem()
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in start]
    h = [torch.tensor(x, dtype=torch.float64) for x in curvature]
    b = [torch.tensor(x, dtype=torch.float64) for x in shift]
    groups = params if layout is None else [
        {"params": [params[i] for i in indices], **options} for indices, options in layout]
    optimizer = SAM(groups, getattr(torch.optim, base), **kwargs)

    def loss():
        return sum((0.5 * hh * p * p + bb * p + 0.1 * p ** 4).sum()
                   for p, hh, bb in zip(params, h, b))

    def closure():
        value = loss()
        value.backward()
        return value

    trajectory = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step(closure)
        trajectory.append([p.detach().numpy().tolist() for p in params])
    return trajectory


def main() -> None:
    import torch
    start, curvature, shift = problem()
    out = {"torch": torch.__version__, "sam_commit": "3c3afdbd71cff2462ec91c734b3d1170bd0f3707",
           "problem": {"start": [x.tolist() for x in start],
                       "curvature": [x.tolist() for x in curvature],
                       "shift": [x.tolist() for x in shift]},
           "trajectories": {name: run_reference(name) for name in CASES}}
    OUTPUT.write_text(json.dumps(out) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
