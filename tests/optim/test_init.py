"""Initialisers: exact facts (gains, fans, identity fills) and the statistics of large draws
against the formulas of their distributions."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.optim import init

N = 400_000  # draws per statistics test: the std of a sample mean is ~1.6e-3 std


def _normal_pdf(x):
    return 0.0 if math.isinf(x) else math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _normal_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _truncated_moments(alpha, beta):
    """Mean and std of N(0, 1) conditioned on [alpha, beta] (textbook formulas)."""
    mass = _normal_cdf(beta) - _normal_cdf(alpha)
    mean = (_normal_pdf(alpha) - _normal_pdf(beta)) / mass
    a_term = 0.0 if math.isinf(alpha) else alpha * _normal_pdf(alpha)
    b_term = 0.0 if math.isinf(beta) else beta * _normal_pdf(beta)
    return mean, math.sqrt(1 + (a_term - b_term) / mass - mean * mean)


def _empty(*shape, device="cpu", dtype=None):
    return mg.zeros(*shape, device=device, dtype=dtype)


# --- gains and fans -------------------------------------------------------------------------

@pytest.mark.parametrize("name, param, gain", [
    ("linear", None, 1.0), ("conv1d", None, 1.0), ("conv2d", None, 1.0),
    ("conv_transpose3d", None, 1.0), ("sigmoid", None, 1.0),
    ("tanh", None, 1.6666666666666667), ("relu", None, 1.4142135623730951),
    ("leaky_relu", None, 1.4141428569978354), ("leaky_relu", 0.2, 1.3867504905630728),
    ("leaky_relu", math.sqrt(5), 0.5773502691896257), ("selu", None, 0.75),
])
def test_calculate_gain_table(name, param, gain):
    assert init.calculate_gain(name, param) == pytest.approx(gain, rel=1e-15)


def test_calculate_gain_rejects_unknown_nonlinearity_and_bad_slope():
    with pytest.raises(ValueError, match="Unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "0.1")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape, fans", [((3, 5), (5, 3)), ((8, 4, 3, 3), (36, 72)),
                                         ((16, 8, 5), (40, 80))])
def test_fans_of_linear_and_conv_weights(shape, fans):
    assert init._calculate_fan_in_and_fan_out(_empty(*shape)) == fans


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(_empty(5))


def test_gains_and_fans_match_torch():
    torch = pytest.importorskip("torch")
    for name, param in [("tanh", None), ("leaky_relu", 0.3), ("selu", None), ("relu", None)]:
        assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)
    for shape in [(3, 5), (6, 2, 3, 4), (2, 7, 5)]:
        expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert init._calculate_fan_in_and_fan_out(_empty(*shape)) == expected


# --- plain distributions --------------------------------------------------------------------

def test_uniform_statistics_and_bounds(device):
    t = _empty(N, device=device)
    assert init.uniform_(t, -1.0, 3.0) is t
    w = t.numpy()
    assert w.min() >= -1.0 and w.max() < 3.0
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.std() == pytest.approx(4.0 / math.sqrt(12), rel=0.01)


def test_normal_statistics(device):
    w = init.normal_(_empty(N, device=device, dtype=mg.float64), mean=2.0, std=0.5).numpy()
    assert w.dtype == np.float64
    assert w.mean() == pytest.approx(2.0, abs=0.005)
    assert w.std() == pytest.approx(0.5, rel=0.01)


@pytest.mark.parametrize("a, b", [(-2.0, 2.0), (-0.3, 0.4), (0.1, 0.2), (1.0, 4.0), (3.0, 3.5),
                                  (4.0, math.inf), (6.0, 30.0), (-5.0, -4.0), (-math.inf, -1.0)])
def test_trunc_normal_is_exactly_the_truncated_distribution(a, b, device):
    mean, std = 0.5, 2.0
    t = init.trunc_normal_(_empty(N, device=device, dtype=mg.float64), mean, std, a, b)
    w = t.numpy()
    assert w.min() >= a and w.max() <= b
    alpha, beta = (a - mean) / std, (b - mean) / std
    true_mean, true_std = _truncated_moments(alpha, beta)
    assert (w.mean() - mean) / std == pytest.approx(true_mean, abs=0.01 * true_std)
    assert w.std() / std == pytest.approx(true_std, rel=0.02)
    # the empirical CDF follows the truncated normal's at interior points (not a clamp)
    mass = _normal_cdf(beta) - _normal_cdf(alpha)
    lo, hi = max(a, mean - 6 * std), min(b, mean + 6 * std)
    for x in np.linspace(lo, hi, 7)[1:-1]:
        expected = (_normal_cdf((x - mean) / std) - _normal_cdf(alpha)) / mass
        assert np.mean(w <= x) == pytest.approx(expected, abs=0.005)


def test_trunc_normal_bounds_are_absolute_not_in_stds():
    w = init.trunc_normal_(_empty(1000, 1000), std=0.02).numpy()
    assert 0.08 < -w.min() < 0.12 and 0.08 < w.max() < 0.12  # about ±5 std: nothing cut
    assert w.std() == pytest.approx(0.02, rel=0.01)


def test_trunc_normal_rejects_bad_arguments():
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(_empty(3), a=1.0, b=1.0)
    with pytest.raises(ValueError, match="std > 0"):
        init.trunc_normal_(_empty(3), std=0.0)


def test_constant_zeros_ones_fill_any_dtype():
    assert init.constant_(_empty(2, 3), 0.25).tolist() == [[0.25] * 3] * 2
    ints = mg.tensor([[5, 6], [7, 8]])
    assert init.zeros_(ints).tolist() == [[0, 0], [0, 0]]
    assert init.ones_(ints).tolist() == [[1, 1], [1, 1]]
    assert ints.dtype == np.int64


def test_eye_is_a_rectangular_identity():
    assert init.eye_(_empty(2, 3)).tolist() == [[1, 0, 0], [0, 1, 0]]
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(_empty(2, 3, 4))


def test_dirac_puts_ones_at_the_kernel_centre():
    w = init.dirac_(mg.full((4, 2, 3), 7.0)).numpy()
    assert np.argwhere(w).tolist() == [[0, 0, 1], [1, 1, 1]]
    assert w.sum() == 2
    w = init.dirac_(_empty(4, 2, 3, 3), groups=2).numpy()
    assert np.argwhere(w).tolist() == [[0, 0, 1, 1], [1, 1, 1, 1], [2, 0, 1, 1], [3, 1, 1, 1]]
    with pytest.raises(ValueError, match="groups=3"):
        init.dirac_(_empty(4, 2, 3), groups=3)
    with pytest.raises(ValueError, match="3-, 4- or 5-D"):
        init.dirac_(_empty(4, 2))


# --- variance scaling -----------------------------------------------------------------------

def _check_uniform(w, bound):
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)


def test_xavier_uniform_and_normal(device):
    bound = 0.5 * math.sqrt(6.0 / (400 + 1000))
    _check_uniform(init.xavier_uniform_(_empty(400, 1000, device=device), gain=0.5).numpy(), bound)
    w = init.xavier_normal_(_empty(400, 1000, device=device)).numpy()
    assert w.mean() == pytest.approx(0.0, abs=1e-4)
    assert w.std() == pytest.approx(math.sqrt(2.0 / 1400), rel=0.01)


@pytest.mark.parametrize("a, mode, nonlinearity, gain", [
    (0, "fan_in", "leaky_relu", math.sqrt(2.0)), (0, "FAN_OUT", "relu", math.sqrt(2.0)),
    (math.sqrt(5), "fan_in", "leaky_relu", math.sqrt(1 / 3)), (0, "fan_out", "tanh", 5 / 3)])
def test_kaiming_uniform_and_normal(a, mode, nonlinearity, gain, device):
    shape, fans = (100, 20, 2, 2), {"fan_in": 80, "fan_out": 400}
    std = gain / math.sqrt(fans[mode.lower()])
    w = init.kaiming_uniform_(_empty(*shape, device=device), a, mode, nonlinearity).numpy()
    _check_uniform(w, math.sqrt(3) * std)
    w = init.kaiming_normal_(_empty(*shape, device=device), a, mode, nonlinearity).numpy()
    assert w.std() == pytest.approx(std, rel=0.01)


def test_linear_default_init_bound_is_one_over_sqrt_fan_in():
    w = init.kaiming_uniform_(_empty(50, 100), a=math.sqrt(5)).numpy()
    assert np.abs(w).max() <= 0.1 and np.abs(w).max() > 0.099


def test_kaiming_rejects_bad_mode_and_nonlinearity_and_skips_empty_tensors():
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_uniform_(_empty(3, 4), mode="fan_avg")
    with pytest.raises(ValueError, match="Unsupported nonlinearity 'gelu'"):
        init.kaiming_normal_(_empty(3, 4), nonlinearity="gelu")
    with pytest.warns(UserWarning, match="no elements"):
        init.kaiming_uniform_(_empty(0, 4))


def test_lecun_uniform_and_normal(device):
    _check_uniform(init.lecun_uniform_(_empty(1000, 300, device=device)).numpy(),
                   math.sqrt(3.0 / 300))
    w = init.lecun_normal_(_empty(1000, 300, device=device)).numpy()
    assert w.std() == pytest.approx(math.sqrt(1.0 / 300), rel=0.01)
    cut = 2 * math.sqrt(1.0 / 300) / 0.87962566103423978  # Keras' constant
    assert np.abs(w).max() <= cut and np.abs(w).max() > 0.99 * cut



# --- Keras' VarianceScaling -----------------------------------------------------------------

def test_keras_truncated_normal_constant_is_the_std_of_a_unit_normal_cut_at_two():
    assert init.KERAS_TRUNCATED_NORMAL_STD == 0.87962566103423978
    assert _truncated_moments(-2.0, 2.0)[1] == pytest.approx(0.87962566103423978, rel=1e-15)


# (shape, fan_in, fan_out): PyTorch's (out, in, *kernel) layout; 1-D and 0-D as Keras
VS_SHAPES = [((200, 50), 50, 200), ((40, 10, 3, 3), 90, 360), ((500,), 500, 500),
             ((8, 3, 5), 15, 40)]


@pytest.mark.parametrize("shape, fan_in, fan_out", VS_SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling_statistics(shape, fan_in, fan_out, mode, distribution):
    scale = 2.5
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / fan)  # the std of the draws, after any cut
    reps = -(-N // math.prod(shape))
    w = np.concatenate([init.variance_scaling_(_empty(*shape, dtype=mg.float64), scale, mode,
                                               distribution).numpy().ravel()
                        for _ in range(reps)])
    assert w.mean() == pytest.approx(0.0, abs=5 * std / math.sqrt(w.size))
    assert w.std() == pytest.approx(std, rel=0.01)
    top = np.abs(w).max()
    if distribution == "truncated_normal":
        cut = 2 * std / 0.87962566103423978  # 2 stds of the normal before the cut
        assert top <= cut and top > 0.999 * cut
        # the mass near the cut is that of the truncated density (not a clamp's spike)
        near = np.mean(np.abs(w) > 0.95 * cut)
        expected = 2 * (_normal_cdf(2.0) - _normal_cdf(1.9)) / (1 - 2 * _normal_cdf(-2.0))
        assert near == pytest.approx(expected, rel=0.05)
    elif distribution == "uniform":
        assert top <= math.sqrt(3) * std and top > 0.999 * math.sqrt(3) * std
    else:
        assert top > 3.5 * std  # not cut (400k normal draws reach 4 std)
        kurtosis = np.mean((w / w.std()) ** 4)
        assert kurtosis == pytest.approx(3.0, rel=0.03)


def test_variance_scaling_of_a_scalar_uses_fans_of_one():
    draws = np.array([init.variance_scaling_(_empty(dtype=mg.float64), 4.0,
                                             distribution="uniform").item() for _ in range(4000)])
    assert np.abs(draws).max() <= math.sqrt(12.0) and draws.std() == pytest.approx(2.0, rel=0.05)


def test_variance_scaling_is_glorot_lecun_and_he_draw_for_draw():
    pairs = [(lambda t: init.variance_scaling_(t, 1.0, "fan_avg", "uniform"),
              init.xavier_uniform_),
             (lambda t: init.variance_scaling_(t, 1.0, "fan_in"), init.lecun_normal_),
             (lambda t: init.variance_scaling_(t, 2.0, "fan_out", "untruncated_normal"),
              lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"))]
    for fill, other in pairs:
        np.testing.assert_allclose(_seeded(fill), _seeded(other), rtol=1e-12)


def _seeded(fill):
    mg.manual_seed(11)
    return fill(mg.zeros(30, 20, dtype=mg.float64)).numpy()


def test_variance_scaling_seeds_and_checks_its_arguments():
    a = init.variance_scaling_(_empty(5, 5), generator=np.random.default_rng(3)).numpy()
    b = init.variance_scaling_(_empty(5, 5), generator=np.random.default_rng(3)).numpy()
    np.testing.assert_array_equal(a, b)
    # Keras: distribution is not case-sensitive and "normal" is the truncated one
    mg.manual_seed(1)
    c = init.variance_scaling_(_empty(5, 5), distribution="Normal").numpy()
    mg.manual_seed(1)
    np.testing.assert_array_equal(c, init.variance_scaling_(_empty(5, 5)).numpy())
    with pytest.raises(ValueError, match="scale must be a finite number > 0, got 0"):
        init.variance_scaling_(_empty(3, 3), scale=0)
    with pytest.raises(ValueError, match="scale must be a finite number > 0, got nan"):
        init.variance_scaling_(_empty(3, 3), scale=float("nan"))
    with pytest.raises(ValueError, match="invalid mode 'FAN_IN'"):
        init.variance_scaling_(_empty(3, 3), mode="FAN_IN")
    with pytest.raises(ValueError, match="invalid distribution 'laplace'"):
        init.variance_scaling_(_empty(3, 3), distribution="laplace")
    with pytest.raises(TypeError, match="floating-point tensor"):
        init.variance_scaling_(mg.tensor([[1, 2], [3, 4]]))

@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (6, 2, 3, 3), (4, 4)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape, device):
    w = init.orthogonal_(_empty(*shape, device=device, dtype=mg.float64), gain=2.0).numpy()
    flat = w.reshape(shape[0], -1) / 2.0
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-12)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.orthogonal_(_empty(4))


def test_sparse_zeros_the_same_count_in_every_column():
    w = init.sparse_(_empty(10, 4), sparsity=0.25).numpy()
    assert (w == 0).sum(axis=0).tolist() == [3, 3, 3, 3]
    w = init.sparse_(_empty(1000, 400), sparsity=0.1, std=0.5).numpy()
    assert ((w == 0).sum(axis=0) == 100).all()
    assert len({tuple(np.flatnonzero(col == 0)) for col in w.T}) == 400  # random rows
    assert w[w != 0].std() == pytest.approx(0.5, rel=0.01)
    with pytest.raises(ValueError, match="sparsity in"):
        init.sparse_(_empty(3, 3), sparsity=1.5)
    with pytest.raises(ValueError, match="2-D"):
        init.sparse_(_empty(3, 3, 3), sparsity=0.5)


# --- common behaviour -----------------------------------------------------------------------

RANDOM_FILLS = [init.uniform_, init.normal_, init.trunc_normal_, init.xavier_uniform_,
                init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_,
                init.lecun_uniform_, init.lecun_normal_, init.orthogonal_,
                lambda t: init.sparse_(t, 0.5), init.variance_scaling_,
                lambda t: init.variance_scaling_(t, 0.5, "fan_avg", "uniform")]


@pytest.mark.parametrize("fill", RANDOM_FILLS)
def test_random_fills_are_seeded_in_place_and_record_no_graph(fill):
    mg.manual_seed(3)
    t = mg.zeros(6, 5, requires_grad=True)
    storage = t.array
    first = fill(t).numpy().copy()
    assert t.array is storage and t.is_leaf and t.requires_grad and t.dtype == np.float32
    mg.manual_seed(3)
    np.testing.assert_array_equal(fill(mg.zeros(6, 5)).numpy(), first)
    assert not np.array_equal(fill(mg.zeros(6, 5)).numpy(), first)


def test_an_explicit_generator_is_used():
    a = init.normal_(_empty(5), generator=np.random.default_rng(7)).numpy()
    b = init.normal_(_empty(5), generator=np.random.default_rng(7)).numpy()
    np.testing.assert_array_equal(a, b)


def test_random_fills_reject_non_tensors_and_integer_tensors():
    with pytest.raises(TypeError, match="expected a minigrad Tensor, got ndarray"):
        init.normal_(np.zeros(3))
    with pytest.raises(TypeError, match="floating-point tensor, got dtype int64"):
        init.uniform_(mg.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="a <= b"):
        init.uniform_(_empty(3), 1.0, 0.0)
    with pytest.raises(ValueError, match="std >= 0"):
        init.normal_(_empty(3), std=-1.0)
