"""Cases of test_fused.py for the kernels of one batch of optimizers (see test_fused.py)."""
CASES = []
REQUIRED = []
