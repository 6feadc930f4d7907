"""End-to-end training: a DataLoader-fed MLP learns blobs; the main job and example run."""
import importlib.util
import os
import subprocess
import sys

import pytest

import minigrad as mg
from minigrad import nn
from minigrad.data import DataLoader, StandardScaler, TensorDataset
from minigrad.datasets import blobs
from minigrad.nn.functional import cross_entropy
from minigrad.optim.adam import Adam
from minigrad.serialization import load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _full_batch_loss(model, X, y):
    with mg.no_grad():
        return cross_entropy(model(X), y).item()


def test_mlp_learns_blobs_from_a_dataloader(device):
    X, y = blobs(300, centers=4, cluster_std=1.5, seed=0, device=device)
    X = StandardScaler().fit_transform(X)
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True, seed=0, device=device)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)
    optimizer = Adam(model.parameters(), lr=0.01)
    start = _full_batch_loss(model, X, y)
    for _ in range(30):
        for xb, yb in loader:
            assert xb.device == device
            loss = cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    assert _full_batch_loss(model, X, y) < 0.1 * start


def _run_module(*args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "minigrad.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_main_job_smoke(tmp_path):
    checkpoint = tmp_path / "run" / "model.npz"
    result = _run_module("--epochs", "1", "--hidden", "16", "--checkpoint", str(checkpoint),
                         "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "epoch   1/1" in result.stdout and "test accuracy" in result.stdout
    saved = load(str(checkpoint))
    assert set(saved) >= {"model", "optimizer", "args", "scaler"}
    assert saved["args"]["hidden"] == [16]


def test_main_returns_metrics_and_checkpoint_restores_the_model(tmp_path, capsys):
    from minigrad.train import build_model, evaluate, load_data, main
    checkpoint = str(tmp_path / "model.npz")
    metrics = main(["--epochs", "3", "--hidden", "32", "--norm", "layer", "--checkpoint",
                    checkpoint, "--no-progress", "--optimizer", "sgd"])
    assert metrics["test_accuracy"] > 0.8
    assert "test accuracy" in capsys.readouterr().out
    saved = load(checkpoint)
    model = build_model(64, [32], 10, norm="layer", dropout=saved["args"]["dropout"])
    model.load_state_dict(saved["model"])
    loaders, _ = load_data(batch_size=64, device="cpu")
    assert evaluate(model, loaders["test"])[1] == pytest.approx(metrics["test_accuracy"])


def test_progress_bar_with_tqdm_and_plain_lines_without(monkeypatch, capsys):
    from minigrad import train
    flags = ["--epochs", "1", "--hidden", "8", "--checkpoint", ""]
    if train.tqdm is not None:
        train.main(flags)
        assert "loss=" in capsys.readouterr().err  # the live loss on the bar
    monkeypatch.setattr(train, "tqdm", None)
    train.main(flags)
    out, err = capsys.readouterr()
    assert "epoch   1/1  train loss" in out and "loss=" not in err


def test_main_is_reproducible_for_a_seed(capsys):
    from minigrad.train import main
    flags = ["--epochs", "1", "--hidden", "16", "--checkpoint", "", "--no-progress"]
    first, again = main(flags + ["--seed", "3"]), main(flags + ["--seed", "3"])
    other = main(flags + ["--seed", "4"])
    assert first["train_loss"] == again["train_loss"]
    assert first["test_loss"] == again["test_loss"]
    assert first["train_loss"] != other["train_loss"]


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "--epochs must be positive"),
    (["--dropout", "1.5"], "--dropout must be in"),
    (["--hidden", "0"], "--hidden widths must be positive"),
    (["--optimizer", "nope"], "invalid choice"),
])
def test_bad_flags_are_rejected(flags, message, capsys):
    from minigrad.train import parse_args
    with pytest.raises(SystemExit):
        parse_args(flags)
    assert message in capsys.readouterr().err


def test_example_trains(capsys):
    spec = importlib.util.spec_from_file_location("train_mlp", os.path.join(ROOT, "examples",
                                                                            "train_mlp.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.main(epochs=3) > 0.9
    assert "test accuracy" in capsys.readouterr().out
