"""Bad hyper-parameters are rejected at construction with a ValueError naming the argument."""
import pytest

import minigrad as mg
from minigrad import optim

BAD_ARGUMENTS = [
    (optim.SGD, dict(lr=-0.1), "lr"),
    (optim.SGD, dict(lr=0.1, momentum=-0.5), "momentum"),
    (optim.SGD, dict(lr=0.1, weight_decay=-1.0), "weight_decay"),
    (optim.SGD, dict(lr=0.1, nesterov=True), "nesterov"),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (optim.Adam, dict(lr=-1e-3), "lr"),
    (optim.Adam, dict(betas=(1.0, 0.999)), "betas"),
    (optim.Adam, dict(betas=(0.9, -0.1)), "betas"),
    (optim.Adam, dict(betas=(0.9,)), "betas"),
    (optim.Adam, dict(eps=-1e-8), "eps"),
    (optim.Adam, dict(weight_decay=-0.1), "weight_decay"),
    (optim.AdamW, dict(betas=(0.9, 1.5)), "betas"),
    (optim.AdamW, dict(lr="fast"), "lr"),
    (optim.RAdam, dict(betas=(0.9, 1.0)), "betas"),
    (optim.RAdam, dict(eps=-1.0), "eps"),
    (optim.Adagrad, dict(lr_decay=-0.1), "lr_decay"),
    (optim.Adagrad, dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (optim.Adagrad, dict(eps=-1e-10), "eps"),
    (optim.RMSprop, dict(alpha=-0.9), "alpha"),
    (optim.RMSprop, dict(momentum=-0.1), "momentum"),
    (optim.Adadelta, dict(rho=1.5), "rho"),
    (optim.Adadelta, dict(lr=-1.0), "lr"),
    (optim.Adamax, dict(betas=(0.9, 1.0)), "betas"),
    (optim.NAdam, dict(momentum_decay=-1e-3), "momentum_decay"),
    (optim.NAdam, dict(betas=(-0.1, 0.999)), "betas"),
    (optim.ASGD, dict(lambd=-1e-4), "lambd"),
    (optim.ASGD, dict(alpha=-0.75), "alpha"),
    (optim.Rprop, dict(etas=(1.5, 1.2)), "etas"),
    (optim.Rprop, dict(etas=(0.5, 0.9)), "etas"),
    (optim.Rprop, dict(step_sizes=(1.0, 0.1)), "step_sizes"),
    (optim.Adafactor, dict(beta2_decay=0.5), "beta2_decay"),
    (optim.Adafactor, dict(eps=(None, -1e-3)), "eps"),
    (optim.Adafactor, dict(d=0.5), "d"),
    (optim.Adafactor, dict(weight_decay=-0.1), "weight_decay"),
]


@pytest.mark.parametrize("cls, kwargs, name", BAD_ARGUMENTS,
                         ids=[f"{c.__name__}-{k}" for c, k, _ in BAD_ARGUMENTS])
def test_bad_hyper_parameter_names_the_argument(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls([mg.ones(2, requires_grad=True)], **kwargs)
