"""Shared fixtures: every test runs seeded, and device tests run on cpu and cuda."""
import pytest

import minigrad as mg


def _device_params():
    return ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.fixture(params=_device_params())
def device(request):
    """A device name; the cuda cases skip cleanly where no GPU (or no CuPy) is present."""
    if request.param == "cuda" and not mg.cuda_is_available():
        pytest.skip("no CUDA GPU with CuPy on this machine")
    return request.param


@pytest.fixture(autouse=True)
def _seeded_defaults():
    """Each test starts from seed 0 and the default dtype/device, and restores them."""
    dtype, device = mg.get_default_dtype(), mg.get_default_device()
    mg.manual_seed(0)
    yield
    mg.set_default_dtype(dtype)
    mg.set_default_device(device)
