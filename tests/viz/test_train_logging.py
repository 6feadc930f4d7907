"""python -m minigrad.train --plot / --history / --logdir: the files are written and hold the
run's numbers (the TensorBoard logs read back with TensorBoard's own EventAccumulator)."""
import importlib.util

import numpy as np
import pytest

from minigrad.utils.history import History

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
HAS_TENSORBOARD = (importlib.util.find_spec("tensorboardX") is not None
                   and importlib.util.find_spec("tensorboard") is not None)


def _run(tmp_path, *flags):
    from minigrad.train import main
    return main(["--epochs", "2", "--hidden", "16", "--batch-size", "128", "--checkpoint", "",
                 "--no-progress", *flags])


def test_history_holds_every_step_and_epoch(tmp_path, capsys):
    metrics = _run(tmp_path, "--history", str(tmp_path / "run.csv"))
    history = metrics["history"]
    steps, losses = history.series("loss")
    batches = -(-1078 // 128)  # the training split, in batches of 128
    assert steps == list(range(1, 2 * batches + 1)) and all(0 < v < 5 for v in losses)
    assert history.series("lr")[1][0] == 3e-3
    assert history.series("val_accuracy") == ([batches, 2 * batches],
                                              history.series("val_accuracy")[1])
    assert history.last("train_loss") == metrics["train_loss"]
    assert history.last("test_accuracy") == metrics["test_accuracy"]
    assert History.load(tmp_path / "run.csv") == history
    out = capsys.readouterr().out
    assert f"val loss {history.series('val_loss')[1][0]:.4f}" in out


@pytest.mark.skipif(not HAS_MATPLOTLIB, reason="--plot needs matplotlib")
def test_plot_flag_writes_the_history_plot(tmp_path, capsys):
    _run(tmp_path, "--plot", str(tmp_path / "plots" / "history.png"))
    with open(tmp_path / "plots" / "history.png", "rb") as f:
        assert f.read(4) == b"\x89PNG"
    assert "wrote" in capsys.readouterr().out


def test_a_bad_history_name_fails_before_training(tmp_path):
    with pytest.raises(ValueError, match="must end in .json or .csv"):
        _run(tmp_path, "--history", str(tmp_path / "run.txt"))


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="needs tensorboardX and tensorboard (reader)")
def test_logdir_writes_what_tensorboard_reads(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2
    logdir = tmp_path / "runs" / "x"
    metrics = _run(tmp_path, "--logdir", str(logdir))
    history = metrics["history"]
    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    tags = events.Tags()
    assert set(tags["scalars"]) == {"loss/train_step", "loss/train", "loss/val",
                                    "accuracy/train", "accuracy/val", "lr"}
    per_step = events.Scalars("loss/train_step")
    steps, losses = history.series("loss")
    assert [e.step for e in per_step] == steps
    np.testing.assert_allclose([e.value for e in per_step], losses, rtol=1e-6)
    val = events.Scalars("accuracy/val")
    assert [e.step for e in val] == [1, 2]
    np.testing.assert_allclose([e.value for e in val], history.series("val_accuracy")[1],
                               rtol=1e-6)
    assert events.Scalars("lr")[0].value == pytest.approx(3e-3)
    weight_tags = [t for t in tags["histograms"] if t.startswith("weights/")]
    grad_tags = [t for t in tags["histograms"] if t.startswith("gradients/")]
    assert "weights/0.weight" in weight_tags and len(weight_tags) == len(grad_tags) >= 4
    last = events.Histograms("weights/0.weight")[-1]
    assert last.step == 2 and last.histogram_value.num == 16 * 64
    hparams_run = EventAccumulator(str(logdir / "hparams"))
    hparams_run.Reload()
    content = hparams_run.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.hparams["optimizer"].string_value == "adamw"
    assert start.hparams["hidden"].string_value == "16"
    assert start.hparams["epochs"].number_value == 2
    accuracy = hparams_run.Scalars("hparam/test_accuracy")[0].value
    assert accuracy == pytest.approx(metrics["test_accuracy"], rel=1e-6)


def test_a_diverged_run_still_writes_its_history(tmp_path, monkeypatch):
    from minigrad import train

    def diverging(model, loader, optimizer, progress=None, on_batch=None):
        on_batch(2.5)
        raise train.TrainingDiverged("the loss is nan at batch 2/9")
    monkeypatch.setattr(train, "train_epoch", diverging)
    with pytest.raises(train.TrainingDiverged, match="training diverged"):
        _run(tmp_path, "--history", str(tmp_path / "run.json"))
    history = History.load(tmp_path / "run.json")
    assert history.records == [{"step": 1, "epoch": 1, "loss": 2.5, "lr": 3e-3}]


def test_missing_plot_and_tensorboard_packages_stop_the_run_before_training(tmp_path,
                                                                           monkeypatch, capsys):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SystemExit, match="--plot needs matplotlib"):
        _run(tmp_path, "--plot", str(tmp_path / "h.png"))
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(SystemExit, match="--logdir: .*tensorboardX"):
        _run(tmp_path, "--logdir", str(tmp_path / "runs"))
    assert "epoch" not in capsys.readouterr().out
