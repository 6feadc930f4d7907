"""Property-based: random compositions of ops, on random shapes, pass gradcheck."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.autograd import gradcheck

# Each step maps a tensor to a tensor of the same shape and stays smooth on its inputs.
UNARY_STEPS = [
    lambda x: x.tanh(),
    lambda x: x.sigmoid(),
    lambda x: (x * 0.5).exp(),
    lambda x: (x * x + 1.0).log(),
    lambda x: (x * x + 0.5).sqrt(),
    lambda x: x * 2.0 - 1.0,
    lambda x: x / (x * x + 2.0),
    lambda x: x - x.mean(axis=-1, keepdims=True),
    lambda x: x * x.sum(axis=0, keepdims=True),
    lambda x: x.T.T,
    lambda x: mg.stack([x, x * 2.0]).sum(axis=0),
    lambda x: x.reshape(-1).reshape(x.shape),
]
BINARY_STEPS = [
    lambda x, y: x + y,
    lambda x, y: x * y,
    lambda x, y: x - y * 0.5,
    lambda x, y: x @ y.T @ x,
    lambda x, y: x / (y * y + 1.0),
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(1, 3), cols=st.integers(1, 3),
       steps=st.lists(st.tuples(st.integers(0, len(UNARY_STEPS) - 1),
                                st.integers(0, len(BINARY_STEPS) - 1), st.booleans()),
                      min_size=1, max_size=4),
       seed=st.integers(0, 2 ** 16))
def test_random_compositions_pass_gradcheck(rows, cols, steps, seed):
    rng = np.random.default_rng(seed)
    a = mg.tensor(rng.uniform(-1, 1, (rows, cols)), dtype=mg.float64, requires_grad=True)
    b = mg.tensor(rng.uniform(-1, 1, (rows, cols)), dtype=mg.float64, requires_grad=True)

    def composed(x, y):
        for unary, binary, use_binary in steps:
            x = BINARY_STEPS[binary](x, y) if use_binary else UNARY_STEPS[unary](x)
        return x
    assert gradcheck(composed, (a, b), atol=1e-5, rtol=1e-4)
