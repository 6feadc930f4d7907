"""Every optimizer trains the digits MLP well above chance in a few epochs (smoke test).

Runs examples/compare_optimizers.py's training loop, so the example stays tested too.
"""
import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "compare_optimizers.py"
spec = importlib.util.spec_from_file_location("compare_optimizers", EXAMPLE)
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)

EXPECTED = {"Adam", "AdamW", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam",
            "ASGD", "Rprop", "Adafactor", "LBFGS", "FTRL", "Lion", "AdaBelief",
            "ScheduleFreeAdamW", "Muon", "Lookahead(Adam)", "Ranger", "Yogi", "Adan", "SignSGD",
            "Signum", "QHM", "QHAdam", "ADOPT", "AdEMAMix", "LAMB", "LARS", "NovoGrad", "SM3",
            "AggMo", "AdaBound", "AMSBound", "MADGRAD", "DAdaptAdam", "DAdaptSGD", "Prodigy",
            "SAdam", "Ranger21", "SophiaH", "AdaHessian", "Shampoo", "SOAP", "SAM(SGD)"}


def test_the_comparison_covers_every_optimizer():
    assert EXPECTED <= set(compare.OPTIMIZERS)


@pytest.mark.parametrize("name", sorted(compare.OPTIMIZERS))
def test_optimizer_trains_the_digits_mlp_above_chance(name):
    hidden = 0 if name in compare.LINEAR_MODEL_ONLY else 32
    result = compare.train_digits(compare.OPTIMIZERS[name], epochs=3, hidden=hidden)
    assert result["last_loss"] < result["first_loss"]
    assert result["val_accuracy"] > 0.5  # chance is 0.1 (and a loss of ln 10 = 2.30)
