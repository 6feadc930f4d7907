"""The problem the optimizer tests share, and how they run an optimizer on it.

The quartic loss sum(0.5 h p^2 + b p + 0.1 p^4) is smooth, separable and not quadratic, so a
trajectory can be computed twice: by minigrad (autograd, the optimizer under test) and by a
NumPy reference transcription fed the closed-form gradient h p + b + 0.4 p^3.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import minigrad as mg


def quartic_loss(params, curvature, shift):
    """sum(0.5 h p^2 + b p + 0.1 p^4) over all parameters, as a minigrad scalar."""
    return sum(((0.5 * h * p * p + b * p + 0.1 * p ** 4).sum()
                for p, h, b in zip(params, curvature, shift)),
               mg.tensor(0.0, dtype=params[0].dtype, device=params[0].device))


def quartic_grad(p, h, b):
    """The gradient of the quartic loss, in NumPy."""
    return h * p + b + 0.4 * p ** 3


@dataclass
class QuarticProblem:
    """Starting values, curvatures h and shifts b: one float64 array per parameter."""
    start: list
    curvature: list
    shift: list

    @classmethod
    def random(cls, shapes, seed, spread):
        """Start uniform in [-spread, spread], h in [0.5, 3], b in [-0.5, 0.5]."""
        rng = np.random.default_rng(seed)
        start = [rng.uniform(-spread, spread, shape) for shape in shapes]
        curvature = [rng.uniform(0.5, 3.0, shape) for shape in shapes]
        shift = [rng.uniform(-0.5, 0.5, shape) for shape in shapes]
        return cls(start, curvature, shift)

    def tensors(self, device="cpu", dtype=mg.float64):
        """Fresh parameters (requiring grad) and the constant h and b, as tensors."""
        params = [mg.tensor(x, dtype=dtype, device=device, requires_grad=True)
                  for x in self.start]
        curvature = [mg.tensor(x, dtype=dtype, device=device) for x in self.curvature]
        shift = [mg.tensor(x, dtype=dtype, device=device) for x in self.shift]
        return params, curvature, shift


# The reference sheet's golden problem (section 9.1): one 4-element parameter.
GOLDEN = QuarticProblem(start=[np.array([1.0, -2.0, 0.5, 3.0])],
                        curvature=[np.array([1.0, 3.0, 0.5, 2.0])],
                        shift=[np.array([0.3, -0.2, 0.1, 0.0])])


def minigrad_trajectory(problem, make_optimizer, steps, device="cpu", dtype=mg.float64,
                        sign=1.0):
    """Optimize ``sign * loss`` with ``make_optimizer(params)``; return the optimizer and the
    parameter values after each step (``trajectory[t - 1]`` is after step t)."""
    params, curvature, shift = problem.tensors(device, dtype)
    optimizer = make_optimizer(params)
    trajectory = []
    for _ in range(steps):
        optimizer.zero_grad()
        (sign * quartic_loss(params, curvature, shift)).backward()
        optimizer.step()
        trajectory.append([p.numpy().copy() for p in params])
    return optimizer, trajectory


def reference_trajectory(problem, reference, steps, sign=1.0, states=None):
    """The same run with ``reference(p, g, state, t) -> new p`` applied to each parameter;
    ``states`` (one dict per parameter) can be passed in to inspect them afterwards."""
    params = [x.copy() for x in problem.start]
    states = [{} for _ in params] if states is None else states
    trajectory = []
    for t in range(1, steps + 1):
        params = [reference(p, sign * quartic_grad(p, h, b), s, t)
                  for p, h, b, s in zip(params, problem.curvature, problem.shift, states)]
        trajectory.append([np.asarray(p).copy() for p in params])
    return trajectory


def assert_trajectories_close(actual, expected, rtol=1e-10, atol=1e-12):
    """Every parameter after every step agrees; a failure names the parameter and step."""
    assert len(actual) == len(expected)
    for t, (got, want) in enumerate(zip(actual, expected), start=1):
        for i, (g, w) in enumerate(zip(got, want)):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol,
                                       err_msg=f"parameter {i} after step {t}")
