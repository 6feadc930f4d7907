"""The random generator behind shuffling and the synthetic datasets.

Without a seed, randomness comes from minigrad's global CPU generator, so one
``mg.manual_seed`` call makes a whole training run repeat; with a seed, a component gets a
private generator and repeats on its own, whatever else draws random numbers.
"""
from __future__ import annotations

import operator
from typing import Any

from minigrad import backend


def host_generator(seed: int | None = None) -> Any:
    """A NumPy ``Generator`` on the host: private when ``seed`` is given, else the global one."""
    if seed is None:
        return backend.generator("cpu")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}") from None
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return backend.xp("cpu").random.default_rng(seed)
