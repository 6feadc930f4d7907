"""The bundled digits: shapes, ranges, classes and the fixed stratified split."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.datasets import load_digits


def test_full_dataset_shapes_and_ranges():
    X, y = load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert X.numpy().min() == 0.0 and X.numpy().max() == 1.0
    # pixels are counts 0..16 scaled by 1/16
    np.testing.assert_array_equal(X.numpy() * 16, np.round(X.numpy() * 16))
    assert sorted(set(y.tolist())) == list(range(10))


def test_split_sizes_are_a_stratified_60_20_20_partition():
    parts = {s: load_digits(s) for s in ("train", "val", "test")}
    assert [len(parts[s][1]) for s in ("train", "val", "test")] == [1078, 359, 360]
    all_counts = np.bincount(load_digits()[1].numpy(), minlength=10)
    for X, y in parts.values():
        share = np.bincount(y.numpy(), minlength=10) / all_counts
        assert np.all(np.abs(share - len(y) / 1797) < 0.01)
    # disjoint and together the whole set: compare rows with their labels attached
    rows = lambda X, y: {tuple(r) for r in np.column_stack([X.numpy(), y.numpy()])}
    union = set().union(*(rows(*p) for p in parts.values()))
    assert union == rows(*load_digits())
    assert sum(len(rows(*p)) for p in parts.values()) == len(union)


def test_split_is_deterministic():
    mg.manual_seed(123)
    first = load_digits("val")
    mg.manual_seed(456)
    second = load_digits("val")
    np.testing.assert_array_equal(first[0].numpy(), second[0].numpy())
    np.testing.assert_array_equal(first[1].numpy(), second[1].numpy())


def test_images_and_device(device):
    X, y = load_digits("test", flatten=False, device=device)
    assert X.shape == (360, 8, 8) and X.device == device and y.device == device
    flat, _ = load_digits("test")
    np.testing.assert_array_equal(X.numpy().reshape(360, 64), flat.numpy())


def test_returned_tensors_do_not_share_the_cache():
    X, _ = load_digits("train")
    X[0] = 5.0
    assert load_digits("train")[0].numpy().max() == 1.0


def test_bad_split():
    with pytest.raises(ValueError, match="split must be one of"):
        load_digits("validation")
