"""SWA utilities: AveragedModel, the averaging functions, SWALR and update_bn, against the
golden numbers of torch.optim.swa_utils (tests/optim/golden/swa_refs.py; torch run live
when importable), hand-computed averages and schedules, state dicts and copy semantics."""
import copy
import json
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.optim import swa_utils as su
from minigrad.optim.lr_scheduler import LinearLR, LRScheduler, MultiplicativeLR, SequentialLR
from minigrad.optim.sgd import SGD
from tests.optim.golden import swa_refs

GOLDEN = json.loads(swa_refs.OUTPUT.read_text())
INPUTS = GOLDEN["inputs"]


def make_model():
    mg.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()


def load(model, state):
    own = model.state_dict()
    model.load_state_dict({name: mg.tensor(np.asarray(state[name], dtype=own[name].numpy().dtype))
                           for name in own})


def make_sgd(lrs=swa_refs.BASES):
    return SGD([{"params": [mg.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs],
               lr=lrs[0])


def arrays(model):
    return {name: value.numpy().copy() for name, value in model.state_dict().items()}


# --- SWALR ----------------------------------------------------------------------------------

def run_swalr(kwargs, steps, change):
    optimizer = make_sgd()
    scheduler = su.SWALR(optimizer, **kwargs)
    lrs = [[g["lr"] for g in optimizer.param_groups]]
    for t in range(1, steps):
        optimizer.step()
        if change is not None and change[0] == t:
            for g in optimizer.param_groups:
                g["lr"] *= change[1]
        scheduler.step()
        lrs.append([g["lr"] for g in optimizer.param_groups])
        assert scheduler.get_last_lr() == lrs[-1]
    return lrs


@pytest.mark.parametrize("case", range(len(swa_refs.SWALR_CASES)))
def test_swalr_matches_torch_golden_bit_for_bit(case):
    kwargs, steps, change = swa_refs.SWALR_CASES[case]
    assert run_swalr(kwargs, steps, change) == GOLDEN["swalr"][case]


@pytest.mark.parametrize("case", range(len(swa_refs.SWALR_CASES)))
def test_swalr_matches_torch_live(case):
    pytest.importorskip("torch")
    kwargs, steps, change = swa_refs.SWALR_CASES[case]
    assert run_swalr(kwargs, steps, change) == swa_refs.run_swalr(kwargs, steps, change)


def run_sequential(swa_first):
    optimizer = make_sgd()
    warmup = LinearLR(optimizer, 0.2, 1.0, 3)
    swa = su.SWALR(optimizer, swa_lr=[0.03, 0.01], anneal_epochs=3)
    scheduler = SequentialLR(optimizer, [swa, warmup] if swa_first else [warmup, swa], [4])
    lrs = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(11):
        optimizer.step()
        scheduler.step()
        lrs.append([g["lr"] for g in optimizer.param_groups])
    return lrs


@pytest.mark.parametrize("swa_first", [False, True])
def test_swalr_inside_sequential_lr_matches_torch_golden(swa_first):
    np.testing.assert_allclose(run_sequential(swa_first), GOLDEN["sequential"][int(swa_first)],
                               rtol=1e-15)


@pytest.mark.parametrize("swa_first", [False, True])
def test_swalr_inside_sequential_lr_matches_torch_live(swa_first):
    pytest.importorskip("torch")
    np.testing.assert_allclose(run_sequential(swa_first), swa_refs.run_sequential(swa_first),
                               rtol=1e-15)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("epochs", [0, 1, 4, 7])
def test_swalr_closed_form(strategy, epochs):
    """lr_t = swa * a_t + lr_0 * (1 - a_t), a_t = f(min(1, t / max(1, E))), the lr untouched
    at construction (t = 0) unless E = 0, where t counts from 1."""
    f = (lambda x: (1 - math.cos(math.pi * x)) / 2) if strategy == "cos" else (lambda x: x)
    swa = [0.04, 0.005]
    lrs = run_swalr(dict(swa_lr=swa, anneal_epochs=epochs, anneal_strategy=strategy), 15, None)
    for t, row in enumerate(lrs):
        a = f(min(1.0, max(t, 1 if epochs == 0 else t) / max(1, epochs)))
        expected = [s * a + b * (1 - a) for s, b in zip(swa, swa_refs.BASES)]
        np.testing.assert_allclose(row, expected, rtol=1e-13)
    assert lrs[-1] == swa


def test_swalr_follows_an_earlier_schedule_and_stores_swa_lr_in_the_groups():
    optimizer = make_sgd()
    decay = MultiplicativeLR(optimizer, lambda t: 0.5)
    for _ in range(3):
        optimizer.step()
        decay.step()
    start = [g["lr"] for g in optimizer.param_groups]  # 0.1 / 8, 0.02 / 8
    scheduler = su.SWALR(optimizer, swa_lr=0.05, anneal_epochs=2, anneal_strategy="linear")
    assert [g["swa_lr"] for g in optimizer.param_groups] == [0.05, 0.05]
    optimizer.step()
    scheduler.step()
    np.testing.assert_allclose(scheduler.get_last_lr(), [0.5 * 0.05 + 0.5 * b for b in start],
                               rtol=1e-14)
    assert "swa_lr" in optimizer.state_dict()["param_groups"][0]


def test_swalr_state_dict_round_trip():
    kwargs = dict(swa_lr=[0.05, 0.01], anneal_epochs=6)
    reference = run_swalr(kwargs, 12, None)
    optimizer = make_sgd()
    scheduler = su.SWALR(optimizer, **kwargs)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    saved_opt, saved = optimizer.state_dict(), scheduler.state_dict()
    assert saved["_step_count"] == 5
    other_opt = make_sgd(lrs=(0.3, 0.3))
    other = su.SWALR(other_opt, swa_lr=0.2, anneal_epochs=6)
    other_opt.load_state_dict(saved_opt)
    other.load_state_dict(saved)
    lrs = [[g["lr"] for g in other_opt.param_groups]]
    for _ in range(7):
        other_opt.step()
        other.step()
        lrs.append(other.get_last_lr())
    assert lrs == reference[4:]


@pytest.mark.parametrize("build, match", [
    (lambda o: su.SWALR(o, 0.05, anneal_strategy="exp"), "SWALR: invalid anneal_strategy: 'exp'"),
    (lambda o: su.SWALR(o, 0.05, anneal_epochs=-1), "SWALR: invalid anneal_epochs: -1"),
    (lambda o: su.SWALR(o, 0.05, anneal_epochs=2.5), "SWALR: invalid anneal_epochs: 2.5"),
    (lambda o: su.SWALR(o, [0.05]), "expected 2 values of swa_lr"),
    (lambda o: su.SWALR(o, -0.1), "SWALR: invalid swa_lr: -0.1"),
    (lambda o: su.SWALR(o, float("nan")), "SWALR: invalid swa_lr: nan"),
])
def test_swalr_rejects_bad_arguments_before_writing_anything(build, match):
    optimizer = make_sgd()
    with pytest.raises(ValueError, match=match):
        build(optimizer)
    assert all("swa_lr" not in g for g in optimizer.param_groups)


def test_swalr_is_an_lr_scheduler():
    assert isinstance(su.SWALR(make_sgd(), 0.05), LRScheduler)


# --- AveragedModel --------------------------------------------------------------------------

def _fn(spec, multi):
    kind, *args = spec
    if kind == "ema":
        return su.get_ema_multi_avg_fn(*args) if multi else su.get_ema_avg_fn(*args)
    return su.get_swa_multi_avg_fn() if multi else su.get_swa_avg_fn()


def run_average(options):
    model = make_model()
    kwargs = {}
    if "avg_fn" in options:
        kwargs["avg_fn"] = _fn(options["avg_fn"], False)
    if "multi_avg_fn" in options:
        kwargs["multi_avg_fn"] = _fn(options["multi_avg_fn"], True)
    if "use_buffers" in options:
        kwargs["use_buffers"] = options["use_buffers"]
    averaged = su.AveragedModel(model, **kwargs)
    history = []
    for state in INPUTS["states"]:
        load(model, state)
        averaged.update_parameters(model)
        history.append(arrays(averaged))
    return history


def _compare(history, golden, rtol, atol=1e-15):
    for mine, theirs in zip(history, golden, strict=True):
        assert list(mine) == list(theirs)
        for name in mine:
            np.testing.assert_allclose(mine[name], np.asarray(theirs[name]), rtol=rtol,
                                       atol=atol, err_msg=name)


# The averages agree to the last bits (atol 1e-15 on values of order 1: torch's CPU lerp may
# fuse a multiply-add, and lerp and the mean's a + (m - a) / (n + 1) round differently).
# torch's get_swa_multi_avg_fn computes its lerp weight 1 / (n + 1) from the int64 count
# tensor, which makes it a float32 number: its averages are off by ~1e-8 relative. Ours
# computes the weight in float64 (so it equals the default average), see the next test.
TOL = {"swa-multi": (1e-6, 1e-7)}


@pytest.mark.parametrize("name", swa_refs.AVERAGE_CASES)
def test_averaged_model_matches_torch_golden(name):
    _compare(run_average(swa_refs.AVERAGE_CASES[name]), GOLDEN["average"][name],
             *TOL.get(name, (1e-14,)))


def test_swa_multi_avg_fn_is_the_default_average_in_float64():
    _compare(run_average({"multi_avg_fn": ("swa",)}), GOLDEN["average"]["swa"], 1e-14)


@pytest.mark.parametrize("name", swa_refs.AVERAGE_CASES)
def test_averaged_model_matches_torch_live(name):
    pytest.importorskip("torch")
    options = swa_refs.AVERAGE_CASES[name]
    _compare(run_average(options), swa_refs.run_average(options, INPUTS),
             *TOL.get(name, (1e-14,)))


def test_default_average_is_the_running_mean_and_buffers_are_copied():
    history = run_average({})
    states = INPUTS["states"]
    for k, averaged in enumerate(history):
        for name in swa_refs.SHAPES:
            mean = np.mean([np.asarray(s[name]) for s in states[:k + 1]], axis=0)
            np.testing.assert_allclose(averaged["module." + name], mean, rtol=1e-13, atol=1e-15)
        for name in swa_refs.BUFFERS:  # not averaged: the model's latest
            np.testing.assert_array_equal(averaged["module." + name], states[k][name])
        assert averaged["module.1.num_batches_tracked"] == states[k]["1.num_batches_tracked"]
        assert averaged["n_averaged"] == k + 1 and averaged["n_averaged"].dtype == np.int64


def test_ema_closed_form_with_buffers():
    decay = 0.7
    history = run_average({"multi_avg_fn": ("ema", decay), "use_buffers": True})
    states = INPUTS["states"]
    for name in (*swa_refs.SHAPES, *swa_refs.BUFFERS):
        ema = np.asarray(states[0][name])
        for k in range(1, len(states)):
            ema = decay * ema + (1 - decay) * np.asarray(states[k][name])
            np.testing.assert_allclose(history[k]["module." + name], ema, rtol=1e-13,
                                       atol=1e-15)
    # an integer buffer is averaged and truncated: 1, 4*0.3 + 0.7*1 = 1.9 -> 1, ...
    counts = [h["module.1.num_batches_tracked"] for h in history]
    expected, value = [], 0
    for k, s in enumerate(states):
        value = s["1.num_batches_tracked"] if k == 0 else \
            int(value * decay + s["1.num_batches_tracked"] * (1 - decay))
        expected.append(value)
    assert counts == expected


def test_forward_delegates_to_the_averaged_copy():
    model = make_model().eval()
    averaged = su.AveragedModel(model)
    load(model, INPUTS["states"][0])
    averaged.update_parameters(model)
    load(model, INPUTS["states"][1])
    averaged.update_parameters(model)
    averaged.eval()
    x = mg.tensor(np.asarray(INPUTS["batches"][0]))
    np.testing.assert_array_equal(averaged(x).numpy(), averaged.module(x).numpy())
    assert not np.allclose(averaged(x).numpy(), model(x).numpy())


def test_the_averaged_copy_is_a_deep_copy():
    model = make_model()
    before = arrays(model)
    averaged = su.AveragedModel(model)
    mine = list(averaged.module.parameters())
    assert all(a is not p for a, p in zip(mine, model.parameters()))
    assert all(a.requires_grad for a in mine)
    assert all(not np.shares_memory(a.array, p.array)
               for a, p in zip(mine, model.parameters()))
    for p in model.parameters():  # changing the model leaves the copy alone
        p.array[...] = 7.0
    for name, value in arrays(averaged).items():
        if name != "n_averaged":
            np.testing.assert_array_equal(value, before[name[len("module."):]])
    averaged.update_parameters(model)  # the first update copies the values in
    assert all((a.numpy() == 7.0).all() for a in averaged.module.parameters())
    clone = copy.deepcopy(averaged)
    load(model, INPUTS["states"][0])
    clone.update_parameters(model)
    assert int(clone.n_averaged.item()) == 2 and int(averaged.n_averaged.item()) == 1
    assert all((a.numpy() == 7.0).all() for a in averaged.module.parameters())


def test_state_dict_round_trip_resumes_the_average():
    reference = run_average({})
    model = make_model()
    averaged = su.AveragedModel(model)
    states = INPUTS["states"]
    for state in states[:3]:
        load(model, state)
        averaged.update_parameters(model)
    saved = {name: value.numpy().copy() for name, value in averaged.state_dict().items()}
    assert list(saved)[0] == "n_averaged" and int(saved["n_averaged"]) == 3
    resumed = su.AveragedModel(make_model())
    resumed.load_state_dict({name: mg.tensor(value) for name, value in saved.items()})
    for k, state in enumerate(states[3:], start=3):
        load(model, state)
        resumed.update_parameters(model)
        for name, value in arrays(resumed).items():
            np.testing.assert_array_equal(value, reference[k][name])


def test_update_of_no_grad_state_and_gradients():
    """The update records no graph and leaves the averaged parameters as leaves."""
    model = make_model()
    averaged = su.AveragedModel(model)
    for state in INPUTS["states"][:2]:
        load(model, state)
        averaged.update_parameters(model)
    for a in averaged.module.parameters():
        assert a.is_leaf and a.grad is None and a.requires_grad


def test_averaged_model_errors():
    model = make_model()
    with pytest.raises(ValueError, match="only one of avg_fn and multi_avg_fn"):
        su.AveragedModel(model, avg_fn=su.get_swa_avg_fn(),
                         multi_avg_fn=su.get_swa_multi_avg_fn())
    with pytest.raises(TypeError, match="avg_fn must be a function"):
        su.AveragedModel(model, avg_fn=0.9)
    with pytest.raises(TypeError, match="expects a minigrad Module"):
        su.AveragedModel([mg.zeros(3)])
    averaged = su.AveragedModel(model)
    other = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    with pytest.raises(ValueError, match="the model has 4 parameters, the averaged copy 6"):
        averaged.update_parameters(other)
    wider = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Linear(5, 2)).double()
    with pytest.raises(ValueError, match=r"parameters 0 has shape \(5, 3\) in the model"):
        averaged.update_parameters(wider)
    assert int(averaged.n_averaged.item()) == 0
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="Invalid decay value"):
            su.get_ema_avg_fn(bad)
        with pytest.raises(ValueError, match="Invalid decay value"):
            su.get_ema_multi_avg_fn(bad)


# --- update_bn ------------------------------------------------------------------------------

def _bn_model():
    model = make_model()
    load(model, INPUTS["states"][0])
    model[1].momentum = 0.3
    return model.eval()


def test_update_bn_matches_torch_golden_and_restores_momentum_and_mode():
    model = _bn_model()
    loader = [(mg.tensor(np.asarray(b)), mg.zeros(8)) for b in INPUTS["batches"]]
    su.update_bn(loader, model)
    golden = GOLDEN["update_bn"]
    bn = model[1]
    np.testing.assert_allclose(bn.running_mean.numpy(), golden["running_mean"], rtol=1e-13)
    np.testing.assert_allclose(bn.running_var.numpy(), golden["running_var"], rtol=1e-13)
    assert int(bn.num_batches_tracked.item()) == golden["num_batches_tracked"] == 5
    assert bn.momentum == golden["momentum"] == 0.3
    assert model.training is golden["training"] is False


def test_update_bn_is_the_plain_average_of_the_batch_statistics():
    model = _bn_model()
    batches = [np.asarray(b) for b in INPUTS["batches"]]
    w, b = model[0].weight.numpy(), model[0].bias.numpy()
    hidden = [x @ w.T + b for x in batches]  # what the BatchNorm sees
    su.update_bn([mg.tensor(x) for x in batches], model)  # plain tensors, no targets
    np.testing.assert_allclose(model[1].running_mean.numpy(),
                               np.mean([h.mean(axis=0) for h in hidden], axis=0), rtol=1e-12)
    np.testing.assert_allclose(model[1].running_var.numpy(),
                               np.mean([h.var(axis=0, ddof=1) for h in hidden], axis=0),
                               rtol=1e-12)


def test_update_bn_restores_the_model_when_the_loader_fails():
    model = _bn_model()

    def loader():
        yield mg.tensor(np.asarray(INPUTS["batches"][0]))
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        su.update_bn(loader(), model)
    assert model[1].momentum == 0.3 and model.training is False


def test_update_bn_without_batch_norm_does_nothing():
    model = nn.Sequential(nn.Linear(3, 2)).eval()
    calls = []
    su.update_bn(iter(lambda: calls.append(1), None), model)  # never iterated
    assert calls == [] and model.training is False
    with pytest.raises(TypeError, match="expects a minigrad Module"):
        su.update_bn([], "model")


def test_update_bn_on_an_averaged_model():
    model = make_model()
    averaged = su.AveragedModel(model)
    for state in INPUTS["states"][:3]:
        load(model, state)
        averaged.update_parameters(model)
    su.update_bn([mg.tensor(np.asarray(b)) for b in INPUTS["batches"]], averaged)
    assert int(averaged.module[1].num_batches_tracked.item()) == 5
    assert averaged.module[1].momentum == 0.1 and averaged.training
