"""IDX reader: round trips through files written here, gzip, and malformed files."""
import gzip
import struct

import numpy as np
import pytest

from minigrad.datasets import IdxFormatError, load_mnist, read_idx

_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
          np.float32: 0x0D, np.float64: 0x0E}


def _idx_bytes(array):
    """An IDX file written from the format's definition (big-endian header and values)."""
    header = bytes([0, 0, _CODES[array.dtype.type], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(path, data, compress=False):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("dtype", list(_CODES))
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path, dtype, compress):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    out = read_idx(_write(tmp_path / "a.idx", _idx_bytes(array), compress))
    assert out.dtype == dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def _mnist_dir(tmp_path, n=5, compress=True, labels=None):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8) if labels is None else labels
    suffix = ".gz" if compress else ""
    _write(tmp_path / f"t10k-images-idx3-ubyte{suffix}", _idx_bytes(images), compress)
    _write(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", _idx_bytes(labels), compress)
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
def test_load_mnist(tmp_path, compress):
    images, labels = _mnist_dir(tmp_path, compress=compress)
    X, y = load_mnist(tmp_path, split="test")
    assert X.shape == (5, 784) and X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X.numpy(), images.reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), labels)
    assert load_mnist(tmp_path, "test", flatten=False)[0].shape == (5, 28, 28)


def test_load_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path, "train")
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, "val")
    _mnist_dir(tmp_path, labels=np.array([1, 2, 3], dtype=np.uint8))
    with pytest.raises(IdxFormatError, match="5 images but .* 3 labels"):
        load_mnist(tmp_path, "test")
    _mnist_dir(tmp_path, labels=np.array([1, 2, 3, 4, 12], dtype=np.uint8))
    with pytest.raises(IdxFormatError, match="0-9, found 12"):
        load_mnist(tmp_path, "test")


@pytest.mark.parametrize("data, match", [
    (b"\x01\x00\x08\x01" + struct.pack(">I", 0), "not an IDX file"),
    (b"\x00\x00", "not an IDX file"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated header"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 4) + b"\x00\x01", "needs 4 bytes .* has 2"),
    (b"\x00\x00\x0c\x01" + struct.pack(">I", 1) + b"\x00" * 5, "needs 4 bytes .* has 5"),
    (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
])
def test_malformed_files(tmp_path, data, match):
    with pytest.raises(IdxFormatError, match=match):
        read_idx(_write(tmp_path / "bad", data))
