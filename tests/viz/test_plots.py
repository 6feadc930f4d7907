"""minigrad.viz on tiny inputs: each file is written and the numbers returned are right."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim

pytest.importorskip("matplotlib")  # minigrad.viz's plots need it (the "viz" extra)

from minigrad.nn.functional import cross_entropy
from minigrad.utils.history import History
from minigrad.viz import (filter_normalized_direction, layer_stats, loss_landscape,
                          plot_history, plot_landscape, plot_layer_stats, plot_trajectories,
                          run_trajectory, smooth)
from minigrad.viz.trajectories import _grid_values

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG and os.path.getsize(path) > 1000


def test_importing_viz_imports_no_matplotlib():
    code = ("import sys, minigrad.viz; "
            "print(any(m.split('.')[0] == 'matplotlib' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


# --- plot_history --------------------------------------------------------------------------

def test_smooth_is_the_debiased_moving_average():
    values = [4.0, 2.0, float("nan"), 1.0]
    w = 0.5
    first = 0.5 * 4.0 / (1 - w)
    second = (w * (0.5 * 4.0) + 0.5 * 2.0) / (1 - w ** 2)
    third = (w * (w * 2.0 + 1.0) + 0.5 * 1.0) / (1 - w ** 3)
    out = smooth(values, w)
    assert out[0] == pytest.approx(first) == 4.0
    assert out[1] == pytest.approx(second)
    assert np.isnan(out[2])
    assert out[3] == pytest.approx(third)
    with pytest.raises(ValueError, match="weight must be in"):
        smooth(values, 1.0)


def _history():
    history = History()
    step = 0
    for epoch in range(1, 4):
        for _ in range(5):
            step += 1
            history.log(step=step, epoch=epoch, loss=1.0 / step, lr=0.1 / epoch)
        history.log(step=step, epoch=epoch, train_loss=1.0 / step, val_loss=1.5 / step,
                    train_accuracy=0.5 + 0.1 * epoch, val_accuracy=0.4 + 0.1 * epoch)
    return history


def test_plot_history_draws_every_metric(tmp_path):
    history = _history()
    path = tmp_path / "h.png"
    figure, numbers = plot_history(history, path)
    assert _is_png(path)
    assert set(numbers) == {"loss", "loss (smoothed)", "lr", "train_loss", "val_loss",
                            "train_accuracy", "val_accuracy"}
    steps, values = numbers["val_loss"]
    assert list(steps) == [5, 10, 15] and list(values) == [1.5 / 5, 1.5 / 10, 1.5 / 15]
    np.testing.assert_allclose(numbers["loss (smoothed)"][1],
                               smooth([1.0 / s for s in range(1, 16)], 0.9))
    loss_axes, accuracy_axes, lr_axes = figure.axes
    assert accuracy_axes.get_ylabel() == "accuracy" and lr_axes.get_yscale() == "log"
    assert [line.get_label() for line in accuracy_axes.lines] == ["train_accuracy",
                                                                   "val_accuracy"]
    np.testing.assert_array_equal(lr_axes.lines[0].get_ydata(), numbers["lr"][1])


def test_plot_history_reads_a_saved_file_and_uses_epochs_without_steps(tmp_path):
    history = History()
    for epoch in range(1, 4):
        history.log(epoch=epoch, val_loss=1.0 / epoch)
    history.save(tmp_path / "h.csv")
    figure, numbers = plot_history(tmp_path / "h.csv")
    assert list(numbers["val_loss"][0]) == [1, 2, 3]
    assert figure.axes[0].get_xlabel() == "epoch"
    with pytest.raises(ValueError, match="empty"):
        plot_history(History())


# --- trajectories --------------------------------------------------------------------------

def _quadratic(v):
    return v[0] ** 2 + 10 * v[1] ** 2


def test_trajectory_matches_a_hand_run_momentum_sgd():
    lr, mu = 0.02, 0.9
    path, losses = run_trajectory(_quadratic, lambda p: optim.SGD(p, lr=lr, momentum=mu),
                                  (1.5, -0.7), 40)
    x, buf = np.array([1.5, -0.7]), None
    expected = [x.copy()]
    for _ in range(40):
        g = np.array([2 * x[0], 20 * x[1]])
        buf = g if buf is None else mu * buf + g
        x = x - lr * buf
        expected.append(x.copy())
    np.testing.assert_allclose(path, np.array(expected), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(losses, [e[0] ** 2 + 10 * e[1] ** 2 for e in expected],
                               rtol=1e-12)


def test_trajectory_hands_lbfgs_a_closure_and_stops_at_divergence():
    path, losses = run_trajectory(_quadratic, lambda p: optim.LBFGS(p, lr=1.0, max_iter=5),
                                  (1.0, 1.0), 3)
    assert path.shape == (4, 2) and losses[-1] < 1e-10
    # x <- x - 2 * 4 x^3 blows up: the path ends before any non-finite point
    path, losses = run_trajectory(lambda v: (v ** 4).sum(),
                                  lambda p: optim.SGD(p, lr=2.0), (3.0, 3.0), 50)
    assert len(path) < 51 and np.all(np.isfinite(path)) and np.all(np.isfinite(losses))
    with pytest.raises(ValueError, match="start must be 2 finite numbers"):
        run_trajectory(_quadratic, lambda p: optim.SGD(p, lr=0.1), (1.0, 2.0, 3.0), 3)


def test_grid_values_broadcast_or_point_by_point():
    xs, ys = np.linspace(-1, 1, 4), np.linspace(-2, 2, 3)
    X, Y = np.meshgrid(xs, ys)
    np.testing.assert_allclose(_grid_values(_quadratic, xs, ys), X ** 2 + 10 * Y ** 2)

    def pointwise(v):
        assert v.shape == (2,)
        return v[0] ** 2 + 10 * v[1] ** 2
    np.testing.assert_allclose(_grid_values(pointwise, xs, ys), X ** 2 + 10 * Y ** 2)


def test_plot_trajectories_returns_the_paths_it_draws(tmp_path):
    factories = {"SGD": lambda p: optim.SGD(p, lr=0.02),
                 "Adam": lambda p: optim.Adam(p, lr=0.1)}
    path = tmp_path / "t.png"
    figure, paths = plot_trajectories(_quadratic, factories, (1.5, -0.7), 20, path,
                                      minima=[(0.0, 0.0)], resolution=30)
    assert _is_png(path)
    for label, factory in factories.items():
        np.testing.assert_array_equal(paths[label],
                                      run_trajectory(_quadratic, factory, (1.5, -0.7), 20)[0])
    drawn = {line.get_label(): line for line in figure.axes[0].lines}
    np.testing.assert_array_equal(drawn["Adam"].get_xdata(), paths["Adam"][:, 0])


# --- loss landscape ------------------------------------------------------------------------

def _model_and_loss():
    mg.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5),
                          nn.Linear(6, 3))
    x, y = mg.randn(20, 5), mg.randint(0, 3, (20,))
    model.train()
    for _ in range(3):  # give BatchNorm running statistics that differ from the batch's
        model(x)
    return model, (lambda m: cross_entropy(m(x), y))


def test_filter_normalized_rows_have_the_weight_rows_norms():
    model, _ = _model_and_loss()
    direction = filter_normalized_direction(model, seed=3)
    for (name, p), d in zip(model.named_parameters(), direction):
        assert d.shape == p.shape
        if p.ndim < 2:  # biases and BatchNorm's weight and bias stay where they are
            assert not d.any(), name
        else:
            np.testing.assert_allclose(np.linalg.norm(d, axis=1),
                                       np.linalg.norm(p.numpy().astype(np.float64), axis=1),
                                       rtol=1e-9)
    again = filter_normalized_direction(model, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(direction, again))
    other = filter_normalized_direction(model, seed=4)
    assert not np.array_equal(direction[0], other[0])


def test_landscape_centre_is_the_loss_and_parameters_are_restored_bitwise():
    model, loss_fn = _model_and_loss()
    before = {k: v.numpy().tobytes() for k, v in model.state_dict().items()}
    model.eval()
    with mg.no_grad():
        expected = loss_fn(model).item()
    model.train()
    landscape = loss_landscape(model, loss_fn, resolution=5, span=0.5, seed=7)
    assert model.training
    assert {k: v.numpy().tobytes() for k, v in model.state_dict().items()} == before
    assert landscape.center == expected
    assert landscape.surface[2, 2] == expected and landscape.line[2] == expected
    assert landscape.alphas[2] == 0.0 and landscape.alphas[0] == -0.5
    np.testing.assert_array_equal(landscape.line, landscape.surface[:, 2])
    # one grid point by hand: theta + alpha d1 + beta d2 in float64, stored in float32
    d1, d2 = filter_normalized_direction(model, 7), filter_normalized_direction(model, 8)
    params = list(model.parameters())
    saved = [p.numpy().copy() for p in params]
    with mg.no_grad():
        for p, theta, a, b in zip(params, saved, d1, d2):
            p.copy_(mg.tensor((theta.astype(np.float64) + 0.25 * a - 0.5 * b)
                              .astype(np.float32)))
        model.eval()
        by_hand = loss_fn(model).item()
        for p, theta in zip(params, saved):
            p.copy_(mg.tensor(theta))
    assert landscape.surface[3, 0] == by_hand
    assert landscape.names == [name for name, _ in model.named_parameters()]


def test_landscape_restores_parameters_when_the_loss_fails():
    model, loss_fn = _model_and_loss()
    before = [p.numpy().copy() for p in model.parameters()]
    calls = []

    def failing(m):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")
        return loss_fn(m)
    with pytest.raises(RuntimeError, match="boom"):
        loss_landscape(model, failing, resolution=3)
    assert all(np.array_equal(a, p.numpy()) for a, p in zip(before, model.parameters()))


@pytest.mark.parametrize("kwargs, message", [
    ({"resolution": 4}, "resolution must be an odd int"),
    ({"resolution": 1}, "resolution must be an odd int"),
    ({"span": 0.0}, "span must be a positive number"),
])
def test_landscape_refuses_bad_grids(kwargs, message):
    model, loss_fn = _model_and_loss()
    with pytest.raises(ValueError, match=message):
        loss_landscape(model, loss_fn, **kwargs)


def test_plot_landscape_writes_the_three_panels(tmp_path):
    model, loss_fn = _model_and_loss()
    path = tmp_path / "l.png"
    figure, landscape = plot_landscape(model, loss_fn, path, resolution=5)
    assert _is_png(path) and len(figure.axes) >= 3
    np.testing.assert_array_equal(figure.axes[0].lines[0].get_ydata(), landscape.line)
    figure2, same = plot_landscape(landscape)
    assert same is landscape
    with pytest.raises(TypeError, match="loss_fn is needed"):
        plot_landscape(model)


# --- layer statistics ----------------------------------------------------------------------

def test_layer_stats_match_a_hand_run_and_change_nothing(tmp_path):
    mg.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(),
                          nn.Sequential(nn.Linear(8, 8), nn.ReLU()), nn.Linear(8, 3))
    x, y = mg.randn(16, 4), mg.randint(0, 3, (16,))
    buffers = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    path = tmp_path / "s.png"
    figure, stats = plot_layer_stats(model, x, y, path)
    assert _is_png(path)
    assert stats.names == ["0 Linear", "1 BatchNorm1d", "2 Tanh", "3 Linear", "4 ReLU",
                           "5 Linear"]
    assert stats.is_activation == [False, False, True, False, True, False]
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), buffers[k])
    # by hand: the same forward, retain_grad on every output, backward
    layers = [model[0], model[1], model[2], model[3][0], model[3][1], model[4]]
    h, outputs = x, []
    for layer in layers:
        h = layer(h)
        h.retain_grad()
        outputs.append(h)
    cross_entropy(h, y).backward()
    np.testing.assert_allclose(stats.activation_std, [o.numpy().std() for o in outputs],
                               rtol=1e-5)
    np.testing.assert_allclose(stats.activation_mean, [o.numpy().mean() for o in outputs],
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(stats.gradient_std, [o.grad.numpy().std() for o in outputs],
                               rtol=1e-5)


def test_layer_stats_default_loss_and_refusals():
    model = nn.Sequential(nn.Linear(3, 2))
    x = mg.randn(5, 3)
    stats = layer_stats(model, x)
    out = model(x).numpy()
    np.testing.assert_allclose(stats.gradients[0], (out / out.size).ravel(), rtol=1e-5)
    with pytest.raises(TypeError, match="must be an nn.Sequential"):
        layer_stats(nn.Linear(3, 2), x)


class _ClosureOnlySGD(optim.SGD):
    """Refuses a step without a closure, as SAM does; counts the closure's calls."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.calls = 0

    def step(self, closure=None):
        if closure is None:
            raise ValueError("this optimizer needs a closure")
        self.calls += 1
        return super().step()


class _SecondOrderSGD(optim.SGD):
    """Says it needs create_graph, and checks the gradient it gets has a graph."""
    needs_create_graph = True

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                assert p.grad.requires_grad, "backward(create_graph=True) was not used"
        return super().step(closure)


def test_trajectory_adapts_to_closure_only_and_second_order_optimizers():
    plain, _ = run_trajectory(_quadratic, lambda p: optim.SGD(p, lr=0.02), (1.0, 1.0), 5)
    made = []

    def closure_only(p):
        made.append(_ClosureOnlySGD(p, lr=0.02))
        return made[-1]
    path, _ = run_trajectory(_quadratic, closure_only, (1.0, 1.0), 5)
    np.testing.assert_array_equal(path, plain)
    assert made[0].calls == 5
    path, _ = run_trajectory(_quadratic, lambda p: _SecondOrderSGD(p, lr=0.02), (1.0, 1.0), 5)
    np.testing.assert_array_equal(path, plain)


def test_trajectory_stop_ends_the_run_after_the_point_it_saw():
    seen = []

    def stop(point, loss):
        seen.append(loss)
        return point[1] < 0.5
    path, losses = run_trajectory(_quadratic, lambda p: optim.SGD(p, lr=0.02), (1.0, 1.0),
                                  100, stop=stop)
    assert path[-1][1] < 0.5 <= path[-2][1] and len(path) == len(seen) + 1 < 101
    assert list(losses[1:]) == seen
