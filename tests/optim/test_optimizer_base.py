"""The Optimizer base: param groups, skipping, zero_grad, closures, state_dict, errors."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import optim


def _params(*shapes, dtype=mg.float64):
    return [mg.ones(*shape, dtype=dtype, requires_grad=True) if shape else
            mg.tensor(1.0, dtype=dtype, requires_grad=True) for shape in shapes]


def _backward_sum(*params):
    sum((p * p).sum() for p in params).backward()


class TestConstruction:
    def test_bare_tensor_is_rejected(self):
        with pytest.raises(TypeError, match="single Tensor"):
            optim.SGD(mg.ones(2, requires_grad=True), lr=0.1)

    def test_empty_list_is_rejected(self):
        with pytest.raises(ValueError, match="empty parameter list"):
            optim.SGD([], lr=0.1)

    def test_non_leaf_is_rejected(self):
        w = mg.ones(2, requires_grad=True)
        with pytest.raises(ValueError, match="non-leaf"):
            optim.SGD([w * 2], lr=0.1)

    def test_integer_tensor_is_rejected(self):
        with pytest.raises(TypeError, match="floating point"):
            optim.SGD([mg.tensor([1, 2])], lr=0.1)

    def test_set_in_group_is_rejected(self):
        w = mg.ones(2, requires_grad=True)
        with pytest.raises(TypeError, match="not a set"):
            optim.SGD([{"params": {w}}], lr=0.1)

    def test_set_of_params_warns(self):
        w = mg.ones(2, requires_grad=True)
        with pytest.warns(UserWarning, match="set"):
            opt = optim.SGD({w}, lr=0.1)
        assert opt.param_groups[0]["params"] == [w]

    def test_same_tensor_in_two_groups_is_rejected(self):
        w = mg.ones(2, requires_grad=True)
        with pytest.raises(ValueError, match="more than one parameter group"):
            optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)

    def test_duplicate_in_one_group_warns(self):
        w = mg.ones(2, requires_grad=True)
        with pytest.warns(UserWarning, match="twice"):
            optim.SGD([w, w], lr=0.1)

    def test_named_parameters_are_recorded(self):
        w, b = _params((2, 2), (2,))
        opt = optim.SGD([("weight", w), ("bias", b)], lr=0.1)
        assert opt.param_groups[0]["params"] == [w, b]
        assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
        assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]

    def test_required_hyper_parameter(self):
        class Plain(optim.Optimizer):
            def __init__(self, params, lr=optim.required):
                super().__init__(params, {"lr": lr})

        w = mg.ones(2, requires_grad=True)
        with pytest.raises(ValueError, match="'lr'"):
            Plain([w])
        assert Plain([{"params": [w], "lr": 0.5}]).param_groups[0]["lr"] == 0.5

    def test_tensor_lr_becomes_a_float(self):
        opt = optim.SGD(_params((2,)), lr=mg.tensor(0.25))
        assert opt.param_groups[0]["lr"] == 0.25 and isinstance(opt.param_groups[0]["lr"], float)
        with pytest.raises(ValueError, match="one element"):
            optim.SGD(_params((2,)), lr=mg.tensor([0.1, 0.2]))


class TestStep:
    def test_groups_use_their_own_hyper_parameters(self):
        w, b = _params((2,), (2,))
        opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5, "weight_decay": 1.0}],
                        lr=0.1)
        _backward_sum(w, b)  # grad = 2 p = 2
        opt.step()
        np.testing.assert_allclose(w.numpy(), 1 - 0.1 * 2)
        np.testing.assert_allclose(b.numpy(), 1 - 0.5 * (2 + 1.0))

    def test_changing_lr_takes_effect_at_the_next_step(self):
        (w,) = _params((2,))
        opt = optim.SGD([w], lr=0.1)
        opt.param_groups[0]["lr"] = 0.25
        _backward_sum(w)
        opt.step()
        np.testing.assert_allclose(w.numpy(), 1 - 0.25 * 2)

    def test_parameter_without_grad_is_skipped(self):
        used, unused = _params((2,), (3,))
        opt = optim.Adam([used, unused], lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            _backward_sum(used)
            opt.step()
        np.testing.assert_array_equal(unused.numpy(), np.ones(3))
        assert unused not in opt.state
        assert opt.state[used]["step"] == 3
        assert list(opt.state_dict()["state"]) == [0]

    def test_zero_gradient_is_not_skipped(self):
        (w,) = _params((2,))
        opt = optim.SGD([w], lr=0.1, weight_decay=1.0)
        w.grad = mg.zeros(2, dtype=mg.float64)
        opt.step()
        np.testing.assert_allclose(w.numpy(), 0.9)
        assert opt.state[w]["step"] == 1

    def test_step_builds_no_graph_and_keeps_grad(self):
        (w,) = _params((2,))
        opt = optim.Adam([w], lr=0.1)
        _backward_sum(w)
        grad_before = w.grad.numpy().copy()
        opt.step()
        assert w.is_leaf and w.requires_grad
        np.testing.assert_array_equal(w.grad.numpy(), grad_before)

    def test_maximize_leaves_grad_untouched(self):
        (w,) = _params((2,))
        opt = optim.SGD([w], lr=0.1, maximize=True, weight_decay=0.5)
        _backward_sum(w)
        opt.step()
        np.testing.assert_allclose(w.grad.numpy(), 2.0)
        np.testing.assert_allclose(w.numpy(), 1 - 0.1 * (-2 + 0.5))

    def test_closure_runs_with_grad_and_its_value_is_returned(self):
        (w,) = _params((2,))
        opt = optim.SGD([w], lr=0.1)

        def closure():
            opt.zero_grad()
            loss = (w * w).sum()
            loss.backward()
            return loss

        with mg.no_grad():
            loss = opt.step(closure)
        assert loss.item() == 2.0
        np.testing.assert_allclose(w.numpy(), 0.8)

    @pytest.mark.parametrize("set_to_none", [True, False])
    def test_zero_grad(self, set_to_none):
        w, b = _params((2,), (3,))
        opt = optim.SGD([w, b], lr=0.1)
        _backward_sum(w)
        grad = w.grad
        opt.zero_grad(set_to_none=set_to_none)
        assert b.grad is None
        if set_to_none:
            assert w.grad is None
        else:
            np.testing.assert_array_equal(w.grad.numpy(), np.zeros(2))
            assert w.grad.shape == (2,) and not w.grad.requires_grad
            np.testing.assert_array_equal(grad.numpy(), np.zeros(2))

    def test_add_param_group(self):
        w, b = _params((2,), (2,))
        opt = optim.SGD([w], lr=0.1, momentum=0.9)
        opt.add_param_group({"params": b, "lr": 0.3})
        assert opt.param_groups[1]["params"] == [b]
        assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.3
        with pytest.raises(ValueError, match="more than one parameter group"):
            opt.add_param_group({"params": [w]})

    def test_base_class_alone_cannot_step(self):
        (w,) = _params((2,))
        opt = optim.Optimizer([w], {"lr": 0.1})
        _backward_sum(w)
        with pytest.raises(NotImplementedError):
            opt.step()


class TestStateDict:
    def _trained(self, dtype=mg.float64):
        w, b = _params((2, 3), (3,), dtype=dtype)
        opt = optim.Adam([{"params": [w]}, {"params": [b], "lr": 0.2}], lr=0.1, amsgrad=True)
        _backward_sum(w, b)
        opt.step()
        return opt, w, b

    def test_layout(self):
        opt, w, b = self._trained()
        sd = opt.state_dict()
        assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
        assert sd["param_groups"][1]["lr"] == 0.2
        assert set(sd["state"]) == {0, 1}
        assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
        assert sd["state"][0]["step"] == 1 and isinstance(sd["state"][0]["step"], int)

    def test_load_copies_and_casts_to_each_parameter_dtype(self):
        opt, w, b = self._trained(dtype=mg.float64)
        w32, b32 = _params((2, 3), (3,), dtype=mg.float32)
        fresh = optim.Adam([{"params": [w32]}, {"params": [b32]}], lr=0.5, amsgrad=True)
        fresh.load_state_dict(opt.state_dict())
        assert fresh.param_groups[1]["lr"] == 0.2
        loaded = fresh.state[w32]["exp_avg"]
        assert loaded.dtype == np.float32 and fresh.state[w32]["step"] == 1
        np.testing.assert_allclose(loaded, opt.state[w]["exp_avg"], rtol=1e-6)
        loaded[...] = 7.0  # the loaded state is the new optimizer's own
        assert not np.any(opt.state[w]["exp_avg"] == 7.0)

    def test_group_count_mismatch(self):
        opt, w, b = self._trained()
        fresh = optim.Adam(_params((2, 3), (3,)), lr=0.1)
        with pytest.raises(ValueError, match="2 parameter groups"):
            fresh.load_state_dict(opt.state_dict())

    def test_group_size_mismatch(self):
        opt, w, b = self._trained()
        fresh = optim.Adam([{"params": _params((2, 3), (3,))}, {"params": _params((3,))}])
        with pytest.raises(ValueError, match="group 0 .* 1 parameters"):
            fresh.load_state_dict(opt.state_dict())

    def test_adamw_stays_decoupled_after_load(self):
        (w,) = _params((2,))
        adam = optim.Adam([w], lr=0.1, weight_decay=0.1)
        adamw = optim.AdamW(_params((2,)), lr=0.1)
        adamw.load_state_dict(adam.state_dict())
        assert adamw.param_groups[0]["decoupled_weight_decay"] is True
        assert adamw.param_groups[0]["weight_decay"] == 0.1


def test_repr_lists_groups():
    text = repr(optim.SGD(_params((2,)), lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "momentum: 0.9" in text and "Parameter Group 0" in text


# Rprop is left out: its lr is only the initial step size, which is then clipped from below.
ALL_WITH_LR = [optim.SGD, optim.Adam, optim.AdamW, optim.RAdam, optim.Adagrad, optim.RMSprop,
               optim.Adadelta, optim.Adamax, optim.NAdam, optim.ASGD, optim.Adafactor]


@pytest.mark.parametrize("cls", ALL_WITH_LR, ids=lambda c: c.__name__)
def test_each_group_reads_its_own_lr_and_weight_decay(cls):
    frozen, moving, decayed = _params((2, 3), (3,), (3,))
    opt = cls([{"params": [frozen], "lr": 0.0},
               {"params": [moving], "lr": 0.1, "weight_decay": 0.0},
               {"params": [decayed], "lr": 0.1, "weight_decay": 0.5}])
    for _ in range(3):
        opt.zero_grad()
        _backward_sum(frozen, moving, decayed)
        opt.step()
    np.testing.assert_array_equal(frozen.numpy(), np.ones((2, 3)))
    assert np.all(moving.numpy() < 1.0)
    assert not np.array_equal(decayed.numpy(), moving.numpy())  # the decay was applied
    assert opt.state[frozen]["step"] == 3


def test_step_counts_itself_once_per_call_and_schedulers_patch_nothing():
    from minigrad.optim import lr_scheduler

    class Outer(optim.SGD):
        def step(self, closure=None):
            return super().step(closure)  # counted once, not twice

    p = mg.zeros(2, requires_grad=True)
    opt = Outer([p], lr=0.1)
    scheduler = lr_scheduler.StepLR(opt, step_size=1)
    assert "step" not in vars(opt) and opt._step_count == 0 and opt._opt_called is False
    p.grad = mg.ones(2)
    opt.step()
    opt.step()
    assert opt._step_count == 2 and opt._opt_called is True
    scheduler.step()
    lookahead = optim.Lookahead(optim.SGD([mg.zeros(1, requires_grad=True)], lr=0.1))
    lookahead.step()
    assert lookahead._step_count == 1 and lookahead.base_optimizer._step_count == 1


def test_a_wrapper_implements_the_small_protocol():
    from minigrad.optim.wrapper import OptimizerWrapper

    class Counting(OptimizerWrapper):
        def __init__(self, inner):
            self.after, self.groups = 0, 0
            super().__init__(inner)

        def _after_step(self):
            self.after += 1

        def _group_added(self, group):
            self.groups += 1

        def _wrapper_state(self):
            return {"after": self.after}

        def _load_wrapper_state(self, entries):
            if entries["after"] < 0:
                raise ValueError("after must be >= 0")
            return lambda: setattr(self, "after", entries["after"])

    p, q = mg.zeros(2, requires_grad=True), mg.zeros(1, requires_grad=True)
    inner = optim.SGD([p], lr=0.1, on_nonfinite="skip")
    wrapped = Counting(inner)
    assert isinstance(wrapped, optim.Optimizer) and wrapped.groups == 1
    wrapped.add_param_group({"params": [q]})
    assert wrapped.groups == 2 and wrapped.param_groups is inner.param_groups
    p.grad = mg.ones(2)
    wrapped.step()
    p.grad = mg.tensor([float("nan"), 0.0])
    with pytest.warns(RuntimeWarning, match="skipped"):
        wrapped.step()  # skipped by the inner optimizer: not the wrapper's step
    assert wrapped.after == 1 and wrapped.skipped_steps == 1
    saved = wrapped.state_dict()
    assert saved["after"] == 1
    with pytest.raises(ValueError, match="after must be"):
        wrapped.load_state_dict({**saved, "after": -1})
    assert wrapped.after == 1
    with pytest.raises(ValueError, match="no 'after' entry"):
        wrapped.load_state_dict(inner.state_dict())
    wrapped.after = 5
    wrapped.load_state_dict(saved)
    assert wrapped.after == 1
    with pytest.raises(TypeError, match="base_optimizer must be a minigrad Optimizer"):
        Counting(object())
