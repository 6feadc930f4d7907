"""PyTorch beginner programs ported to minigrad by changing their imports only.

Each module begins with the imports a PyTorch user would change (``import minigrad as torch``,
``from minigrad import nn, optim``, ``import minigrad.nn.functional as F``,
``from minigrad.utils.data import ...``); the rest is the program as a PyTorch user writes it.
Where a tutorial downloads MNIST or FashionMNIST, the bundled digits stand in (see digits.py).
"""
