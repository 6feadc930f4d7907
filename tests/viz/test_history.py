"""History: what log() accepts and refuses, series(), and exact JSON/CSV round trips."""
import json
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.utils.history import History


def _filled():
    history = History()
    for step in range(1, 7):
        history.log(step=step, epoch=(step - 1) // 3 + 1, loss=1.0 / step, lr=0.1 * 0.5 ** step)
        if step % 3 == 0:
            history.log(step=step, epoch=step // 3, val_loss=2.0 / step, val_accuracy=0.3 * step,
                        correct=step * 10)
    history.log(epoch=3, test_accuracy=0.1 + 0.2)  # no step; a value with a long repr
    history.log(step=7, loss=math.nan)
    history.log(step=8, loss=math.inf)
    return history


def test_log_series_metrics_and_last():
    history = _filled()
    assert len(history) == 11
    assert history.metrics() == ["loss", "lr", "val_loss", "val_accuracy", "correct",
                                 "test_accuracy"]
    steps, values = history.series("val_loss")
    assert steps == [3, 6] and values == [2.0 / 3, 2.0 / 6]
    epochs, _ = history.series("val_loss", by="epoch")
    assert epochs == [1, 2]
    assert history.series("test_accuracy") == ([None], [0.1 + 0.2])
    assert history.last("loss") == math.inf
    assert history.last("correct") == 60 and isinstance(history.last("correct"), int)


def test_log_takes_tensors_and_numpy_numbers():
    history = History()
    history.log(step=np.int64(2), loss=mg.tensor(0.25, dtype=mg.float64), acc=np.float32(0.5))
    assert history.records == [{"step": 2, "epoch": None, "loss": 0.25, "acc": 0.5}]
    assert type(history.records[0]["step"]) is int
    assert type(history.records[0]["loss"]) is float


@pytest.mark.parametrize("kwargs, message", [
    ({}, "at least one metric"),
    ({"step": -1, "loss": 1.0}, "step must be a non-negative int"),
    ({"epoch": 1.5, "loss": 1.0}, "epoch must be a non-negative int"),
    ({"step": True, "loss": 1.0}, "step must be"),
    ({"loss": "0.5"}, "metric 'loss' must be a real number"),
    ({"loss": None}, "metric 'loss' must be a real number"),
    ({"loss": mg.tensor([1.0, 2.0])}, "metric 'loss' must be one number"),
])
def test_log_refuses_bad_values(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        History().log(**kwargs)


def test_series_refuses_unknown_names():
    with pytest.raises(KeyError, match="no metric 'acc'"):
        _filled().series("acc")
    with pytest.raises(ValueError, match="by must be"):
        _filled().series("loss", by="batch")


@pytest.mark.parametrize("extension", ["json", "csv"])
def test_save_load_round_trip_is_exact(tmp_path, extension):
    history = _filled()
    path = tmp_path / "sub" / f"history.{extension}"
    history.save(path)
    loaded = History.load(path)
    assert loaded == history
    assert loaded.records[0] == history.records[0]
    assert math.isnan(loaded.series("loss")[1][-2])
    assert loaded.series("test_accuracy")[1] == [0.1 + 0.2]  # bit for bit
    assert loaded.records[-1] == {"step": 8, "epoch": None, "loss": math.inf}


def test_json_is_standard_json(tmp_path):
    path = tmp_path / "h.json"
    _filled().save(path)
    text = path.read_text()
    assert "NaN" in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard constant {name}"))


def test_csv_has_one_column_per_metric(tmp_path):
    path = tmp_path / "h.csv"
    _filled().save(path)
    lines = path.read_text().splitlines()
    assert lines[0] == "step,epoch,loss,lr,val_loss,val_accuracy,correct,test_accuracy"
    assert lines[1].startswith("1,1,1.0,0.05,,")


def test_load_refuses_other_files(tmp_path):
    with pytest.raises(ValueError, match="must end in .json or .csv"):
        History().save(tmp_path / "h.txt")
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(ValueError, match="not a history"):
        History.load(tmp_path / "x.json")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="first columns must be step, epoch"):
        History.load(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_text("step,epoch,loss\n1,,abc\n")
    with pytest.raises(ValueError, match="line 2: loss = 'abc' is not a number"):
        History.load(tmp_path / "y.csv")
