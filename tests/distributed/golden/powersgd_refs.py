"""Golden PowerSGD results from PyTorch, for tests/distributed/test_compression.py.

Produced with ``/tmp/refenv/bin/python tests/distributed/golden/powersgd_refs.py`` in the
reference environment (torch 2.13.0 CPU): a one-process gloo group runs
``torch.distributed.algorithms.ddp_comm_hooks.powerSGD_hook.powerSGD_hook`` on a stand-in
bucket (``buffer()``, ``gradients()`` as views of it, ``index()``, ``is_last()``) holding
float64 gradients of several shapes: conv-like 4-D, matrices worth compressing and not, 1-D
tensors. Every compressed matrix is given rank <= r, so PowerSGD reproduces it whatever its
random Q (torch draws it with torch.randn, minigrad with NumPy: those draws differ); the
script records, per case, the hook's outputs and residuals per step and
``state.compression_stats()``, in powersgd_refs.json next to this file.
"""
from __future__ import annotations

import json
import math
import os
import pathlib

import numpy as np

SHAPES = [(8, 3, 3, 3), (8,), (20, 16), (16,), (5, 20), (3, 3), (100, 2), (7, 1)]
CASES = [dict(matrix_approximation_rank=1, min_compression_rate=2),
         dict(matrix_approximation_rank=2, min_compression_rate=2),
         dict(matrix_approximation_rank=2, min_compression_rate=1),
         dict(matrix_approximation_rank=4, min_compression_rate=0.5)]
STEPS = 4


def gradients(case: int, step: int, rank: int) -> np.ndarray:
    """The flat bucket: each tensor viewed as rows x rest has rank <= r (generic otherwise)."""
    rng = np.random.default_rng([case, step])
    parts = []
    for shape in SHAPES:
        rows = shape[0]
        cols = math.prod(shape[1:]) if len(shape) > 1 else 1
        k = min(rank, rows, cols)
        parts.append((rng.standard_normal((rows, k)) @ rng.standard_normal((k, cols))).reshape(-1))
    return np.concatenate(parts)


class Bucket:
    def __init__(self, torch, flat):
        self.flat = torch.tensor(flat, dtype=torch.float64)
        self.torch = torch

    def buffer(self):
        return self.flat

    def gradients(self):
        out, at = [], 0
        for shape in SHAPES:
            n = math.prod(shape)
            out.append(self.flat[at:at + n].view(shape))
            at += n
        return out

    def index(self):
        return 0

    def is_last(self):
        return True


def main() -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as powerSGD
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    dist.init_process_group("gloo", rank=0, world_size=1)
    out = {"torch": torch.__version__, "shapes": SHAPES, "steps": STEPS, "cases": []}
    for c, case in enumerate(CASES):
        state = powerSGD.PowerSGDState(None, start_powerSGD_iter=2, **case)
        outputs, errors = [], []
        for step in range(STEPS):
            flat = gradients(c, step, case["matrix_approximation_rank"])
            result = powerSGD.powerSGD_hook(state, Bucket(torch, flat)).wait()
            outputs.append(result.numpy().tolist())
            err = state.error_dict.get(0)
            errors.append(None if err is None else float(err.abs().max()))
        out["cases"].append({"kwargs": case, "outputs": outputs, "max_error": errors,
                             "compression_stats": list(state.compression_stats()),
                             "iter": state.iter})
    dist.destroy_process_group()
    path = pathlib.Path(__file__).with_suffix(".json")
    path.write_text(json.dumps(out))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
