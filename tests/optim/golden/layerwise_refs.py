"""Golden trajectories of LAMB, LARS, NovoGrad, SM3 (optax) and AggMo (the authors' code),
in float64, on a problem with several parameters, since these rules work per parameter.

The problem: the quartic loss of tests/optim/problems.py, sum(0.5 h p^2 + b p + 0.1 p^4),
over parameters of shapes (3, 2), (2, 3, 2), (4,) (a matrix, a 3-d tensor for SM3's
cover of every dimension, a vector), drawn by NumPy's default_rng(SEED); the vector starts
at zero, so the first step of LAMB and LARS meets the trust ratio's zero-norm rule.

References: optax 0.2.8 (with jax 0.10.2, x64 enabled): ``optax.lamb``, ``optax.lars``
(its masks from the case's per-parameter overrides), ``optax.novograd``, ``optax.sm3``
(``optax.scale_by_sm3`` then ``optax.scale(-lr)`` where eps is not the default), and the
authors' AggMo (AtheMathmo/AggMo at f91730d, aggmo.py, importable as ``aggmo``) with torch
2.13.0+cpu. A case is (minigrad class name, minigrad keyword arguments, overrides by
parameter index); the minigrad side puts each overridden parameter in a param group of its
own, optax gets masks. With ``maximize=True`` the tests give minigrad the negated loss, so
the references are fed the plain loss's gradient (none of them has a maximize).

To regenerate layerwise_refs.json::

    /tmp/refenv/bin/pip install optax "jax[cpu]" torch
    git clone https://github.com/AtheMathmo/AggMo /tmp/aggmo_ref   # aggmo.py at its root
    PYTHONPATH=/tmp/aggmo_ref /tmp/refenv/bin/python tests/optim/golden/layerwise_refs.py

The tests import this module (NumPy only at import) to run a reference live when it is
importable.
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

STEPS = 20
SEED = 2024
SHAPES = [(3, 2), (2, 3, 2), (4,)]
OUTPUT = Path(__file__).with_suffix(".json")


def _problem():
    rng = np.random.default_rng(SEED)
    start = [rng.uniform(-1.5, 1.5, shape) for shape in SHAPES]
    start[2][...] = 0.0
    curvature = [rng.uniform(0.5, 3.0, shape) for shape in SHAPES]
    shift = [rng.uniform(-0.5, 0.5, shape) for shape in SHAPES]
    return start, curvature, shift


START, CURVATURE, SHIFT = _problem()


def gradient(params):
    """The quartic loss's gradient, one array per parameter."""
    return [h * p + b + 0.4 * p ** 3 for p, h, b in zip(params, CURVATURE, SHIFT)]


# (minigrad class name, minigrad keyword arguments, {parameter index: group overrides})
CASES = [
    ("LAMB", dict(lr=0.05), {}),
    ("LAMB", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-4, eps_root=1e-6, weight_decay=0.1,
                  maximize=True), {}),
    ("LAMB", dict(lr=0.05, weight_decay=0.2), {2: dict(weight_decay=0.0)}),
    ("LARS", dict(lr=20.0), {}),
    ("LARS", dict(lr=0.5, momentum=0.8, weight_decay=0.1, trust_coefficient=0.02, eps=1e-3,
                  nesterov=True, maximize=True), {}),
    ("LARS", dict(lr=0.05, weight_decay=0.1, momentum=0.5, trust_coefficient=1.0),
     {0: dict(trust_ratio=False), 2: dict(weight_decay=0.0, trust_ratio=False)}),
    ("NovoGrad", dict(lr=0.05), {}),
    ("NovoGrad", dict(lr=0.02, betas=(0.8, 0.5), eps=1e-3, eps_root=1e-4, weight_decay=0.1,
                      maximize=True), {}),
    ("SM3", dict(lr=0.1), {}),
    ("SM3", dict(lr=0.05, momentum=0.0, maximize=True), {}),
    ("SM3", dict(lr=0.1, momentum=0.5, eps=1e-3), {}),
    ("AggMo", dict(lr=0.05), {}),
    ("AggMo", dict(lr=0.02, betas=(0.5, 0.9, 0.99, 0.999), weight_decay=0.1, maximize=True),
     {}),
]


def case_id(name, kwargs, overrides=None):
    text = name + "(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
    if overrides:
        text += "[" + ";".join(f"{i}:" + ",".join(f"{k}={v}" for k, v in o.items())
                               for i, o in overrides.items()) + "]"
    return text


def reference_module(name):
    """The module holding ``name``'s reference (ImportError when it is not installed)."""
    return __import__("aggmo" if name == "AggMo" else "optax")


def _optax_transform(name, kwargs, overrides):
    import optax

    kw = dict(kwargs)
    kw.pop("maximize", None)
    lr = kw.pop("lr")
    count = len(SHAPES)

    def mask(key, default):
        return [bool(overrides.get(i, {}).get(key, default)) for i in range(count)]

    if name == "LAMB":
        b1, b2 = kw.pop("betas", (0.9, 0.999))
        weight_decay = kw.pop("weight_decay", 0.0)
        # a group's weight_decay=0 is optax's mask
        decayed = [overrides.get(i, {}).get("weight_decay", weight_decay) != 0
                   for i in range(count)]
        return optax.lamb(lr, b1=b1, b2=b2, weight_decay=weight_decay, mask=decayed, **kw)
    if name == "LARS":
        weight_decay = kw.pop("weight_decay", 0.0)
        decayed = [overrides.get(i, {}).get("weight_decay", weight_decay) != 0
                   for i in range(count)]
        return optax.lars(lr, weight_decay=weight_decay, weight_decay_mask=decayed,
                          trust_ratio_mask=mask("trust_ratio", True), **kw)
    if name == "NovoGrad":
        b1, b2 = kw.pop("betas", (0.9, 0.25))
        return optax.novograd(lr, b1=b1, b2=b2, **kw)
    if name == "SM3":
        momentum = kw.pop("momentum", 0.9)
        if "eps" in kw:
            return optax.chain(optax.scale_by_sm3(momentum, 1.0, kw.pop("eps")),
                               optax.scale(-lr))
        return optax.sm3(lr, momentum=momentum)
    raise ValueError(name)


def run_optax(name, kwargs, overrides, steps=STEPS):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    opt = _optax_transform(name, kwargs, overrides)
    params = [jnp.asarray(x, dtype=jnp.float64) for x in START]
    state = opt.init(params)
    trajectory = []
    for _ in range(steps):
        grads = [jnp.asarray(g) for g in gradient([np.asarray(p) for p in params])]
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        trajectory.append([np.asarray(p).tolist() for p in params])
    return trajectory


def run_aggmo(kwargs, overrides, steps=STEPS):
    import torch
    from aggmo import AggMo

    kw = dict(kwargs)
    kw.pop("maximize", None)
    if overrides:
        raise ValueError("the AggMo cases have no per-parameter overrides")
    if "betas" in kw:
        kw["betas"] = list(kw["betas"])
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in START]
    opt = AggMo(params, **kw)
    trajectory = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference's deprecated add_/sub_ signatures
        for _ in range(steps):
            grads = gradient([p.detach().numpy() for p in params])
            for p, g in zip(params, grads):
                p.grad = torch.tensor(g, dtype=torch.float64)
            opt.step()
            trajectory.append([p.detach().numpy().tolist() for p in params])
    return trajectory


def run_reference(name, kwargs, overrides=None, steps=STEPS):
    """The reference's trajectory: ``trajectory[t - 1][i]`` is parameter i after step t."""
    overrides = overrides or {}
    if name == "AggMo":
        return run_aggmo(kwargs, overrides, steps)
    return run_optax(name, kwargs, overrides, steps)


def load():
    """{case id: trajectory} as committed."""
    return json.loads(OUTPUT.read_text())["trajectories"]


def main():
    import importlib.metadata as metadata

    versions = {}
    for package in ("optax", "jax", "torch", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    versions["aggmo"] = "AtheMathmo/AggMo at f91730d (aggmo.py)"
    trajectories = {case_id(*case): run_reference(*case) for case in CASES}
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in trajectories.items()]
    OUTPUT.write_text(f'{{"steps": {STEPS}, "versions": {json.dumps(versions)},\n'
                      ' "trajectories": {\n' + ",\n".join(lines) + "}}\n")
    print(f"wrote {len(trajectories)} trajectories to {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
