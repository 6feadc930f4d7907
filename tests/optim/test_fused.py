"""The GPU kernels of the elementwise optimizers (minigrad.optim.fused) against the NumPy path.

On the CPU each kernel's body is compiled as C++ for the host (kernel_emulator.py) and the
optimizer is run with it in place of the array calls: trajectories must be bit-identical to
the NumPy path's, in float32 and float64, flat and per parameter, over every option that
changes the body. On a GPU the same trajectories are run on CUDA against the CPU's, bit
for bit (the kernels are compiled without fused multiply-adds).
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from minigrad import kernels
from tests import kernel_emulator
from tests.kernel_emulator import kernels_on_the_host
from tests.optim import fused_cases
from tests.optim.catalog import OPTIMIZERS, assert_same, run_step, snapshot

needs_compiler = pytest.mark.skipif(not kernel_emulator.available(),
                                    reason="no C++ compiler to run the kernels on the host")

# (catalog name, options): every variant of each rule that has kernels
CASES = [
    ("Adam", {}), ("Adam", {"amsgrad": True}), ("Adam", {"weight_decay": 0.1}),
    ("Adam", {"maximize": True}), ("AdamW", {"amsgrad": True}),
] + fused_cases.CASES
# the optimizers that must have kernels
REQUIRED = ["Adam", "AdamW"] + fused_cases.REQUIRED

SHAPES = [(3, 4), (4,), ()]


def params_for(dtype, device="cpu", seed=0):
    rng = np.random.default_rng(seed)
    return [mg.tensor(rng.uniform(-1.0, 1.0, shape), dtype=dtype, requires_grad=True,
                      device=device) for shape in SHAPES]


def on_the_host(value):
    if backend.is_array(value):
        return backend.to_numpy(value)
    if isinstance(value, dict):
        return {k: on_the_host(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_the_host(v) for v in value)
    return value


def trajectory(name, options, dtype, flat, device="cpu", steps=12):
    """Parameters and optimizer state (on the host) after each of ``steps`` steps."""
    params = params_for(dtype, device)
    optimizer = OPTIMIZERS[name](params, flat=flat, **options)
    shots = []
    for _ in range(steps):
        run_step(optimizer, params)
        shots.append(on_the_host(snapshot(optimizer, params)))
    return shots


def test_nothing_takes_the_kernel_path_on_the_cpu_by_default():
    kernels.launches.clear()
    trajectory("Adam", {}, mg.float32, flat=True, steps=2)
    assert kernels.launches == {}


@needs_compiler
@pytest.mark.parametrize("dtype", [mg.float32, mg.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("flat", [True, False], ids=["flat", "per-parameter"])
@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_the_kernel_equals_the_numpy_path_bit_for_bit(name, options, dtype, flat):
    expected = trajectory(name, options, dtype, flat)
    with kernels_on_the_host() as launches:
        got = trajectory(name, options, dtype, flat)
    assert launches, f"{name} {options} launched no kernel"
    assert_same(got, expected)


@needs_compiler
def test_every_kernel_is_exercised_and_every_required_rule_has_one():
    with kernels_on_the_host() as launches:
        for name, options in CASES:  # all 12 steps: some kernels start later (RAdam's)
            trajectory(name, options, mg.float32, flat=True)
        from minigrad.nn.functional import loss, normalization  # (tests/nn/test_layer_kernels.py)
        layers = {v.name for module in (loss, normalization) for v in vars(module).values()
                  if isinstance(v, kernels.ElementwiseKernel)}
        declared = {k.name for k in kernels.ElementwiseKernel.registry} - layers
        assert declared <= set(launches), f"kernels no case runs: {declared - set(launches)}"
        for name in REQUIRED:
            launches.clear()
            trajectory(name, {}, mg.float32, flat=True, steps=2)
            assert launches, f"{name} has no kernel"


@needs_compiler
def test_a_body_that_rounds_in_another_order_is_caught(monkeypatch):
    from minigrad.optim import adam
    monkeypatch.setattr(adam.ADAM_KERNEL, "body", adam.ADAM_KERNEL.body.replace(
        "(grad * grad) * one_minus_beta2", "grad * (grad * one_minus_beta2)"))
    plain = trajectory("Adam", {}, mg.float32, True)
    with kernels_on_the_host():
        wrong = trajectory("Adam", {}, mg.float32, True)
    with pytest.raises(AssertionError, match="values differ"):
        assert_same(wrong, plain)


def test_kernels_can_be_switched_off(monkeypatch):
    monkeypatch.setattr(kernels, "enabled", False)
    with kernels_on_the_host() as launches:
        trajectory("Adam", {}, mg.float32, flat=True, steps=2)
    assert launches == {}


def test_float16_keeps_the_array_calls():
    with kernels_on_the_host() as launches:
        trajectory("Adam", {}, mg.float16, flat=True, steps=2)
    assert launches == {}


@pytest.mark.gpu
@pytest.mark.skipif(not mg.cuda_is_available(), reason="no CUDA GPU with CuPy on this machine")
@pytest.mark.parametrize("dtype", [mg.float32, mg.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{o}" for n, o in CASES])
def test_on_the_gpu_the_kernels_give_the_cpu_trajectory(name, options, dtype):
    kernels.launches.clear()
    cpu = trajectory(name, options, dtype, flat=True)
    gpu = trajectory(name, options, dtype, flat=True, device="cuda")
    assert kernels.launches, f"{name} launched no kernel on the GPU"
    assert_same(gpu, cpu)


def test_a_kernel_called_with_the_wrong_arguments_names_what_it_takes():
    from minigrad.optim.adam import ADAM_KERNEL
    a = np.zeros(3, dtype=np.float32)
    with pytest.raises(TypeError, match=r"kernel adam_step takes arrays .*'grad', 'param'"):
        ADAM_KERNEL(a, a, a, beta1=0.9)
