"""Every optimizer against an independent NumPy transcription of its equations.

One table drives the tests: (optimizer class, keyword arguments, reference update). A
reference update is ``ref(p, g, s, t, **kwargs) -> new p`` for one parameter: ``p`` and ``g``
are float64 arrays (``g`` the gradient of the loss the optimizer sees), ``s`` a dict the
reference keeps its own buffers in, ``t`` the step count (1 first). The problem has three
parameters of different shapes (a matrix, a vector, a 0-d scalar) and a non-quadratic loss.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim

STEPS = 50
SHAPES = [(3, 4), (4,), ()]
_rng = np.random.default_rng(1234)
START = [_rng.uniform(-2, 2, shape) for shape in SHAPES]
CURVATURE = [_rng.uniform(0.5, 3, shape) for shape in SHAPES]
SHIFT = [_rng.uniform(-0.5, 0.5, shape) for shape in SHAPES]


def loss_numpy_grad(p, h, b):
    """Gradient of sum(0.5 h p^2 + b p + 0.1 p^4)."""
    return h * p + b + 0.4 * p ** 3


def loss_minigrad(params, curvature, shift):
    return sum(((0.5 * h * p * p + b * p + 0.1 * p ** 4).sum()
                for p, h, b in zip(params, curvature, shift)), mg.tensor(0.0, dtype=mg.float64))


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
]


def _case_id(case):
    cls, kwargs, _ = case
    return cls.__name__ + "(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"


def minigrad_trajectory(cls, kwargs, steps=STEPS, device="cpu"):
    """Parameter values after each step, optimizing with minigrad."""
    params = [mg.tensor(x, dtype=mg.float64, device=device, requires_grad=True) for x in START]
    curvature = [mg.tensor(x, dtype=mg.float64, device=device) for x in CURVATURE]
    shift = [mg.tensor(x, dtype=mg.float64, device=device) for x in SHIFT]
    sign = -1.0 if kwargs.get("maximize") else 1.0
    opt = cls(params, **kwargs)
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        (sign * loss_minigrad(params, curvature, shift)).backward()
        opt.step()
        trajectory.append([p.numpy().copy() for p in params])
    return trajectory


def reference_trajectory(reference, kwargs, steps=STEPS):
    sign = -1.0 if kwargs.get("maximize") else 1.0
    params = [x.copy() for x in START]
    states = [{} for _ in params]
    trajectory = []
    for t in range(1, steps + 1):
        params = [reference(p, sign * loss_numpy_grad(p, h, b), s, t, **kwargs)
                  for p, h, b, s in zip(params, CURVATURE, SHIFT, states)]
        trajectory.append([np.asarray(p).copy() for p in params])
    return trajectory


def assert_trajectories_close(actual, expected, rtol=1e-10, atol=1e-12):
    for t, (got, want) in enumerate(zip(actual, expected), start=1):
        for i, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol,
                                       err_msg=f"parameter {i} after step {t}")


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_numpy_reference(case, device):
    cls, kwargs, reference = case
    expected = reference_trajectory(reference, kwargs)
    assert_trajectories_close(minigrad_trajectory(cls, kwargs, device=device), expected)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_matches_torch(case):
    torch = pytest.importorskip("torch")
    cls, kwargs, _ = case
    torch_cls = getattr(torch.optim, cls.__name__)
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in START]
    curvature = [torch.tensor(x) for x in CURVATURE]
    shift = [torch.tensor(x) for x in SHIFT]
    sign = -1.0 if kwargs.get("maximize") else 1.0
    opt = torch_cls(params, **kwargs)
    expected = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = sum((0.5 * h * p * p + b * p + 0.1 * p ** 4).sum()
                   for p, h, b in zip(params, curvature, shift))
        (sign * loss).backward()
        opt.step()
        expected.append([p.detach().numpy().copy() for p in params])
    assert_trajectories_close(minigrad_trajectory(cls, kwargs), expected)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_state_dict_round_trip_continues_identically(case):
    cls, kwargs, _ = case
    uninterrupted = minigrad_trajectory(cls, kwargs, steps=12)

    params = [mg.tensor(x, dtype=mg.float64, requires_grad=True) for x in START]
    curvature = [mg.tensor(x, dtype=mg.float64) for x in CURVATURE]
    shift = [mg.tensor(x, dtype=mg.float64) for x in SHIFT]
    sign = -1.0 if kwargs.get("maximize") else 1.0

    def train(opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            (sign * loss_minigrad(params, curvature, shift)).backward()
            opt.step()

    first = cls(params, **kwargs)
    train(first, 5)
    saved = first.state_dict()
    del first
    resumed = cls(params, **{k: v for k, v in kwargs.items() if k != "lr"}, lr=123.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == kwargs["lr"]
    train(resumed, 7)
    assert_trajectories_close([[p.numpy() for p in params]], [uninterrupted[-1]], rtol=0, atol=0)


# --- golden numbers (reference section 9.1: torch 2.13, float64) --------------------------------

GOLDEN_START = [1.0, -2.0, 0.5, 3.0]
GOLDEN_H = np.array([1.0, 3.0, 0.5, 2.0])
GOLDEN_B = np.array([0.3, -0.2, 0.1, 0.0])

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
]


@pytest.mark.parametrize("cls, kwargs, expected", GOLDEN,
                         ids=[_case_id((c, k, None)) for c, k, _ in GOLDEN])
def test_golden_numbers(cls, kwargs, expected):
    p = mg.tensor(GOLDEN_START, dtype=mg.float64, requires_grad=True)
    h, b = mg.tensor(GOLDEN_H), mg.tensor(GOLDEN_B)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    opt = cls([p], **kwargs)
    for t in range(1, max(expected) + 1):
        opt.zero_grad()
        (sign * (0.5 * h * p * p + b * p + 0.1 * p ** 4).sum()).backward()
        opt.step()
        if t in expected:
            np.testing.assert_allclose(p.numpy(), expected[t], rtol=1e-10, atol=1e-11,
                                       err_msg=f"after step {t}")


# --- convergence ---------------------------------------------------------------------------------

CONVERGENCE = [
    (optim.SGD, dict(lr=0.1), 300),
    (optim.SGD, dict(lr=0.05, momentum=0.9), 300),
    (optim.Adam, dict(lr=0.05), 800),
    (optim.AdamW, dict(lr=0.05, weight_decay=0.0), 800),
]


@pytest.mark.parametrize("cls, kwargs, steps", CONVERGENCE,
                         ids=[_case_id((c, k, None)) for c, k, _ in CONVERGENCE])
def test_minimizes_a_convex_quadratic(cls, kwargs, steps):
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
    np.testing.assert_allclose(x.numpy(), solution, atol=1e-3)


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
