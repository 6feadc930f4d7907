"""Cases of test_fused.py for the kernels of one batch of optimizers (see test_fused.py)."""
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
