"""Cases of test_fused.py for the kernels of one batch of optimizers (see test_fused.py)."""
CASES = [
    # SGD (catalog: lr=0.05, momentum=0.9); maximizing the quartic loss diverges with those
    ("SGD", {}), ("SGD", {"momentum": 0.0}), ("SGD", {"dampening": 0.3}),
    ("SGD", {"nesterov": True}), ("SGD", {"weight_decay": 0.1}),
    ("SGD", {"momentum": 0.0, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}),
]
REQUIRED = ["SGD"]
