"""Cases of test_fused.py for the kernels of one batch of optimizers (see test_fused.py)."""
CASES = [
    # SGD (catalog: lr=0.05, momentum=0.9); maximizing the quartic loss diverges with those
    ("SGD", {}), ("SGD", {"momentum": 0.0}), ("SGD", {"dampening": 0.3}),
    ("SGD", {"nesterov": True}), ("SGD", {"weight_decay": 0.1}),
    ("SGD", {"momentum": 0.0, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}),
]
REQUIRED = ["SGD"]

# RMSprop (catalog: lr=0.01, momentum=0.5, centered=True)
CASES += [
    ("RMSprop", {}), ("RMSprop", {"centered": False}), ("RMSprop", {"momentum": 0.0}),
    ("RMSprop", {"centered": False, "momentum": 0.0}),
    ("RMSprop", {"alpha": 0.9, "weight_decay": 0.1, "maximize": True}),
]
REQUIRED += ["RMSprop"]

# Adagrad (catalog: lr=0.05)
CASES += [
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.2}),
    ("Adagrad", {"maximize": True, "lr": 0.01}),
]
REQUIRED += ["Adagrad"]

# Adadelta (catalog: lr=1.0)
CASES += [
    ("Adadelta", {}), ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True, "lr": 0.1}),
]
REQUIRED += ["Adadelta"]

# Adamax (catalog: lr=0.05)
CASES += [
    ("Adamax", {}), ("Adamax", {"betas": (0.8, 0.9), "weight_decay": 0.1, "eps": 0.0}),
    ("Adamax", {"maximize": True, "lr": 0.01}),
]
REQUIRED += ["Adamax"]

# ASGD (catalog: lr=0.05, t0=1.0: averaging from the third step)
CASES += [
    ("ASGD", {}), ("ASGD", {"t0": 1e6}),
    ("ASGD", {"lambd": 0.01, "alpha": 0.5, "t0": 5, "weight_decay": 0.1}),
    ("ASGD", {"maximize": True, "lr": 0.01}),
]
REQUIRED += ["ASGD"]

# Rprop (catalog: lr=0.05)
CASES += [
    ("Rprop", {}), ("Rprop", {"etas": (0.3, 1.5), "step_sizes": (1e-3, 0.05)}),
    ("Rprop", {"maximize": True, "lr": 0.01}),
]
REQUIRED += ["Rprop"]
