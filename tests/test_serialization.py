import errno
import io
import math
import os
import pickle
import random
import signal
import stat
import time
import traceback
import warnings
import zipfile

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, serialization
from minigrad.errors import CheckpointError


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


# --- loading: one error type, naming the file and what is wrong ------------------------------

def _checkpoint(tmp_path, name="good.npz"):
    path = tmp_path / name
    mg.save({"model": {"w": mg.randn(4, 3), "b": mg.zeros(3)}, "epoch": 2, "lr": [1e-3]}, path)
    return path


def _load_error(path, match):
    """Load ``path`` and return the CheckpointError, checking that it names the file and
    never points at unpickling (as NumPy's own message does)."""
    with pytest.raises(CheckpointError, match=match) as info:
        mg.load(path)
    message = str(info.value)
    assert str(path) in message
    shown = "".join(traceback.format_exception(info.value))  # chained causes included
    assert "allow_pickle" not in shown and "unpickl" not in shown.lower()
    return info.value


def test_a_missing_file_or_a_directory(tmp_path):
    error = _load_error(tmp_path / "nothere.npz", "there is no such file")
    assert isinstance(error, FileNotFoundError) and isinstance(error, RuntimeError)
    error = _load_error(tmp_path, "it is a directory")
    assert isinstance(error, IsADirectoryError)


def test_an_empty_file(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    _load_error(path, r"empty \(0 bytes\)")
    with pytest.raises(CheckpointError, match="empty"):
        mg.load(io.BytesIO())


def test_truncated_copies_of_a_real_checkpoint(tmp_path):
    data = _checkpoint(tmp_path).read_bytes()
    lengths = [1, 2, 3, 4, 10, 60, 200, len(data) // 2, len(data) - 22, len(data) - 1]
    for n in lengths:
        path = tmp_path / f"cut{n}.npz"
        path.write_bytes(data[:n])
        _load_error(path, "truncated")
        with pytest.raises(CheckpointError, match="truncated"):
            mg.load(io.BytesIO(data[:n]))


def test_corrupt_archives(tmp_path):
    data = _checkpoint(tmp_path).read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0xFF  # inside an entry: its CRC no longer matches
    path = tmp_path / "flipped.npz"
    path.write_bytes(bytes(flipped))
    _load_error(path, "corrupt")
    directory = data.rindex(b"PK\x01\x02")  # the zip's directory, garbled
    path.write_bytes(data[:directory] + b"XX" + data[directory + 2:])
    _load_error(path, r"corrupt \(bad zip archive")


def _npz(path, structure, **arrays):
    np.savez(path, __minigrad_structure__=np.array(structure), **arrays)
    return path


def test_corrupt_structure_entries(tmp_path):
    _load_error(_npz(tmp_path / "a.npz", '{"format": "minigrad-state-v1", "ro'),
                "corrupt .*structure entry is not valid JSON")
    np.savez(tmp_path / "b.npz", __minigrad_structure__=np.arange(3))
    _load_error(tmp_path / "b.npz", "corrupt .*structure entry is a int64 array")
    _load_error(_npz(tmp_path / "c.npz", '{"format": "minigrad-state-v1", "root": '
                                         '{"dict": [["w", {"sparse": "x"}]]}}'),
                r"corrupt \(unknown entry \{\"sparse\": \"x\"\}")
    _load_error(_npz(tmp_path / "d.npz", '{"format": "minigrad-state-v1", "root": '
                                         '{"tensor": "tensor7"}}'),
                "corrupt .*entry 'tensor7' that the archive does not hold")
    _load_error(_npz(tmp_path / "e.npz", '{"format": "minigrad-state-v1", "root": [1, 2]}'),
                "corrupt .*unknown entry")
    _load_error(_npz(tmp_path / "f.npz", '{"format": "minigrad-state-v1"}'), "has no 'root'")
    _load_error(_npz(tmp_path / "g.npz", '{"format": "minigrad-state-v9", "root": 1}'),
                "unknown format 'minigrad-state-v9'")


def test_files_that_are_not_minigrad_checkpoints(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("epoch 3: loss 0.25\n")
    _load_error(text, "it is a text file")
    png = tmp_path / "plot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    _load_error(png, "it is a PNG image, not a minigrad checkpoint")
    npy = tmp_path / "weights.npy"
    np.save(npy, np.ones(3))
    _load_error(npy, r"plain NumPy \.npy array")
    npz = tmp_path / "arrays.npz"
    np.savez(npz, a=np.ones(2), b=np.zeros(2))
    _load_error(npz, r"NumPy \.npz archive but not a minigrad checkpoint: it has no "
                     r"'__minigrad_structure__' entry .*'a', 'b'")
    torch_like = tmp_path / "model.pt"
    with zipfile.ZipFile(torch_like, "w") as archive:  # the layout torch.save writes
        archive.writestr("model/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("model/version", b"3\n")
    _load_error(torch_like, "written by torch.save, which stores pickled objects")
    binary = tmp_path / "random.bin"
    binary.write_bytes(bytes([0, 1, 2, 250, 251, 252, 7, 8, 9, 10]))
    _load_error(binary, "not a minigrad checkpoint .*00 01 02 fa")


class _Marker:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_real_pickle_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"w": _Marker(str(marker))}, protocol=4))
    _load_error(path, "it is a Python pickle .*it was refused")
    assert not marker.exists()


def test_pickled_entries_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "code-ran"
    path = _npz(tmp_path / "evil.npz", '{"format": "minigrad-state-v1", '
                                       '"root": {"tensor": "payload"}}',
                payload=np.array([_Marker(str(marker))], dtype=object))
    error = _load_error(path, "entry 'payload' holds pickled Python objects; they were refused")
    assert error.__cause__ is None and error.__suppress_context__  # NumPy's message is gone
    assert not marker.exists()


def test_file_objects_are_checked_too(tmp_path):
    with pytest.raises(CheckpointError, match="open in text mode"):
        with open(_checkpoint(tmp_path), "r", encoding="latin-1") as f:
            mg.load(f)
    with open(tmp_path / "notes.txt", "wb") as f:
        f.write(b"hello")
    with open(tmp_path / "notes.txt", "rb") as f:
        with pytest.raises(CheckpointError, match=r"notes\.txt.*text file"):
            mg.load(f)


# --- saving: atomic, so a failure or a kill never loses the previous checkpoint -------------

def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_a_failed_overwrite_leaves_the_old_file_byte_identical(tmp_path, monkeypatch):
    path = _checkpoint(tmp_path, "model.npz")
    old = path.read_bytes()
    real_writer = serialization._write_archive

    def disk_full(file, arrays):
        buffer = io.BytesIO()
        real_writer(buffer, arrays)
        file.write(buffer.getvalue()[:len(buffer.getvalue()) // 2])  # part of it goes out
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(serialization, "_write_archive", disk_full)
    with pytest.raises(OSError) as info:
        mg.save({"w": mg.randn(1000)}, path)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert str(path) in str(info.value) and "unchanged" in str(info.value)
    assert path.read_bytes() == old
    assert _leftovers(tmp_path) == []  # the temporary file is gone

    def interrupted(file, arrays):
        file.write(b"PK\x03\x04partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization, "_write_archive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mg.save({"w": mg.randn(10)}, path)
    assert path.read_bytes() == old and _leftovers(tmp_path) == []
    monkeypatch.setattr(serialization, "_write_archive", real_writer)
    mg.save({"w": mg.ones(2)}, path)  # and the next save goes through
    assert mg.load(path)["w"].tolist() == [1.0, 1.0]


def test_save_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nodir"):
        mg.save({"a": 1}, tmp_path / "nodir" / "x.npz")
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        mg.save({"a": 1}, tmp_path)
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and symlinks")
def test_saved_file_mode_and_symlinks_are_as_a_plain_write_leaves_them(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    path = _checkpoint(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    link = tmp_path / "latest.npz"
    link.symlink_to(path.name)
    mg.save({"epoch": 9}, link)
    assert link.is_symlink() and mg.load(path)["epoch"] == 9


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_kill_9_in_the_middle_of_saving_never_leaves_a_broken_checkpoint(tmp_path):
    """A child saves a large checkpoint over and over; SIGKILL it at random moments. The
    file is every time a complete checkpoint, the old one or a newer one."""
    path = tmp_path / "big.npz"
    size = 2_000_000  # 8 MB of float32: a save takes a while
    mg.save({"version": -1, "data": np.full(size, -1, np.float32)}, path)
    rng = random.Random(0)
    kills, mid_write, versions = 10, 0, [-1]
    for round in range(kills):
        with warnings.catch_warnings():  # Python 3.12 warns about forking with threads
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: save forever, never return into pytest
            try:
                for version in range(round * 100_000, 10 ** 9):
                    mg.save({"version": version, "data": np.full(size, version, np.float32)},
                            path)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.01, 0.15))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        checkpoint = mg.load(path)  # never raises: the file is always complete
        version = checkpoint["version"]
        data = checkpoint["data"]
        assert data.shape == (size,) and bool((data == version).all())
        versions.append(version)
        leftovers = _leftovers(tmp_path)  # a kill mid-write leaves its temporary file
        mid_write += len(leftovers)
        for name in leftovers:
            os.unlink(tmp_path / name)
    assert mid_write >= 1, "no kill landed in the middle of a save: the test proved nothing"
    print(f"{kills} kills, {mid_write} in the middle of writing, every file loadable; "
          f"versions {versions}")
