"""Golden trajectories of Yogi, Adan, SignSGD, Signum, QHM, QHAdam, ADOPT and AdEMAMix, from
their reference implementations, on the golden problem of tests/optim/problems.py (one
4-element parameter, p0 = [1, -2, 0.5, 3], gradient h p + b + 0.4 p^3), in float64.

References: optax (yogi, adan, sign_sgd, signum), qhoptim (QHM, QHAdam), the authors' adopt
package (iShohei220/adopt) and the authors' AdEMAMix code (apple/ml-ademamix,
pytorch/ademamix.py, importable as ``ademamix``). Each case is named by the minigrad class
and its keyword arguments; the ``run_*`` functions translate them into the reference's.

To regenerate elementwise_refs.json (with the references installed in a scratch venv)::

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install optax "jax[cpu]" qhoptim torch   # + the adopt package
    PYTHONPATH=<ml-ademamix>/pytorch /tmp/refenv/bin/python tests/optim/golden/elementwise_refs.py

The tests import this module to run a reference live when it is importable.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

STEPS = 20
START = [1.0, -2.0, 0.5, 3.0]
CURVATURE = np.array([1.0, 3.0, 0.5, 2.0])
SHIFT = np.array([0.3, -0.2, 0.1, 0.0])
OUTPUT = Path(__file__).with_suffix(".json")


def gradient(p, sign=1.0):
    return sign * (CURVATURE * p + SHIFT + 0.4 * p ** 3)


# (minigrad class name, minigrad keyword arguments)
CASES = [
    ("Yogi", dict(lr=0.1)),
    ("Yogi", dict(lr=0.05, betas=(0.8, 0.95), eps=1e-2)),
    ("Adan", dict(lr=0.1)),
    ("Adan", dict(lr=0.05, betas=(0.9, 0.8, 0.95), eps_root=0.0, weight_decay=0.1)),
    ("SignSGD", dict(lr=0.1)),
    ("Signum", dict(lr=0.1)),
    ("Signum", dict(lr=0.05, momentum=0.5)),
    ("QHM", dict(lr=0.1, momentum=0.9, nu=0.7)),
    ("QHM", dict(lr=0.05, momentum=0.8, nu=0.5, weight_decay=0.1)),
    ("QHM", dict(lr=0.05, momentum=0.95, nu=1.2, weight_decay=0.1, decoupled_weight_decay=True)),
    ("QHAdam", dict(lr=0.1)),
    ("QHAdam", dict(lr=0.1, betas=(0.95, 0.99), nus=(0.7, 0.8), weight_decay=0.1)),
    ("QHAdam", dict(lr=0.1, nus=(0.7, 1.0), eps=0.0, weight_decay=0.1,
                    decoupled_weight_decay=True)),
    ("ADOPT", dict(lr=0.1)),
    ("ADOPT", dict(lr=0.1, betas=(0.8, 0.9), weight_decay=0.1, maximize=True)),
    ("ADOPT", dict(lr=0.1, eps=1e-3, clip_lambda=None, weight_decay=0.1,
                   decoupled_weight_decay=True)),
    ("AdEMAMix", dict(lr=0.1)),
    ("AdEMAMix", dict(lr=0.05, betas=(0.8, 0.99, 0.999), alpha=5.0, beta3_warmup=10,
                      alpha_warmup=8, weight_decay=0.1)),
]


def case_id(name, kwargs):
    return name + "(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def reference_module(name):
    """The module holding ``name``'s reference (ImportError when it is not installed)."""
    module = {"Yogi": "optax", "Adan": "optax", "SignSGD": "optax", "Signum": "optax",
              "QHM": "qhoptim", "QHAdam": "qhoptim", "ADOPT": "adopt",
              "AdEMAMix": "ademamix"}[name]
    return __import__(module)


def run_optax(name, kwargs, steps=STEPS):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    kw = dict(kwargs)
    lr = kw.pop("lr")
    if name == "Yogi":
        b1, b2 = kw.pop("betas", (0.9, 0.999))
        opt = optax.yogi(lr, b1=b1, b2=b2, **kw)
    elif name == "Adan":
        b1, b2, b3 = kw.pop("betas", (0.98, 0.92, 0.99))
        opt = optax.adan(lr, b1=b1, b2=b2, b3=b3, **kw)
    elif name == "SignSGD":
        opt = optax.sign_sgd(lr, **kw)
    else:
        opt = optax.signum(lr, beta=kw.pop("momentum", 0.9), **kw)
    params = jnp.asarray(START, dtype=jnp.float64)
    state = opt.init(params)
    trajectory = []
    for _ in range(steps):
        g = jnp.asarray(gradient(np.asarray(params)))
        updates, state = opt.update(g, state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append(np.asarray(params).tolist())
    return trajectory


def run_torch(name, kwargs, steps=STEPS):
    import torch

    kw = dict(kwargs)
    maximize = kw.pop("maximize", False)
    p = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    if name in ("QHM", "QHAdam"):
        from qhoptim.pyt import QHM, QHAdam
        decoupled = kw.pop("decoupled_weight_decay", False)
        if name == "QHM":
            opt = QHM([p], weight_decay_type="direct" if decoupled else "grad", **kw)
        else:
            opt = QHAdam([p], decouple_weight_decay=decoupled, **kw)
    elif name == "ADOPT":
        from adopt import ADOPT
        opt = ADOPT([p], decouple=kw.pop("decoupled_weight_decay", False), maximize=maximize,
                    foreach=False, **kw)
    else:
        from ademamix import AdEMAMix
        opt = AdEMAMix([p], **kw)
    if maximize and name != "ADOPT":
        raise ValueError(f"{name}'s reference has no maximize")
    # as the tests do: with maximize, the optimizer is given the negated loss
    sign = -1.0 if maximize else 1.0
    trajectory = []
    for _ in range(steps):
        p.grad = torch.tensor(gradient(p.detach().numpy(), sign), dtype=torch.float64)
        opt.step()
        trajectory.append(p.detach().numpy().tolist())
    return trajectory


def run_reference(name, kwargs, steps=STEPS):
    """The reference's trajectory: ``trajectory[t - 1]`` is the parameter after step t."""
    if name in ("Yogi", "Adan", "SignSGD", "Signum"):
        return run_optax(name, kwargs, steps)
    return run_torch(name, kwargs, steps)


def load():
    """{case id: trajectory} as committed."""
    return json.loads(OUTPUT.read_text())["trajectories"]


def main():
    import importlib.metadata as metadata
    versions = {}
    for package in ("optax", "jax", "qhoptim", "torch", "adopt"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    versions["adopt"] = versions["adopt"] or "iShohei220/adopt at 6468572 (src/adopt)"
    versions["ademamix"] = "apple/ml-ademamix pytorch/ademamix.py"
    trajectories = {case_id(name, kwargs): run_reference(name, kwargs) for name, kwargs in CASES}
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in trajectories.items()]
    OUTPUT.write_text(f'{{"steps": {STEPS}, "versions": {json.dumps(versions)},\n'
                      ' "trajectories": {\n' + ",\n".join(lines) + "}}\n")
    print(f"wrote {len(trajectories)} trajectories to {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
