"""Datasets that need no download: the bundled UCI digits, synthetic 2-D problems, and a
reader for MNIST-style IDX files already on disk."""
from minigrad.datasets.digits import load_digits
from minigrad.datasets.idx import IdxFormatError, load_mnist, read_idx
from minigrad.datasets.synthetic import blobs, moons, spirals

__all__ = ["IdxFormatError", "blobs", "load_digits", "load_mnist", "moons", "read_idx", "spirals"]
