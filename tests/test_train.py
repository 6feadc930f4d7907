"""End-to-end training: a DataLoader-fed MLP learns blobs; the main job and example run."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
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
    assert set(saved) >= {"model", "optimizer", "args", "scaler", "epoch", "rng"}
    assert saved["args"]["hidden"] == [16] and saved["epoch"] == 1


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


# --- nothing silent, nothing lost: divergence, finite checkpoints, exact resume -------------

_SMALL = ["--hidden", "16", "--no-progress"]


def _parameters(path):
    return load(str(path))["model"]


def _assert_same_parameters(a, b):
    assert list(a) == list(b)
    for key in a:
        assert np.array_equal(a[key].numpy(), b[key].numpy()), key


def test_a_diverging_run_exits_non_zero_and_keeps_the_good_checkpoint(tmp_path, capsys):
    from minigrad.train import main
    checkpoint = tmp_path / "model.npz"
    main(["--epochs", "1", "--checkpoint", str(checkpoint), *_SMALL])
    good = checkpoint.read_bytes()
    result = _run_module("--optimizer", "sgd", "--lr", "1e4", "--epochs", "2",
                         "--checkpoint", str(checkpoint), *_SMALL, cwd=tmp_path)
    assert result.returncode == 1
    assert "error: training diverged: the loss is nan at batch" in result.stderr
    assert "of epoch 1" in result.stderr and "is unchanged" in result.stderr
    assert "Traceback" not in result.stderr
    assert checkpoint.read_bytes() == good


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf in a matmul
def test_non_finite_parameters_are_never_saved(tmp_path, monkeypatch, capsys):
    from minigrad import train
    real_epoch, calls = train.train_epoch, []

    def poisoning(model, *args, **kwargs):
        metrics = real_epoch(model, *args, **kwargs)
        calls.append(1)
        if len(calls) == 2:  # the loss was finite, but a parameter is not any more
            model[0].weight.array[0, 0] = np.inf
        return metrics

    checkpoint = tmp_path / "model.npz"
    first = tmp_path / "first.npz"
    train.main(["--epochs", "1", "--checkpoint", str(first), *_SMALL])
    monkeypatch.setattr(train, "train_epoch", poisoning)
    with pytest.raises(train.TrainingDiverged, match=r"not saving .*model '0.weight'"):
        train.main(["--epochs", "3", "--checkpoint", str(checkpoint), *_SMALL])
    assert len(calls) == 2  # it stopped there
    saved = load(str(checkpoint))
    assert saved["epoch"] == 1  # the last good epoch's checkpoint
    _assert_same_parameters(saved["model"], _parameters(first))


def _interrupt_at_epoch(monkeypatch, epoch):
    """Make train_epoch raise KeyboardInterrupt (a Ctrl-C) half-way into ``epoch``."""
    from minigrad import train
    real_epoch, calls = train.train_epoch, []

    def interrupted(model, loader, optimizer, progress=None):
        calls.append(1)
        if len(calls) == epoch:
            for i, _ in enumerate(loader):
                if i == len(loader) // 2:
                    raise KeyboardInterrupt
        return real_epoch(model, loader, optimizer, progress)

    monkeypatch.setattr(train, "train_epoch", interrupted)


def test_resume_continues_a_run_exactly(tmp_path, monkeypatch, capsys):
    """6 epochs straight == 3 epochs, an interruption, --resume, 3 more: bitwise, with the
    cosine schedule, dropout, batch norm and shuffling all on."""
    from minigrad import train
    flags = ["--epochs", "6", "--dropout", "0.3", *_SMALL]
    straight = tmp_path / "straight.npz"
    expected = train.main(flags + ["--checkpoint", str(straight)])

    run = tmp_path / "run.npz"
    _interrupt_at_epoch(monkeypatch, 4)
    with pytest.raises(KeyboardInterrupt):
        train.main(flags + ["--checkpoint", str(run)])
    assert load(str(run))["epoch"] == 3
    monkeypatch.undo()
    resumed = train.main(["--resume", str(run), "--no-progress"])  # settings from the file
    assert "resumed" in capsys.readouterr().out
    _assert_same_parameters(_parameters(run), _parameters(straight))
    assert resumed["test_loss"] == expected["test_loss"]
    assert resumed["train_loss"] == expected["train_loss"]
    a, b = load(str(straight)), load(str(run))
    assert a["epoch"] == b["epoch"] == 6 and a["test_accuracy"] == b["test_accuracy"]
    assert np.array_equal(a["rng"]["cpu"].numpy(), b["rng"]["cpu"].numpy())
    assert a["scheduler"] == b["scheduler"]


def test_a_finished_run_with_a_constant_rate_can_be_extended_exactly(tmp_path, capsys):
    from minigrad.train import main
    flags = ["--scheduler", "none", "--dropout", "0.2", *_SMALL]
    straight, run = tmp_path / "straight.npz", tmp_path / "run.npz"
    main(flags + ["--epochs", "6", "--checkpoint", str(straight)])
    main(flags + ["--epochs", "3", "--checkpoint", str(run)])
    main(["--resume", str(run), "--epochs", "6", "--no-progress"])
    _assert_same_parameters(_parameters(run), _parameters(straight))


def test_checkpoints_hold_what_a_resume_needs(tmp_path, capsys):
    from minigrad.train import main
    checkpoint = tmp_path / "model.npz"
    main(["--epochs", "2", "--checkpoint", str(checkpoint), *_SMALL])
    saved = load(str(checkpoint))
    assert set(saved) >= {"format", "model", "optimizer", "scheduler", "epoch", "rng", "args",
                          "scaler", "metrics", "test_accuracy"}
    assert saved["epoch"] == 2 and saved["scheduler"]["last_epoch"] == 2
    assert saved["rng"]["cpu"].dtype == mg.uint8
    assert set(saved["metrics"]) == {"train_loss", "train_accuracy", "val_loss", "val_accuracy"}


@pytest.mark.parametrize("flags, message", [
    (["--hidden", "32"], "--hidden 32 differs from the resumed run's 16"),
    (["--epochs", "5"], "cosine schedule was made for 2 epochs"),
    (["--optimizer", "sgd"], "--optimizer sgd differs from the resumed run's adamw"),
])
def test_resume_refuses_other_settings(flags, message, tmp_path, capsys):
    from minigrad.train import main
    checkpoint = tmp_path / "model.npz"
    main(["--epochs", "2", "--checkpoint", str(checkpoint), *_SMALL])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["--resume", str(checkpoint), *flags])
    assert message in capsys.readouterr().err


def test_resume_refuses_what_is_not_a_training_checkpoint(tmp_path, capsys):
    from minigrad.train import main
    with pytest.raises(SystemExit):
        main(["--resume", str(tmp_path / "nothere.npz")])
    assert "--resume: cannot load" in capsys.readouterr().err
    other = tmp_path / "weights.npz"
    mg.save({"model": {}}, other)
    with pytest.raises(SystemExit):
        main(["--resume", str(other)])
    assert "not a checkpoint of python -m minigrad.train" in capsys.readouterr().err
