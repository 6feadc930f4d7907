"""Golden trajectories of Ranger21 from its reference implementation (lessw2020/Ranger21,
ranger21/ranger21.py, commit 1a96777278cdd14bc11afd865112724386d26a44), in float64.

The problem: one (3, 4) weight (so that AGC, centralisation and norm loss act per row) under
the separable quartic loss sum(0.5 h p^2 + b p + 0.1 p^4), gradient h p + b + 0.4 p^3, for
30 steps with num_epochs=2, num_batches_per_epoch=15: the default warm-up (6 steps: the
reference's 45% rule) and warm-down (from step 21) both happen. One parameter, because the
reference applies weight decay and norm loss to the last parameter only (a bug minigrad
does not reproduce); with one parameter both agree. Lookahead merges every 5 steps by
default.

Produced with torch 2.13.0+cpu and matplotlib 3.11.2 (which the reference imports), Python
3.11.7, in the scratch venv /tmp/refenv. The reference is not on PyPI at that commit: put
the directory holding its ``ranger21`` package on the path (``RANGER21_REF``, default
/tmp/r21/ref)::

    for f in __init__.py ranger21.py rangerabel.py; do
        git --git-dir <Ranger21 mirror> show HEAD:ranger21/$f > /tmp/r21/ref/ranger21/$f
    done
    RANGER21_REF=/tmp/r21/ref /tmp/refenv/bin/python tests/optim/golden/ranger21_refs.py

A second set of cases runs a model of five parameters (a Linear weight, a conv filter bank,
vectors of 5 and 2 entries, a scalar) with weight decay and norm loss off, where the
reference's bug does not act either (3-d weights are left out: the reference takes their unit
norms over dim 1 only).

The tests import this module to run the reference live when it is importable. minigrad's
keyword arguments are the reference's, so they pass through unchanged.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

STEPS = 30
EPOCHS, BATCHES = 2, 15
SHAPE = (3, 4)
_rng = np.random.default_rng(21)
START = _rng.uniform(-1.5, 1.5, SHAPE)
CURVATURE = _rng.uniform(0.5, 3.0, SHAPE)
SHIFT = _rng.uniform(-0.5, 0.5, SHAPE)
OUTPUT = Path(__file__).with_suffix(".json")

# minigrad keyword arguments (the reference's names); every case also gets num_epochs and
# num_batches_per_epoch
CASES = [
    dict(lr=0.05),
    dict(lr=0.05, weight_decay=0.1, normloss_factor=0.05, betas=(0.8, 0.99)),
    dict(lr=0.05, use_adaptive_gradient_clipping=False, lookahead_active=False),
    dict(lr=0.05, agc_clipping_value=0.5, agc_eps=0.1, eps=1e-4),
    dict(lr=0.05, using_gc=False, normloss_active=False),
    dict(lr=0.05, using_normgc=False, softplus=False),
    dict(lr=0.05, beta_softplus=5.0, lookahead_mergetime=3, lookahead_blending_alpha=0.8),
    dict(lr=0.05, use_warmup=False, warmdown_active=False, weight_decay=0.0),
    dict(lr=0.05, num_warmup_iterations=10, warmdown_start_pct=0.5, warmdown_min_lr=1e-3),
    dict(lr=0.05, use_madgrad=True),
    dict(lr=0.05, use_madgrad=True, momentum=0.5, weight_decay=0.1),
    dict(lr=0.05, use_madgrad=True, momentum=0.0, using_gc=False),
]


MULTI_SHAPES = [(3, 4), (2, 3, 2, 2), (5,), (2,), ()]
_rng = np.random.default_rng(22)
MULTI_START = [_rng.uniform(-1.5, 1.5, shape) for shape in MULTI_SHAPES]
MULTI_CURVATURE = [_rng.uniform(0.5, 3.0, shape) for shape in MULTI_SHAPES]
MULTI_SHIFT = [_rng.uniform(-0.5, 0.5, shape) for shape in MULTI_SHAPES]
MULTI_CASES = [
    dict(lr=0.05, weight_decay=0.0, normloss_active=False),
    dict(lr=0.05, weight_decay=0.0, normloss_active=False, agc_clipping_value=0.2,
         gc_conv_only=True, lookahead_mergetime=4),
    dict(lr=0.05, weight_decay=0.0, normloss_active=False, use_madgrad=True),
]


def case_id(kwargs):
    return "Ranger21(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def gradient(p):
    return CURVATURE * p + SHIFT + 0.4 * p ** 3


def reference_class():
    """The reference ``Ranger21`` (ImportError when torch or the reference is missing)."""
    import torch  # noqa: F401
    path = os.environ.get("RANGER21_REF", "/tmp/r21/ref")
    if path not in sys.path:
        sys.path.insert(0, path)
    from ranger21.ranger21 import Ranger21
    return Ranger21


def run_reference(kwargs, steps=STEPS):
    import torch
    cls = reference_class()
    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    with contextlib.redirect_stdout(io.StringIO()):  # the reference prints its settings
        optimizer = cls([p], num_epochs=EPOCHS, num_batches_per_epoch=BATCHES, **kwargs)
        trajectory = []
        for _ in range(steps):
            p.grad = torch.tensor(gradient(p.detach().numpy()))
            optimizer.step()
            trajectory.append(p.detach().numpy().copy().tolist())
    return trajectory


def multi_gradients(params):
    return [h * p + b + 0.4 * p ** 3 for p, h, b in zip(params, MULTI_CURVATURE, MULTI_SHIFT)]


def run_reference_multi(kwargs, steps=STEPS):
    """The model of MULTI_SHAPES: after each step, the list of parameters."""
    import torch
    cls = reference_class()
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in MULTI_START]
    with contextlib.redirect_stdout(io.StringIO()):
        optimizer = cls(params, num_epochs=EPOCHS, num_batches_per_epoch=BATCHES, **kwargs)
        trajectory = []
        for _ in range(steps):
            grads = multi_gradients([p.detach().numpy() for p in params])
            for p, g in zip(params, grads):
                p.grad = torch.tensor(g)
            optimizer.step()
            trajectory.append([p.detach().numpy().copy().tolist() for p in params])
    return trajectory


def load():
    return json.loads(OUTPUT.read_text())


def main():
    import torch
    goldens = {case_id(kwargs): run_reference(kwargs) for kwargs in CASES}
    goldens.update({"multi:" + case_id(kwargs): run_reference_multi(kwargs)
                    for kwargs in MULTI_CASES})
    OUTPUT.write_text(json.dumps({"_produced_with": f"torch {torch.__version__}", **goldens})
                      + "\n")
    print(f"wrote {len(goldens)} trajectories to {OUTPUT}")


if __name__ == "__main__":
    main()
