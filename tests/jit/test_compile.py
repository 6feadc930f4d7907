"""mg.compile: a replayed step is bit-identical to eager minigrad, and every case a replay
cannot reproduce falls back (retraces, or stays eager with a warning)."""
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim


def _build(seed, sizes=(64, 128, 128, 10), opt="sgd", norms=False, dropout=0.0,
           lr=0.05, scheduler=False, flat=True):
    """A model, its optimizer and a training step (made the same way twice = twins)."""
    mg.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if norms:
                layers.append(nn.BatchNorm1d(b) if i == 0 else nn.LayerNorm(b))
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    model = nn.Sequential(*layers)
    if opt == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=lr, momentum=0.9, flat=flat)
    else:
        optimizer = optim.Adam(model.parameters(), lr=1e-3, flat=flat)
    sched = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5) if scheduler else None
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return model, optimizer, step, sched


def _batches(n, batch=64, features=64, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield (mg.from_numpy(rng.standard_normal((batch, features)).astype(np.float32)),
               mg.from_numpy(rng.integers(0, classes, batch)))


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        np.array_equal(sa[k].numpy(), sb[k].numpy()) for k in sa)


def _run_twins(steps=12, batches=None, **options):
    """Train an eager model and a compiled twin side by side; assert bit-identity after
    every step. Returns the compiled step."""
    model_e, _, eager, sched_e = _build(1, **options)
    model_c, _, step, sched_c = _build(1, **options)
    compiled = mg.compile(step)
    for i, (x, y) in enumerate(batches if batches is not None else _batches(steps)):
        mg.manual_seed(100 + i)
        loss_e = eager(x, y)
        mg.manual_seed(100 + i)
        loss_c = compiled(x, y)
        assert loss_e.numpy().tobytes() == loss_c.numpy().tobytes(), f"loss differs at step {i}"
        assert _same_state(model_e, model_c), f"parameters differ after step {i}"
        for p, q in zip(model_e.parameters(), model_c.parameters()):
            assert (p.grad is None) == (q.grad is None)
            if p.grad is not None:
                assert np.array_equal(p.grad.numpy(), q.grad.numpy())
        if sched_e is not None:
            sched_e.step()
            sched_c.step()
    return compiled


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_replay_is_bit_identical_to_eager(opt):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: it really compiled
        compiled = _run_twins(opt=opt)
    assert compiled.disabled is None
    assert compiled.stats["replay"] >= 9 and compiled.stats["verify"] == 1


def test_the_tiny_network_replays_too():
    batches = list(_batches(10, batch=32, features=2, classes=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled = _run_twins(batches=batches, sizes=(2, 16, 16, 2))
    assert compiled.stats["replay"] >= 7


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_batchnorm_layernorm_and_dropout_replay_exactly(opt):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled = _run_twins(opt=opt, norms=True, dropout=0.3)
    assert compiled.stats["replay"] >= 9


def test_dropout_draws_a_fresh_mask_every_replay():
    mg.manual_seed(0)
    drop = nn.Dropout(0.5)
    compiled = mg.compile(lambda x: drop(x) * 1.0)
    x = mg.ones(1000)
    masks = [compiled(x).numpy() for _ in range(6)]
    assert compiled.stats["replay"] >= 3
    assert all(not np.array_equal(masks[i], masks[i + 1]) for i in range(5))
    mg.manual_seed(7)
    first = compiled(x).numpy()
    mg.manual_seed(7)
    assert np.array_equal(first, compiled(x).numpy())  # same seed, same mask


def test_a_changed_batch_size_retraces_and_stays_identical():
    sizes = [64, 64, 40, 64, 40, 64, 40, 64, 40, 64]
    batches = [next(_batches(1, batch=n, seed=k)) for k, n in enumerate(sizes)]
    compiled = _run_twins(batches=batches)
    assert len(compiled._cache) == 2
    assert compiled.stats["replay"] >= 4


def test_requires_grad_flip_mid_training():
    model_e, _, eager, _ = _build(1)
    model_c, _, step, _ = _build(1)
    compiled = mg.compile(step)
    for i, (x, y) in enumerate(_batches(14)):
        if i == 6:
            model_e[0].requires_grad_(False)
            model_c[0].requires_grad_(False)
            frozen = model_c[0].weight.numpy().copy()
        if i == 11:
            model_e[0].requires_grad_(True)
            model_c[0].requires_grad_(True)
        eager(x, y)
        compiled(x, y)
        assert _same_state(model_e, model_c), f"parameters differ after step {i}"
        if 6 <= i < 11:
            assert np.array_equal(model_c[0].weight.numpy(), frozen)
    assert compiled.stats["replay"] >= 6
    assert compiled.disabled is None


def test_a_scheduler_changing_lr_between_steps_is_followed():
    compiled = _run_twins(steps=12, scheduler=True)
    assert compiled.stats["replay"] >= 9


def test_replacing_a_parameters_data_retraces():
    model_e, _, eager, _ = _build(1)
    model_c, _, step, _ = _build(1)
    compiled = mg.compile(step)
    for i, (x, y) in enumerate(_batches(8)):
        if i == 4:
            for model in (model_e, model_c):
                model[2].weight.data = mg.zeros(128, 128)
        eager(x, y)
        compiled(x, y)
        assert _same_state(model_e, model_c), f"parameters differ after step {i}"
    assert compiled.stats["trace"] >= 3


def test_data_dependent_control_flow_is_not_replayed():
    model_e, opt_e, _, _ = _build(1)
    model_c, opt_c, _, _ = _build(1)
    loss_fn = nn.CrossEntropyLoss()

    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            if loss > 2.3:  # a host read of a value that depends on the parameters
                loss = loss * 2
            loss.backward()
            opt.step()
            return loss
        return step
    eager, compiled = make(model_e, opt_e), mg.compile(make(model_c, opt_c))
    with pytest.warns(RuntimeWarning, match="read back to Python"):
        for x, y in _batches(6):
            assert np.array_equal(eager(x, y).numpy(), compiled(x, y).numpy())
    assert compiled.disabled is not None and compiled.stats["replay"] == 0
    assert _same_state(model_e, model_c)


def test_an_array_made_behind_the_tracers_back_is_not_baked_in():
    outside = np.random.default_rng(3)  # a NumPy generator minigrad does not own
    w = nn.Parameter(mg.ones(5))
    opt = optim.SGD([w], lr=0.1)

    def step(x):
        opt.zero_grad()
        noise = mg.from_numpy(outside.random(5).astype(np.float32))
        loss = (w * x * noise).sum()
        loss.backward()
        opt.step()
        return loss
    compiled = mg.compile(step)
    with pytest.warns(RuntimeWarning, match="does not see"):
        losses = [compiled(mg.ones(5)).item() for _ in range(5)]
    assert compiled.disabled is not None
    assert len(set(losses)) == 5  # fresh noise every call: eager all along


def test_the_returned_loss_is_a_copy_that_can_be_kept():
    _, _, step, _ = _build(1)
    compiled = mg.compile(step)
    kept = [compiled(x, y) for x, y in _batches(6)]
    values = [k.item() for k in kept]
    assert compiled.stats["replay"] >= 3
    assert len(set(values)) == 6
    assert all(not k.requires_grad for k in kept)


def test_eval_mode_and_no_grad_are_guarded():
    model, _, _, _ = _build(1, norms=True, dropout=0.5)
    compiled = mg.compile(lambda x: model(x))
    x = next(_batches(1))[0]
    for _ in range(3):
        compiled(x)
    model.eval()
    with mg.no_grad():
        expected = model(x).numpy()
        got = [compiled(x).numpy() for _ in range(3)]
    assert all(np.array_equal(expected, g) for g in got)
    assert compiled.stats["trace"] >= 3


def test_cuda_and_non_tensor_arguments_run_eagerly():
    compiled = mg.compile(lambda x, k: x * k)
    with pytest.warns(RuntimeWarning, match="argument of type"):
        assert compiled(mg.ones(2), [1.0]) is not None
    assert compiled.stats["eager"] == 1


# --- Python variables the step reads are guarded, not baked in ------------------------------

SCALE = 1.0  # a global the step multiplies by (changed by the tests below)


def _scaled_step(model, opt, loss_fn):
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x) * SCALE, y)
        loss.backward()
        opt.step()
        return loss
    return step


def _run_pairs(eager, compiled, models, change, steps=10):
    """Run ``eager`` and ``compiled`` on the same batches, calling ``change(i)`` before each
    step; assert bit-identity of the losses and parameters after every step."""
    for i, (x, y) in enumerate(_batches(steps)):
        change(i)
        loss_e, loss_c = eager(x, y), compiled(x, y)
        assert loss_e.numpy().tobytes() == loss_c.numpy().tobytes(), f"loss differs at step {i}"
        assert _same_state(*models), f"parameters differ after step {i}"


def test_a_global_number_changed_between_calls_is_followed():
    global SCALE
    model_e, opt_e, _, _ = _build(1)
    model_c, opt_c, _, _ = _build(1)
    loss_fn = nn.CrossEntropyLoss()
    eager = _scaled_step(model_e, opt_e, loss_fn)
    compiled = mg.compile(_scaled_step(model_c, opt_c, loss_fn))
    scales = {0: 1.0, 5: 3.0, 7: 1.0, 8: -0.5}

    def change(i):
        global SCALE
        SCALE = scales.get(i, SCALE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _run_pairs(eager, compiled, (model_e, model_c), change)
    finally:
        SCALE = 1.0
    assert compiled.stats["replay"] >= 3 and compiled.disabled is None


def test_a_closure_variable_changed_between_calls_is_followed():
    def make(model, opt):
        loss_fn = nn.CrossEntropyLoss()
        temperature = 1.0

        def step(x, y):
            opt.zero_grad()
            loss = loss_fn(model(x) / temperature, y)
            loss.backward()
            opt.step()
            return loss

        def set_temperature(value):
            nonlocal temperature
            temperature = value
        return step, set_temperature
    model_e, opt_e, _, _ = _build(1)
    model_c, opt_c, _, _ = _build(1)
    eager, set_e = make(model_e, opt_e)
    step, set_c = make(model_c, opt_c)
    compiled = mg.compile(step)
    temperatures = {4: 2.0, 6: 0.5, 9: 2.0}

    def change(i):
        if i in temperatures:
            set_e(temperatures[i])
            set_c(temperatures[i])
    _run_pairs(eager, compiled, (model_e, model_c), change)
    assert compiled.stats["replay"] >= 3 and compiled.disabled is None


def test_equal_numbers_keep_replaying_but_a_signed_zero_does_not():
    from minigrad.jit.guards import same
    assert same(0.5, float("0.5")) and same((1, "a"), (1, "a"))
    assert not same(0.0, -0.0) and not same(1, True) and not same(1, 1.0)
    holder = {"scale": 0.0}
    x = mg.ones(3)

    def step(t):
        return t * holder["scale"]
    compiled = mg.compile(step)
    for _ in range(4):
        compiled(x)
    holder["scale"] = float("0.0")  # another object, the same bits: still replayed
    compiled(x)
    assert compiled.stats["replay"] == 3
    holder["scale"] = -0.0
    assert np.signbit(compiled(x).numpy()).all()  # eager's -0.0, not the traced 0.0
    by_argument = mg.compile(lambda t, k: t * k)
    for _ in range(4):
        by_argument(x, 0.0)
    assert np.signbit(by_argument(x, -0.0).numpy()).all()  # another key, not a replay


def _replays_agree(compiled, x, eager, calls=4):
    """Call ``compiled(x)`` a few times (a new trace is trusted only from its third call),
    each time comparing it bit for bit with ``eager(x)``."""
    for _ in range(calls):
        assert compiled(x).numpy().tobytes() == eager(x).numpy().tobytes()


def test_a_rebound_model_and_a_helpers_global_are_followed():
    global SHIFT
    mg.manual_seed(0)
    first, second = nn.Linear(4, 2), nn.Linear(4, 2)
    models = {"now": first}
    x = mg.ones(3, 4)

    def shifted(t):
        return t + SHIFT

    def run(t):
        return shifted(models["now"](t))
    compiled = mg.compile(run)
    SHIFT = 0.0
    try:
        _replays_agree(compiled, x, run)
        models["now"] = second
        _replays_agree(compiled, x, run)
        SHIFT = 2.0
        _replays_agree(compiled, x, run)
    finally:
        del SHIFT
    assert compiled.stats["replay"] >= 6


class _ScaledNet(nn.Module):
    """A custom module whose forward reads a global."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, t):
        return self.fc(t) * SCALE


def test_a_modules_forward_reading_a_global_is_guarded():
    global SCALE
    model = _ScaledNet()
    compiled = mg.compile(lambda t: model(t))
    x = mg.ones(3, 4)
    try:
        _replays_agree(compiled, x, model)
        SCALE = 5.0
        _replays_agree(compiled, x, model)
    finally:
        SCALE = 1.0
    assert compiled.stats["replay"] >= 4


def test_defaults_and_config_attributes_are_guarded():
    class Config:
        pass

    cfg = Config()
    cfg.scale = 1.0
    x = mg.ones(3)

    def step(t, power=1.0):
        return (t * cfg.scale) ** power
    compiled = mg.compile(step)
    _replays_agree(compiled, x, step)
    cfg.scale = 3.0
    _replays_agree(compiled, x, step)
    step.__defaults__ = (2.0,)
    _replays_agree(compiled, x, step)
    assert compiled(x).numpy()[0] == 9.0 and compiled.stats["replay"] >= 6


def test_a_step_that_changes_its_own_global_runs_eagerly():
    global COUNTER
    COUNTER = 0
    x = mg.ones(2)

    def step(t):
        global COUNTER
        COUNTER += 1
        return t * COUNTER
    compiled = mg.compile(step)
    try:
        with pytest.warns(RuntimeWarning, match="the global 'COUNTER'"):
            results = [compiled(x).numpy()[0] for _ in range(5)]
        assert results == [1.0, 2.0, 3.0, 4.0, 5.0] and COUNTER == 5
        assert compiled.disabled is not None
    finally:
        del COUNTER


def test_a_replaced_submodule_is_followed():
    model = _ScaledNet()
    compiled = mg.compile(lambda t: model(t))
    x = mg.ones(3, 4)
    _replays_agree(compiled, x, model)
    model.fc = nn.Linear(4, 2)  # the old layer's parameters are unchanged: only the module knows
    _replays_agree(compiled, x, model)
    assert compiled.stats["replay"] >= 4


def test_a_variant_whose_guard_fails_is_skipped_without_a_snapshot(monkeypatch):
    import minigrad.jit as jit
    _, _, step, _ = _build(1)
    compiled = mg.compile(step)
    x, y = next(_batches(1))
    other = mg.from_numpy(np.zeros(64, dtype=np.int64))  # another target range: another variant
    compiled(x, other)
    for _ in range(4):
        compiled(x, y)
    taken = []
    monkeypatch.setattr(jit, "Snapshot", lambda program: taken.append(program))
    for _ in range(3):
        compiled(x, y)  # the untrusted variant's guard fails before anything is saved
    assert taken == [] and compiled.stats["replay"] >= 5


# --- gradients: one copy per flat chunk when it can take them, the engine's way otherwise -----

def _grad_twins(make_step, steps=8, between=lambda i, model: None, flat=True):
    """An eager model and a compiled twin trained by ``make_step(model, opt)``; ``between``
    runs before each step on both. Asserts bit-identity of losses, parameters and grads."""
    pairs = []
    for _ in range(2):
        model, opt, _, _ = _build(1, sizes=(8, 16, 4), flat=flat)
        pairs.append((model, make_step(model, opt)))
    (model_e, eager), (model_c, step) = pairs
    compiled = mg.compile(step)
    for i, (x, y) in enumerate(_batches(steps, features=8, classes=4)):
        between(i, model_e)
        between(i, model_c)
        assert eager(x, y).numpy().tobytes() == compiled(x, y).numpy().tobytes(), f"step {i}"
        assert _same_state(model_e, model_c), f"parameters differ after step {i}"
        for p, q in zip(model_e.parameters(), model_c.parameters()):
            assert (p.grad is None) == (q.grad is None)
            if p.grad is not None:
                assert p.grad.numpy().tobytes() == q.grad.numpy().tobytes()
    assert compiled.stats["replay"] >= steps - 4 and compiled.disabled is None
    return compiled


def _step_with(zero_first=True, set_to_none=True):
    loss_fn = nn.CrossEntropyLoss()

    def make(model, opt):
        def step(x, y):
            if zero_first:
                opt.zero_grad(set_to_none=set_to_none)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return step
    return make


@pytest.mark.parametrize("flat", [True, False])
def test_a_gradient_kept_from_an_earlier_step_keeps_its_values(flat):
    kept = {}

    def keep_then_forget(i, model):
        """Hold every .grad, then drop them by hand (not through zero_grad): the memory
        they are in must not be written by the next backward."""
        held = kept.setdefault(id(model), [])
        for p in model.parameters():
            if p.grad is not None:
                held.append((p.grad, p.grad.numpy().copy()))
            p.grad = None
    _grad_twins(_step_with(zero_first=False), between=keep_then_forget, flat=flat)
    for held in kept.values():
        assert len(held) > 20
        for grad, values in held:
            assert np.array_equal(grad.numpy(), values)


@pytest.mark.parametrize("flat", [True, False])
def test_gradients_assigned_by_hand_are_accumulated_into(flat):
    def assign(i, model):
        for k, p in enumerate(model.parameters()):
            p.grad = mg.full(p.shape, 0.5) if (i + k) % 3 else None
    _grad_twins(_step_with(zero_first=False), between=assign, flat=flat)


@pytest.mark.parametrize("flat", [True, False])
def test_zero_grad_without_none_accumulates_in_place(flat):
    _grad_twins(_step_with(set_to_none=False), flat=flat)


def test_gradients_outside_flat_chunks_are_handed_over_without_a_copy():
    """Without flat storage each gradient is computed into a new array at every replay and
    becomes .grad itself, as in eager: the program keeps no buffer for it."""
    compiled = _grad_twins(_step_with(), flat=False)
    program = next(p for variants in compiled._cache.values() for p in variants if p.trusted)
    from minigrad.jit.gradients import FreshOutput
    fresh = [c for c in program.main if isinstance(c, FreshOutput)]
    assert len(fresh) == 4 and all(f.current is None for f in fresh)


def test_replay_computes_gradients_outside_flat_chunks_into_their_spares():
    """A weight outside the flat buffers gets at each replay the array its last gradient
    had (zero_grad keeps it when nothing else refers to it), as in eager; a .grad kept by
    the caller is not reused and keeps its values."""
    import weakref
    model, opt, _, _ = _build(1, sizes=(8, 16, 4), flat=False)
    weights = [model[0].weight, model[2].weight]
    compiled = mg.compile(_step_with()(model, opt))
    last, reused, kept = None, [], None
    for i, (x, y) in enumerate(_batches(8, features=8, classes=4)):
        compiled(x, y)
        now = [weakref.ref(w.grad.array) for w in weights]
        if last is not None:
            reused.append([a() is b() for a, b in zip(now, last)])
        last = now
        if i == 5:
            kept = (weights[0].grad, weights[0].grad.numpy().copy())
    assert compiled.stats["replay"] >= 4
    assert all(all(r) for r in reused[2:5]), reused  # from the first replays on
    assert reused[5] == [False, True]  # the .grad kept at step 5: its array is not reused
    assert reused[6] == [True, True]
    assert np.array_equal(kept[0].numpy(), kept[1])


@pytest.mark.parametrize("flat", [True, False])
def test_gradients_accumulated_over_two_calls(flat):
    def zero_every_other(i, model):
        if i % 2 == 0:
            model.zero_grad()
    _grad_twins(_step_with(zero_first=False), between=zero_every_other, flat=flat)


def test_reductions_replay_exactly_in_every_form():
    """Replays call ``reduce`` directly for ``ndarray.sum`` & co.: with no axis (all of a
    matrix, not reduce's default axis 0), an axis, keepdims."""
    from minigrad.tensor import wrap

    def reductions(t):
        plain = t.array  # NumPy's own methods, as a custom op would call them
        return (t.sum(), t.sum(1, keepdim=True), t.prod(0), mg.amax(t), mg.amin(t, 1),
                t.logsumexp(1), t.softmax(1), *(wrap(a, t.device) for a in (
                    plain.sum(), plain.max(1), plain.min(axis=0, keepdims=True),
                    plain.prod(dtype=np.float64))))
    compiled = mg.compile(reductions)
    rng = np.random.default_rng(5)
    for _ in range(6):
        x = mg.from_numpy(rng.standard_normal((6, 5)).astype(np.float32))
        for got, want in zip(compiled(x), reductions(x)):
            assert got.numpy().tobytes() == want.numpy().tobytes()
    assert compiled.stats["replay"] >= 3


def test_verification_catches_a_value_the_guards_do_not_see():
    factors = [1.0]  # a list's contents are not guarded (see minigrad/jit/guards.py)
    x = mg.ones(4)
    compiled = mg.compile(lambda t: t * factors[0])
    compiled(x)
    factors[0] = 2.0  # the trace baked 1.0: its first replay differs from eager
    with pytest.warns(RuntimeWarning, match="differed from eager"):
        assert compiled(x).numpy().tolist() == [2.0] * 4
    assert compiled.disabled is not None
    factors[0] = 3.0
    assert compiled(x).numpy().tolist() == [3.0] * 4


def test_captured_states_compare_bit_for_bit():
    from minigrad.jit import _Digest, _difference
    a = np.zeros((2, 3), np.float32)
    signed = a.copy()
    signed[1, 2] = -0.0
    assert _difference({"x": [_Digest(a)]}, {"x": [_Digest(a.copy())]}) is None
    assert _difference({"x": [_Digest(a)]}, {"x": [_Digest(signed)]}) == "['x'][0]"
    assert _Digest(a) != _Digest(a.reshape(3, 2)) and _Digest(a) != _Digest(a.astype(np.float64))
    assert _Digest(a.T) == _Digest(np.ascontiguousarray(a.T))


def test_a_parameter_too_large_for_the_flat_chunk_replays_exactly():
    from minigrad.optim.flat import FLAT_MAX_ELEMENTS
    assert 300 * 256 > FLAT_MAX_ELEMENTS  # the first weight stays outside the chunk
    batches = list(_batches(8, batch=16, features=300, classes=10))
    compiled = _run_twins(batches=batches, sizes=(300, 256, 10))
    assert compiled.stats["replay"] >= 3


def test_replayed_calls_use_no_form_numpy_deprecates():
    from minigrad.jit import _fast_form
    a, b, out = np.ones(3), np.zeros(3), np.empty(3)
    fn, args, kwargs = _fast_form(np.add.__call__, (a, b), {"out": (out,)})
    assert (fn, len(args), kwargs) == (np.add, 3, {})  # the fast positional form
    for ufunc in (np.maximum, np.minimum):  # a third positional argument is deprecated
        fn, args, kwargs = _fast_form(ufunc.__call__, (a, b), {"out": (out,)})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fn(*args, **kwargs)
