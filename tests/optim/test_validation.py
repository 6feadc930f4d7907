"""Bad hyper-parameters are refused the same way wherever they come in: at construction, in
add_param_group and in load_state_dict, with a ValueError naming the optimizer (or
scheduler), the hyper-parameter and the value, and with nothing changed."""
import copy
import math
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler as sched
from tests.optim.catalog import OPTIMIZERS, assert_same, make_params, run_step, snapshot

NAN, INF = math.nan, math.inf
LR = [-0.1, NAN, INF, -INF, "fast", None, True]
NONNEGATIVE = [-1.0, NAN, INF]
UNIT = [-0.1, 1.5, NAN, INF]
BETAS = [(1.0, 0.999), (0.9, -0.1), (2.0, 0.9), (NAN, 0.9), (0.9, INF), (0.9,), "ab", 0.9]
BETAS3 = [(1.0, 0.9, 0.9), (0.9, -0.1, 0.9), (0.9, 0.9, NAN), (0.9, 0.999), 0.9]

ADAM_LIKE = dict(lr=LR, betas=BETAS, eps=NONNEGATIVE, weight_decay=NONNEGATIVE)
# optimizer -> {hyper-parameter: bad values}; every checked hyper-parameter must be listed
BAD = {
    "SGD": dict(lr=LR, momentum=UNIT, dampening=UNIT, weight_decay=NONNEGATIVE),
    "Adam": ADAM_LIKE,
    "AdamW": ADAM_LIKE,
    "Adamax": ADAM_LIKE,
    "NAdam": {**ADAM_LIKE, "momentum_decay": NONNEGATIVE},
    "RAdam": ADAM_LIKE,
    "AdaBelief": ADAM_LIKE,
    "Lion": dict(lr=LR, betas=BETAS, weight_decay=NONNEGATIVE),
    "RMSprop": dict(lr=LR, alpha=UNIT, eps=NONNEGATIVE, weight_decay=NONNEGATIVE,
                    momentum=UNIT),
    "Adagrad": dict(lr=LR, lr_decay=NONNEGATIVE, weight_decay=NONNEGATIVE,
                    initial_accumulator_value=NONNEGATIVE, eps=NONNEGATIVE),
    "Adadelta": dict(lr=LR, rho=UNIT, eps=NONNEGATIVE, weight_decay=NONNEGATIVE),
    "ASGD": dict(lr=LR, lambd=NONNEGATIVE, alpha=NONNEGATIVE, t0=[-1.0, NAN, -INF],
                 weight_decay=NONNEGATIVE),
    "Rprop": dict(lr=LR, etas=[(1.5, 1.2), (0.5, 0.9), (0.0, 1.2), (NAN, 1.2), (0.5, INF),
                               (0.5,)],
                  step_sizes=[(1.0, 0.1), (-1.0, 1.0), (1e-6, INF), (NAN, 1.0), 50.0]),
    "LBFGS": dict(lr=LR, max_iter=[0, 2.5, "x", True], max_eval=[0, 1.5, "x"],
                  tolerance_grad=NONNEGATIVE, tolerance_change=NONNEGATIVE,
                  history_size=[0, 1.5], line_search_fn=["armijo", 1, True]),
    "FTRL": dict(lr=[0.0, -1.0, NAN, INF], lr_power=[0.5, NAN, -INF],
                 initial_accumulator_value=NONNEGATIVE, l1=NONNEGATIVE, l2=NONNEGATIVE,
                 l2_shrinkage=NONNEGATIVE, beta=NONNEGATIVE),
    "Adafactor": dict(lr=LR, beta2_decay=[0.5, NAN, -INF],
                      eps=[(None, -1e-3), (-1.0, 1e-3), (NAN, 1e-3), (None, INF), (1e-3,)],
                      d=[0.5, NAN, INF], weight_decay=NONNEGATIVE),
    "Muon": dict(lr=LR, weight_decay=NONNEGATIVE, momentum=[1.0, -0.1, NAN],
                 ns_coefficients=[(3.4, -4.7), (NAN, 1.0, 1.0), (1.0, 2.0, INF)],
                 eps=[0.0, -1.0, NAN, INF], ns_steps=[0, 2.5], adjust_lr_fn=["spectral", 1],
                 use_muon=["yes", 1], adamw_lr=LR, adamw_betas=BETAS,
                 adamw_eps=NONNEGATIVE, adamw_weight_decay=NONNEGATIVE),
    "ScheduleFreeAdamW": dict(lr=LR, betas=[(0.0, 0.999), (1.0, 0.9), (0.9, 1.0)],
                              eps=NONNEGATIVE, weight_decay=NONNEGATIVE,
                              warmup_steps=[-1, 2.5], r=NONNEGATIVE,
                              weight_lr_power=NONNEGATIVE),
    "Lookahead": ADAM_LIKE,   # the inner Adam's hyper-parameters (see catalog)
    "Ranger": ADAM_LIKE,
    "Yogi": {**ADAM_LIKE, "initial_accumulator_value": NONNEGATIVE},
    "Adan": {**ADAM_LIKE, "betas": BETAS3, "eps_root": NONNEGATIVE},
    "SignSGD": dict(lr=LR, weight_decay=NONNEGATIVE),
    "Signum": dict(lr=LR, momentum=[1.0, -0.1, NAN, INF, "x"], weight_decay=NONNEGATIVE),
    "QHM": dict(lr=LR, momentum=UNIT, nu=[NAN, INF, "x", None], weight_decay=NONNEGATIVE),
    "QHAdam": {**ADAM_LIKE, "nus": [(NAN, 1.0), (0.7, INF), (0.7,), 0.7]},
    "ADOPT": {**ADAM_LIKE, "clip_lambda": [0.25, "x", True]},
    "AdEMAMix": {**ADAM_LIKE, "betas": BETAS3, "alpha": NONNEGATIVE,
                 "beta3_warmup": [-1, 2.5, "x"], "alpha_warmup": [-1, 2.5, True]},
    "SophiaH": dict(lr=LR, betas=BETAS, weight_decay=NONNEGATIVE, p=NONNEGATIVE,
                    update_period=[0, 2.5, True], num_samples=[0, 1.5],
                    hessian_distribution=["uniform", None], eps=NONNEGATIVE,
                    decoupled_weight_decay=[1, "yes", None]),
    "AdaHessian": dict(lr=LR, betas=BETAS, eps=NONNEGATIVE, weight_decay=NONNEGATIVE,
                       hessian_power=[-0.1, 1.5, NAN],
                       spatial_average_block_size=[(-1, 0, -1, -1), (-1, -2, -1, -1),
                                                   (-1, 1.5, -1, -1), (-1, -1), "x"]),
    "Shampoo": dict(lr=LR, momentum=UNIT, weight_decay=NONNEGATIVE,
                    decoupled_weight_decay=[1, None], epsilon=[0.0, -1.0, NAN, INF],
                    update_freq=[0, 1.5]),
    "SOAP": dict(lr=LR, betas=BETAS, shampoo_beta=[1.0, NAN, INF], eps=NONNEGATIVE,
                 weight_decay=NONNEGATIVE, precondition_frequency=[0, 2.5],
                 max_precond_dim=[0, 1.5], merge_dims=[1, None], precondition_1d=[1, None],
                 normalize_grads=[1, None], data_format=["NHWC", None],
                 correct_bias=[1, None]),
}
GROUP_ONLY = {("Muon", "use_muon")}  # not a constructor argument
OWNER = {"Lookahead": "Adam"}       # whose name the error carries


def _case_id(name, key, value):
    return f"{name}-{key}={value!r}"


CASES = [(name, key, value) for name, table in BAD.items() for key, values in table.items()
         for value in values]
CASE_IDS = [_case_id(*case) for case in CASES]


def _pattern(name, key, value, where=""):
    owner = OWNER.get(name, name)
    return rf"^{owner}: invalid {key}: {re.escape(repr(value))}{where} \(it must be"


def _inner(optimizer):
    return getattr(optimizer, "base_optimizer", optimizer)


@pytest.mark.parametrize("name", BAD)
def test_every_checked_hyper_parameter_has_bad_values(name):
    checked = set(_inner(OPTIMIZERS[name](make_params())).hyperparameter_checks)
    assert checked == set(BAD[name])


@pytest.mark.parametrize("name, key, value", CASES, ids=CASE_IDS)
def test_at_construction(name, key, value):
    if (name, key) in GROUP_ONLY:
        pytest.skip(f"{key} is not an argument of {name}")
    with pytest.raises(ValueError, match=_pattern(name, key, value)):
        OPTIMIZERS[name](make_params(), **{key: value})


@pytest.mark.parametrize("name, key, value", CASES, ids=CASE_IDS)
def test_in_add_param_group(name, key, value):
    params = make_params()
    optimizer = OPTIMIZERS[name](params[:2])
    run_step(optimizer, params[:2])
    before = snapshot(optimizer, params[:2])
    if name == "LBFGS":  # one group only: refused whatever its values
        with pytest.raises(ValueError, match="doesn't support per-parameter options"):
            optimizer.add_param_group({"params": [params[2]], key: value})
    else:
        with pytest.raises(ValueError, match=_pattern(name, key, value, " in param group 1")):
            optimizer.add_param_group({"params": [params[2]], key: value})
    assert len(optimizer.param_groups) == 1
    assert_same(snapshot(optimizer, params[:2]), before)


@pytest.mark.parametrize("name, key, value", CASES, ids=CASE_IDS)
def test_in_load_state_dict(name, key, value):
    source_params, params = make_params(1), make_params(2)
    source, optimizer = OPTIMIZERS[name](source_params), OPTIMIZERS[name](params)
    run_step(source, source_params)
    run_step(optimizer, params)
    saved = source.state_dict()
    saved["param_groups"][0][key] = value
    before = snapshot(optimizer, params)
    where = " in param group 0 of the loaded state dict"
    with pytest.raises(ValueError, match=_pattern(name, key, value, where)):
        optimizer.load_state_dict(saved)
    assert_same(snapshot(optimizer, params), before)


def test_the_message_names_optimizer_hyper_parameter_value_and_range():
    with pytest.raises(ValueError) as caught:
        optim.Adam(make_params(), betas=(2.0, 0.9))
    assert str(caught.value) == ("Adam: invalid betas: (2.0, 0.9) (it must be a pair (beta1, "
                                 "beta2) of finite numbers in [0, 1))")
    opt = optim.SGD(make_params(), lr=0.1)
    with pytest.raises(ValueError) as caught:
        opt.add_param_group({"params": [mg.ones(2, requires_grad=True)], "lr": -5})
    assert str(caught.value) == ("SGD: invalid lr: -5 in param group 1 (it must be a finite "
                                 "number >= 0 (or a tensor of one element))")


# --- conditions tying several hyper-parameters -------------------------------------------------

def test_nesterov_needs_momentum_and_no_dampening_everywhere():
    match = "nesterov momentum needs momentum > 0 and dampening == 0"
    with pytest.raises(ValueError, match=match):
        optim.SGD(make_params(), lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=match):
        optim.SGD(make_params(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    params = make_params()
    opt = optim.SGD(params[:2], lr=0.1)
    with pytest.raises(ValueError, match=match + " in param group 1"):
        opt.add_param_group({"params": [params[2]], "nesterov": True})
    saved = opt.state_dict()
    saved["param_groups"][0]["nesterov"] = True
    with pytest.raises(ValueError, match=match + " in param group 0 of the loaded"):
        opt.load_state_dict(saved)
    assert opt.param_groups[0]["nesterov"] is False


def test_muon_use_muon_needs_matrices_in_add_param_group_and_load():
    params = make_params()
    opt = optim.Muon(params[:1])
    with pytest.raises(ValueError, match="use_muon=True needs 2-D parameters"):
        opt.add_param_group({"params": [params[1]], "use_muon": True})
    assert len(opt.param_groups) == 1
    vector = optim.Muon([params[1]])
    saved = vector.state_dict()
    saved["param_groups"][0]["use_muon"] = True
    with pytest.raises(ValueError, match="use_muon=True needs 2-D parameters"):
        vector.load_state_dict(saved)


@pytest.mark.parametrize("kwargs, argument", [(dict(k=0), "k"), (dict(k=2.5), "k"),
                                              (dict(alpha=-0.5), "alpha"),
                                              (dict(alpha=1.5), "alpha"),
                                              (dict(alpha=NAN), "alpha")])
@pytest.mark.parametrize("wrapper", ["Lookahead", "Ranger"])
def test_wrapper_arguments(wrapper, kwargs, argument):
    with pytest.raises(ValueError, match=f"^{wrapper}: invalid {argument}:"):
        OPTIMIZERS[wrapper](make_params(), **kwargs)


def test_values_are_normalised_wherever_they_come_in():
    params = make_params()
    opt = optim.Adam(params[:1], lr=mg.tensor(0.5), betas=[0.8, 0.9])
    assert opt.defaults["lr"] == 0.5 and isinstance(opt.defaults["lr"], float)
    assert opt.param_groups[0]["betas"] == (0.8, 0.9)
    opt.add_param_group({"params": [params[1]], "lr": mg.tensor(0.25), "betas": [0.7, 0.8]})
    assert opt.param_groups[1]["lr"] == 0.25 and isinstance(opt.param_groups[1]["lr"], float)
    assert opt.param_groups[1]["betas"] == (0.7, 0.8)
    with pytest.raises(ValueError, match="one element"):
        opt.add_param_group({"params": [params[2]], "lr": mg.tensor([0.1, 0.2])})


def test_numpy_scalars_are_numbers():
    opt = optim.SGD(make_params(), lr=np.float32(0.1), momentum=np.float64(0.9))
    assert opt.param_groups[0]["momentum"] == 0.9
    optim.LBFGS(make_params(), max_iter=np.int64(3))


# --- a hyper-parameter written later that is NaN or inf -------------------------------------

@pytest.mark.parametrize("value", [NAN, INF])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_step_refuses_a_nonfinite_lr_written_into_a_group(name, value):
    params = make_params()
    optimizer = OPTIMIZERS[name](params)
    run_step(optimizer, params)
    optimizer.param_groups[0]["lr"] = value
    before = snapshot(optimizer, params)
    with pytest.raises(ValueError, match=rf"invalid lr: {value!r} in param group 0 \(it must "
                                         r"be .*\); it was written into the group after"):
        run_step(optimizer, params)
    assert_same(snapshot(optimizer, params), before)


def test_a_step_refuses_nonfinite_betas_and_accepts_a_later_fix():
    params = make_params()
    opt = optim.Adam(params, lr=0.1)
    run_step(opt, params)
    opt.param_groups[0]["betas"] = (NAN, 0.999)
    with pytest.raises(ValueError, match=r"invalid betas: \(nan, 0.999\) in param group 0"):
        run_step(opt, params)
    opt.param_groups[0]["betas"] = (0.9, 0.999)
    run_step(opt, params)
    assert opt.state[params[0]]["step"] == 2


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_step_refuses_an_lr_of_the_wrong_kind_written_into_a_group(name):
    params = make_params()
    optimizer = OPTIMIZERS[name](params)
    run_step(optimizer, params)
    optimizer.param_groups[0]["lr"] = "a"
    before = snapshot(optimizer, params)
    with pytest.raises(ValueError, match=r"invalid lr: 'a' in param group 0"):
        run_step(optimizer, params)
    assert_same(snapshot(optimizer, params), before)


def test_values_written_later_are_normalised_at_the_step():
    params = make_params()
    opt = optim.Adam(params, lr=0.1)
    run_step(opt, params)
    opt.param_groups[0]["lr"] = mg.tensor(0.25)
    opt.param_groups[0]["betas"] = [0.8, 0.9]
    run_step(opt, params)
    assert opt.param_groups[0]["lr"] == 0.25 and isinstance(opt.param_groups[0]["lr"], float)
    assert opt.param_groups[0]["betas"] == (0.8, 0.9)


def test_a_tiny_negative_lr_from_a_schedule_is_left_alone():
    # a linear decay to 0 ends at about -1e-17 by rounding (as in PyTorch): not refused
    params = make_params()
    opt = optim.SGD(params, lr=1.0)
    opt.param_groups[0]["lr"] = -5e-17
    run_step(opt, params)


# --- load_state_dict: state that does not fit the parameters --------------------------------

def _trained_pair(name, **kwargs):
    source_params, params = make_params(1), make_params(2)
    source = OPTIMIZERS[name](source_params, **kwargs)
    optimizer = OPTIMIZERS[name](params, **kwargs)
    for _ in range(2):
        run_step(source, source_params)
    run_step(optimizer, params)
    return source, optimizer, params


STATELESS = {"SignSGD"}  # no state but the step count: nothing to mis-shape


def _first_array(state):
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            return key
    raise AssertionError(f"no array in {state}")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_wrongly_shaped_state_is_refused_before_anything_changes(name):
    if name in STATELESS:
        pytest.skip(f"{name} keeps no state array")
    source, optimizer, params = _trained_pair(name)
    saved = copy.deepcopy(source.state_dict())
    index = 0 if name == "LBFGS" else 1  # LBFGS keeps its flat history under parameter 0
    key = _first_array(saved["state"][index])
    good_shape = saved["state"][index][key].shape
    saved["state"][index][key] = np.zeros((5, 7))
    saved["param_groups"][0]["lr"] = 0.123  # must not be applied either
    before = snapshot(optimizer, params)
    with pytest.raises(ValueError, match=rf"the loaded state {key!r} of parameter {index} "
                                         rf".*has shape \(5, 7\), expected "
                                         rf"{re.escape(str(good_shape))}"):
        optimizer.load_state_dict(saved)
    assert_same(snapshot(optimizer, params), before)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_complex_state_for_a_real_parameter_is_refused(name):
    if name in STATELESS:
        pytest.skip(f"{name} keeps no state array")
    source, optimizer, params = _trained_pair(name)
    saved = copy.deepcopy(source.state_dict())
    key = _first_array(saved["state"][0])
    saved["state"][0][key] = saved["state"][0][key].astype(np.complex128)
    before = snapshot(optimizer, params)
    with pytest.raises(ValueError, match=rf"{key!r} of parameter 0 .*dtype complex128"):
        optimizer.load_state_dict(saved)
    assert_same(snapshot(optimizer, params), before)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_good_state_dict_still_loads_and_resumes_exactly(name):
    source, optimizer, params = _trained_pair(name)
    optimizer.load_state_dict(copy.deepcopy(source.state_dict()))
    assert_same(optimizer.state_dict(), source.state_dict())


def test_state_for_an_unknown_parameter_is_refused():
    source, optimizer, params = _trained_pair("Adam")
    saved = source.state_dict()
    saved["state"][7] = saved["state"][0]
    before = snapshot(optimizer, params)
    with pytest.raises(ValueError, match="state for parameter 7, which none of its param "
                                         "groups lists"):
        optimizer.load_state_dict(saved)
    assert_same(snapshot(optimizer, params), before)


def test_counts_and_layout_are_checked():
    source, optimizer, params = _trained_pair("Adam")
    with pytest.raises(TypeError, match="expects a dict"):
        optimizer.load_state_dict(None)
    with pytest.raises(ValueError, match="no 'state' entry"):
        optimizer.load_state_dict({"param_groups": []})
    saved = source.state_dict()
    saved["param_groups"][0]["params"] = [0, 1]
    with pytest.raises(ValueError, match="group 0 of the loaded state dict has 2 parameters, "
                                         "this optimizer's has 3"):
        optimizer.load_state_dict(saved)
    saved = source.state_dict()
    saved["param_groups"].append(dict(saved["param_groups"][0]))
    with pytest.raises(ValueError, match="2 parameter groups, this optimizer has 1"):
        optimizer.load_state_dict(saved)


def test_adafactor_factored_state_shapes_are_checked():
    source, optimizer, params = _trained_pair("Adafactor")
    saved = copy.deepcopy(source.state_dict())
    assert saved["state"][0]["row_var"].shape == (3, 1)
    saved["state"][0]["row_var"] = np.zeros((1, 4))
    with pytest.raises(ValueError, match=r"'row_var' .*shape \(1, 4\), expected \(3, 1\)"):
        optimizer.load_state_dict(saved)


def test_lbfgs_history_vectors_are_checked_one_by_one():
    source, optimizer, params = _trained_pair("LBFGS")
    saved = copy.deepcopy(source.state_dict())
    saved["state"][0]["old_dirs"][-1] = np.zeros(3)
    with pytest.raises(ValueError, match=r"'old_dirs' .*shape \(3,\), expected \(17,\)"):
        optimizer.load_state_dict(saved)


def test_lookahead_slow_weights_and_position_are_checked():
    source, optimizer, params = _trained_pair("Lookahead")
    saved = copy.deepcopy(source.state_dict())
    saved["steps_since_sync"] = -1
    with pytest.raises(ValueError, match="Lookahead: invalid steps_since_sync: -1"):
        optimizer.load_state_dict(saved)
    saved = copy.deepcopy(source.state_dict())
    saved["slow_params"][1] = "weights"
    with pytest.raises(ValueError, match="slow weight 1 must be a floating array"):
        optimizer.load_state_dict(saved)
    saved = copy.deepcopy(source.state_dict())
    saved["state"][2]["exp_avg"] = np.zeros(9)  # the inner state is checked as well
    before = snapshot(optimizer, params)
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 2 .*shape \(9,\)"):
        optimizer.load_state_dict(saved)
    assert_same(snapshot(optimizer, params), before)


# --- schedulers -------------------------------------------------------------------------------

def _sgd(lrs=(0.1, 0.05)):
    return optim.SGD([{"params": [mg.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs],
                     lr=lrs[0], momentum=0.9)


def _adam():
    return optim.Adam([mg.zeros(2, requires_grad=True)], lr=0.1)


SCHEDULERS = {
    "StepLR": lambda o, **kw: sched.StepLR(o, **{"step_size": 3, **kw}),
    "MultiStepLR": lambda o, **kw: sched.MultiStepLR(o, **{"milestones": [2, 4], **kw}),
    "ConstantLR": lambda o, **kw: sched.ConstantLR(o, **kw),
    "LinearLR": lambda o, **kw: sched.LinearLR(o, **kw),
    "ExponentialLR": lambda o, **kw: sched.ExponentialLR(o, **{"gamma": 0.9, **kw}),
    "ExponentialDecayLR": lambda o, **kw: sched.ExponentialDecayLR(o, **{"decay_rate": 0.1,
                                                                         **kw}),
    "InverseTimeLR": lambda o, **kw: sched.InverseTimeLR(o, **{"decay_rate": 0.5, **kw}),
    "PolynomialLR": lambda o, **kw: sched.PolynomialLR(o, **kw),
    "CosineAnnealingLR": lambda o, **kw: sched.CosineAnnealingLR(o, **{"T_max": 5, **kw}),
    "CosineAnnealingWarmRestarts": lambda o, **kw: sched.CosineAnnealingWarmRestarts(
        o, **{"T_0": 3, **kw}),
    "CyclicLR": lambda o, **kw: sched.CyclicLR(o, **{"base_lr": 0.01, "max_lr": 0.1,
                                                     "step_size_up": 3, **kw}),
    "OneCycleLR": lambda o, **kw: sched.OneCycleLR(o, **{"max_lr": 0.1, "total_steps": 20,
                                                         **kw}),
    "ReduceLROnPlateau": lambda o, **kw: sched.ReduceLROnPlateau(o, **kw),
    "LambdaLR": lambda o, **kw: sched.LambdaLR(o, **{"lr_lambda": lambda t: 0.9 ** t, **kw}),
    "MultiplicativeLR": lambda o, **kw: sched.MultiplicativeLR(
        o, **{"lr_lambda": lambda t: 0.9, **kw}),
    "SequentialLR": lambda o, **kw: sched.SequentialLR(
        o, [sched.LinearLR(o, 0.1, total_iters=2), sched.ExponentialLR(o, 0.9)],
        **{"milestones": [2], **kw}),
    "ChainedScheduler": lambda o, **kw: sched.ChainedScheduler(
        [sched.ConstantLR(o, 0.5, 2), sched.ExponentialLR(o, 0.9)], **kw),
    "WarmupStableDecayLR": lambda o, **kw: sched.WarmupStableDecayLR(
        o, **{"warmup_steps": 2, "stable_steps": 3, "decay_steps": 4, **kw}),
    "InverseSqrtLR": lambda o, **kw: sched.InverseSqrtLR(o, **{"warmup_steps": 3, **kw}),
    "Ranger21LR": lambda o, **kw: sched.Ranger21LR(o, **{"total_steps": 40, **kw}),
}

POSITIVE_INT = [0, -1, 2.5, "3", True]
FRACTION = [0.0, 1.5, NAN, -0.1]
SCHED_BAD = [
    ("StepLR", "step_size", POSITIVE_INT), ("StepLR", "gamma", [0.0, -0.5, NAN, INF]),
    ("StepLR", "last_epoch", [-2, 1.5]),
    ("MultiStepLR", "milestones", [[3, -1], [1.5], ["a"]]),
    ("MultiStepLR", "gamma", [0.0, NAN, INF]),
    ("ConstantLR", "factor", FRACTION), ("ConstantLR", "total_iters", POSITIVE_INT),
    ("LinearLR", "start_factor", FRACTION), ("LinearLR", "end_factor", [-0.1, 1.5, NAN]),
    ("LinearLR", "total_iters", POSITIVE_INT),
    ("ExponentialLR", "gamma", [0.0, -0.5, NAN, INF]),
    ("ExponentialDecayLR", "decay_rate", [-1.0, NAN, INF]),
    ("InverseTimeLR", "decay_rate", [-1.0, NAN, INF]),
    ("PolynomialLR", "total_iters", POSITIVE_INT), ("PolynomialLR", "power", [-1.0, NAN, INF]),
    ("CosineAnnealingLR", "T_max", POSITIVE_INT),
    ("CosineAnnealingLR", "eta_min", [-1.0, NAN, INF]),
    ("CosineAnnealingWarmRestarts", "T_0", POSITIVE_INT),
    ("CosineAnnealingWarmRestarts", "T_mult", [0, 1.5]),
    ("CosineAnnealingWarmRestarts", "eta_min", [-1.0, NAN]),
    ("CyclicLR", "base_lr", [-1.0, NAN, [0.01, NAN]]), ("CyclicLR", "max_lr", [NAN, INF]),
    ("CyclicLR", "step_size_up", [0, NAN, INF]), ("CyclicLR", "step_size_down", [0, NAN]),
    ("CyclicLR", "mode", ["triangle", None]), ("CyclicLR", "gamma", [0.0, NAN]),
    ("CyclicLR", "base_momentum", [1.5, NAN, -0.1]), ("CyclicLR", "max_momentum", [1.0, NAN]),
    ("OneCycleLR", "max_lr", [NAN, -1.0, INF]), ("OneCycleLR", "total_steps", POSITIVE_INT),
    ("OneCycleLR", "pct_start", [1.5, NAN, -0.1]),
    ("OneCycleLR", "anneal_strategy", ["exp"]), ("OneCycleLR", "div_factor", [0.0, NAN]),
    ("OneCycleLR", "final_div_factor", [0.0, INF]),
    ("OneCycleLR", "base_momentum", [1.5, NAN]), ("OneCycleLR", "max_momentum", [NAN]),
    ("ReduceLROnPlateau", "mode", ["avg"]), ("ReduceLROnPlateau", "factor", [1.0, -0.1, NAN]),
    ("ReduceLROnPlateau", "patience", [-1, 1.5]),
    ("ReduceLROnPlateau", "threshold", [-1.0, NAN]),
    ("ReduceLROnPlateau", "threshold_mode", ["pct"]),
    ("ReduceLROnPlateau", "cooldown", [-1]), ("ReduceLROnPlateau", "min_lr", [-1.0, NAN]),
    ("ReduceLROnPlateau", "eps", [-1.0, NAN]),
    ("SequentialLR", "milestones", [[-1], [1.5]]),
]
SCHED_CASES = [(n, k, v) for n, k, values in SCHED_BAD for v in values]
SCHED_IDS = [_case_id(*case) for case in SCHED_CASES]


def _groups(optimizer):
    return [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]


@pytest.mark.parametrize("name, key, value", SCHED_CASES, ids=SCHED_IDS)
def test_scheduler_arguments_at_construction(name, key, value):
    optimizer = _sgd()
    before = copy.deepcopy(_groups(optimizer))
    with pytest.raises(ValueError, match=_pattern(name, key, value)):
        SCHEDULERS[name](optimizer, **{key: value})
    if name != "SequentialLR":  # (its children, built first, have written their lrs)
        assert _groups(optimizer) == before  # checked before anything is written


def test_every_scheduler_is_covered():
    names = {n for n in sched.__all__ if isinstance(getattr(sched, n), type)} - {"LRScheduler"}
    assert names == set(SCHEDULERS)


def _stepped(name, steps=3, optimizer=None):
    optimizer = optimizer or _sgd()
    scheduler = SCHEDULERS[name](optimizer)
    for _ in range(steps):
        optimizer.step()
        if isinstance(scheduler, sched.ReduceLROnPlateau):
            scheduler.step(1.0)
        else:
            scheduler.step()
    return scheduler, optimizer


# the saved attribute each checked argument lives in
SAVED_AS = {"base_lr": "_base_lr", "max_lr": "max_lrs", "min_lr": "min_lrs",
            "base_momentum": "base_momentums", "max_momentum": "max_momentums",
            "milestones": {"SequentialLR": "_milestones"}}


@pytest.mark.parametrize("name, key, value", SCHED_CASES, ids=SCHED_IDS)
def test_scheduler_arguments_in_load_state_dict(name, key, value):
    scheduler, optimizer = _stepped(name)
    saved = scheduler.state_dict()
    attribute = SAVED_AS.get(key, key)
    if isinstance(attribute, dict):
        attribute = attribute.get(name, key)
    if attribute not in saved:
        pytest.skip(f"{name} does not save {key}")
    if attribute != key and isinstance(saved[attribute], list):  # one value per group
        value = [value] * len(saved[attribute]) if not isinstance(value, list) else value * 2
    saved[attribute] = value
    other, _ = _stepped(name, steps=1)
    before = other.state_dict()
    with pytest.raises(ValueError, match=rf"^{name}: .*{attribute}"):
        other.load_state_dict(saved)
    assert_same(other.state_dict(), before)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_load_state_dict_refuses_none_unknown_and_missing_entries(name):
    scheduler, _ = _stepped(name)
    with pytest.raises(TypeError, match=rf"{name}.load_state_dict\(\) expects a dict from "
                                        r"state_dict\(\), got NoneType"):
        scheduler.load_state_dict(None)
    before = scheduler.state_dict()
    with pytest.raises(ValueError, match=r"unknown entries \['_step_count'\]"):
        scheduler.load_state_dict({**before, "_step_count": 3})
    missing = dict(before)
    del missing["_last_lr"]
    with pytest.raises(ValueError, match=r"missing entries \['_last_lr'\]"):
        scheduler.load_state_dict(missing)
    other_kind = "ExponentialLR" if name != "ExponentialLR" else "StepLR"
    with pytest.raises(ValueError, match=f"does not come from a {name}"):
        scheduler.load_state_dict(_stepped(other_kind)[0].state_dict())
    assert_same(scheduler.state_dict(), before)


@pytest.mark.parametrize("name", [n for n in SCHEDULERS if n != "ReduceLROnPlateau"])
def test_scheduler_per_group_lists_must_match_the_groups(name):
    scheduler, _ = _stepped(name)
    saved = scheduler.state_dict()
    saved["_last_lr"] = saved["_last_lr"][:1]
    with pytest.raises(ValueError, match=r"_last_lr must hold one value per param group \(2\)"):
        scheduler.load_state_dict(saved)


def test_composites_check_their_children_before_loading_any():
    scheduler, _ = _stepped("SequentialLR")
    saved = copy.deepcopy(scheduler.state_dict())
    saved["_schedulers"][1]["gamma"] = NAN
    before = scheduler.state_dict()
    with pytest.raises(ValueError, match="ExponentialLR: invalid gamma: nan"):
        scheduler.load_state_dict(saved)
    assert_same(scheduler.state_dict(), before)
    saved["_schedulers"] = saved["_schedulers"][:1]
    with pytest.raises(ValueError, match="the states of 2 schedulers, got 1"):
        scheduler.load_state_dict(saved)


def test_lambda_state_entries_are_checked():
    scheduler, _ = _stepped("LambdaLR")
    saved = scheduler.state_dict()
    saved["lr_lambdas"] = [None]
    with pytest.raises(ValueError, match="lr_lambdas must be a list of 2 entries"):
        scheduler.load_state_dict(saved)


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
@pytest.mark.parametrize("name", ["LambdaLR", "MultiplicativeLR"])
def test_a_lambda_returning_nonfinite_is_an_error_and_the_step_is_undone(name, bad):
    optimizer = _sgd()
    scheduler = SCHEDULERS[name](optimizer, lr_lambda=lambda t: bad if t == 3 else 0.5)
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    before, lrs = scheduler.state_dict(), [g["lr"] for g in optimizer.param_groups]
    optimizer.step()
    with pytest.raises(ValueError, match=rf"{name}: lr_lambda of param group 0 returned "
                                         rf"{bad!r} at epoch 3; it must return a finite number"):
        scheduler.step()
    assert_same(scheduler.state_dict(), before)
    assert [g["lr"] for g in optimizer.param_groups] == lrs


def test_a_lambda_returning_a_non_number_is_a_type_error():
    with pytest.raises(TypeError, match="lr_lambda of param group 0 returned None at epoch 0"):
        sched.LambdaLR(_sgd(), lambda t: None)
    scheduler = sched.LambdaLR(_sgd(), lambda t: mg.tensor(0.5))  # a one-element tensor is fine
    assert scheduler.get_last_lr() == [0.05, 0.025]


def test_a_closed_form_jump_with_a_nonfinite_lambda_is_refused():
    optimizer = _sgd()
    scheduler = sched.MultiplicativeLR(optimizer, lambda t: NAN if t == 4 else 0.5)
    optimizer.step()
    with pytest.warns(UserWarning, match="deprecated"), pytest.raises(ValueError, match="nan"):
        scheduler.step(5)
    assert scheduler.last_epoch == 0 and optimizer.param_groups[0]["lr"] == 0.1


def test_any_schedule_producing_a_nonfinite_lr_is_refused():
    optimizer = _sgd()
    scheduler = sched.CyclicLR(optimizer, 0.01, 0.1, 2, scale_fn=lambda x: INF if x >= 1 else 1.0,
                               scale_mode="iterations", cycle_momentum=False)
    assert scheduler.get_last_lr() == [0.01, 0.01]
    optimizer.step()
    with pytest.raises(ValueError, match=r"CyclicLR: the schedule gives lr=inf for param "
                                         r"group 0 at epoch 1"):
        scheduler.step()
    assert scheduler.last_epoch == 0 and optimizer.param_groups[0]["lr"] == 0.01


def test_a_failing_child_undoes_the_whole_composite_step():
    optimizer = _sgd()
    first = sched.ConstantLR(optimizer, 0.5, 4)
    second = sched.LambdaLR(optimizer, lambda t: NAN if t == 2 else 1.0)
    chained = sched.ChainedScheduler([first, second])
    optimizer.step()
    chained.step()
    lrs, before = [g["lr"] for g in optimizer.param_groups], chained.state_dict()
    optimizer.step()
    with pytest.raises(ValueError, match="returned nan at epoch 2"):
        chained.step()
    assert [g["lr"] for g in optimizer.param_groups] == lrs
    assert_same(chained.state_dict(), before)


@pytest.mark.parametrize("metric, error, match", [
    ("x", TypeError, "must be a number .*got 'x' of type str"),
    (None, TypeError, "got None"),
    (True, TypeError, "of type bool"),
    (mg.tensor([1.0, 2.0]), TypeError, r"one element, got shape \(2,\)"),
    (NAN, ValueError, "the metric is nan; it must be finite"),
    (INF, ValueError, "the metric is inf"),
    (mg.tensor(NAN), ValueError, "the metric is nan"),
    (np.float32(-INF), ValueError, "the metric is -inf"),
])
def test_reduce_on_plateau_refuses_bad_metrics_before_changing_anything(metric, error, match):
    optimizer = _sgd()
    scheduler = sched.ReduceLROnPlateau(optimizer, patience=0)
    optimizer.step()
    scheduler.step(1.0)
    before = scheduler.state_dict()
    with pytest.raises(error, match=match):
        scheduler.step(metric)
    assert_same(scheduler.state_dict(), before)


@pytest.mark.parametrize("metric", [0.5, np.float32(0.5), mg.tensor(0.5), mg.tensor([0.5]),
                                    np.array(0.5), np.array([[0.5]])])
def test_reduce_on_plateau_accepts_numbers_and_one_element_tensors(metric):
    optimizer = _sgd()
    scheduler = sched.ReduceLROnPlateau(optimizer, patience=0)
    optimizer.step()
    scheduler.step(metric)
    assert scheduler.best == 0.5 and isinstance(scheduler.best, float)


def test_momentum_cycling_checks_momenta_against_the_optimizer():
    with pytest.raises(ValueError, match=r"OneCycleLR: invalid max_momentum: 1.0"):
        sched.OneCycleLR(_adam(), 0.1, total_steps=10, max_momentum=1.0)
    scheduler = sched.OneCycleLR(_adam(), 0.1, total_steps=10, base_momentum=0.8,
                                 max_momentum=0.9)
    assert scheduler.optimizer.param_groups[0]["betas"][0] == 0.9
