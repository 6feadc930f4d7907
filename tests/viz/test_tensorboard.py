"""SummaryWriter: every method's event read back with TensorBoard's EventAccumulator."""
import sys

import numpy as np
import pytest

import minigrad as mg

pytest.importorskip("tensorboardX", reason="the 'tensorboard' extra (tensorboardX) is needed")
pytest.importorskip("tensorboard", reason="TensorBoard itself reads the event files back")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

from minigrad.utils.tensorboard import SummaryWriter  # noqa: E402


def _read(directory):
    events = EventAccumulator(str(directory), size_guidance={"scalars": 0, "histograms": 0,
                                                             "images": 0, "tensors": 0})
    events.Reload()
    return events


def test_scalars_from_numbers_and_tensors(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        assert writer.get_logdir() == str(tmp_path)
        writer.add_scalar("loss", 0.5, 0)
        writer.add_scalar("loss", mg.tensor(0.25), 1)
        writer.add_scalar("loss", np.float64(0.125), mg.tensor(2))
        writer.add_scalars("pair", {"a": 1.0, "b": mg.tensor([2.0])}, 3)
    events = _read(tmp_path)
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(0, 0.5), (1, 0.25),
                                                                    (2, 0.125)]
    assert _read(tmp_path / "pair" / "a").Scalars("pair")[0].value == 1.0
    assert _read(tmp_path / "pair" / "b").Scalars("pair")[0].step == 3


def test_histogram_of_a_tensor(tmp_path):
    values = mg.randn(10, 20, dtype=mg.float64, requires_grad=True)
    with SummaryWriter(tmp_path) as writer:
        writer.add_histogram("w", values, 5)
        writer.add_histogram("w2", values * 2, 5, bins=10)
    array = values.numpy().ravel()
    h = _read(tmp_path).Histograms("w")[0]
    assert h.step == 5
    assert h.histogram_value.num == 200
    assert h.histogram_value.min == pytest.approx(array.min())
    assert h.histogram_value.max == pytest.approx(array.max())
    assert h.histogram_value.sum == pytest.approx(array.sum())
    assert h.histogram_value.sum_squares == pytest.approx((array ** 2).sum())
    assert sum(_read(tmp_path).Histograms("w2")[0].histogram_value.bucket) == 200


def test_figure_becomes_an_image(tmp_path):
    pytest.importorskip("matplotlib")
    from minigrad.utils.history import History
    from minigrad.viz import plot_history
    history = History()
    for step in range(1, 5):
        history.log(step=step, loss=1.0 / step)
    figure, _ = plot_history(history)
    with SummaryWriter(tmp_path) as writer:
        writer.add_figure("history", figure, 7)
    image = _read(tmp_path).Images("history")[0]
    width, height = figure.get_size_inches() * figure.dpi
    assert (image.width, image.height) == (round(width), round(height)) and image.step == 7
    assert image.encoded_image_string[:4] == b"\x89PNG"


def test_hparams_and_text(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_hparams({"lr": 0.1, "optimizer": "sgd", "nesterov": True, "layers": 3},
                           {"hparam/accuracy": mg.tensor(0.75)}, run_name="trial")
        writer.add_text("note", "hello", 0)
    trial = _read(tmp_path / "trial")
    content = trial.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.hparams["lr"].number_value == 0.1
    assert start.hparams["optimizer"].string_value == "sgd"
    assert start.hparams["nesterov"].bool_value is True
    assert start.hparams["layers"].number_value == 3
    assert trial.Scalars("hparam/accuracy")[0].value == 0.75
    assert "note/text_summary" in _read(tmp_path).Tags()["tensors"]


@pytest.mark.parametrize("call, error, message", [
    (lambda w: w.add_scalar("x", mg.ones(2)), ValueError, "a scalar needs one element"),
    (lambda w: w.add_scalar("x", "1.0"), TypeError, "expected a real number"),
    (lambda w: w.add_scalar("", 1.0), TypeError, "tag must be a non-empty str"),
    (lambda w: w.add_scalar("x", 1.0, 1.5), TypeError, "global_step must be an int"),
    (lambda w: w.add_scalars("x", {}), TypeError, "non-empty dict"),
    (lambda w: w.add_histogram("h", mg.tensor([1.0, float("nan")])), ValueError,
     "1 NaN or infinite"),
    (lambda w: w.add_histogram("h", mg.zeros(0)), ValueError, "values is empty"),
    (lambda w: w.add_figure("f", object()), TypeError, "expected a matplotlib Figure"),
    (lambda w: w.add_hparams({"opt": [1]}, {"m": 1.0}), TypeError,
     "hparam 'opt' must be a bool, int, float or str"),
])
def test_bad_arguments_are_refused_at_the_call(tmp_path, call, error, message):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(error, match=message):
            call(writer)


def test_a_clear_error_without_tensorboardx(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install \"minigrad\[tensorboard\]\""):
        SummaryWriter(tmp_path)
