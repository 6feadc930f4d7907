"""Every optimizer of minigrad.optim, built the same way, for the tests that must cover all.

``OPTIMIZERS[name](params, **kwargs)`` builds the optimizer ``name`` around ``params`` with
working hyper-parameters (``kwargs`` override them). ``run_step(optimizer, params, loss_fn)``
takes one step whatever the optimizer needs (a closure for LBFGS, train mode for
Schedule-Free), so the tests can treat them alike.
"""
from __future__ import annotations

import copy
import warnings
import weakref

import numpy as np

import minigrad as mg
from minigrad import backend, optim


def _with(defaults, cls):
    return lambda params, **kwargs: cls(params, **{**defaults, **kwargs})


# Parameters of the optimizers whose step differentiates the gradients (SophiaH, AdaHessian),
# by id: fill_grads gives them gradients with a graph (backward(create_graph=True)).
_NEED_GRAPH: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _hessian(defaults, cls):
    """``cls`` needing ``backward(create_graph=True)``; its random probes come from a
    generator of its own seeded alike for every instance (through the probe hook), so two
    optimizers built alike take the same steps whatever else draws random numbers."""
    def make(params, **kwargs):
        optimizer = cls(params, **{**defaults, **kwargs})
        rng = np.random.default_rng(0)
        optimizer._probe = lambda param, group: backend.to_device(
            rng.standard_normal(param.shape).astype(param.dtype), param.device)
        for group in optimizer.param_groups:
            for p in group["params"]:
                _NEED_GRAPH[id(p)] = p
        return optimizer
    return make


def _schedule_free(params, **kwargs):
    optimizer = optim.ScheduleFreeAdamW(params, **{"lr": 0.05, **kwargs})
    optimizer.train()
    return optimizer


def _lookahead(params, k=2, alpha=0.5, on_nonfinite=None, **kwargs):
    inner = optim.Adam(params, **{"lr": 0.05, **kwargs})
    return optim.Lookahead(inner, k=k, alpha=alpha, on_nonfinite=on_nonfinite)


OPTIMIZERS = {
    "SGD": _with(dict(lr=0.05, momentum=0.9), optim.SGD),
    "Adam": _with(dict(lr=0.05), optim.Adam),
    "AdamW": _with(dict(lr=0.05), optim.AdamW),
    "Adamax": _with(dict(lr=0.05), optim.Adamax),
    "NAdam": _with(dict(lr=0.05), optim.NAdam),
    "RAdam": _with(dict(lr=0.05), optim.RAdam),
    "RMSprop": _with(dict(lr=0.01, momentum=0.5, centered=True), optim.RMSprop),
    "Adagrad": _with(dict(lr=0.05), optim.Adagrad),
    "Adadelta": _with(dict(lr=1.0), optim.Adadelta),
    "ASGD": _with(dict(lr=0.05, t0=1.0), optim.ASGD),
    "Rprop": _with(dict(lr=0.05), optim.Rprop),
    "LBFGS": _with(dict(lr=0.5, max_iter=4), optim.LBFGS),
    "FTRL": _with(dict(lr=0.1, l1=0.01), optim.FTRL),
    "Lion": _with(dict(lr=0.01, weight_decay=0.1), optim.Lion),
    "AdaBelief": _with(dict(lr=0.05), optim.AdaBelief),
    "Adafactor": _with(dict(lr=0.05), optim.Adafactor),
    "Muon": _with(dict(lr=0.02), optim.Muon),
    "ScheduleFreeAdamW": _schedule_free,
    "Lookahead": _lookahead,
    "Ranger": _with(dict(lr=0.05, k=2), optim.Ranger),
    "Yogi": _with(dict(lr=0.05), optim.Yogi),
    "Adan": _with(dict(lr=0.05, weight_decay=0.01), optim.Adan),
    "SignSGD": _with(dict(lr=0.01), optim.SignSGD),
    "Signum": _with(dict(lr=0.01, weight_decay=0.01), optim.Signum),
    "QHM": _with(dict(lr=0.05, momentum=0.9, nu=0.7), optim.QHM),
    "QHAdam": _with(dict(lr=0.05, nus=(0.7, 1.0)), optim.QHAdam),
    "ADOPT": _with(dict(lr=0.05), optim.ADOPT),
    "AdEMAMix": _with(dict(lr=0.05, alpha_warmup=3, beta3_warmup=3), optim.AdEMAMix),
    "SAdam": _with(dict(lr=0.05), optim.SAdam),
    "Ranger21": _with(dict(lr=0.05, num_epochs=2, num_batches_per_epoch=10,
                           lookahead_mergetime=2), optim.Ranger21),
    "SAM": lambda params, **kwargs: optim.SAM(params, optim.SGD,
                                              **{"lr": 0.05, "momentum": 0.9, **kwargs}),
    "LAMB": _with(dict(lr=0.05, weight_decay=0.01), optim.LAMB),
    "LARS": _with(dict(lr=5.0, weight_decay=0.01), optim.LARS),
    "NovoGrad": _with(dict(lr=0.02, weight_decay=0.01), optim.NovoGrad),
    "SM3": _with(dict(lr=0.1), optim.SM3),
    "AggMo": _with(dict(lr=0.02, weight_decay=0.01), optim.AggMo),
    "AdaBound": _with(dict(lr=0.05, final_lr=0.1, weight_decay=0.01), optim.AdaBound),
    "AMSBound": _with(dict(lr=0.05, final_lr=0.1), optim.AMSBound),
    "MADGRAD": _with(dict(lr=0.05, weight_decay=0.01), optim.MADGRAD),
    "DAdaptAdam": _with(dict(d0=1e-2, weight_decay=0.01), optim.DAdaptAdam),
    "DAdaptSGD": _with(dict(d0=1e-2, momentum=0.9), optim.DAdaptSGD),
    "Prodigy": _with(dict(d0=1e-2, weight_decay=0.01), optim.Prodigy),
    "SophiaH": _hessian(dict(lr=0.05, p=0.1, update_period=2), optim.SophiaH),
    "AdaHessian": _hessian(dict(lr=0.1), optim.AdaHessian),
    "Shampoo": _with(dict(lr=0.05, momentum=0.5, weight_decay=0.01), optim.Shampoo),
    "SOAP": _with(dict(lr=0.05, precondition_frequency=2, precondition_1d=True), optim.SOAP),
}

# the shapes every test uses: a matrix (Muon's path), a vector, a scalar
SHAPES = [(3, 4), (4,), ()]


def make_params(seed=0, dtype=mg.float64):
    rng = np.random.default_rng(seed)
    return [mg.tensor(rng.uniform(-1.0, 1.0, shape), dtype=dtype, requires_grad=True)
            for shape in SHAPES]


def loss_of(params):
    """A smooth non-quadratic loss with a minimum away from 0."""
    return sum(((p - 0.3) ** 2 + 0.1 * p ** 4).sum() for p in params)


def fill_grads(params):
    for p in params:
        p.grad = None
    loss = loss_of(params)
    if any(_NEED_GRAPH.get(id(p)) is p for p in params):  # a Hessian optimizer's
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", r"backward\(create_graph=True\)", UserWarning)
            loss.backward(create_graph=True)
    else:
        loss.backward()
    return loss


def run_step(optimizer, params, corrupt=None):
    """One optimizer step on ``loss_of``; ``corrupt(params)`` may then spoil the gradients
    (LBFGS: at every evaluation of its closure)."""
    if isinstance(optimizer, (optim.LBFGS, optim.SAM)):
        def closure():
            loss = fill_grads(params)
            if corrupt is not None:
                corrupt(params)
            return loss
        if isinstance(optimizer, optim.SAM):  # SAM's closure is its second pass
            closure()
        return optimizer.step(closure)
    fill_grads(params)
    if corrupt is not None:
        corrupt(params)
    return optimizer.step()


def snapshot(optimizer, params):
    """Copies of everything a step may change: parameter values, the optimizer's state dict
    (with its arrays copied) and, for Lookahead, its position in the sync cycle."""
    return ([p.numpy().copy() for p in params], copy.deepcopy(optimizer.state_dict()),
            getattr(optimizer, "steps_since_sync", None))


def assert_same(a, b, path="snapshot"):
    """Bitwise equality of nested dicts / lists / arrays / numbers (NaN equal to NaN)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {set(a)} != {set(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, f"{path}: {a.shape} vs {b.shape}"
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{path}: values differ"
    elif isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        pass
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
