"""Every optimizer against an independent NumPy transcription of its equations.

One table drives the tests: (optimizer class, keyword arguments, reference update). A
reference update is ``ref(p, g, s, t, **kwargs) -> new p`` for one parameter: ``p`` and ``g``
are float64 arrays (``g`` the gradient of the loss the optimizer sees), ``s`` a dict the
reference keeps its own buffers in, ``t`` the step count (1 first). The problem has three
parameters of different shapes (a matrix, a vector, a 0-d scalar) and a non-quadratic loss.
"""
import functools
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from tests.optim.problems import (GOLDEN as GOLDEN_PROBLEM, QuarticProblem,
                                  assert_trajectories_close, minigrad_trajectory, quartic_loss,
                                  reference_trajectory)

STEPS = 50
SHAPES = [(3, 4), (4,), ()]
PROBLEM = QuarticProblem.random(SHAPES, seed=1234, spread=2.0)


# --- reference updates (plain NumPy, float64) --------------------------------------------------

def _signed(g, maximize):
    return -g if maximize else g


def ref_sgd(p, g, s, t, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            maximize=False):
    g = _signed(g, maximize) + weight_decay * p
    if momentum:
        s["b"] = g.copy() if t == 1 else momentum * s["b"] + (1 - dampening) * g
        g = g + momentum * s["b"] if nesterov else s["b"]
    return p - lr * g


def ref_adam(p, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             maximize=False, decoupled_weight_decay=False):
    b1, b2 = betas
    g = _signed(g, maximize)
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    v = s["v"]
    if amsgrad:
        v = s["vmax"] = np.maximum(s.get("vmax", 0.0), s["v"])
    m_hat = s["m"] / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_adamw(p, g, s, t, weight_decay=1e-2, **kw):
    return ref_adam(p, g, s, t, weight_decay=weight_decay, decoupled_weight_decay=True, **kw)


def ref_radam(p, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              decoupled_weight_decay=False, maximize=False):
    b1, b2 = betas
    g = _signed(g, maximize)
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    m_hat = s["m"] / (1 - b1 ** t)
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
    if rho <= 5:
        return p - lr * m_hat
    r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    adaptive = math.sqrt(1 - b2 ** t) / (np.sqrt(s["v"]) + eps)
    return p - lr * m_hat * r * adaptive


def ref_adagrad(p, g, s, t, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10, maximize=False):
    g = _signed(g, maximize) + weight_decay * p
    s["sum"] = s.get("sum", initial_accumulator_value) + g * g
    return p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s["sum"]) + eps)


def ref_rmsprop(p, g, s, t, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    g = _signed(g, maximize) + weight_decay * p
    s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g * g
    if centered:
        s["gbar"] = alpha * s.get("gbar", 0.0) + (1 - alpha) * g
        denom = np.sqrt(s["v"] - s["gbar"] ** 2) + eps
    else:
        denom = np.sqrt(s["v"]) + eps
    if momentum > 0:
        s["buf"] = momentum * s.get("buf", 0.0) + g / denom
        return p - lr * s["buf"]
    return p - lr * g / denom


def ref_adadelta(p, g, s, t, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    g = _signed(g, maximize) + weight_decay * p
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
    delta = np.sqrt(s.get("u", 0.0) + eps) / np.sqrt(s["v"] + eps) * g
    s["u"] = rho * s.get("u", 0.0) + (1 - rho) * delta * delta
    return p - lr * delta


def ref_adamax(p, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
    b1, b2 = betas
    g = _signed(g, maximize) + weight_decay * p
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["u"] = np.maximum(b2 * s.get("u", 0.0), np.abs(g) + eps)
    return p - lr / (1 - b1 ** t) * s["m"] / s["u"]


def ref_nadam(p, g, s, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
              momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    b1, b2 = betas
    g = _signed(g, maximize)
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    s["prod"] = s.get("prod", 1.0) * mu
    s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
    denom = np.sqrt(s["v"] / (1 - b2 ** t)) + eps
    p = p - lr * (1 - mu) / (1 - s["prod"]) * g / denom
    return p - lr * mu_next / (1 - s["prod"] * mu_next) * s["m"] / denom


def ref_asgd(p, g, s, t, lr, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
    eta, mu = s.get("eta", lr), s.get("mu", 1.0)
    g = _signed(g, maximize) + weight_decay * p
    p = p * (1 - lambd * eta) - eta * g
    s["ax"] = p.copy() if mu == 1 else s["ax"] + mu * (p - s["ax"])
    s["eta"] = lr / (1 + lambd * lr * t) ** alpha
    s["mu"] = 1 / max(1, t - t0)
    return p


def ref_rprop(p, g, s, t, lr, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
    g = _signed(g, maximize)
    prev = s.get("prev", np.zeros_like(p))
    size = s.get("size", np.full_like(p, lr))
    product = g * prev
    size = np.where(product > 0, size * etas[1], np.where(product < 0, size * etas[0], size))
    s["size"] = np.clip(size, *step_sizes)
    g = np.where(product < 0, 0.0, g)
    s["prev"] = g
    return p - np.sign(g) * s["size"]


def ref_adafactor(p, g, s, t, lr, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0,
                  maximize=False):
    eps1 = np.finfo(np.float64).eps if eps[0] is None else eps[0]
    g = _signed(g, maximize)
    w = t ** beta2_decay
    rms = lambda x: np.sqrt(np.mean(np.square(x)))  # noqa: E731
    step = max(eps[1], rms(p)) * min(lr, 1 / math.sqrt(t))
    p = p * (1 - lr * weight_decay)
    if p.ndim >= 2:
        s["r"] = (1 - w) * s.get("r", 0.0) + w * np.mean(g * g, axis=-1, keepdims=True)
        s["c"] = (1 - w) * s.get("c", 0.0) + w * np.mean(g * g, axis=-2, keepdims=True)
        v = s["r"] * s["c"] / max(np.mean(s["r"]), eps1)
    else:
        v = s["v"] = (1 - w) * s.get("v", 0.0) + w * g * g
    u = g / np.sqrt(np.maximum(v, eps1 ** 2))
    return p - step / max(1.0, rms(u) / d) * u


CASES = [
    (optim.SGD, dict(lr=0.02), ref_sgd),
    (optim.SGD, dict(lr=0.02, momentum=0.9, dampening=0.3, weight_decay=0.05), ref_sgd),
    (optim.SGD, dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.01), ref_sgd),
    (optim.SGD, dict(lr=0.02, momentum=0.5, maximize=True), ref_sgd),
    (optim.Adam, dict(lr=0.05), ref_adam),
    (optim.Adam, dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True), ref_adam),
    (optim.Adam, dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
     ref_adam),
    (optim.AdamW, dict(lr=0.05), ref_adamw),
    (optim.AdamW, dict(lr=0.05, weight_decay=0.2, amsgrad=True), ref_adamw),
    # b2 = 0.999: un-rectified for five steps; b2 = 0.9: rectified from step 6
    (optim.RAdam, dict(lr=0.02), ref_radam),
    (optim.RAdam, dict(lr=0.02, betas=(0.8, 0.9), weight_decay=0.1), ref_radam),
    (optim.RAdam, dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
     ref_radam),
    (optim.Adagrad, dict(lr=0.1), ref_adagrad),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2,
                         maximize=True), ref_adagrad),
    (optim.RMSprop, dict(lr=0.01), ref_rmsprop),
    (optim.RMSprop, dict(lr=0.01, alpha=0.9, momentum=0.8, centered=True, weight_decay=0.1),
     ref_rmsprop),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, maximize=True), ref_rmsprop),
    (optim.Adadelta, dict(), ref_adadelta),
    (optim.Adadelta, dict(lr=0.5, rho=0.8, weight_decay=0.1, maximize=True), ref_adadelta),
    (optim.Adamax, dict(lr=0.05), ref_adamax),
    (optim.Adamax, dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1, maximize=True), ref_adamax),
    (optim.NAdam, dict(lr=0.02), ref_nadam),
    (optim.NAdam, dict(lr=0.02, momentum_decay=0.05, weight_decay=0.1), ref_nadam),
    (optim.NAdam, dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
     ref_nadam),
    (optim.ASGD, dict(lr=0.02), ref_asgd),
    # averaging starts after t0 = 10 of the 50 steps
    (optim.ASGD, dict(lr=0.02, lambd=0.01, alpha=0.5, t0=10, weight_decay=0.1, maximize=True),
     ref_asgd),
    (optim.Rprop, dict(lr=0.01), ref_rprop),
    (optim.Rprop, dict(lr=0.01, etas=(0.3, 1.5), step_sizes=(1e-3, 0.05), maximize=True),
     ref_rprop),
    (optim.Adafactor, dict(lr=0.05), ref_adafactor),
    (optim.Adafactor, dict(lr=0.02, beta2_decay=-0.5, eps=(1e-4, 1e-2), d=2.0, weight_decay=0.1,
                           maximize=True), ref_adafactor),
]


def _case_id(case):
    cls, kwargs, _ = case
    return cls.__name__ + "(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def _sign(kwargs):
    return -1.0 if kwargs.get("maximize") else 1.0


def run_minigrad(cls, kwargs, steps=STEPS, device="cpu"):
    """Parameter values after each step, optimizing with minigrad."""
    return minigrad_trajectory(PROBLEM, lambda ps: cls(ps, **kwargs), steps, device,
                               sign=_sign(kwargs))[1]


def run_reference(reference, kwargs, steps=STEPS):
    return reference_trajectory(PROBLEM, functools.partial(reference, **kwargs), steps,
                                _sign(kwargs))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_numpy_reference(case, device):
    cls, kwargs, reference = case
    expected = run_reference(reference, kwargs)
    assert_trajectories_close(run_minigrad(cls, kwargs, device=device), expected)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    cls, kwargs, _ = case
    torch_cls = getattr(torch.optim, cls.__name__)
    # torch keeps step counters (and NAdam's momentum product) in the default dtype
    saved_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        expected = _torch_trajectory(torch, torch_cls, kwargs)
    finally:
        torch.set_default_dtype(saved_dtype)
    assert_trajectories_close(run_minigrad(cls, kwargs), expected)


def _torch_trajectory(torch, torch_cls, kwargs):
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in PROBLEM.start]
    curvature = [torch.tensor(x) for x in PROBLEM.curvature]
    shift = [torch.tensor(x) for x in PROBLEM.shift]
    sign = _sign(kwargs)
    opt = torch_cls(params, **kwargs)
    expected = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = sum((0.5 * h * p * p + b * p + 0.1 * p ** 4).sum()
                   for p, h, b in zip(params, curvature, shift))
        (sign * loss).backward()
        opt.step()
        expected.append([p.detach().numpy().copy() for p in params])
    return expected


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_state_dict_round_trip_continues_identically(case):
    cls, kwargs, _ = case
    uninterrupted = run_minigrad(cls, kwargs, steps=12)
    params, curvature, shift = PROBLEM.tensors()

    def train(opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            (_sign(kwargs) * quartic_loss(params, curvature, shift)).backward()
            opt.step()

    first = cls(params, **kwargs)
    train(first, 5)
    saved = first.state_dict()
    lr = first.param_groups[0]["lr"]
    del first
    resumed = cls(params, **{**kwargs, "lr": 123.0})
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == lr
    train(resumed, 7)
    assert_trajectories_close([[p.numpy() for p in params]], [uninterrupted[-1]], rtol=0, atol=0)


# --- golden numbers (reference section 9.1: torch 2.13, float64) --------------------------------

GOLDEN = [
    (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01), {
        1: [0.9145, -1.529, 0.47975, 2.1585],
        3: [0.580902032761, -0.0599501836775, 0.395610437136, -0.107433186907],
        10: [-0.753482548199, 0.367880283225, -0.0819905208588, -0.36726087788]}),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True), {
        2: [0.639090190268, -0.340255262366, 0.410607777136, 0.351671683968],
        10: [-0.690095055528, 0.111692460523, -0.133639246176, -0.313163121069]}),
    (optim.SGD, dict(lr=0.05, maximize=True), {
        3: [0.770173556629, -0.989822188353, 0.442311712366, 1.46239602194],
        10: [0.419700278326, -0.251873325202, 0.330105967165, 0.590431771859]}),
    (optim.Adam, dict(lr=0.1), {
        1: [0.900000000588, -1.90000000011, 0.4000000025, 2.90000000006],
        10: [0.0684089970963, -1.03914986031, -0.334969969498, 2.03471771113]}),
    (optim.Adam, dict(lr=0.1, weight_decay=0.1, amsgrad=True), {
        3: [0.702004968673, -1.70111786737, 0.204038587115, 2.7009983148],
        10: [0.0688151035549, -1.03879908303, -0.32130842112, 2.03426682406]}),
    (optim.AdamW, dict(lr=0.1), {
        2: [0.798660905578, -1.79641608662, 0.300161920823, 2.79438782764],
        10: [0.0635151196305, -1.02454788191, -0.334994253449, 2.0104935233]}),
    (optim.RAdam, dict(lr=0.1), {
        1: [0.83, -1.06, 0.46, 1.32],
        3: [0.541340561665, 0.0512576209866, 0.384851226104, -0.308949166535],
        10: [0.290533363837, 0.60822158434, 0.297622254201, -1.04106210733]}),
    (optim.RAdam, dict(lr=0.1, betas=(0.9, 0.9), weight_decay=0.1), {
        2: [0.659865936842, -0.381371284211, 0.41206955, 0.2922276],
        10: [0.0982411755425, 0.648014410994, 0.107577242363, -1.08951297198]}),
    (optim.Adagrad, dict(lr=0.5, lr_decay=0.1, initial_accumulator_value=0.1), {
        1: [0.508432307857, -1.50028269353, 0.107767729801, 2.50008855357],
        10: [-0.144161911266, -0.598349146823, -0.186831227839, 1.54068402445]}),
    (optim.RMSprop, dict(lr=0.01), {
        2: [0.833859816158, -1.83212888315, 0.336680013417, 2.83187545329],
        10: [0.553906975253, -1.53354050463, 0.0905355685928, 2.53025054949]}),
    (optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1), {
        3: [0.552526855261, -1.54543939281, 0.065479782349, 2.54434456116],
        10: [-0.698332449945, -0.0469636261994, -0.542168037211, 0.996151828578]}),
    (optim.Adadelta, dict(), {
        1: [0.996837727811, -1.99683772252, 0.496837821156, 2.9968377224],
        10: [0.966693829879, -1.96653557259, 0.466934686925, 2.96651224662]}),
    (optim.Adamax, dict(lr=0.1), {
        2: [0.806358371858, -1.80413930188, 0.309699177387, 2.80380229865],
        10: [0.237648888544, -1.16988889927, -0.157641803466, 2.15772619649]}),
    (optim.NAdam, dict(lr=0.1), {
        1: [0.894354822786, -1.89435482228, 0.394354824806, 2.89435482223],
        10: [0.320434070828, -1.27820152536, -0.092584569454, 2.27096032423]}),
    (optim.NAdam, dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True), {
        3: [0.729179106046, -1.69556566377, 0.250913807774, 2.66585774329],
        10: [0.269366888053, -1.13956106732, -0.101628422721, 2.04492907318]}),
    (optim.ASGD, dict(lr=0.05, lambd=0.01, t0=2), {
        2: [0.838050302373, -1.21751112325, 0.460315276766, 1.74059314774],
        10: [0.417956854917, -0.251258426023, 0.328577140262, 0.588886485473]}),
    (optim.Rprop, dict(lr=0.1), {
        3: [0.636, -1.636, 0.136, 2.636],
        10: [-0.1422912, 0.079890176, -0.254528, 0.4041317888]}),
    (optim.Adafactor, dict(lr=0.1), {
        1: [0.811254139118, -1.81125413912, 0.311254139118, 2.81125413912],
        10: [-0.00141979944815, -0.86629191084, -0.186355121884, 1.84026308863]}),
]


@pytest.mark.parametrize("dtype, rtol", [(mg.float64, 1e-10), (mg.float32, 3e-5)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("cls, kwargs, expected", GOLDEN,
                         ids=[_case_id((c, k, None)) for c, k, _ in GOLDEN])
def test_golden_numbers(cls, kwargs, expected, dtype, rtol):
    opt, trajectory = minigrad_trajectory(GOLDEN_PROBLEM, lambda ps: cls(ps, **kwargs),
                                          max(expected), dtype=dtype, sign=_sign(kwargs))
    for t, values in expected.items():
        np.testing.assert_allclose(trajectory[t - 1][0], values, rtol=rtol, atol=rtol / 10,
                                   err_msg=f"after step {t}")
    p = opt.param_groups[0]["params"][0]
    assert p.dtype == dtype
    assert all(v.dtype == dtype for v in opt.state[p].values() if hasattr(v, "dtype"))


# --- convergence ---------------------------------------------------------------------------------

# (class, kwargs, steps, tolerance on the solution). Adadelta and Adafactor only hover near
# the minimum: Adadelta's step ratio settles at a nonzero size (in PyTorch too), and
# Adafactor's normalized step shrinks only like 1/sqrt(t).
CONVERGENCE = [
    (optim.SGD, dict(lr=0.1), 300, 1e-3),
    (optim.SGD, dict(lr=0.05, momentum=0.9), 300, 1e-3),
    (optim.Adam, dict(lr=0.05), 800, 1e-3),
    (optim.AdamW, dict(lr=0.05, weight_decay=0.0), 800, 1e-3),
    (optim.RAdam, dict(lr=0.05), 800, 1e-3),
    (optim.Adagrad, dict(lr=0.5), 800, 1e-3),
    (optim.RMSprop, dict(lr=0.01), 800, 1e-3),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True), 800, 1e-3),
    (optim.Adadelta, dict(lr=1.0, rho=0.5), 500, 1e-2),
    (optim.Adamax, dict(lr=0.05), 800, 1e-3),
    (optim.NAdam, dict(lr=0.05), 800, 1e-3),
    (optim.ASGD, dict(lr=0.1, t0=100), 300, 1e-3),
    (optim.Rprop, dict(lr=0.01), 300, 1e-3),
    (optim.Adafactor, dict(lr=0.5), 800, 5e-2),
]


@pytest.mark.parametrize("cls, kwargs, steps, tolerance", CONVERGENCE,
                         ids=[_case_id((c, k, None)) for c, k, _, _ in CONVERGENCE])
def test_minimizes_a_convex_quadratic(cls, kwargs, steps, tolerance):
    a = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    b = np.array([1.0, -1.0, 2.0])
    solution = np.linalg.solve(a, b)
    x = mg.zeros(3, dtype=mg.float64, requires_grad=True)
    a_t, b_t = mg.tensor(a), mg.tensor(b)
    opt = cls([x], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * (x @ (a_t @ x)) - (b_t * x).sum()).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), solution, atol=tolerance)


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] * x[0]) ** 2


@pytest.mark.parametrize("cls, kwargs, steps", [
    (optim.SGD, dict(lr=1e-3, momentum=0.9), 5000),
    (optim.Adam, dict(lr=0.02), 3000),
])
def test_minimizes_rosenbrock(cls, kwargs, steps):
    x = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
    opt = cls([x], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        rosenbrock(x).backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=2e-2)


# --- ASGD's averaged iterate ---------------------------------------------------------------------

def test_asgd_averages_after_t0():
    kwargs = dict(lr=0.02, lambd=0.01, alpha=0.5, t0=10)
    opt, _ = minigrad_trajectory(PROBLEM, lambda ps: optim.ASGD(ps, **kwargs), 30)
    states = [{} for _ in PROBLEM.start]
    reference_trajectory(PROBLEM, functools.partial(ref_asgd, **kwargs), 30, states=states)
    for p, s in zip(opt.param_groups[0]["params"], states):
        np.testing.assert_allclose(opt.state[p]["ax"], s["ax"], rtol=1e-10, atol=1e-12)
        assert not np.allclose(opt.state[p]["ax"], p.numpy())  # averaging did start


def test_asgd_golden_average_and_swap():
    opt, _ = minigrad_trajectory(GOLDEN_PROBLEM, lambda ps: optim.ASGD(ps, lr=0.05, lambd=0.01,
                                                                        t0=2), 10)
    p = opt.param_groups[0]["params"][0]
    averaged = [0.553242058732, -0.488655215794, 0.374732377182, 0.874756708846]
    np.testing.assert_allclose(opt.state[p]["ax"], averaged, rtol=1e-10)
    training_values = p.numpy().copy()
    with opt.swap_averaged():
        np.testing.assert_allclose(p.numpy(), averaged, rtol=1e-10)
    np.testing.assert_array_equal(p.numpy(), training_values)
    with pytest.raises(RuntimeError), opt.swap_averaged():
        raise RuntimeError("evaluation failed")
    np.testing.assert_array_equal(p.numpy(), training_values)


def test_adafactor_golden_matrix():
    start = [[1, -2, .5, 3], [.2, .7, -1.5, 2.2], [-.3, .9, 1.1, -.8]]
    p = mg.tensor(start, dtype=mg.float64, requires_grad=True)
    first_column = mg.tensor([[1.0, 0, 0, 0]] * 3, dtype=mg.float64)
    opt = optim.Adafactor([p], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        ((0.5 * p * p + 0.1 * p ** 4).sum() + 0.3 * (p * first_column).sum()).backward()
        opt.step()
    expected = [[0.6662515873, -1.660988754, 0.4307562643, 2.676416823],
                [-0.006954901008, 0.5775464605, -0.9017304148, 1.884534986],
                [-0.2905856592, 0.4169080459, 0.2247249249, -0.6252437721]]
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-9)
    assert opt.state[p]["row_var"].shape == (3, 1) and opt.state[p]["col_var"].shape == (1, 4)
