"""Golden trajectories of SophiaH, AdaHessian, Shampoo and SOAP from their reference
implementations, in float64, on a coupled problem with a dense Hessian.

The loss, of parameters shaped ``SHAPES`` (a matrix, a vector, a scalar, a 3-D and a 4-D
tensor, so every code path of the references runs)::

    L = sum_k sum(0.5 h_k p_k^2 + b_k p_k + 0.1 p_k^4) + 0.5 kappa (sum_k <c_k, p_k>)^2

Its gradient and Hessian-vector products have closed forms (:func:`gradients`,
:func:`hessian_vector_products`), which the NumPy transcriptions in
tests/optim/test_second_order.py use.

References (each case is named by the minigrad class and its keyword arguments; the
``run_*`` functions translate them):

* SophiaH, Shampoo: pytorch-optimizer 4.1.0 (``pip install pytorch-optimizer``), under
  torch 2.13.0+cpu.
* AdaHessian: the authors' amirgholami/adahessian at 85ebc00 (2023-02-27),
  ``instruction/adahessian.py`` (the version with ``spatial_average_block_size``).
* SOAP: the authors' nikhilvyas/SOAP at a1e5535 (2024-12-02), ``soap.py``.

Random probes: the Hessian optimizers draw them from torch's generator, minigrad from its
own. So that the runs can be compared, both take the same probes from :class:`ProbeStream`
(a seeded NumPy generator read in parameter order, one draw per parameter and probe): the
script replaces ``torch.randn_like`` / ``torch.randint_like`` while a reference steps,
the test overrides minigrad's probe hook (``_probe``). Everything else is deterministic.

Precision: SOAP's code computes its eigenbases in float32 whatever the parameters' dtype
(``.float()`` before ``eigh`` and ``qr``); the script makes ``Tensor.float`` the identity
while a SOAP step runs, so the reference works in float64 as minigrad does, and sets
torch's default dtype to float64 (SOAP makes its statistics in the default dtype).

To regenerate second_order_refs.json::

    /tmp/refenv/bin/pip install torch pytorch-optimizer==4.1.0
    ADAHESSIAN_PY=<adahessian checkout>/instruction/adahessian.py \\
    SOAP_PY=<SOAP checkout>/soap.py \\
        /tmp/refenv/bin/python tests/optim/golden/second_order_refs.py

The tests import this module to run the references live when torch and they are
importable (the two fetched files are found through the same variables).
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from pathlib import Path

import numpy as np

STEPS = 20
OUTPUT = Path(__file__).with_suffix(".json")
SHAPES = [(3, 3), (2,), (), (2, 1, 3), (2, 2, 2, 2)]
KAPPA = 0.2
PROBE_SEED = 1234


def _problem():
    rng = np.random.default_rng(2023)
    start = [rng.uniform(-1.5, 1.5, s) for s in SHAPES]
    curvature = [rng.uniform(0.5, 3.0, s) for s in SHAPES]
    shift = [rng.uniform(-0.5, 0.5, s) for s in SHAPES]
    coupling = [rng.uniform(-1.0, 1.0, s) for s in SHAPES]
    return start, curvature, shift, coupling


START, CURVATURE, SHIFT, COUPLING = _problem()


def _inner(params):
    return sum(float(np.sum(c * p)) for c, p in zip(COUPLING, params))


def loss(params):
    """The loss in NumPy."""
    separable = sum(float(np.sum(0.5 * h * p * p + b * p + 0.1 * p ** 4))
                    for p, h, b in zip(params, CURVATURE, SHIFT))
    return separable + 0.5 * KAPPA * _inner(params) ** 2


def gradients(params):
    s = _inner(params)
    return [h * p + b + 0.4 * p ** 3 + KAPPA * s * c
            for p, h, b, c in zip(params, CURVATURE, SHIFT, COUPLING)]


def hessian_vector_products(params, vectors):
    s = _inner(vectors)
    return [(h + 1.2 * p * p) * z + KAPPA * s * c
            for p, z, h, c in zip(params, vectors, CURVATURE, COUPLING)]


def hessian_diagonals(params):
    return [h + 1.2 * p * p + KAPPA * c * c for p, h, c in zip(params, CURVATURE, COUPLING)]


class ProbeStream:
    """The probes both sides use, in the order they are asked for."""

    def __init__(self, distribution, seed=PROBE_SEED):
        self.distribution = distribution
        self.rng = np.random.default_rng(seed)

    def next(self, shape):
        if self.distribution == "rademacher":
            return np.asarray(self.rng.integers(0, 2, size=shape), dtype=np.float64) * 2.0 - 1.0
        return np.asarray(self.rng.standard_normal(shape))


# (minigrad class name, minigrad keyword arguments)
CASES = [
    ("SophiaH", dict(lr=0.05, p=0.05, update_period=3)),
    ("SophiaH", dict(lr=0.02, betas=(0.9, 0.95), p=1.0, update_period=1, num_samples=3,
                     hessian_distribution="rademacher", weight_decay=0.1)),
    ("SophiaH", dict(lr=0.05, p=0.5, update_period=2, eps=1e-3, weight_decay=0.1,
                     decoupled_weight_decay=False)),
    ("AdaHessian", dict()),
    ("AdaHessian", dict(lr=0.1, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1,
                        hessian_power=0.5, spatial_average_block_size=(1, 3, 3, 4))),
    ("Shampoo", dict(lr=0.1)),
    ("Shampoo", dict(lr=0.05, momentum=0.5, weight_decay=0.1, epsilon=1e-4)),
    ("Shampoo", dict(lr=0.05, momentum=0.9, weight_decay=0.1, decoupled_weight_decay=True)),
    ("SOAP", dict(lr=0.05, eps=1e-5, precondition_frequency=4)),
    ("SOAP", dict(lr=0.02, betas=(0.9, 0.99), shampoo_beta=0.8, eps=1e-5, weight_decay=0.1,
                  precondition_frequency=3, max_precond_dim=4, merge_dims=True,
                  precondition_1d=True, normalize_grads=True, correct_bias=False)),
    ("SOAP", dict(lr=0.05, eps=1e-5, weight_decay=0.0, precondition_frequency=2, merge_dims=True,
                  max_precond_dim=4, data_format="channels_last")),
    ("SOAP", dict(lr=0.05)),  # the default eps: see NOISY
]

# SOAP's first step only gathers statistics, so its second gradient is its first, whose
# rotation into its own eigenbasis is diagonal: the other entries are rounding noise
# (~1e-16), which Adam's division by sqrt(v) + eps turns into noise / eps. With eps >= 1e-5
# that stays far below the comparisons' rtol of 1e-10; with the default 1e-8 it reaches
# about 1e-9, so those cases are compared at atol 1e-8.
NOISY = {"SOAP(lr=0.05)"}


def case_id(name, kwargs):
    return name + "(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def distribution_of(name, kwargs):
    if name == "SophiaH":
        return kwargs.get("hessian_distribution", "gaussian")
    return "rademacher" if name == "AdaHessian" else None


# --- the references ---------------------------------------------------------------------------

def _load_file(variable, module_name):
    path = os.environ.get(variable)
    if not path or not Path(path).is_file():
        raise ImportError(f"set {variable} to the reference's file to run it")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_class(name):
    """The reference's optimizer class (ImportError when it is not available)."""
    import torch  # noqa: F401  (ImportError without torch)
    if name in ("SophiaH", "Shampoo"):
        import pytorch_optimizer
        return getattr(pytorch_optimizer, name)
    if name == "AdaHessian":
        return _load_file("ADAHESSIAN_PY", "adahessian_reference").Adahessian
    return _load_file("SOAP_PY", "soap_reference").SOAP


def _reference_kwargs(name, kwargs):
    kwargs = dict(kwargs)
    if name == "SophiaH":
        kwargs["weight_decouple"] = kwargs.pop("decoupled_weight_decay", True)
        kwargs["foreach"] = False
    elif name == "Shampoo":
        kwargs["weight_decouple"] = kwargs.pop("decoupled_weight_decay", False)
        if "epsilon" in kwargs:
            kwargs["matrix_eps"] = kwargs.pop("epsilon")
        kwargs["preconditioning_compute_steps"] = kwargs.pop("update_freq", 1)
    return kwargs


@contextlib.contextmanager
def _injected_probes(stream):
    """torch's randn_like / randint_like answering from ``stream`` (for the Hessian
    references), and Tensor.float the identity (for SOAP's float32 casts)."""
    import torch
    saved = torch.randn_like, torch.randint_like, torch.Tensor.float

    def randn_like(p, *args, **kwargs):
        return torch.from_numpy(np.asarray(stream.next(tuple(p.shape)))).to(p.dtype)

    def randint_like(p, *args, **kwargs):  # the references map {0, 1} to -1, +1
        return torch.from_numpy(np.asarray((stream.next(tuple(p.shape)) + 1.0) / 2.0)).to(p.dtype)

    torch.randn_like, torch.randint_like = randn_like, randint_like
    torch.Tensor.float = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.randn_like, torch.randint_like, torch.Tensor.float = saved


def run_reference(name, kwargs, steps=STEPS):
    """The trajectory (a list, per step, of the parameters' values) of the reference."""
    import torch
    cls = reference_class(name)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in START]
        consts = [[torch.tensor(x, dtype=torch.float64) for x in xs]
                  for xs in (CURVATURE, SHIFT, COUPLING)]
        optimizer = cls(params, **_reference_kwargs(name, kwargs))
        stream = ProbeStream(distribution_of(name, kwargs) or "gaussian")
        hessian = name in ("SophiaH", "AdaHessian")
        trajectory = []
        for _ in range(steps):
            optimizer.zero_grad()
            total = sum(((0.5 * h * p * p + b * p + 0.1 * p ** 4).sum()
                         for p, h, b in zip(params, *consts[:2])))
            inner = sum((c * p).sum() for p, c in zip(params, consts[2]))
            (total + 0.5 * KAPPA * inner ** 2).backward(create_graph=hessian)
            with _injected_probes(stream):
                optimizer.step()
            trajectory.append([p.detach().numpy().copy().tolist() for p in params])
            for p in params:
                p.grad = None
        return trajectory
    finally:
        torch.set_default_dtype(previous)


def load():
    with open(OUTPUT) as f:
        data = json.load(f)
    return {key: [[np.asarray(v, dtype=np.float64) for v in step] for step in value]
            for key, value in data["trajectories"].items()}


def main():
    import torch
    from importlib.metadata import version
    trajectories = {case_id(name, kwargs): run_reference(name, kwargs)
                    for name, kwargs in CASES}
    data = {"torch": torch.__version__, "pytorch-optimizer": version("pytorch-optimizer"),
            "adahessian": "amirgholami/adahessian@85ebc00 instruction/adahessian.py",
            "soap": "nikhilvyas/SOAP@a1e5535 soap.py", "steps": STEPS,
            "trajectories": trajectories}
    with open(OUTPUT, "w") as f:
        json.dump(data, f, indent=1)
    print(f"wrote {len(trajectories)} trajectories to {OUTPUT}")


if __name__ == "__main__":
    main()
