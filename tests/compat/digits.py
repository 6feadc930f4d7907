"""The bundled UCI digits as NumPy arrays: the stand-in for the tutorials' MNIST downloads.

The tutorials start from NumPy arrays (``pickle.load`` of mnist.pkl.gz) or from a torchvision
dataset; here the data comes from ``minigrad.datasets.load_digits`` and leaves as plain NumPy
arrays, so every program then builds its tensors with its own ``torch.tensor`` calls.
"""
import numpy as np

from minigrad.datasets import load_digits


def digits_numpy(split, flatten=True):
    """``(x, y)`` for ``split`` ("train", "val" or "test"): float32 pixels in [0, 1], shaped
    (n, 64) or, with ``flatten=False``, (n, 8, 8); int64 labels 0-9."""
    X, y = load_digits(split, flatten=flatten)
    return np.array(X.numpy(), dtype=np.float32), np.array(y.numpy(), dtype=np.int64)
