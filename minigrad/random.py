"""Random-number state with PyTorch's names: ``mg.get_rng_state()`` / ``mg.set_rng_state()``,
``mg.Generator`` and the global ``default_generator``.

Every random draw in minigrad (``mg.randn``, ``mg.rand``, initialisation, dropout masks,
DataLoader shuffling) comes from a device's global generator unless a generator of its own
is passed. A state is a 1-D uint8 tensor, like PyTorch's ByteTensor; it holds NumPy's (or
CuPy's) bit-generator state, so ``mg.save`` stores it in a checkpoint and setting it back
makes the draws that followed it repeat exactly::

    state = mg.get_rng_state()
    a = mg.randn(3)
    mg.set_rng_state(state)
    assert mg.equal(mg.randn(3), a)

The states themselves are not PyTorch's bytes: a state from one framework does not fit the
other.
"""
from __future__ import annotations

from typing import Any

from minigrad import backend
from minigrad.tensor import Tensor, wrap

# What torch.Generator() starts from before manual_seed: a fresh Generator is deterministic.
DEFAULT_SEED = 67280421310721


def _state_tensor(state: Any) -> Tensor:
    return wrap(state, "cpu")  # a host uint8 tensor, whatever the generator's device


class Generator:
    """A random generator of its own, for a component that must repeat on its own whatever
    else draws numbers: ``g = mg.Generator().manual_seed(0)``; then
    ``DataLoader(..., generator=g)`` shuffles from it.

    ``device`` is where it draws ("cpu" or "cuda"). Unseeded it starts from PyTorch's
    default seed, so a new Generator is deterministic. It also draws like a NumPy
    ``Generator`` (``g.random(shape)``, ``g.standard_normal(shape)``, ...), so minigrad's
    functions that take a generator (``nn.init.*``) take this one.
    """

    def __init__(self, device: Any = "cpu") -> None:
        self.device = backend.normalize_device(device)
        self._seed = DEFAULT_SEED
        self._rng = backend.new_generator(self.device, DEFAULT_SEED)

    def manual_seed(self, seed: int) -> "Generator":
        """Reseed; returns the generator, so ``Generator().manual_seed(0)`` makes one."""
        self._seed = backend.check_seed(seed)
        self._rng = backend.new_generator(self.device, self._seed)
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the seed used."""
        self.manual_seed(backend.fresh_seed())
        return self._seed

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with."""
        return self._seed

    def get_state(self) -> Tensor:
        """The generator's state, a 1-D uint8 tensor on the CPU."""
        return _state_tensor(backend.generator_state(self._numpy_like(), self.device))

    def set_state(self, new_state: Any) -> "Generator":
        """Restore a state from :meth:`get_state`; returns the generator."""
        self._rng = backend.set_generator_state(self._numpy_like(), new_state, self.device)
        return self

    def _numpy_like(self) -> Any:
        """The ``numpy``/``cupy`` ``Generator`` this one draws from."""
        return self._rng

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._numpy_like(), name)

    def __repr__(self) -> str:
        return f"<minigrad.Generator device={self.device!s} initial_seed={self.initial_seed()}>"


class _DefaultGenerator(Generator):
    """The global generator of a device: seeding or setting it is ``mg.manual_seed`` /
    ``mg.set_rng_state`` for that device."""

    def __init__(self, device: Any = "cpu") -> None:  # noqa: super().__init__ would seed
        self.device = backend.normalize_device(device)

    def manual_seed(self, seed: int) -> "Generator":
        backend.manual_seed(seed)
        return self

    def initial_seed(self) -> int:
        return backend.initial_seed()

    def seed(self) -> int:
        self.manual_seed(backend.fresh_seed())
        return self.initial_seed()

    def set_state(self, new_state: Any) -> "Generator":
        backend.set_rng_state(new_state, self.device)
        return self

    def _numpy_like(self) -> Any:
        return backend.generator(self.device)


default_generator = _DefaultGenerator("cpu")


def manual_seed(seed: int) -> Generator:
    """Seed every device's global generator (so runs repeat exactly); returns
    :data:`default_generator`, as ``torch.manual_seed`` does."""
    backend.manual_seed(seed)
    return default_generator


def seed() -> int:
    """Seed the global generators from the operating system's entropy; returns the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed of the global generators."""
    return backend.initial_seed()


def get_rng_state(device: Any = "cpu") -> Tensor:
    """The state of the global generator of ``device`` (default the CPU's), as a 1-D uint8
    tensor that ``mg.save`` can store."""
    return _state_tensor(backend.get_rng_state(device))


def set_rng_state(new_state: Any, device: Any = "cpu") -> None:
    """Restore the global generator of ``device`` to ``new_state`` (from
    :func:`get_rng_state`): the draws that followed that state then repeat exactly."""
    backend.set_rng_state(new_state, device)
