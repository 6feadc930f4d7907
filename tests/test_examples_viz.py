"""The ten reproduction examples run with --quick (figures into a temporary folder) and the
numbers they print are the ones their stories need."""
import importlib.util
import inspect
import math
import os

import numpy as np
import pytest

from minigrad import optim

pytest.importorskip("matplotlib")

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.fixture
def run_example(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(EXAMPLES)  # for their shared helpers, examples/_shared.py

    def run(name, *figures):
        spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                      os.path.join(EXAMPLES, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        result = module.main(["--quick", "--out", str(tmp_path)])
        out = capsys.readouterr().out
        for figure in figures:
            with open(tmp_path / figure, "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n", figure
        return result, out
    return run


def test_learning_rates(run_example):
    result, out = run_example("learning_rates", "learning_rates.png")
    final = result["final"]
    assert 0.1 < abs(final["0.02 (crawls)"]) < 2.0        # moved, far from converged
    assert abs(final["0.3 (converges)"]) < 1e-5
    assert 1e-5 < abs(final["0.9 (oscillates)"]) < 2.0
    assert abs(final["1.05 (diverges)"]) > 2.0
    assert result["ascent_end"] == pytest.approx(-1.5, abs=1e-3)  # the local maximum
    assert result["global_max"] == pytest.approx(2.0, abs=0.02)
    assert "gradient ascent" in out


def test_test_functions_covers_every_optimizer(run_example):
    result, out = run_example("test_functions", "test_functions_rosenbrock.png")
    exported = [name for name in optim.__all__
                if inspect.isclass(getattr(optim, name))
                and issubclass(getattr(optim, name), optim.Optimizer)
                and name != "Optimizer"]
    results, skipped = result["results"], result["skipped"]
    for name in exported:
        ran = any(label.split("(")[0] == name for f in results.values() for label in f)
        left_out = any(key.split(" on ")[0].split("(")[0] == name for key in skipped)
        assert ran or left_out, f"{name} neither ran nor was listed as left out"
        assert name in out
    start = 2.5 ** 2 + 100 * (2.0 - 2.25) ** 2
    assert results["rosenbrock"]["Adam"]["final"] < start
    assert results["saddle"]["Adam"]["final"] < 1.0 - 1e-6  # below the start, f(1, 0.001)
    assert "SAM(SGD)" in results["rosenbrock"] and "Lookahead(Adam)" in results["rosenbrock"]
    assert all(not math.isnan(r["final"]) for f in results.values() for r in f.values())


def test_saddle_hessian(run_example):
    result, out = run_example("saddle_hessian", "saddle_hessian.png")
    found = result["found"]
    np.testing.assert_array_equal(found["x^2 - y^2"]["hessian"], [[2.0, 0.0], [0.0, -2.0]])
    np.testing.assert_array_equal(found["x^3 - 3xy^2"]["hessian"], np.zeros((2, 2)))
    assert list(found["x^2 - y^2"]["eigenvalues"]) == [-2.0, 2.0]
    steps = result["steps_taken"]
    assert steps["saddle, from (0, 0)"] == result["max_steps"]
    assert result["final_distance"]["saddle, from (0, 0)"] == 0.0
    assert steps["saddle, from eps * v-"] == result["predicted_saddle_escape"]
    assert result["final_distance"]["monkey, from (eps, 0)"] < 1e-3  # crept back
    assert "escaped" in out and "stayed" in out


def test_cubic_regression(run_example):
    result, out = run_example("cubic_regression", "cubic_regression.png")
    gd, momentum, adam = result["rows"]
    assert momentum[2] != "-" and (gd[2] == "-" or momentum[2] < gd[2])  # momentum sooner
    assert momentum[3] > 0.5                                            # and overshoots
    assert adam[1] > gd[1] > result["optimum"]                          # Adam slowest here
    np.testing.assert_allclose(result["best"], [3.0, 2.0], atol=0.2)


def test_bumpy_relu6(run_example):
    result, out = run_example("bumpy_relu6", "bumpy_relu6.png")
    runs = result["results"]
    adam = next(v for k, v in runs.items() if k.startswith("Adam"))
    assert adam["left_plateau"] and adam["moved"] > 10
    for label, run in runs.items():
        if not label.startswith("Adam"):
            assert not run["left_plateau"] and run["moved"] < 2, label
    assert result["near_final_loss"] < 1e-3  # GD's rate is fine off the plateau
    assert "stalled" in out and "left the plateau" in out


def test_schedules(run_example):
    result, out = run_example("schedules", "schedules_curves.png", "schedules_digits.png")
    curves = result["curves"]
    assert curves["CosineAnnealingLR"][0] == 0.1 and curves["CosineAnnealingLR"][-1] < 0.01
    assert curves["SequentialLR"][0] < curves["SequentialLR"][20]  # the warmup
    assert result["cosine"]["lr"][0] < 0.3 and result["constant"]["lr"] == [0.3, 0.3]
    scaled, unscaled = (result["scaling"][k]["val_loss"][-1] for k in
                        list(result["scaling"])[1:])
    assert scaled < unscaled  # k times the batch needs k times the rate
    assert all(math.isfinite(v) for c in result["scaling"].values() for v in c["val_loss"])


def test_init_and_norm(run_example):
    result, out = run_example("init_and_norm", "init_and_norm_stats.png",
                              "init_and_norm_training.png")
    stats = result["stats"]
    ratio = {key: a[-1] / a[0] for key, (a, g) in stats.items()}
    assert ratio[("N(0, 1)", "no normalisation")] > 1e4       # explodes
    assert ratio[("LeCun", "no normalisation")] < 0.2         # halves variance per ReLU
    assert 0.5 < ratio[("He", "no normalisation")] < 2.0      # keeps the scale
    bn = [stats[(init, "BatchNorm")][0] for init in ("N(0, 1)", "LeCun", "Xavier", "He")]
    for other in bn[1:]:
        np.testing.assert_allclose(other, bn[0], rtol=1e-3)   # normalised: init no longer matters
    assert all(math.isfinite(r["val_loss"][-1]) for r in result["runs"].values())


def test_weight_decay(run_example):
    result, out = run_example("weight_decay", "weight_decay.png")
    assert result["sgd_gap"] < 1e-5 * result["sgd_scale"]
    adam, adamw = result["results"]["Adam + L2"], result["results"]["AdamW"]
    assert adam[0] == adamw[0]  # no decay: the same optimizer
    assert adam[-1]["weight_norm"] < adamw[-1]["weight_norm"] < adamw[0]["weight_norm"]


def test_fixed_budget(run_example):
    result, out = run_example("fixed_budget", "fixed_budget.png")
    final = {label.split(" (")[0]: errors[-1] for label, (_, errors) in result["curves"].items()}
    assert final["minibatch SGD"] < 0.1
    assert final["minibatch SGD"] < final["full-batch GD"]
    assert final["minibatch SGD"] < final["full-batch L-BFGS"]
    assert all(xs[-1] <= result["budget"] for xs, _ in result["curves"].values())


def test_loss_landscape(run_example):
    result, out = run_example("loss_landscape", "loss_landscape_plain.png",
                              "loss_landscape_batchnorm.png")
    for name, r in result.items():
        assert r["center"] <= r["mean_at_half_span"] <= r["max"], name
        assert r["test_accuracy"] > 0.8
    assert "theta is the grid's minimum" in out
