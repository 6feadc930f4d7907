"""Cases of test_fused.py for the kernels of one batch of optimizers (see test_fused.py)."""
CASES = [
    ("NAdam", {}), ("NAdam", {"weight_decay": 0.1}),
    ("NAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"maximize": True, "momentum_decay": 0.1}),
]
REQUIRED = ["NAdam"]
