"""Synthetic generators: shapes, labels, geometry and seeding."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.datasets import blobs, moons, spirals


@pytest.mark.parametrize("make, n, classes", [(spirals, 301, 3), (moons, 101, 2), (blobs, 100, 3)])
def test_shapes_dtypes_and_balanced_labels(make, n, classes, device):
    X, y = make(n, seed=0, device=device)
    assert X.shape == (n, 2) and y.shape == (n,)
    assert X.dtype == np.float32 and y.dtype == np.int64 and X.device == device
    counts = np.bincount(y.numpy())
    assert len(counts) == classes and counts.max() - counts.min() <= 1


@pytest.mark.parametrize("make", [spirals, moons, blobs])
def test_seed_repeats_and_differs(make):
    a, b, c = make(seed=1), make(seed=1), make(seed=2)
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy())
    mg.manual_seed(5)
    d = make()
    mg.manual_seed(5)
    np.testing.assert_array_equal(d[0].numpy(), make()[0].numpy())


def test_spirals_geometry_without_noise():
    X, y = spirals(90, n_classes=3, noise=0.0, shuffle=False)
    radius = np.linalg.norm(X.numpy(), axis=1)
    np.testing.assert_allclose(radius[:30], np.linspace(0, 1, 30), atol=1e-6)
    angle = np.arctan2(X.numpy()[29, 0], X.numpy()[29, 1])  # x = r sin(t), y = r cos(t)
    np.testing.assert_allclose(np.cos(angle), np.cos(4.0), atol=1e-5)
    assert y.tolist() == [0] * 30 + [1] * 30 + [2] * 30


def test_moons_lie_on_their_half_circles_without_noise():
    X, y = moons(40, noise=0.0)
    X, y = X.numpy(), y.numpy()
    top, bottom = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.linalg.norm(top, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(bottom - [1.0, 0.5], axis=1), 1.0, atol=1e-6)
    assert (top[:, 1] >= -1e-6).all() and (bottom[:, 1] <= 0.5 + 1e-6).all()


def test_blobs_cluster_around_given_centres():
    centres = np.array([[0.0, 0.0, 0.0], [20.0, -20.0, 5.0]])
    X, y = blobs(400, centers=centres, cluster_std=0.5, seed=3)
    X, y = X.numpy(), y.numpy()
    for k, centre in enumerate(centres):
        np.testing.assert_allclose(X[y == k].mean(axis=0), centre, atol=0.15)
        np.testing.assert_allclose(X[y == k].std(axis=0), 0.5, rtol=0.2)


def test_blobs_random_centres_in_the_box():
    X, y = blobs(300, n_features=4, centers=5, cluster_std=0.01, center_box=(2.0, 3.0), seed=0)
    assert X.shape == (300, 4) and set(y.tolist()) == set(range(5))
    assert X.numpy().min() > 1.9 and X.numpy().max() < 3.1


@pytest.mark.parametrize("call, error, match", [
    (lambda: spirals(0), ValueError, "n_samples"),
    (lambda: spirals(10, n_classes=0), ValueError, "n_classes"),
    (lambda: moons(10, noise=-1.0), ValueError, "noise"),
    (lambda: moons(2.5), TypeError, "n_samples"),
    (lambda: blobs(10, centers=[1.0, 2.0]), ValueError, "centers"),
    (lambda: blobs(10, cluster_std=float("nan")), ValueError, "cluster_std"),
    (lambda: blobs(10, seed="x"), TypeError, "seed"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
