"""No optimizer writes a NaN or inf silently: a non-finite gradient (or LBFGS loss) raises or
skips the step, leaving parameters and state bitwise unchanged; clip_grad_norm_ says so too."""
import math
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import NonFiniteError, clip_grad_norm_
from minigrad.optim.wrapper import OptimizerWrapper
from tests.optim.catalog import (OPTIMIZERS, assert_same, fill_grads, loss_of, make_params,
                                 run_step, snapshot)

BAD_VALUES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
KIND = {"nan": "NaN", "inf": "inf", "-inf": "inf"}


def _spoil(value, index=1, entry=2):
    """A ``corrupt`` function writing ``value`` into one entry of parameter ``index``'s grad."""
    def corrupt(params):
        params[index].grad.array.reshape(-1)[entry] = value
    return corrupt


def _trained(name, steps=3, **kwargs):
    params = make_params()
    optimizer = OPTIMIZERS[name](params, **kwargs)
    for _ in range(steps):
        run_step(optimizer, params)
    return optimizer, params


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_raise_mode_leaves_everything_untouched(name, bad):
    optimizer, params = _trained(name)
    before = snapshot(optimizer, params)
    pattern = (rf"parameter 1 of param group 0 \(shape \(4,\)\) holds {KIND[bad]}; "
               "nothing was updated")
    with pytest.raises(NonFiniteError, match=pattern) as caught:
        run_step(optimizer, params, corrupt=_spoil(BAD_VALUES[bad]))
    assert (caught.value.group, caught.value.index, caught.value.shape) == (0, 1, (4,))
    assert_same(snapshot(optimizer, params), before)
    assert optimizer.skipped_steps == 0


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_skip_mode_warns_and_skips_the_whole_step(name, bad):
    optimizer, params = _trained(name, on_nonfinite="skip")
    before = snapshot(optimizer, params)
    with pytest.warns(RuntimeWarning, match=r"step\(\) skipped: the gradient of parameter 1 "
                                            r"of param group 0 \(shape \(4,\)\)"):
        run_step(optimizer, params, corrupt=_spoil(BAD_VALUES[bad]))
    assert_same(snapshot(optimizer, params), before)
    assert optimizer.skipped_steps == 1


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_skipped_step_leaves_no_trace_in_the_trajectory(name):
    """Steps, a skipped one, more steps == the same steps without the skipped one."""
    skipping, params = _trained(name, on_nonfinite="skip")
    plain, plain_params = _trained(name)
    with pytest.warns(RuntimeWarning):
        run_step(skipping, params, corrupt=_spoil(math.nan))
    for _ in range(3):
        run_step(skipping, params)
        run_step(plain, plain_params)
    assert_same(snapshot(skipping, params), snapshot(plain, plain_params))


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_normal_steps_do_not_warn_or_count(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer, _ = _trained(name, on_nonfinite="skip")
    assert optimizer.skipped_steps == 0


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_on_nonfinite_is_checked(name):
    with pytest.raises(ValueError, match=r"invalid on_nonfinite: 'ignore' .*'raise', 'skip'"):
        OPTIMIZERS[name](make_params(), on_nonfinite="ignore")
    optimizer = OPTIMIZERS[name](make_params())
    assert optimizer.on_nonfinite == "raise"
    with pytest.raises(ValueError, match="invalid on_nonfinite"):
        optimizer.on_nonfinite = True
    optimizer.on_nonfinite = "skip"
    assert optimizer.on_nonfinite == "skip"


def test_every_optimizer_is_covered():
    exported = (getattr(optim, name) for name in optim.__all__)
    names = {cls.__name__ for cls in exported if isinstance(cls, type) and
             issubclass(cls, (optim.Optimizer, OptimizerWrapper)) and cls is not optim.Optimizer}
    assert names == set(OPTIMIZERS)


def test_the_error_counts_every_offending_parameter_and_checks_all_groups():
    a, b, c = make_params()
    optimizer = optim.SGD([{"params": [a]}, {"params": [b, c], "lr": 0.1}], lr=0.1)
    fill_grads([a, b, c])
    b.grad.array[0] = math.inf
    c.grad.array[...] = math.nan
    with pytest.raises(NonFiniteError, match=r"parameter 0 of param group 1 \(shape \(4,\)\) "
                                             r"holds inf \(1 more parameters hold NaN or inf\)"):
        optimizer.step()
    np.testing.assert_array_equal(a.numpy(), make_params()[0].numpy())  # a's group untouched


def test_parameters_without_a_gradient_are_ignored():
    a, b, c = make_params()
    optimizer = optim.Adam([a, b, c])
    optimizer.step()  # no gradient at all: nothing to check, nothing done
    assert not optimizer.state
    fill_grads([a])
    b.grad = c.grad = None
    optimizer.step()
    assert set(optimizer.state) == {a}


def test_a_sum_that_overflows_is_not_mistaken_for_a_nonfinite_gradient():
    # every entry is finite, but the squares (and the sum) overflow float32: confirmed entry
    # by entry, the step goes ahead
    p = mg.tensor(np.ones(1000, dtype=np.float32), requires_grad=True)
    p.grad = mg.tensor(np.full(1000, 3e38, dtype=np.float32))
    optimizer = optim.SGD([p], lr=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even NumPy's overflow warning
        optimizer.step()
    assert optimizer.skipped_steps == 0
    np.testing.assert_array_equal(p.numpy(), np.ones(1000, dtype=np.float32))


@pytest.mark.parametrize("dtype", [mg.float16, mg.float32])
def test_low_precision_gradients(dtype):
    p = mg.tensor(np.zeros(70000), dtype=dtype, requires_grad=True)
    p.grad = mg.tensor(np.full(70000, 60000.0), dtype=dtype)  # its sum overflows float16
    optimizer = optim.SGD([p], lr=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from the check either
        optimizer.step()
    assert np.all(p.numpy() < 0)
    p.grad.array[123] = np.nan
    with pytest.raises(NonFiniteError, match=r"shape \(70000,\)\) holds NaN"):
        optimizer.step()


def test_the_fused_check_itself():
    from minigrad.optim.optimizer import all_finite
    half = np.full(70000, 60000.0, dtype=np.float16)  # its float16 sum would overflow
    assert all_finite([half], np)
    assert all_finite([np.ones((2, 3)), np.zeros(0), np.float64(2.0) * np.ones(())], np)
    assert all_finite([], np)
    for dtype in (np.float16, np.float32, np.float64, np.complex64, np.complex128):
        imaginary = (complex(1, math.nan), complex(1, -math.inf))  # a finite real part
        for bad in (np.nan, np.inf, -np.inf) + (imaginary if dtype().dtype.kind == "c" else ()):
            for size in (5, 9000):  # batched with the others; reduced in place
                spoilt = np.ones(size, dtype=dtype)
                spoilt[3] = bad
                assert not all_finite([np.ones(4, dtype=dtype), spoilt], np), (dtype, bad)


@pytest.mark.parametrize("arrays", [
    [np.full(70000, 60000.0, dtype=np.float16)], [np.ones((2, 3)), np.zeros(0)], [],
    [np.ones(4), np.ones(9000, np.float32)], [np.ones(9000, np.complex64)],
    [np.ones(4), np.r_[np.ones(9000), np.nan]], [np.r_[np.ones(3), np.inf]],
    [np.full(9000, 1e200), np.ones(3)],  # the sum of squares overflows: False, as all_finite
    [np.r_[np.ones(9000, np.complex128), complex(1, math.nan)]]])
def test_the_check_left_on_the_device_agrees_with_the_host_one(arrays):
    from minigrad.optim.optimizer import all_finite, nonfinite_flag
    flag = nonfinite_flag(arrays, np)
    assert flag.shape == () and flag.dtype == bool
    assert bool(flag) == (not all_finite(arrays, np))


def test_many_large_and_small_gradients_are_checked_in_batches():
    # small tensors filling more than one batch (2**20 entries), then larger tensors (reduced
    # in place), then a last partial batch of small ones
    shapes = [(80, 80)] * 200 + [(300, 300)] * 2 + [(7,)] * 20
    params = [mg.zeros(*s, dtype=mg.float32, requires_grad=True) for s in shapes]
    for p in params:
        p.grad = mg.ones(*p.shape, dtype=mg.float32)
    optimizer = optim.SGD(params, lr=0.1)
    optimizer.step()
    for index in (0, 170, 200, 221):
        params[index].grad.array.reshape(-1)[-1] = np.inf
        with pytest.raises(NonFiniteError, match=f"parameter {index} of param group 0"):
            optimizer.step()
        params[index].grad.array.reshape(-1)[-1] = 1.0


# --- LBFGS: the closure's loss and every evaluation's gradients ----------------------------

def _lbfgs_closure(optimizer, params, spoil_at, what):
    calls = {"n": 0}

    def closure():
        calls["n"] += 1
        loss = fill_grads(params)
        if calls["n"] == spoil_at:
            if what == "loss":
                return loss * math.nan
            params[0].grad.array[0, 0] = math.inf
        return loss
    return closure, calls


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
@pytest.mark.parametrize("what", ["loss", "grad"])
@pytest.mark.parametrize("spoil_at", [1, 3])
@pytest.mark.parametrize("mode", ["raise", "skip"])
def test_lbfgs_refuses_a_nonfinite_evaluation_and_puts_everything_back(line_search, what,
                                                                      spoil_at, mode):
    params = make_params()
    optimizer = optim.LBFGS(params, lr=0.5, max_iter=5, line_search_fn=line_search,
                            on_nonfinite=mode)
    optimizer.step(_lbfgs_closure(optimizer, params, 0, what)[0])  # history to keep
    before = snapshot(optimizer, params)
    closure, calls = _lbfgs_closure(optimizer, params, spoil_at, what)
    expected = "non-finite loss" if what == "loss" else r"parameter 0 .*shape \(3, 4\)\) holds inf"
    if mode == "raise":
        with pytest.raises(NonFiniteError, match=expected):
            optimizer.step(closure)
    else:
        with pytest.warns(RuntimeWarning, match=expected):
            optimizer.step(closure)
        assert optimizer.skipped_steps == 1
    assert calls["n"] == spoil_at  # it stopped at the spoilt evaluation
    assert_same(snapshot(optimizer, params), before)


def test_lbfgs_first_step_refused_leaves_no_state():
    params = make_params()
    optimizer = optim.LBFGS(params)
    with pytest.raises(NonFiniteError):
        optimizer.step(_lbfgs_closure(optimizer, params, 1, "grad")[0])
    assert not optimizer.state and optimizer.state_dict()["state"] == {}


# --- Lookahead: a skipped step does not count towards k ---------------------------------------

def test_lookahead_does_not_count_skipped_steps():
    params = make_params()
    optimizer = optim.Lookahead(optim.SGD(params, lr=0.1), k=3, on_nonfinite="skip")
    assert optimizer.base_optimizer.on_nonfinite == "skip"
    run_step(optimizer, params)
    with pytest.warns(RuntimeWarning):
        run_step(optimizer, params, corrupt=_spoil(math.nan))
    assert optimizer.steps_since_sync == 1 and optimizer.skipped_steps == 1


# --- clip_grad_norm_ ------------------------------------------------------------------------

def _with_grad(values):
    p = mg.zeros(len(values), requires_grad=True)
    p.grad = mg.tensor(np.array(values, dtype=np.float32))
    return p


@pytest.mark.parametrize("values", [[math.inf, 1.0], [math.nan, 1.0]])
def test_clip_grad_norm_error_if_nonfinite_changes_nothing(values):
    p = _with_grad(values)
    with pytest.raises(RuntimeError, match="cannot be clipped"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.numpy(), np.array(values, dtype=np.float32))


@pytest.mark.parametrize("values, expected", [
    ([math.inf, 1.0], [math.nan, 0.0]),      # scaled by max_norm / inf = 0, as in PyTorch
    ([math.nan, 1.0], [math.nan, math.nan]),  # scaled by NaN, as in PyTorch
])
def test_clip_grad_norm_writes_nan_as_pytorch_but_warns(values, expected):
    p = _with_grad(values)
    with pytest.warns(RuntimeWarning, match="writes NaN into them"):
        norm = clip_grad_norm_([p], 1.0)
    assert not math.isfinite(norm.item())
    np.testing.assert_array_equal(p.grad.numpy(), np.array(expected, dtype=np.float32))


def test_clip_grad_norm_finite_norm_does_not_warn():
    p = _with_grad([3.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clip_grad_norm_([p], 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)


def test_an_optimizer_then_refuses_the_nan_that_clipping_wrote():
    params = make_params()
    optimizer = optim.SGD(params, lr=0.1)
    fill_grads(params)
    params[2].grad.array[...] = math.inf
    with pytest.warns(RuntimeWarning):
        clip_grad_norm_(params, 1.0)
    with pytest.raises(NonFiniteError, match="parameter 2 of param group 0"):
        optimizer.step()


def test_loss_helper_is_finite():
    assert math.isfinite(loss_of(make_params()).item())
