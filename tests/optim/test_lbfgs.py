"""LBFGS: golden Rosenbrock runs (reference section 9.4), a NumPy transcription of the
fixed-step iteration, torch parity, maximize, checkpoints and argument errors."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim.lbfgs import LBFGS

SHAPES = [(3, 4), (4,), ()]
_rng = np.random.default_rng(99)
START = [_rng.uniform(-1.5, 1.5, shape) for shape in SHAPES]
CURVATURE = [_rng.uniform(0.5, 3, shape) for shape in SHAPES]


def separable_loss(params, curvature):
    """sum(0.5 h p^2 + 0.1 p^4 + 0.3 p): the same expression for minigrad and torch tensors."""
    return sum((0.5 * h * p * p + 0.1 * p ** 4 + 0.3 * p).sum() for p, h in zip(params, curvature))


def rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] * x[0]) ** 2


def _rosenbrock_run(line_search_fn, steps=3, maximize=False):
    """Per step: (returned loss, x, func_evals, n_iter)."""
    x = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)
    opt = LBFGS([x], lr=1, max_iter=20, history_size=10, line_search_fn=line_search_fn,
                maximize=maximize)
    sign = -1.0 if maximize else 1.0

    def closure():
        opt.zero_grad()
        loss = sign * rosenbrock(x)
        loss.backward()
        return loss

    results = []
    for _ in range(steps):
        loss = opt.step(closure)
        state = opt.state[x]
        results.append((float(loss), x.numpy().copy(), state["func_evals"], state["n_iter"]))
    return results


ROSENBROCK_GOLDEN = {
    None: [(12.5, [-0.781742768252, 0.614103696867], 20, 20),
           (3.17549648952, [0.193975399455, 0.010145692335], 40, 40),
           (0.725194891611, [0.713929548869, 0.512157008158], 60, 60)],
    "strong_wolfe": [(12.5, [-0.085231205505, -0.028824645316], 25, 19),
                     (1.30796838827, [0.999760978671, 0.999538788222], 50, 38),
                     (8.52670573257e-08, [0.999983417921, 0.9999669024], 52, 40)],
}


# Fixed unit steps on Rosenbrock amplify rounding: PyTorch's kernels round a few operations
# differently from NumPy, and the 1-ulp difference first seen at iteration 4 grows to ~1e-8 by
# iteration 40 and ~1e-6 by iteration 60. The line-searched run is stable.
GOLDEN_RTOL = {None: [1e-9, 1e-7, 1e-5], "strong_wolfe": [1e-9, 1e-9, 1e-9]}


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("maximize", [False, True])
def test_rosenbrock_golden(line_search_fn, maximize):
    sign = -1.0 if maximize else 1.0  # maximizing the negated function is minimizing it
    runs = zip(_rosenbrock_run(line_search_fn, maximize=maximize),
               ROSENBROCK_GOLDEN[line_search_fn], GOLDEN_RTOL[line_search_fn])
    for got, want, rtol in runs:
        assert got[0] == pytest.approx(sign * want[0], rel=rtol)  # the closure's own value
        np.testing.assert_allclose(got[1], want[1], rtol=rtol, atol=1e-11)
        assert got[2:] == want[2:]


@pytest.mark.parametrize("line_search_fn, steps", [(None, 6), ("strong_wolfe", 4)])
def test_reaches_rosenbrock_minimum(line_search_fn, steps):
    final_x = _rosenbrock_run(line_search_fn, steps=steps)[-1][1]
    np.testing.assert_allclose(final_x, [1.0, 1.0], atol=1e-4)


def test_strong_wolfe_on_a_quadratic():
    a = mg.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=mg.float64)
    b = mg.tensor([1.0, -1.0], dtype=mg.float64)
    x = mg.zeros(2, dtype=mg.float64, requires_grad=True)
    opt = LBFGS([x], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x @ (a @ x)) - (b * x).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(x.numpy(), [0.59999998771, -0.79999984271], rtol=1e-8)
    assert (opt.state[x]["func_evals"], opt.state[x]["n_iter"]) == (6, 5)


# --- fixed-step iteration against a NumPy transcription ------------------------------------------

def _loss_and_grad(flat):
    """sum(0.5 h p^2 + 0.1 p^4 + 0.3 p) over the flattened parameters, and its gradient."""
    h = np.concatenate([c.reshape(-1) for c in CURVATURE])
    return float(np.sum(0.5 * h * flat ** 2 + 0.1 * flat ** 4 + 0.3 * flat)), \
        h * flat + 0.4 * flat ** 3 + 0.3


def reference_lbfgs(x, steps, lr, max_iter, history_size, tolerance_grad=1e-7,
                    tolerance_change=1e-9):
    """L-BFGS with a fixed step, as in Nocedal & Wright algorithm 7.4; x after each call."""
    s_hist, y_hist, iteration, after_each = [], [], 0, []
    d = t = prev_g = None
    gamma = 1.0
    max_eval = max_iter * 5 // 4
    for _ in range(steps):
        loss, g = _loss_and_grad(x)
        evals = 1
        for n in range(1, max_iter + 1):
            iteration += 1
            if iteration == 1:
                d = -g
            else:
                y, s = g - prev_g, d * t
                if y @ s > 1e-10:
                    if len(s_hist) == history_size:
                        s_hist.pop(0), y_hist.pop(0)
                    s_hist.append(s), y_hist.append(y)
                    gamma = (y @ s) / (y @ y)
                q, alphas = -g, []
                for s_i, y_i in zip(reversed(s_hist), reversed(y_hist)):
                    alphas.append((s_i @ q) / (y_i @ s_i))
                    q = q - alphas[-1] * y_i
                r = gamma * q
                for s_i, y_i, a_i in zip(s_hist, y_hist, reversed(alphas)):
                    r = r + (a_i - (y_i @ r) / (y_i @ s_i)) * s_i
                d = r
            prev_g, prev_loss = g, loss
            t = min(1.0, 1.0 / np.abs(g).sum()) * lr if iteration == 1 else lr
            if g @ d > -tolerance_change:
                break
            x = x + t * d
            if n == max_iter:
                break
            loss, g = _loss_and_grad(x)
            evals += 1
            if evals >= max_eval or np.abs(g).max() <= tolerance_grad:
                break
            if np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break
        after_each.append(x.copy())
    return after_each


def test_fixed_step_matches_numpy_reference(device):
    params = [mg.tensor(x, dtype=mg.float64, device=device, requires_grad=True) for x in START]
    curvature = [mg.tensor(c, dtype=mg.float64, device=device) for c in CURVATURE]
    opt = LBFGS(params, lr=0.2, max_iter=5, history_size=4)

    def closure():
        opt.zero_grad()
        loss = separable_loss(params, curvature)
        loss.backward()
        return loss

    start = np.concatenate([x.reshape(-1) for x in START])
    expected = reference_lbfgs(start, steps=10, lr=0.2, max_iter=5, history_size=4)
    for step, want in enumerate(expected, start=1):
        opt.step(closure)
        got = np.concatenate([p.numpy().reshape(-1) for p in params])
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=f"step {step}")
    assert opt.state[params[0]]["n_iter"] == 50


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_matches_torch_on_several_parameters(line_search_fn):
    torch = pytest.importorskip("torch")

    def run(make, params, opt):
        for _ in range(4):
            opt.step(make(params, opt))
        return np.concatenate([np.asarray(p.detach().numpy()).reshape(-1) for p in params])

    def closure_for(curvature):
        def make(params, opt):
            def closure():
                opt.zero_grad()
                loss = separable_loss(params, curvature)
                loss.backward()
                return loss
            return closure
        return make

    kwargs = dict(lr=0.5, max_iter=6, history_size=3, line_search_fn=line_search_fn)
    t_params = [torch.tensor(x, requires_grad=True) for x in START]
    expected = run(closure_for([torch.tensor(c) for c in CURVATURE]), t_params,
                   torch.optim.LBFGS(t_params, **kwargs))
    m_params = [mg.tensor(x, dtype=mg.float64, requires_grad=True) for x in START]
    got = run(closure_for([mg.tensor(c) for c in CURVATURE]), m_params, LBFGS(m_params, **kwargs))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dict_round_trip_continues_identically(line_search_fn):
    uninterrupted = _rosenbrock_run(line_search_fn, steps=2)[-1]
    x = mg.tensor([-1.5, 2.0], dtype=mg.float64, requires_grad=True)

    def make_closure(opt):
        def closure():
            opt.zero_grad()
            loss = rosenbrock(x)
            loss.backward()
            return loss
        return closure

    kwargs = dict(lr=1, max_iter=20, history_size=10, line_search_fn=line_search_fn)
    first = LBFGS([x], **kwargs)
    first.step(make_closure(first))
    saved = first.state_dict()
    resumed = LBFGS([x], **kwargs)
    resumed.load_state_dict(saved)
    resumed.step(make_closure(resumed))
    np.testing.assert_array_equal(x.numpy(), uninterrupted[1])
    assert resumed.state[x]["func_evals"] == uninterrupted[2]


def test_exported_from_optim():
    assert optim.LBFGS is LBFGS


class TestErrors:
    def test_rejects_several_param_groups(self):
        a, b = mg.ones(2, requires_grad=True), mg.ones(2, requires_grad=True)
        with pytest.raises(ValueError, match="parameter groups"):
            LBFGS([{"params": [a]}, {"params": [b], "lr": 0.1}])
        opt = LBFGS([a])
        with pytest.raises(ValueError, match="parameter groups"):
            opt.add_param_group({"params": [b]})

    def test_needs_a_closure(self):
        opt = LBFGS([mg.ones(2, requires_grad=True)])
        with pytest.raises(RuntimeError, match="closure"):
            opt.step()

    def test_rejects_mixed_dtypes(self):
        with pytest.raises(TypeError, match="one dtype"):
            LBFGS([mg.ones(2, requires_grad=True),
                   mg.ones(2, dtype=mg.float64, requires_grad=True)])

    @pytest.mark.parametrize("kwargs, name", [
        (dict(lr=-1.0), "lr"), (dict(max_iter=0), "max_iter"), (dict(max_eval=0), "max_eval"),
        (dict(history_size=0), "history_size"), (dict(tolerance_grad=-1.0), "tolerance_grad"),
        (dict(tolerance_change=-1.0), "tolerance_change"),
        (dict(line_search_fn="armijo"), "line_search_fn"),
    ])
    def test_bad_arguments(self, kwargs, name):
        with pytest.raises(ValueError, match=name):
            LBFGS([mg.ones(2, requires_grad=True)], **kwargs)


def test_strong_wolfe_on_a_saddle_where_the_line_is_exactly_quadratic():
    """f = x^2 - y^2 from (1, 0.001): along the search direction the function is a quadratic
    with negative curvature, and the cubic interpolation's denominator is exactly 0; the
    line search bisects there instead of dividing by zero."""
    v = mg.tensor([1.0, 0.001], dtype=mg.float64, requires_grad=True)
    opt = optim.LBFGS([v], lr=1.0, max_iter=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = v[0] ** 2 - v[1] ** 2
        loss.backward()
        return loss

    start = float(closure().item())
    for _ in range(3):
        opt.step(closure)
    assert np.isfinite(v.numpy()).all()
    assert float(closure().item()) < start
