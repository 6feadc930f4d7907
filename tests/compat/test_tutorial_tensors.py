"""The "Tensors" tutorial of PyTorch's Learn the Basics, ported by changing the import only.

Initialising tensors (from data, from NumPy, from another tensor, from a shape), their
attributes, moving to the GPU when there is one, indexing and slicing, joining, arithmetic,
single-element tensors, in-place operations and the bridge with NumPy.
"""
import numpy as np

import minigrad as torch


def test_initializing_a_tensor():
    torch.manual_seed(0)
    data = [[1, 2], [3, 4]]
    x_data = torch.tensor(data)
    assert x_data.dtype == torch.int64
    assert x_data.tolist() == data

    np_array = np.array(data)
    x_np = torch.from_numpy(np_array)
    assert x_np.tolist() == data

    x_ones = torch.ones_like(x_data)  # retains the properties of x_data
    print(f"Ones Tensor: \n {x_ones} \n")
    assert x_ones.shape == (2, 2) and x_ones.dtype == x_data.dtype
    assert x_ones.tolist() == [[1, 1], [1, 1]]

    x_rand = torch.rand_like(x_data, dtype=torch.float)  # overrides the datatype of x_data
    print(f"Random Tensor: \n {x_rand} \n")
    assert x_rand.shape == (2, 2) and x_rand.dtype == torch.float32
    assert ((x_rand >= 0) & (x_rand < 1)).all()

    shape = (2, 3,)
    rand_tensor = torch.rand(shape)
    ones_tensor = torch.ones(shape)
    zeros_tensor = torch.zeros(shape)
    print(f"Random Tensor: \n {rand_tensor} \n")
    print(f"Ones Tensor: \n {ones_tensor} \n")
    print(f"Zeros Tensor: \n {zeros_tensor}")
    for t in (rand_tensor, ones_tensor, zeros_tensor):
        assert t.shape == (2, 3) and t.dtype == torch.float32
    assert ones_tensor.sum().item() == 6.0 and zeros_tensor.sum().item() == 0.0


def test_attributes_of_a_tensor():
    torch.manual_seed(0)
    tensor = torch.rand(3, 4)
    print(f"Shape of tensor: {tensor.shape}")
    print(f"Datatype of tensor: {tensor.dtype}")
    print(f"Device tensor is stored on: {tensor.device}")
    assert tensor.shape == (3, 4)
    assert tensor.dtype == torch.float32
    assert tensor.device.type == "cpu"
    assert str(tensor.device) == "cpu"

    # We move our tensor to the GPU if available
    if torch.cuda.is_available():
        tensor = tensor.to("cuda")
        assert tensor.device.type == "cuda"
    assert tensor.shape == (3, 4)


def ones_with_zero_column():
    """The tutorial's working tensor: torch.ones(4, 4) with its second column set to 0."""
    tensor = torch.ones(4, 4)
    tensor[:, 1] = 0
    return tensor


def test_indexing_and_slicing():
    tensor = torch.ones(4, 4)
    print('First row: ', tensor[0])
    print('First column: ', tensor[:, 0])
    print('Last column:', tensor[..., -1])
    assert tensor[0].shape == (4,) and tensor[:, 0].shape == (4,)
    assert tensor[..., -1].tolist() == [1.0, 1.0, 1.0, 1.0]
    tensor[:, 1] = 0
    print(tensor)
    assert tensor.tolist() == [[1.0, 0.0, 1.0, 1.0]] * 4


def test_joining_tensors():
    tensor = ones_with_zero_column()
    t1 = torch.cat([tensor, tensor, tensor], dim=1)
    print(t1)
    assert t1.shape == (4, 12)
    assert t1[0].tolist() == [1.0, 0.0, 1.0, 1.0] * 3


def test_matrix_multiplication():
    torch.manual_seed(0)
    tensor = ones_with_zero_column()
    # y1, y2, y3 have the same value
    y1 = tensor @ tensor.T
    y2 = tensor.matmul(tensor.T)
    y3 = torch.rand_like(tensor)
    torch.matmul(tensor, tensor.T, out=y3)
    assert y1.tolist() == [[3.0] * 4] * 4
    assert torch.equal(y1, y2) and torch.equal(y1, y3)


def test_element_wise_product():
    torch.manual_seed(0)
    tensor = ones_with_zero_column()
    # z1, z2, z3 have the same value
    z1 = tensor * tensor
    z2 = tensor.mul(tensor)
    z3 = torch.rand_like(tensor)
    torch.mul(tensor, tensor, out=z3)
    assert z1.tolist() == tensor.tolist()
    assert torch.equal(z1, z2) and torch.equal(z1, z3)


def test_single_element_tensors_and_in_place_operations():
    tensor = ones_with_zero_column()
    agg = tensor.sum()
    agg_item = agg.item()
    print(agg_item, type(agg_item))
    assert agg_item == 12.0 and isinstance(agg_item, float)

    print(tensor, "\n")
    tensor.add_(5)
    print(tensor)
    assert tensor.tolist() == [[6.0, 5.0, 6.0, 6.0]] * 4


def test_bridge_with_numpy():
    # Tensor to NumPy array: a change in the tensor reflects in the NumPy array
    t = torch.ones(5)
    print(f"t: {t}")
    n = t.numpy()
    print(f"n: {n}")
    t.add_(1)
    print(f"t: {t}")
    print(f"n: {n}")
    assert isinstance(n, np.ndarray)
    assert n.tolist() == [2.0] * 5

    # NumPy array to Tensor: changes in the NumPy array reflect in the tensor
    n = np.ones(5)
    t = torch.from_numpy(n)
    np.add(n, 1, out=n)
    print(f"t: {t}")
    print(f"n: {n}")
    assert t.dtype == torch.float64
    assert t.tolist() == [2.0] * 5
