"""Devices, dtypes defaults and seeding."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from minigrad.errors import DeviceError

needs_no_gpu = pytest.mark.skipif(mg.cuda_is_available(), reason="a GPU is present here")


@needs_no_gpu
def test_asking_for_cuda_without_a_gpu_says_what_to_install():
    with pytest.raises(DeviceError, match=r"(pip install|no CUDA GPU)"):
        mg.ones(2, device="cuda")
    with pytest.raises(DeviceError):
        mg.ones(2).to("cuda")
    with pytest.raises(DeviceError):
        mg.set_default_device("cuda")
    assert mg.get_default_device() == "cpu"


@needs_no_gpu
def test_the_environment_variable_selects_the_default_device():
    code = "import minigrad as mg; print(mg.get_default_device()); mg.ones(1)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "MINIGRAD_DEVICE": "cuda"})
    assert result.stdout.strip() == "cuda"
    assert "DeviceError" in result.stderr and ("CuPy" in result.stderr or "GPU" in result.stderr)


def test_unknown_device_names_are_rejected():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mg.zeros(2, device="tpu")


def test_tensors_live_on_the_requested_device(device):
    x = mg.randn(3, 2, device=device)
    assert x.device == device
    assert (x @ x.T).device == device
    assert x.cpu().device == "cpu" and isinstance(x.numpy(), np.ndarray)
    moved = mg.tensor([1.0, 2.0], requires_grad=True).to(device)
    (moved * moved).sum().backward()  # gradients flow back across the transfer


def test_default_dtype_switch():
    assert mg.tensor([1.0]).dtype == mg.float32
    mg.set_default_dtype(mg.float64)
    assert mg.tensor([1.0]).dtype == mg.float64 and mg.randn(2).dtype == mg.float64
    assert mg.get_default_dtype() == mg.float64
    with pytest.raises(TypeError, match="float32 or float64"):
        mg.set_default_dtype(mg.int64)


def test_manual_seed_repeats_random_draws():
    mg.manual_seed(123)
    first = (mg.randn(4).numpy(), mg.rand(2, 2).numpy(), mg.randint(0, 10, (5,)).numpy())
    mg.manual_seed(123)
    second = (mg.randn(4).numpy(), mg.rand(2, 2).numpy(), mg.randint(0, 10, (5,)).numpy())
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(mg.randn(4).numpy(), first[0])


def test_scatter_add_accumulates_repeats():
    out = np.zeros(3)
    backend.scatter_add(out, np.array([0, 0, 2]), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(out, [3.0, 0.0, 3.0])
