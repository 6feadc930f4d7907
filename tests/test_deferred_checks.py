"""Checks deferred to the next synchronisation (issue 10: no hidden host round trips on the GPU).

On "cuda" a check that would read an array's values on the host (cross_entropy's class range,
the probability ranges of the binary losses, clip_grad_norm_'s non-finite norm, the index
ranges of gather, index_select and embedding) runs on the device instead and is reported at the next synchronisation; BatchNorm1d's cumulative average
and clip_grad_norm_'s scaling never read a value. There is no GPU here, so these tests take the
deferred path on the CPU with ``backend.force_deferred_checks()``, and ``no_host_reads``
stands in for CuPy: the array module hands out 0-d arrays instead of host scalars (as CuPy
does) that refuse ``bool()``, ``int()``, ``float()``, ``.item()`` and ``.tolist()``.
"""
import contextlib
import math
import os
import re
import sys
import warnings

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import backend, nn, optim
from minigrad.optim.clip_grad import clip_grad_norm_
from tests.numpy_standin import ConvertingNumpy

HERE = os.path.basename(__file__)


@pytest.fixture(autouse=True)
def _nothing_pending():
    """No test starts or ends with a deferred check pending: none leaks into the next."""
    assert backend.pending_deferred_checks() == 0
    yield
    assert backend.pending_deferred_checks() == 0, "a deferred check leaked out of the test"


deferred = backend.force_deferred_checks


@pytest.fixture
def deferring(device):
    """A device whose checks are deferred: "cuda" defers by itself (where a GPU is present),
    "cpu" is forced to. Nothing may be left pending at the end."""
    with contextlib.nullcontext() if device == "cuda" else deferred():
        yield device


def _line():
    """The number of the caller's line."""
    return sys._getframe(1).f_lineno


# --- the facility -------------------------------------------------------------------------

def test_checks_are_deferred_on_cuda_and_where_forced_only():
    assert not backend.defers_checks("cpu") and backend.defers_checks("cuda")
    with deferred():
        assert backend.defers_checks("cpu")
        with deferred(False):
            assert not backend.defers_checks("cpu")
        assert backend.defers_checks("cpu")
    assert not backend.defers_checks("cpu")


def test_a_failed_check_raises_at_the_next_sync_naming_the_call():
    backend.defer_check(np.True_, ValueError, "f: x must be positive"); line = _line()
    assert backend.pending_deferred_checks() == 1
    with pytest.raises(ValueError, match=r"^f: x must be positive \(this check ran on the device") \
            as info:
        backend.flush_deferred_checks()
    assert f"{HERE}:{line}" in str(info.value)
    assert backend.pending_deferred_checks() == 0
    backend.flush_deferred_checks()  # not sticky: reported once


def test_a_passed_check_is_forgotten_without_building_its_message():
    built = []
    backend.defer_check(np.False_, ValueError, lambda: built.append(1) or "never")
    backend.defer_check(np.asarray(False), ValueError, lambda: built.append(1) or "never")
    backend.flush_deferred_checks()
    assert built == [] and backend.pending_deferred_checks() == 0


def test_a_failed_warning_check_warns_at_the_sync_attributed_to_the_call():
    backend.defer_check(np.True_, RuntimeWarning, lambda: "g: careful")
    with pytest.warns(RuntimeWarning, match="^g: careful") as record:
        backend.flush_deferred_checks()
    assert os.path.basename(record[0].filename) == HERE


def test_the_first_failed_check_raises_and_counts_the_others():
    backend.defer_check(np.False_, ValueError, "fine")
    backend.defer_check(np.True_, ValueError, "first")
    backend.defer_check(np.True_, TypeError, "second")
    backend.defer_check(np.True_, ValueError, "third")
    with pytest.raises(ValueError, match=r"^first .*; 2 more deferred checks failed as well$"):
        backend.flush_deferred_checks()
    assert backend.pending_deferred_checks() == 0


def test_too_many_pending_checks_are_examined_at_once(monkeypatch):
    monkeypatch.setattr(backend, "MAX_PENDING_CHECKS", 3)
    for _ in range(3):
        backend.defer_check(np.False_, ValueError, "fine")
    assert backend.pending_deferred_checks() == 3
    backend.defer_check(np.False_, ValueError, "fine")  # one too many: all are examined
    assert backend.pending_deferred_checks() == 0
    backend.defer_check(np.True_, ValueError, "bad")
    backend.defer_check(np.False_, ValueError, "fine")
    backend.defer_check(np.False_, ValueError, "fine")
    with pytest.raises(ValueError, match="^bad"):
        backend.defer_check(np.False_, ValueError, "fine")  # a sync, which reports
    assert backend.pending_deferred_checks() == 0


@pytest.mark.parametrize("sync", [
    lambda t: t.numpy(), lambda t: t.tolist(), repr, np.asarray,
    lambda t: backend.to_numpy(t.array), lambda t: mg.cuda.synchronize(),
    lambda t: t.sum().item(), lambda t: float(t.sum()),
    lambda t: mg.optim.SGD([mg.zeros(1, requires_grad=True)], lr=0.1).step(),
], ids=["numpy", "tolist", "repr", "__array__", "to_numpy", "cuda.synchronize", "item",
        "float", "optimizer.step"])
def test_reading_values_on_the_host_is_a_sync(sync):
    t = mg.tensor([1.0, 2.0])
    backend.defer_check(np.True_, ValueError, "reported")
    with pytest.raises(ValueError, match="^reported"):
        sync(t)


def test_leaving_the_forced_block_is_a_sync_or_discards_after_an_error():
    with pytest.raises(ValueError, match="^at the end"):
        with deferred():
            backend.defer_check(np.True_, ValueError, "at the end")
    with pytest.raises(KeyError):
        with deferred():
            backend.defer_check(np.True_, ValueError, "dropped")
            raise KeyError("the block's own error")


# --- cross_entropy and nll_loss -----------------------------------------------------------

BAD_TARGETS = [
    # loss, target, options, the message of the check at the call
    ("cross_entropy", [0, 1, 12, 2], {}, "cross_entropy: target contains class 12 but input has "
                                         "10 classes (valid: 0..9)"),
    ("cross_entropy", [0, 1, -1, 2], {}, "target contains class -1 "),
    ("cross_entropy", [0, -100, 10, 2], {}, "target contains class 10 "),
    ("cross_entropy", [0, 1, -100, 2], {"ignore_index": -1}, "target contains class -100 "),
    ("cross_entropy", [3, 1, 11, 3], {"ignore_index": 3, "label_smoothing": 0.1},
     "target contains class 11 "),
    ("nll_loss", [0, 1, 12, 2], {}, "nll_loss: target contains class 12 but input has 10 "
                                    "classes (valid: 0..9)"),
]


@pytest.mark.parametrize("loss, target, options, message", BAD_TARGETS)
def test_a_bad_target_raises_at_the_call_on_the_cpu(loss, target, options, message):
    x = mg.randn(4, 10)
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(F, loss)(x, mg.tensor(target), **options)


@pytest.mark.parametrize("loss, target, options, message", BAD_TARGETS)
def test_a_deferred_bad_target_is_reported_at_the_next_sync(loss, target, options, message,
                                                            deferring):
    x = mg.randn(4, 10, requires_grad=True, device=deferring)
    target = mg.tensor(target, device=deferring)
    out = getattr(F, loss)(x, target, **options); line = _line()  # no error at the call
    assert backend.pending_deferred_checks() == 1
    out.backward()
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        out.numpy()
    assert f"{HERE}:{line}" in str(info.value)
    assert math.isnan(out.numpy())  # the sync reported it once: now the value can be read
    # the bad sample's loss and gradient are NaN, so that no step can use them unnoticed
    target = target.tolist()
    bad = [i for i, c in enumerate(target) if c in (12, -1, 10, 11, -100) and
           c != options.get("ignore_index", -100)]
    grad = x.grad.numpy()
    assert np.isnan(grad[bad]).any(axis=1).all() and np.isfinite(np.delete(grad, bad, 0)).all()


def test_deferred_bad_targets_of_other_shapes(deferring):
    F.cross_entropy(mg.randn(10, device=deferring), mg.tensor(12, device=deferring))
    with pytest.raises(ValueError, match="target contains class 12 but input has 10 "):
        mg.cuda.synchronize()
    losses = F.cross_entropy(mg.randn(2, 3, 4, device=deferring),
                             mg.tensor([[0, 1, 2, 1], [2, 5, 0, 0]], device=deferring),
                             reduction="none")
    with pytest.raises(ValueError, match="target contains class 5 but input has 3 "):
        mg.cuda.synchronize()
    assert np.isnan(losses.numpy()[1, 1]) and np.isnan(losses.numpy()).sum() == 1


@pytest.mark.parametrize("dtype, classes, bad", [
    (mg.int8, 100, -1), (mg.int8, 100, 100), (mg.int8, 128, -128), (mg.int8, 200, -60),
    (mg.int16, 40000, -30000), (mg.int32, 7, 7), (mg.uint8, 7, 255), (mg.uint8, 300, None),
])
def test_deferred_class_range_in_every_integer_dtype(dtype, classes, bad, deferring):
    x = mg.randn(3, classes, device=deferring)
    top = min(classes - 1, np.iinfo(dtype).max)
    target = np.array([0, top, 0 if bad is None else bad], dtype=dtype)
    loss = F.cross_entropy(x, mg.tensor(target, device=deferring), ignore_index=-100)
    if bad is None:
        assert math.isfinite(loss.item())
    else:
        with pytest.raises(ValueError, match=f"target contains class {bad} but input has "
                                             f"{classes} classes"):
            mg.cuda.synchronize()
        with deferred(False), pytest.raises(ValueError, match=f"target contains class {bad} "):
            F.cross_entropy(x.cpu(), mg.tensor(target), ignore_index=-100)  # as at the call


def test_a_deferred_bad_target_cannot_update_a_model_unnoticed(deferring):
    model = nn.Linear(3, 4).to(deferring)
    before = [p.numpy().copy() for p in model.parameters()]
    opt = optim.SGD(model.parameters(), lr=0.1)
    target = mg.tensor([0, 1, 4, 2, 3], device=deferring)
    F.cross_entropy(model(mg.randn(5, 3, device=deferring)), target).backward()
    # the step reports the pending check (the bad target) before it changes anything
    with pytest.raises(ValueError, match="target contains class 4 "):
        opt.step()
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)


W = [1.0, 2.0, 0.5, 3.0, 1.5]
GOOD_TARGETS = [
    # target, options
    ([0, 1, 2, 3, 4, 0], {}),
    ([0, 1, 2, 3, 4, 0], {"weight": W}),
    ([0, 1, 2, 3, 4, 0], {"label_smoothing": 0.2}),
    ([0, 1, 2, 3, 4, 0], {"weight": W, "label_smoothing": 0.2, "reduction": "sum"}),
    ([0, 1, -100, 3, -100, 0], {}),
    ([0, 1, -100, 3, -100, 0], {"weight": W, "reduction": "none"}),
    ([0, 3, 2, 3, 4, 3], {"ignore_index": 3}),
    ([0, 3, 2, 3, 4, 3], {"ignore_index": 3, "weight": W, "label_smoothing": 0.1}),
    ([-100] * 6, {}),  # a mean over nothing: NaN, with zero gradient
    ([-100] * 6, {"weight": W}),
    ([0, 1, 0, 1, 1, 0], {"weight": [0.0, 0.0, 1.0, 2.0, 3.0]}),  # a total weight of 0
    ([0, 1, 0, 1, 1, 0], {"weight": [0.0, 0.0, 1.0, 2.0, 3.0], "label_smoothing": 0.1}),
]


def _loss_and_grad(loss, logits, target, options, dtype):
    options = dict(options)
    if "weight" in options:
        options["weight"] = mg.tensor(options["weight"], dtype=dtype)
    x = mg.tensor(logits, dtype=dtype, requires_grad=True)
    out = getattr(F, loss)(x, mg.tensor(target), **options)
    out.sum().backward()
    return out.numpy(), x.grad.numpy()


@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("target, options", GOOD_TARGETS)
def test_deferred_checks_of_good_targets_change_no_bit(loss, target, options, dtype):
    if loss == "nll_loss" and "label_smoothing" in options:
        pytest.skip("nll_loss has no label smoothing")
    logits = np.random.default_rng(0).standard_normal((6, 5)) * 3
    expected = _loss_and_grad(loss, logits, target, options, dtype)
    with deferred(), warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _loss_and_grad(loss, logits, target, options, dtype)
        assert backend.pending_deferred_checks() == 0  # examined by .numpy(): all passed
    for e, g in zip(expected, got):
        assert e.dtype == g.dtype
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("shape, target", [((5,), 3), ((2, 5, 3), [[0, 4, 1], [2, -100, 3]])])
def test_deferred_checks_of_good_targets_of_other_shapes_change_no_bit(shape, target):
    logits = np.random.default_rng(1).standard_normal(shape)
    expected = _loss_and_grad("cross_entropy", logits, target, {}, mg.float32)
    with deferred():
        got = _loss_and_grad("cross_entropy", logits, target, {}, mg.float32)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


# --- the probability ranges of the binary losses ------------------------------------------

RANGE_CASES = [
    (lambda x, t: F.binary_cross_entropy(x, t), [0.2, 0.9, 0.5], [0.0, 1.5, 1.0],
     "binary_cross_entropy: target must be in [0, 1], got values from 0 to 1.5"),
    (lambda x, t: F.binary_cross_entropy(t, x), [0.2, 0.9, 0.5], [0.0, -0.5, 1.0],
     "binary_cross_entropy: input (probabilities) must be in [0, 1], got values from -0.5 to 1"),
    (lambda x, t: F.binary_cross_entropy_with_logits(x, t), [2.0, -1.0, 0.5], [0.0, math.nan, 1],
     "binary_cross_entropy_with_logits: target must be in [0, 1], got values from nan to nan"),
    (lambda x, t: F.kl_div(x, t, reduction="batchmean"), [-1.0, -2.0, -0.5], [0.5, -0.25, 0.75],
     "kl_div: target (probabilities; pass log_target=True for log-probabilities) must be >= 0, "
     "got values from -0.25 to 0.75"),
    (lambda x, t: F.cross_entropy(x.reshape(1, 3), t.reshape(1, 3)), [2.0, -1.0, 0.5],
     [0.5, 1.25, -0.75], "cross_entropy: target (class probabilities) must be in [0, 1], got "
                         "values from -0.75 to 1.25"),
]


@pytest.mark.parametrize("call, x, t, message", RANGE_CASES)
def test_a_value_out_of_range_raises_at_the_call_on_the_cpu(call, x, t, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call(mg.tensor(x), mg.tensor(t))


@pytest.mark.parametrize("call, x, t, message", RANGE_CASES)
def test_a_deferred_value_out_of_range_is_reported_at_the_next_sync(call, x, t, message,
                                                                   deferring):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "invalid value", RuntimeWarning)  # log of -0.5
        out = call(mg.tensor(x, requires_grad=True, device=deferring),
                   mg.tensor(t, device=deferring))
    with pytest.raises(ValueError, match=re.escape(message)):
        mg.cuda.synchronize()
    out.numpy()


@pytest.mark.parametrize("call, x, t, message", RANGE_CASES)
def test_deferred_checks_of_values_in_range_change_no_bit(call, x, t, message):
    t = np.clip(np.nan_to_num(t, nan=0.5), 0, 1)
    x = np.clip(x, 0.01, 0.99) if "input (prob" in message else x
    expected = call(mg.tensor(x), mg.tensor(t)).numpy()
    with deferred():
        np.testing.assert_array_equal(call(mg.tensor(x), mg.tensor(t)).numpy(), expected)


# --- clip_grad_norm_ ----------------------------------------------------------------------

def _grads(dtype, scale=1.0):
    rng = np.random.default_rng(2)
    params = []
    for shape in [(3, 4), (5,), (2, 2, 2)]:
        p = mg.zeros(*shape, requires_grad=True, dtype=dtype)
        p.grad = mg.tensor(rng.standard_normal(shape) * scale, dtype=dtype)
        params.append(p)
    return params


@pytest.mark.parametrize("dtype", [mg.float16, mg.float32, mg.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.3, 1.0, 1e4])
def test_deferred_clip_grad_norm_changes_no_bit(max_norm, norm_type, dtype):
    expected = _grads(dtype)
    total = clip_grad_norm_(expected, max_norm, norm_type)
    got = _grads(dtype)
    with deferred():
        total_got = clip_grad_norm_(got, max_norm, norm_type)
        assert backend.pending_deferred_checks() == 1  # the non-finite warning's
    assert total_got.dtype == total.dtype and total_got.item() == total.item()
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g.grad.numpy(), e.grad.numpy())


@pytest.mark.parametrize("values, expected", [
    ([math.inf, 1.0], [math.nan, 0.0]),      # scaled by max_norm / inf = 0, as in PyTorch
    ([math.nan, 1.0], [math.nan, math.nan]),  # scaled by NaN, as in PyTorch
])
def test_a_deferred_nonfinite_norm_warns_at_the_next_sync(values, expected, deferring):
    p = mg.zeros(2, requires_grad=True, device=deferring)
    p.grad = mg.tensor(values, device=deferring)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norm = clip_grad_norm_([p], 1.0)  # no warning yet
    with pytest.warns(RuntimeWarning, match=r"^clip_grad_norm_: .* writes NaN into them") \
            as record:
        mg.cuda.synchronize()
    assert os.path.basename(record[0].filename) == HERE
    assert not math.isfinite(norm.item())
    np.testing.assert_array_equal(p.grad.numpy(), np.array(expected, dtype=np.float32))


def test_deferred_clip_grad_norm_with_error_if_nonfinite_still_raises_at_the_call(deferring):
    # as in PyTorch, error_if_nonfinite=True reads the norm (a sync): nothing is changed
    p = mg.zeros(2, requires_grad=True, device=deferring)
    p.grad = mg.tensor([math.nan, 1.0], device=deferring)
    with pytest.raises(RuntimeError, match="cannot be clipped"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert backend.pending_deferred_checks() == 0
    np.testing.assert_array_equal(p.grad.numpy(), np.array([math.nan, 1.0], dtype=np.float32))


# --- BatchNorm1d --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
@pytest.mark.parametrize("momentum", [None, 0.1])
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5)])
def test_deferred_batchnorm_changes_no_bit(shape, momentum, dtype):
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal(shape) * 2 + k for k in range(4)]

    def run():
        bn = nn.BatchNorm1d(3, momentum=momentum, dtype=dtype)
        outs = [bn(mg.tensor(x, dtype=dtype)).numpy() for x in batches]
        return outs + [bn.running_mean.numpy(), bn.running_var.numpy(),
                       bn.num_batches_tracked.numpy()]
    expected = run()
    with deferred():
        got = run()
        assert backend.pending_deferred_checks() == 0
    for e, g in zip(expected, got):
        assert e.dtype == g.dtype
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("momentum", [None, 0.1])
def test_batchnorm_on_the_device_follows_the_cpu(momentum, deferring):
    batches = [np.random.default_rng(k).standard_normal((8, 3)) + k for k in range(4)]
    bns = [nn.BatchNorm1d(3, momentum=momentum).double().to(d) for d in ("cpu", deferring)]
    for x in batches:
        outs = [bn(mg.tensor(x, device=bn.weight.device)).numpy() for bn in bns]
        np.testing.assert_allclose(outs[1], outs[0], rtol=1e-12, atol=1e-12)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        a, b = (getattr(bn, name).numpy() for bn in bns)
        np.testing.assert_allclose(b, a, rtol=1e-12)


# --- no host reads on the deferred paths --------------------------------------------------

def _refused(name):
    def method(self, *args):
        if _DeviceArray.armed:
            raise AssertionError(f"a host read ({name}) on a path that must not sync")
        return getattr(np.ndarray, name)(self.view(np.ndarray), *args)
    return method


class _DeviceArray(np.ndarray):
    """A NumPy array that, like a CuPy array seen from the host, may not be read there."""
    armed = False
    __bool__, __int__, __float__ = _refused("__bool__"), _refused("__int__"), _refused("__float__")
    __index__, item, tolist = _refused("__index__"), _refused("item"), _refused("tolist")


def _on_device(x):
    if isinstance(x, (np.ndarray, np.generic)) and not isinstance(x, _DeviceArray) and \
            x.dtype.kind in "biuf":
        return np.asarray(x).view(_DeviceArray)  # 0-d arrays, not host scalars, as CuPy's
    return x


def _device_numpy():
    """NumPy whose functions return _DeviceArray: a stand-in for CuPy."""
    return ConvertingNumpy("device_numpy", _on_device)


def _to_device(t):
    t.array = t.array.view(_DeviceArray)
    return t


@pytest.fixture
def no_host_reads(monkeypatch):
    """A context manager: inside, the array module is the stand-in for CuPy and arrays made
    "device" arrays (with ``_to_device``) or computed from them refuse to be read on the host."""
    stand_in, real = _device_numpy(), backend.xp

    @contextlib.contextmanager
    def armed():
        monkeypatch.setattr(backend, "xp", lambda device: stand_in if device == "cpu" else
                            real(device))
        _DeviceArray.armed = True
        try:
            yield
        finally:
            _DeviceArray.armed = False
            monkeypatch.setattr(backend, "xp", real)
            backend.discard_deferred_checks()  # their flags are refused too: not tested here
    return armed


# --- index ranges: gather, index_select, embedding -----------------------------------------

BAD_INDICES = [
    (lambda x, i: mg.gather(x, 1, i.reshape(2, 2)), [0, 3, 5, 1],
     "gather: index 5 is out of bounds for dimension 1 with size 4"),
    (lambda x, i: mg.index_select(x, 0, i), [0, -1, 2, 1],
     "index_select: index -1 is out of bounds for dimension 0 with size 3"),
    (lambda x, i: F.embedding(i, x), [2, 0, 3, 1],
     "embedding: index 3 is out of range for 3 embeddings (valid: 0..2)"),
]


@pytest.mark.parametrize("op, index, message", BAD_INDICES)
def test_an_index_out_of_range_raises_at_the_call_on_the_cpu(op, index, message):
    with pytest.raises(IndexError, match=re.escape(message)):
        op(mg.randn(3, 4, requires_grad=True), mg.tensor(index))


@pytest.mark.parametrize("op, index, message", BAD_INDICES)
def test_a_deferred_index_out_of_range_is_reported_at_the_next_sync(op, index, message,
                                                                    deferring):
    x = mg.randn(3, 4, requires_grad=True, device=deferring)
    out = op(x, mg.tensor(index, device=deferring))  # no error at the call
    out.sum().backward()  # the clamped index keeps every read and write inside the arrays
    with pytest.raises(IndexError, match=re.escape(message)) as info:
        mg.cuda.synchronize() if deferring == "cuda" else backend.flush_deferred_checks()
    assert f"{HERE}:{op.__code__.co_firstlineno}" in str(info.value)  # the call, in op
    assert np.isfinite(out.numpy()).all() and np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("op, index, message", BAD_INDICES)
def test_deferred_checks_of_indices_in_range_change_no_bit(op, index, message):
    good = mg.tensor([min(max(i, 0), 2) for i in index])
    values = []
    for context in (contextlib.nullcontext, deferred):
        x = mg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
        with context():
            out = op(x, good)
            out.sum().backward()
        values.append((out.numpy(), x.grad.numpy()))
    (out_now, grad_now), (out_deferred, grad_deferred) = values
    np.testing.assert_array_equal(out_now, out_deferred)
    np.testing.assert_array_equal(grad_now, grad_deferred)


def _index_steps():
    x = _to_device(mg.randn(3, 4, requires_grad=True))
    i = _to_device(mg.tensor([0, 2, 1, 2]))
    return [lambda op=op: op(x, i).sum().backward() for op, _, _ in BAD_INDICES]


def _cross_entropy_steps():
    x = _to_device(mg.randn(6, 5, requires_grad=True))
    t = _to_device(mg.tensor([0, 1, -100, 3, 4, 12]))
    w = _to_device(mg.tensor(W))
    return [lambda: F.cross_entropy(x, t).backward(),
            lambda: F.cross_entropy(x, t, w, label_smoothing=0.1).backward(),
            lambda: F.cross_entropy(x, t, ignore_index=3, reduction="sum").backward(),
            lambda: F.nll_loss(x, t).backward(),
            lambda: F.nll_loss(x, t, w, reduction="none").sum().backward()]


def _range_steps():
    x = _to_device(mg.tensor([0.2, 0.9, 0.5], requires_grad=True))
    t = _to_device(mg.tensor([0.0, 1.5, 1.0]))
    return [lambda: F.binary_cross_entropy(x, t).backward(),
            lambda: F.binary_cross_entropy_with_logits(x, t).backward(),
            lambda: F.kl_div(x, t, reduction="batchmean").backward(),
            lambda: F.cross_entropy(x.reshape(1, 3), t.reshape(1, 3)).backward()]


def _clip_steps():
    params = _grads(mg.float32) + _grads(mg.float64)
    for p in params:
        _to_device(p.grad)
    nonfinite = mg.zeros(2, requires_grad=True)
    nonfinite.grad = _to_device(mg.tensor([math.inf, 1.0]))
    return [lambda: clip_grad_norm_(params, 0.5), lambda: clip_grad_norm_(params, 1e6, 1.0),
            lambda: clip_grad_norm_(params, 0.5, math.inf), lambda: clip_grad_norm_(nonfinite, 1)]


def _batchnorm_steps():
    bn = nn.BatchNorm1d(3, momentum=None)
    _to_device(bn.num_batches_tracked)
    x = _to_device(mg.randn(4, 3, requires_grad=True))
    return [lambda: bn(x), lambda: bn(x).sum().backward()]


@pytest.mark.parametrize("steps", [_cross_entropy_steps, _range_steps, _clip_steps,
                                   _batchnorm_steps, _index_steps])
def test_deferred_paths_read_nothing_on_the_host(steps, no_host_reads):
    calls = steps()
    with deferred(), no_host_reads():
        for call in calls:
            call()


@pytest.mark.parametrize("steps", [_cross_entropy_steps, _range_steps, _batchnorm_steps,
                                   _index_steps])
def test_the_stand_in_catches_the_host_reads_of_the_cpu_path(steps, no_host_reads):
    call = steps()[0]
    with no_host_reads(), pytest.raises(AssertionError, match="host read"):
        call()



# --- the optimizer's step: one read of the device -----------------------------------------

def _optimizer_steps():
    """SGD over small parameters (concatenated for the test) and a large one (reduced in
    place), each gradient on the "device"; a bad target's check pending from the loss."""
    shapes = [(3, 4), (5,), (200, 60)]  # 12,000 entries: the large one
    params = [mg.zeros(*shape, requires_grad=True) for shape in shapes]
    for k, p in enumerate(params):
        p.grad = _to_device(mg.full(shape=p.shape, fill_value=0.5 + k))
    opt = optim.SGD(params, lr=0.1, momentum=0.9, flat=False)
    x = _to_device(mg.randn(6, 5, requires_grad=True))
    t = _to_device(mg.tensor([0, 1, 2, 3, 4, 0]))
    return params, opt, lambda: F.cross_entropy(x, t).backward()


def _counting_reads(monkeypatch):
    """backend's one copy of device flags, counted, and allowed to read the stand-in."""
    reads, real = [], backend._read_flags

    def read(pending):
        reads.append(len(pending))
        armed, _DeviceArray.armed = _DeviceArray.armed, False
        try:
            return real(pending)
        finally:
            _DeviceArray.armed = armed
    monkeypatch.setattr(backend, "_read_flags", read)
    return reads


def test_an_optimizer_step_reads_the_device_once(no_host_reads, monkeypatch):
    """Where checks are deferred, step() computes its test of the gradients on the device
    and reads it in the same copy as the pending checks' flags: one read a step (the CPU
    path reads each large gradient's sum on its own)."""
    params, opt, loss = _optimizer_steps()
    reads = _counting_reads(monkeypatch)
    with deferred(), no_host_reads():
        for expected in (2, 1):  # the pending check and the gradients' flag; then the flag
            if expected == 2:
                loss()
            opt.step()
            assert reads[-1] == expected
        assert len(reads) == 2  # one read a step, nothing else read on the host
    np.testing.assert_allclose(params[2].numpy(), -0.1 * 2.5 * (1 + 1.9))


@pytest.mark.parametrize("mode", ["raise", "skip"])
@pytest.mark.parametrize("where", [(0, (1, 2)), (2, (7, 3))])  # batched; reduced in place
def test_a_nonfinite_gradient_found_on_the_device_changes_nothing(mode, where):
    """(Once the device's flag says so, the parameter at fault is looked for on the host.)"""
    params, opt, _ = _optimizer_steps()
    opt.on_nonfinite = mode
    index, entry = where
    params[index].grad.array[entry] = np.nan
    with deferred():
        if mode == "raise":
            with pytest.raises(optim.NonFiniteError, match=f"parameter {index} "):
                opt.step()
        else:
            with pytest.warns(RuntimeWarning, match="skipped"):
                opt.step()
    assert all(not p.numpy().any() for p in params) and not opt.state


def test_a_failed_deferred_check_raises_at_the_step_before_any_update():
    params, opt, _ = _optimizer_steps()
    x = mg.randn(6, 5, requires_grad=True)
    bad = mg.tensor([0, 1, 2, 3, 9, 0])
    with deferred():
        F.cross_entropy(x, bad).backward()
        with pytest.raises(ValueError, match="target contains class 9"):
            opt.step()
    assert all(not p.numpy().any() for p in params) and not opt.state
