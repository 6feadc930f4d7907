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


def test_an_empty_dataset_is_refused_at_construction_naming_it():
    with pytest.raises(ValueError, match=r"empty dataset \(the TensorDataset has 0 samples\)"):
        DataLoader(TensorDataset(mg.zeros(0, 3)), batch_size=4, shuffle=True)
    with pytest.raises(ValueError, match=r"the _Squares has 0 samples"):
        DataLoader(_Squares(0))

    class Named(_Squares):
        def __repr__(self):
            return "Named(train split)"

    with pytest.raises(ValueError, match=r"\(Named\(train split\) has 0 samples\)"):
        DataLoader(Named(0))
    from minigrad.data import Subset
    with pytest.raises(ValueError, match="the Subset has 0 samples"):
        DataLoader(Subset(_indexed_dataset(4), []))


def test_a_generator_decides_the_order_and_repeats():
    from minigrad.random import Generator
    a = DataLoader(_indexed_dataset(30), batch_size=7, shuffle=True,
                   generator=Generator().manual_seed(5))
    b = DataLoader(_indexed_dataset(30), batch_size=7, shuffle=True,
                   generator=Generator().manual_seed(5))
    first = _epoch_labels(a)
    mg.randn(50)  # global draws do not touch a generator's order
    np.testing.assert_array_equal(first, _epoch_labels(b))
    assert sorted(first.tolist()) == list(range(30))
    assert not np.array_equal(first, _epoch_labels(a))  # the next epoch, a new order
    state = a.generator.get_state()
    next_epoch = _epoch_labels(a)
    a.generator.set_state(state)
    np.testing.assert_array_equal(_epoch_labels(a), next_epoch)
    a.generator.manual_seed(5)  # reseeding restarts the orders
    np.testing.assert_array_equal(_epoch_labels(a), first)


def test_a_generator_leaves_the_global_state_alone():
    from minigrad.random import Generator, get_rng_state
    loader = DataLoader(_indexed_dataset(30), batch_size=8, shuffle=True,
                        generator=Generator().manual_seed(0))
    before = get_rng_state().numpy()
    _epoch_labels(loader)
    np.testing.assert_array_equal(get_rng_state().numpy(), before)


def test_setting_the_global_state_repeats_the_global_order():
    from minigrad.random import get_rng_state, set_rng_state
    loader = DataLoader(_indexed_dataset(30), batch_size=8, shuffle=True)
    _epoch_labels(loader)
    state = get_rng_state()
    expected = [_epoch_labels(loader) for _ in range(2)]
    set_rng_state(state)
    for order in expected:
        np.testing.assert_array_equal(_epoch_labels(loader), order)


def test_bad_generators_are_refused():
    from minigrad.random import Generator
    with pytest.raises(ValueError, match="seed= or generator=, not both"):
        DataLoader(_indexed_dataset(4), shuffle=True, seed=1, generator=Generator())
    with pytest.raises(TypeError, match="mg.Generator"):
        DataLoader(_indexed_dataset(4), shuffle=True, generator=42)
    numpy_gen = np.random.default_rng(3)  # a NumPy Generator is taken as it is
    expected = np.random.default_rng(3).permutation(4)
    loader = DataLoader(_indexed_dataset(4), batch_size=4, shuffle=True, generator=numpy_gen)
    np.testing.assert_array_equal(_epoch_labels(loader), expected)


@pytest.mark.gpu
def test_a_gpu_generator_cannot_shuffle():
    from minigrad.random import Generator
    if not mg.cuda_is_available():
        pytest.skip("no CUDA GPU with CuPy on this machine")
    with pytest.raises(ValueError, match="on the CPU"):
        DataLoader(_indexed_dataset(4), shuffle=True, generator=Generator("cuda"))
