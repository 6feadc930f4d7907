"""Creating tensors, their attributes and conversions."""
import numpy as np
import pytest

import minigrad as mg


def test_python_data_gets_pytorch_default_dtypes():
    assert mg.tensor([1.0, 2.0]).dtype == mg.float32
    assert mg.tensor([1, 2]).dtype == mg.int64
    assert mg.tensor([True, False]).dtype == mg.bool
    assert mg.tensor(np.zeros(2)).dtype == mg.float64  # arrays keep their dtype
    assert mg.tensor([1, 2], dtype=mg.float64).dtype == mg.float64


def test_factories():
    assert mg.zeros(2, 3).shape == (2, 3) and mg.ones((4,)).numpy().sum() == 4
    np.testing.assert_array_equal(mg.arange(5).numpy(), np.arange(5))
    assert mg.arange(5).dtype == mg.int64 and mg.arange(0, 1, 0.25).dtype == mg.float32
    like = mg.zeros_like(mg.ones(2, 2, dtype=mg.float64))
    assert like.dtype == mg.float64 and like.numpy().sum() == 0
    assert mg.ones_like(mg.zeros(3)).numpy().sum() == 3
    np.testing.assert_array_equal(mg.full((2,), 7.0).numpy(), [7.0, 7.0])
    np.testing.assert_array_equal(mg.eye(2).numpy(), np.eye(2))
    assert mg.randn(3, 4, requires_grad=True).requires_grad


def test_attributes_and_conversions():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert (x.shape, x.ndim, x.device, x.is_leaf, len(x), x.numel()) == ((2, 2), 2, "cpu", True, 2, 4)
    assert x.T.shape == (2, 2) and x.T.numpy()[0, 1] == 3.0
    assert x.sum().item() == 10.0 and float(x[0, 1]) == 2.0
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert x.double().dtype == mg.float64 and x.double().float().dtype == mg.float32
    with pytest.raises(ValueError, match="one element"):
        x.item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)


def test_repr_is_readable():
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "requires_grad=True" in repr(mg.ones(1, requires_grad=True))
    assert "dtype=float64" in repr(mg.ones(1, dtype=mg.float64))
    y = (mg.ones(1, requires_grad=True) * 2.0).sum()
    assert "grad_fn=<SumBackward0>" in repr(y)
    y.backward()
    assert repr(y) == "tensor(2., requires_grad=True)"  # the graph is freed
    wide = repr(mg.tensor([[-1.5402765, 1.0195082, 0.73603714, -0.21526884],
                           [-1.3121709, -0.6178093, 0.8344715, 1.0955086]]))
    assert "dtype" not in wide and wide.count("\n") == 1


def test_numpy_arrays_meet_tensors_through_the_tensor_operators():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * x  # ndarray on the left defers to Tensor
    assert isinstance(y, mg.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_bad_data_is_a_clear_error():
    with pytest.raises(TypeError, match="cannot make a tensor"):
        mg.tensor(["a", "b"])
    with pytest.raises(TypeError, match="not a dtype"):
        mg.zeros(2, dtype="nonsense")
