"""Cases of test_fused.py for the kernels of one batch of optimizers (see test_fused.py)."""
CASES = [
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
REQUIRED = ["NAdam", "RAdam", "Lion", "AdaBelief", "Yogi", "SignSGD", "Signum", "QHM",
            "QHAdam"]
