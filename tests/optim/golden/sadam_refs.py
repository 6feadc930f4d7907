"""Golden trajectories of SAdam / SAMSGrad from the authors' code (neilliang90/Sadam,
optimizer/Sadam.py, commit f64216ae11e8a68072c241e009a128f815eb0f00, class ``Sadam``), on the
golden problem of tests/optim/problems.py (one 4-element parameter, p0 = [1, -2, 0.5, 3],
gradient h p + b + 0.4 p^3), in float64.

Produced with torch 2.13.0+cpu (Python 3.11.7) in the scratch venv /tmp/refenv. Sadam.py is not
packaged: put the directory holding it on the path (``SADAM_REF``, default /tmp/r21/ref)::

    git --git-dir <Sadam mirror> show HEAD:optimizer/Sadam.py > /tmp/r21/ref/Sadam.py
    SADAM_REF=/tmp/r21/ref /tmp/refenv/bin/python tests/optim/golden/sadam_refs.py

The tests import this module to run the reference live when torch and Sadam.py are
importable (minigrad's keyword arguments are the authors', so they pass through unchanged).
"""
from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

STEPS = 30
START = [1.0, -2.0, 0.5, 3.0]
CURVATURE = np.array([1.0, 3.0, 0.5, 2.0])
SHIFT = np.array([0.3, -0.2, 0.1, 0.0])
OUTPUT = Path(__file__).with_suffix(".json")

# minigrad keyword arguments (the same names as the authors')
CASES = [
    dict(),
    dict(lr=0.05, amsgrad=False),
    dict(lr=0.05, betas=(0.8, 0.99), smooth=10.0, weight_decay=0.1),
    dict(lr=0.05, grad_transf="abs", amsgrad=False),
    dict(lr=0.05, transformer="Padam", partial=0.125, eps=1e-3),
    dict(lr=0.01, transformer="Padam", partial=0.5, grad_transf="abs", weight_decay=0.05),
]


def case_id(kwargs):
    return "SAdam(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def gradient(p):
    return CURVATURE * p + SHIFT + 0.4 * p ** 3


def reference_class():
    """The authors' ``Sadam`` (ImportError when torch or Sadam.py is missing)."""
    import torch  # noqa: F401
    path = os.environ.get("SADAM_REF", "/tmp/r21/ref")
    if path not in sys.path:
        sys.path.insert(0, path)
    from Sadam import Sadam
    return Sadam


def run_reference(kwargs, steps=STEPS):
    import torch
    cls = reference_class()
    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    optimizer = cls([p], **kwargs)
    trajectory = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the authors' add_(scalar, tensor) is deprecated
        for _ in range(steps):
            with torch.no_grad():
                p.grad = torch.tensor(gradient(p.detach().numpy()))
            optimizer.step()
            trajectory.append(p.detach().numpy().copy().tolist())
    return trajectory


def load():
    return json.loads(OUTPUT.read_text())


def main():
    import torch
    goldens = {case_id(kwargs): run_reference(kwargs) for kwargs in CASES}
    OUTPUT.write_text(json.dumps({"_produced_with": f"torch {torch.__version__}", **goldens},
                                 indent=1) + "\n")
    print(f"wrote {len(goldens)} trajectories to {OUTPUT}")


if __name__ == "__main__":
    main()
