"""Random-number state: get_rng_state / set_rng_state, Generator, and what they make repeat."""
import io

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, nn
from minigrad.data import DataLoader, TensorDataset
from minigrad.random import (Generator, default_generator, get_rng_state, initial_seed,
                             manual_seed, seed, set_rng_state)


def _draws(device="cpu"):
    """One of every kind of draw that comes from the global generators."""
    x = mg.ones(64, device=device)
    loader = DataLoader(TensorDataset(mg.arange(20)), batch_size=20, shuffle=True)
    return [mg.randn(5, device=device).numpy(), mg.rand(5, device=device).numpy(),
            mg.randint(0, 100, (5,), device=device).numpy(),
            nn.functional.dropout(x, 0.5, training=True).numpy(),
            nn.Dropout(0.3).train()(x).numpy(),
            next(iter(loader))[0].numpy(), nn.Linear(3, 2).weight.numpy()]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_setting_the_state_makes_every_kind_of_draw_repeat():
    _draws()  # move away from the seed's state
    state = get_rng_state()
    first = _draws()
    set_rng_state(state)
    assert _same(_draws(), first)
    assert not _same(_draws(), first)  # the generator moved on


def test_the_state_is_a_uint8_tensor_that_survives_save_and_load(tmp_path):
    state = get_rng_state()
    assert isinstance(state, mg.Tensor) and state.dtype == mg.uint8 and state.ndim == 1
    assert state.device == "cpu"
    path = tmp_path / "rng.npz"
    mg.save({"rng": state, "cpu": backend.get_rng_state("cpu")}, path)
    expected = _draws()
    loaded = mg.load(path)
    set_rng_state(loaded["rng"])
    assert _same(_draws(), expected)
    backend.set_rng_state(loaded["cpu"])  # the backend's plain array works too
    assert _same(_draws(), expected)


def test_get_rng_state_is_a_copy():
    state = get_rng_state()
    saved = state.numpy().copy()
    mg.randn(10)
    assert np.array_equal(state.numpy(), saved)


def test_state_survives_reseeding_and_a_fresh_process_state():
    mg.manual_seed(5)
    mg.randn(3)
    state = get_rng_state()
    expected = mg.randn(4).numpy()
    mg.manual_seed(123)  # a new global generator object: the state still goes into it
    set_rng_state(state)
    np.testing.assert_array_equal(mg.randn(4).numpy(), expected)


def test_bad_states_are_refused_clearly():
    with pytest.raises(TypeError, match="uint8"):
        set_rng_state(mg.zeros(3))
    with pytest.raises(ValueError, match="not an RNG state"):
        set_rng_state(mg.tensor([1, 2, 3], dtype=mg.uint8))
    with pytest.raises(TypeError, match="uint8 tensor or array"):
        set_rng_state("state")
    with pytest.raises(ValueError, match="'cpu' generator; it cannot be set on 'cuda'"):
        backend._parse_state(backend.get_rng_state("cpu"), "cuda")
    corrupt = bytearray(get_rng_state().numpy().tobytes())
    corrupt = corrupt.replace(b'"PCG64"', b'"PCG65"')
    with pytest.raises(ValueError, match="unknown bit generator 'PCG65'"):
        set_rng_state(np.frombuffer(bytes(corrupt), dtype=np.uint8))
    before = mg.randn(2)  # a refused state leaves the generator as it was
    assert before.shape == (2,)


def test_other_bit_generators_round_trip():
    gen = np.random.Generator(np.random.MT19937(3))
    state = backend.generator_state(gen, "cpu")
    expected = gen.random(4)
    fresh = backend.set_generator_state(np.random.default_rng(0), state, "cpu")
    assert isinstance(fresh.bit_generator, np.random.MT19937)
    np.testing.assert_array_equal(fresh.random(4), expected)


def test_generator_basics_follow_pytorch():
    g = Generator()
    assert g.device == "cpu" and g.initial_seed() == 67280421310721  # PyTorch's default
    np.testing.assert_array_equal(Generator().random(3), g.random(3))  # deterministic
    assert g.manual_seed(7) is g and g.initial_seed() == 7
    state = g.get_state()
    assert isinstance(state, mg.Tensor) and state.dtype == mg.uint8
    a = g.random(5)
    assert g.set_state(state) is g
    np.testing.assert_array_equal(g.random(5), a)
    np.testing.assert_array_equal(Generator().manual_seed(7).random(5), a)
    s = g.seed()
    assert g.initial_seed() == s and 0 <= s < 2 ** 64
    assert "initial_seed=" in repr(g)


def test_a_generator_is_independent_of_the_global_one():
    g = Generator().manual_seed(1)
    expected = Generator().manual_seed(1).random(4)
    mg.randn(100)  # global draws in between change nothing for g
    np.testing.assert_array_equal(g.random(4), expected)
    state = get_rng_state()
    g.random(10)  # and g's draws leave the global state alone
    assert np.array_equal(get_rng_state().numpy(), state.numpy())


def test_seeds_follow_pytorch_range():
    assert Generator().manual_seed(-1).initial_seed() == 2 ** 64 - 1
    assert manual_seed(-5) is default_generator and initial_seed() == 2 ** 64 - 5
    mg.manual_seed(3.0)  # an integral float, as PyTorch takes it
    assert initial_seed() == 3
    with pytest.raises(ValueError, match="a seed must be in"):
        mg.manual_seed(2 ** 64)
    with pytest.raises(TypeError, match="a seed must be an int"):
        mg.manual_seed(1.5)
    with pytest.raises(TypeError, match="a seed must be an int"):
        Generator().manual_seed("0")


def test_default_generator_is_the_global_one():
    default_generator.manual_seed(4)
    expected = mg.randn(3).numpy()
    mg.manual_seed(4)
    state = default_generator.get_state()
    np.testing.assert_array_equal(mg.randn(3).numpy(), expected)
    default_generator.set_state(state)
    np.testing.assert_array_equal(mg.randn(3).numpy(), expected)
    s = seed()
    assert initial_seed() == s


def test_unseeded_programs_get_a_recorded_seed(monkeypatch):
    monkeypatch.setattr(backend, "_seed", None)
    monkeypatch.setattr(backend, "_generators", {})
    first = mg.randn(3).numpy()
    recorded = initial_seed()
    mg.manual_seed(recorded)
    np.testing.assert_array_equal(mg.randn(3).numpy(), first)


def test_state_of_the_device_generator(device):
    state = backend.get_rng_state(device)
    expected = _draws(device)
    backend.set_rng_state(state, device)
    assert _same(_draws(device), expected)


def test_generator_round_trips_through_a_checkpoint_file():
    g = Generator().manual_seed(11)
    buffer = io.BytesIO()
    mg.save({"g": g.get_state()}, buffer)
    expected = g.standard_normal(3)
    buffer.seek(0)
    g.set_state(mg.load(buffer)["g"])
    np.testing.assert_array_equal(g.standard_normal(3), expected)
