"""The cases test_fused.py runs: (catalog name, options) covering every option that changes
a kernel's body, and the optimizers that must have kernels. MADGRAD (a cube root per
entry) and SAdam's default softplus transformer (exp and log1p per entry) keep their array
calls, so they have no cases."""

# --- SGD, RMSprop, Adagrad, Adadelta, Adamax, ASGD, Rprop -----------------------------------------
_CASES_A = [
    # SGD (catalog: lr=0.05, momentum=0.9); maximizing the quartic loss diverges with those
    ("SGD", {}), ("SGD", {"momentum": 0.0}), ("SGD", {"dampening": 0.3}),
    ("SGD", {"nesterov": True}), ("SGD", {"weight_decay": 0.1}),
    ("SGD", {"momentum": 0.0, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}),
]
_REQUIRED_A = ["SGD"]

# RMSprop (catalog: lr=0.01, momentum=0.5, centered=True)
_CASES_A += [
    ("RMSprop", {}), ("RMSprop", {"centered": False}), ("RMSprop", {"momentum": 0.0}),
    ("RMSprop", {"centered": False, "momentum": 0.0}),
    ("RMSprop", {"alpha": 0.9, "weight_decay": 0.1, "maximize": True}),
]
_REQUIRED_A += ["RMSprop"]

# Adagrad (catalog: lr=0.05)
_CASES_A += [
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.2}),
    ("Adagrad", {"maximize": True, "lr": 0.01}),
]
_REQUIRED_A += ["Adagrad"]

# Adadelta (catalog: lr=1.0)
_CASES_A += [
    ("Adadelta", {}), ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True, "lr": 0.1}),
]
_REQUIRED_A += ["Adadelta"]

# Adamax (catalog: lr=0.05)
_CASES_A += [
    ("Adamax", {}), ("Adamax", {"betas": (0.8, 0.9), "weight_decay": 0.1, "eps": 0.0}),
    ("Adamax", {"maximize": True, "lr": 0.01}),
]
_REQUIRED_A += ["Adamax"]

# ASGD (catalog: lr=0.05, t0=1.0: averaging from the third step)
_CASES_A += [
    ("ASGD", {}), ("ASGD", {"t0": 1e6}),
    ("ASGD", {"lambd": 0.01, "alpha": 0.5, "t0": 5, "weight_decay": 0.1}),
    ("ASGD", {"maximize": True, "lr": 0.01}),
]
_REQUIRED_A += ["ASGD"]

# Rprop (catalog: lr=0.05)
_CASES_A += [
    ("Rprop", {}), ("Rprop", {"etas": (0.3, 1.5), "step_sizes": (1e-3, 0.05)}),
    ("Rprop", {"maximize": True, "lr": 0.01}),
]
_REQUIRED_A += ["Rprop"]

# --- NAdam, RAdam (and Ranger), Lion, AdaBelief, Yogi, SignSGD/Signum, QHM/QHAdam -----------------
_CASES_B = [
    ("NAdam", {}), ("NAdam", {"weight_decay": 0.1}),
    ("NAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"maximize": True, "momentum_decay": 0.1}),
    # both branches in 12 steps (un-rectified while rho_t <= 5: the first 5 with b2 = 0.999);
    # b2 = 0.9 rectifies from step 6 on too, b2 = 0.5 never does
    ("RAdam", {}), ("RAdam", {"betas": (0.8, 0.9), "weight_decay": 0.1}),
    ("RAdam", {"betas": (0.9, 0.5), "maximize": True}),
    ("RAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    # Ranger's inner optimizer is RAdam on centralised gradients: it takes RAdam's kernel
    ("Ranger", {}), ("Ranger", {"betas": (0.8, 0.9), "weight_decay": 0.1, "maximize": True}),
    # the catalog's Lion has weight_decay=0.1 (decoupled)
    ("Lion", {}), ("Lion", {"weight_decay": 0.0, "maximize": True}),
    ("Lion", {"betas": (0.5, 0.7)}),
    # rectify: the momentum step while rho_t <= 5 (the first 5 with b2 = 0.999), then the
    # rectified one; b2 = 0.9 rectifies from step 6 on too
    ("AdaBelief", {}), ("AdaBelief", {"amsgrad": True}), ("AdaBelief", {"rectify": True}),
    ("AdaBelief", {"rectify": True, "amsgrad": True, "betas": (0.8, 0.9)}),
    ("AdaBelief", {"rectify": True, "betas": (0.8, 0.9), "weight_decay": 0.1}),
    ("AdaBelief", {"weight_decay": 0.1, "decoupled_weight_decay": False, "maximize": True}),
    ("AdaBelief", {"weight_decay": 0.1, "eps": 1e-8, "betas": (0.8, 0.9)}),
    ("Yogi", {}), ("Yogi", {"weight_decay": 0.1, "maximize": True}),
    ("Yogi", {"betas": (0.5, 0.7), "initial_accumulator_value": 0.5, "eps": 1e-8}),
    ("SignSGD", {}), ("SignSGD", {"weight_decay": 0.1, "maximize": True}),
    # the catalog's Signum has weight_decay=0.01 (decoupled)
    ("Signum", {}), ("Signum", {"momentum": 0.0, "weight_decay": 0.0, "maximize": True}),
    ("Signum", {"momentum": 0.5}),
    ("QHM", {}), ("QHM", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("QHM", {"weight_decay": 0.1, "maximize": True, "nu": 1.0}), ("QHM", {"nu": 0.0}),
    # the catalog's QHAdam has nus=(0.7, 1.0)
    ("QHAdam", {}), ("QHAdam", {"nus": (1.0, 1.0)}), ("QHAdam", {"nus": (0.7, 0.5)}),
    ("QHAdam", {"nus": (1.0, 0.8), "eps": 0.0, "weight_decay": 0.1, "maximize": True}),
    ("QHAdam", {"betas": (0.5, 0.7), "weight_decay": 0.1, "decoupled_weight_decay": True}),
]
_REQUIRED_B = ["NAdam", "RAdam", "Lion", "AdaBelief", "Yogi", "SignSGD", "Signum", "QHM",
            "QHAdam"]

# --- Adan, AdEMAMix, ADOPT, AdaBound/AMSBound, FTRL, ScheduleFreeAdamW, AggMo, SAdam --------------
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


_CASES_C = [
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
_REQUIRED_C = ["Adan", "AdEMAMix", "ADOPT", "AdaBound", "AMSBound", "FTRL", "ScheduleFreeAdamW",
            "AggMo"]

CASES = _CASES_A + _CASES_B + _CASES_C
REQUIRED = _REQUIRED_A + _REQUIRED_B + _REQUIRED_C
