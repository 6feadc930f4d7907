"""Cases of test_fused.py for the kernels of one batch of optimizers (see test_fused.py):
Adan, AdEMAMix, ADOPT, AdaBound/AMSBound, FTRL, ScheduleFreeAdamW, AggMo and SAdam's Padam
transformer. MADGRAD (a cube root per entry) and SAdam's default softplus transformer (exp
and log1p per entry) keep their array calls, so they have no cases."""


class TightClip:
    """An ADOPT ``clip_lambda`` whose bound bites within the test's 12 steps (the default's,
    ``step ** 0.25``, does not there); equal to any other, as a deep copy must be."""

    def __call__(self, step):
        return 0.05 * step ** 0.25

    def __eq__(self, other):
        return isinstance(other, TightClip)

    def __hash__(self):
        return hash(TightClip)

    def __repr__(self):
        return "TightClip()"


CASES = [
    # Adan: the first step's zero difference, decoupled decay (the catalog's) or none
    ("Adan", {}), ("Adan", {"weight_decay": 0.0, "maximize": True}),
    ("Adan", {"betas": (0.9, 0.8, 0.95), "eps": 1e-6, "eps_root": 1e-4}),
    # AdEMAMix: the catalog's warm-ups of 3 steps (alpha(t) and beta3(t) vary), none
    ("AdEMAMix", {}),
    ("AdEMAMix", {"alpha_warmup": None, "beta3_warmup": None, "weight_decay": 0.1}),
    ("AdEMAMix", {"alpha": 5.0, "maximize": True}),
    # ADOPT: the default clip (never reached in 12 steps), none, one that bites, the eps
    # floor, L2 (also at the first step), decoupled decay (from the second step)
    ("ADOPT", {}), ("ADOPT", {"clip_lambda": None, "maximize": True}),
    ("ADOPT", {"clip_lambda": TightClip()}), ("ADOPT", {"eps": 0.3}),
    ("ADOPT", {"weight_decay": 0.1}),
    ("ADOPT", {"weight_decay": 0.1, "decoupled_weight_decay": True, "betas": (0.8, 0.99)}),
    # AdaBound / AMSBound: gamma=0.5 and final_lr=0 make the bounds bite
    ("AdaBound", {}), ("AdaBound", {"gamma": 0.5, "maximize": True}),
    ("AMSBound", {}), ("AMSBound", {"gamma": 0.5, "weight_decay": 0.1}),
    ("AdaBound", {"amsbound": True, "final_lr": 0.0}),
    # FTRL: each power with a kernel (-0.5, 0, -1), l2/l2_shrinkage/beta, a large l1
    ("FTRL", {}), ("FTRL", {"lr_power": 0.0}), ("FTRL", {"lr_power": -1.0, "maximize": True}),
    ("FTRL", {"l1": 0.0, "l2": 0.1, "l2_shrinkage": 0.05, "beta": 0.5}),
    ("FTRL", {"l1": 0.5, "initial_accumulator_value": 0.0}),
    # ScheduleFreeAdamW (in train mode, as the catalog builds it)
    ("ScheduleFreeAdamW", {}), ("ScheduleFreeAdamW", {"weight_decay": 0.1, "warmup_steps": 5}),
    ("ScheduleFreeAdamW", {"r": 1.0, "weight_lr_power": 0.0, "maximize": True}),
    # AggMo: 1 to 4 betas (a kernel each)
    ("AggMo", {}), ("AggMo", {"betas": (0.9,), "weight_decay": 0.0}),
    ("AggMo", {"betas": (0.0, 0.95), "maximize": True}),
    ("AggMo", {"betas": (0.0, 0.5, 0.9, 0.99)}),
    # SAdam's Padam transformer: SAMSGrad and SAdam at partial 0.25 (sqrt), 0 and 0.5
    ("SAdam", {"transformer": "Padam"}),
    ("SAdam", {"transformer": "Padam", "amsgrad": False, "maximize": True}),
    ("SAdam", {"transformer": "Padam", "partial": 0.0, "grad_transf": "abs"}),
    ("SAdam", {"transformer": "Padam", "partial": 0.0, "amsgrad": False}),
    ("SAdam", {"transformer": "Padam", "partial": 0.5, "weight_decay": 0.1}),
    ("SAdam", {"transformer": "Padam", "partial": 0.5, "amsgrad": False,
               "grad_transf": "abs", "eps": 0.1}),
]
# SAdam is not required: its default (softplus) keeps the array calls
REQUIRED = ["Adan", "AdEMAMix", "ADOPT", "AdaBound", "AMSBound", "FTRL", "ScheduleFreeAdamW",
            "AggMo"]
