"""DataLoader: epoch coverage, shuffling, drop_last, seeding, devices, custom datasets."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.data import DataLoader, Dataset, TensorDataset, default_collate
from minigrad.errors import ShapeError


def _indexed_dataset(n, device="cpu"):
    """Features whose first column is the sample's index, so batches reveal the order."""
    X = np.stack([np.arange(n), -np.arange(n)], axis=1).astype(np.float32)
    return TensorDataset(mg.tensor(X, device=device), mg.arange(n, device=device))


def _epoch_labels(loader):
    return np.concatenate([y.numpy() for _, y in loader])


def test_every_sample_once_per_epoch_in_a_new_order(device):
    loader = DataLoader(_indexed_dataset(23, device), batch_size=5, shuffle=True, seed=3)
    first, second = _epoch_labels(loader), _epoch_labels(loader)
    assert sorted(first.tolist()) == list(range(23))
    assert sorted(second.tolist()) == list(range(23))
    assert not np.array_equal(first, second)


def test_batches_keep_features_and_labels_together(device):
    loader = DataLoader(_indexed_dataset(10, device), batch_size=4, shuffle=True, seed=0,
                        device=device)
    for X, y in loader:
        assert X.device == device and y.device == device
        assert X.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(X.numpy()[:, 0], y.numpy())
        np.testing.assert_array_equal(X.numpy()[:, 1], -y.numpy())


def test_fixed_order_without_shuffle_and_batch_sizes():
    loader = DataLoader(_indexed_dataset(10), batch_size=4)
    batches = [y.tolist() for _, y in loader]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(loader) == 3
    assert [y.tolist() for _, y in loader] == batches


def test_drop_last_skips_the_short_batch():
    loader = DataLoader(_indexed_dataset(10), batch_size=4, drop_last=True, shuffle=True, seed=1)
    sizes = [len(y) for _, y in loader]
    assert sizes == [4, 4] and len(loader) == 2
    exact = DataLoader(_indexed_dataset(8), batch_size=4, drop_last=True)
    assert len(exact) == 2 and len(list(exact)) == 2


def test_seed_makes_epochs_repeat():
    a = DataLoader(_indexed_dataset(30), batch_size=7, shuffle=True, seed=42)
    b = DataLoader(_indexed_dataset(30), batch_size=7, shuffle=True, seed=42)
    c = DataLoader(_indexed_dataset(30), batch_size=7, shuffle=True, seed=43)
    for _ in range(2):
        order_a = _epoch_labels(a)
        np.testing.assert_array_equal(order_a, _epoch_labels(b))
        assert not np.array_equal(order_a, _epoch_labels(c))


def test_without_seed_the_global_seed_decides():
    orders = []
    for _ in range(2):
        mg.manual_seed(7)
        orders.append(_epoch_labels(DataLoader(_indexed_dataset(30), batch_size=8, shuffle=True)))
    np.testing.assert_array_equal(*orders)


class _Squares(Dataset):
    """A custom dataset: sample i is (a float vector, an int label)."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return np.full(3, float(i * i), dtype=np.float32), i

    def __len__(self):
        return self.n


def test_custom_dataset_samples_are_stacked(device):
    loader = DataLoader(_Squares(5), batch_size=2, device=device)
    batches = list(loader)
    assert len(batches) == 3 == len(loader)
    X, y = batches[1]
    assert X.shape == (2, 3) and X.device == device and y.device == device
    np.testing.assert_array_equal(X.numpy(), [[4.0] * 3, [9.0] * 3])
    assert y.tolist() == [2, 3] and y.dtype == np.int64


def test_custom_collate_fn_is_used():
    loader = DataLoader(_Squares(4), batch_size=3, collate_fn=lambda s: [label for _, label in s])
    assert list(loader) == [[0, 1, 2], [3]]


def test_default_collate_rejects_ragged_samples():
    with pytest.raises(ShapeError, match="different shapes"):
        default_collate([mg.zeros(2), mg.zeros(3)])
    with pytest.raises(ShapeError, match="numbers of fields"):
        default_collate([(1, 2), (1,)])


def test_tensor_dataset_indexing_and_errors():
    ds = _indexed_dataset(4)
    x, y = ds[2]
    assert x.tolist() == [2.0, -2.0] and y.item() == 2 and len(ds) == 4
    with pytest.raises(ShapeError, match=r"\(3,\), \(4,\)"):
        TensorDataset(mg.zeros(3), mg.zeros(4))
    with pytest.raises(TypeError, match="mg.tensor"):
        TensorDataset(np.zeros(3))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (-2, ValueError),
                                               (2.5, TypeError), (True, ValueError)])
def test_bad_batch_size(batch_size, error):
    with pytest.raises(error, match="batch_size"):
        DataLoader(_indexed_dataset(4), batch_size=batch_size)


def test_bad_dataset_seed_and_device():
    with pytest.raises(TypeError, match="__getitem__"):
        DataLoader(42)
    with pytest.raises(ValueError, match="non-negative"):
        DataLoader(_indexed_dataset(4), shuffle=True, seed=-1)
    with pytest.raises(ValueError, match="unknown device"):
        DataLoader(_indexed_dataset(4), device="tpu")


def test_random_split_and_subset():
    from minigrad.utils.data import Subset, random_split
    data = TensorDataset(mg.arange(10))
    a, b = random_split(data, [7, 3], seed=0)
    assert len(a) == 7 and len(b) == 3
    values = sorted(int(a[i][0]) for i in range(7)) + sorted(int(b[i][0]) for i in range(3))
    assert sorted(values) == list(range(10))
    parts = random_split(data, [0.5, 0.3, 0.2], seed=1)
    assert [len(p) for p in parts] == [5, 3, 2]
    assert int(Subset(data, [4, 2])[1][0]) == 2
    with pytest.raises(ValueError, match="adding up"):
        random_split(data, [4, 4])


def test_workers_and_pinning_are_accepted_and_batches_stay_the_same():
    data = TensorDataset(mg.arange(6))
    plain = [b[0].tolist() for b in DataLoader(data, batch_size=4)]
    assert [b[0].tolist() for b in DataLoader(data, batch_size=4, num_workers=2,
                                              pin_memory=True)] == plain
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(data, num_workers=-1)
