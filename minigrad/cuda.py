"""``mg.cuda``: what a program asks about the GPU before it uses one (PyTorch's names)."""
from __future__ import annotations

from typing import Any

from minigrad import backend, random


def is_available() -> bool:
    """True when CuPy is installed and sees a CUDA GPU."""
    return backend.cuda_is_available()


def device_count() -> int:
    """How many CUDA GPUs CuPy sees (minigrad computes on the first)."""
    return backend.device_count()


def current_device() -> int:
    backend.xp("cuda")  # a clear error when there is no GPU
    return 0


def get_device_name(device: object = None) -> str:
    cupy = backend.xp("cuda")
    return str(cupy.cuda.runtime.getDeviceProperties(0)["name"].decode())


def synchronize() -> None:
    """Wait until the GPU has finished all queued work (for timing), then raise the error of
    any check that ran on the device and failed since the last synchronisation (a bad target
    of ``cross_entropy``, say: see ``minigrad.backend.defer_check``)."""
    if is_available():
        backend.xp("cuda").cuda.Device(0).synchronize()
    backend.flush_deferred_checks()


def manual_seed(seed: int) -> None:
    """Seed the random generators (minigrad seeds every device at once)."""
    backend.manual_seed(seed)


manual_seed_all = manual_seed


def get_rng_state(device: Any = "cuda") -> Any:
    """The GPU generator's state, as a uint8 tensor (see :func:`minigrad.get_rng_state`)."""
    return random.get_rng_state(device)


def set_rng_state(new_state: Any, device: Any = "cuda") -> None:
    random.set_rng_state(new_state, device)
