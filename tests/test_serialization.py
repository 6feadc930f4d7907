import io
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def test_model_state_dict_round_trip_through_a_file(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    model(mg.randn(8, 3))  # move the running statistics away from their initial values
    path = tmp_path / "model.pt"
    mg.save(model.state_dict(), path)
    assert path.exists() and not (tmp_path / "model.pt.npz").exists()

    restored = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    restored.load_state_dict(mg.load(path))
    model.eval(), restored.eval()
    x = mg.randn(5, 3)
    np.testing.assert_array_equal(model(x).numpy(), restored(x).numpy())
    assert restored[1].num_batches_tracked.item() == 1


def test_nested_checkpoint_keeps_structure_types_and_dtypes():
    checkpoint = {
        "model": {"w": mg.randn(2, 3, dtype=mg.float64), "steps": mg.tensor(7)},
        "optimizer": {"state": {0: {"exp_avg": mg.zeros(3), "step": mg.tensor(4.0)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0],
                                        "amsgrad": False, "foreach": None, "name": "default"}]},
        "epoch": 3, "best": float("inf"), "history": [0.5, 0.25],
        "leaf": mg.ones(2, requires_grad=True),
    }
    buffer = io.BytesIO()
    mg.save(checkpoint, buffer)
    buffer.seek(0)
    restored = mg.load(buffer)
    assert restored["epoch"] == 3 and restored["best"] == math.inf
    assert restored["history"] == [0.5, 0.25]
    group = restored["optimizer"]["param_groups"][0]
    assert group == {"lr": 1e-3, "betas": (0.9, 0.999), "params": [0], "amsgrad": False,
                     "foreach": None, "name": "default"}
    assert list(restored["optimizer"]["state"]) == [0]  # int keys stay ints
    w = restored["model"]["w"]
    assert isinstance(w, mg.Tensor) and w.dtype == mg.float64 and w.device == "cpu"
    np.testing.assert_array_equal(w.numpy(), checkpoint["model"]["w"].numpy())
    assert restored["model"]["steps"].dtype == mg.int64
    assert restored["leaf"].requires_grad and not w.requires_grad


def test_map_location(tmp_path, device):
    path = tmp_path / "t.npz"
    mg.save({"t": mg.arange(3)}, path)
    t = mg.load(path, map_location=device)["t"]
    assert t.device == device and t.tolist() == [0, 1, 2]


def test_unsupported_objects_are_rejected_with_their_location(tmp_path):
    with pytest.raises(TypeError, match=r"set \(at obj\['a'\]\[1\]\)"):
        mg.save({"a": [1, {2}]}, tmp_path / "x")
    with pytest.raises(TypeError, match="keys must be str or int"):
        mg.save({(1, 2): 3}, tmp_path / "x")


def test_loading_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([object()], dtype=object),
             __minigrad_structure__=np.array('{"format": "minigrad-state-v1", '
                                             '"root": {"tensor": "payload"}}'))
    with pytest.raises(ValueError, match="allow_pickle"):
        mg.load(path)


def test_foreign_files_are_rejected(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.ones(2))
    with pytest.raises(ValueError, match="not a file written by minigrad.save"):
        mg.load(path)
    np.savez(path, __minigrad_structure__=np.array('{"format": "other", "root": 1}'))
    with pytest.raises(ValueError, match="unknown format"):
        mg.load(path)


def test_a_training_run_resumes_exactly_from_a_saved_checkpoint(tmp_path):
    """Model and optimizer state (bare arrays, ints, floats) survive mg.save/mg.load, and the
    resumed run continues as if it had never stopped."""
    X, y = mg.randn(16, 4), mg.randint(0, 3, (16,))

    def run(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            mg.nn.functional.cross_entropy(model(X), y).backward()
            opt.step()

    def fresh():
        mg.manual_seed(7)
        model = mg.nn.Sequential(mg.nn.Linear(4, 8), mg.nn.ReLU(), mg.nn.Linear(8, 3))
        return model, mg.optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)

    model, opt = fresh()
    run(model, opt, 10)
    uninterrupted = [p.numpy().copy() for p in model.parameters()]

    model, opt = fresh()
    run(model, opt, 4)
    path = tmp_path / "checkpoint.npz"
    mg.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, path)
    model, opt = fresh()
    checkpoint = mg.load(path)
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["optimizer"])
    assert opt.state_dict()["state"][0]["step"] == 4
    run(model, opt, 6)
    for resumed, expected in zip(model.parameters(), uninterrupted):
        np.testing.assert_array_equal(resumed.numpy(), expected)
