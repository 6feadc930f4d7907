"""Cases of test_fused.py for the kernels of one batch of optimizers (see test_fused.py)."""


class TightClip:
    """An ADOPT ``clip_lambda`` whose bound bites within the test's 12 steps (the default's,
    ``step ** 0.25``, does not there); equal to any other, as a deep copy must be."""

    def __call__(self, step):
        return 0.05 * step ** 0.25

    def __eq__(self, other):
        return isinstance(other, TightClip)

    __hash__ = object.__hash__

    def __repr__(self):
        return "TightClip()"


CASES = [
    ("Adan", {}), ("Adan", {"weight_decay": 0.0, "maximize": True}),
    ("Adan", {"betas": (0.9, 0.8, 0.95), "eps": 1e-6, "eps_root": 1e-4}),
]
REQUIRED = ["Adan"]
CASES += [
    ("AdEMAMix", {}),  # the catalog's warm-ups of 3 steps: alpha(t) and beta3(t) vary
    ("AdEMAMix", {"alpha_warmup": None, "beta3_warmup": None, "weight_decay": 0.1}),
    ("AdEMAMix", {"alpha": 5.0, "maximize": True}),
]
REQUIRED += ["AdEMAMix"]
CASES += [
    ("ADOPT", {}), ("ADOPT", {"clip_lambda": None, "maximize": True}),
    ("ADOPT", {"clip_lambda": TightClip()}), ("ADOPT", {"eps": 0.3}),  # the clip, the eps floor
    ("ADOPT", {"weight_decay": 0.1}),  # L2, also at the first step
    ("ADOPT", {"weight_decay": 0.1, "decoupled_weight_decay": True, "betas": (0.8, 0.99)}),
]
REQUIRED += ["ADOPT"]
CASES += [
    ("AdaBound", {}), ("AdaBound", {"gamma": 0.5, "maximize": True}),  # bounds that bite
    ("AMSBound", {}), ("AMSBound", {"gamma": 0.5, "weight_decay": 0.1}),
    ("AdaBound", {"amsbound": True, "final_lr": 0.0}),
]
REQUIRED += ["AdaBound", "AMSBound"]
CASES += [
    ("FTRL", {}), ("FTRL", {"lr_power": 0.0}), ("FTRL", {"lr_power": -1.0, "maximize": True}),
    ("FTRL", {"l1": 0.0, "l2": 0.1, "l2_shrinkage": 0.05, "beta": 0.5}),
    ("FTRL", {"l1": 0.5, "initial_accumulator_value": 0.0}),
]
REQUIRED += ["FTRL"]
CASES += [
    ("ScheduleFreeAdamW", {}), ("ScheduleFreeAdamW", {"weight_decay": 0.1, "warmup_steps": 5}),
    ("ScheduleFreeAdamW", {"r": 1.0, "weight_lr_power": 0.0, "maximize": True}),
]
REQUIRED += ["ScheduleFreeAdamW"]
CASES += [
    ("AggMo", {}), ("AggMo", {"betas": (0.9,), "weight_decay": 0.0}),
    ("AggMo", {"betas": (0.0, 0.95), "maximize": True}),
    ("AggMo", {"betas": (0.0, 0.5, 0.9, 0.99)}),
]
REQUIRED += ["AggMo"]
# SAdam's default softplus keeps its array calls: not REQUIRED; its Padam transformer has kernels
CASES += [
    ("SAdam", {"transformer": "Padam"}),  # SAMSGrad, partial 0.25: sqrt
    ("SAdam", {"transformer": "Padam", "amsgrad": False, "maximize": True}),
    ("SAdam", {"transformer": "Padam", "partial": 0.0, "grad_transf": "abs"}),
    ("SAdam", {"transformer": "Padam", "partial": 0.0, "amsgrad": False}),
    ("SAdam", {"transformer": "Padam", "partial": 0.5, "weight_decay": 0.1}),
    ("SAdam", {"transformer": "Padam", "partial": 0.5, "amsgrad": False,
               "grad_transf": "abs", "eps": 0.1}),
]
