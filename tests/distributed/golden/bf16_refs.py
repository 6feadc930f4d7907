"""Golden bfloat16 roundings from PyTorch, for tests/distributed/test_compression.py.

Produced with ``/tmp/refenv/bin/python tests/distributed/golden/bf16_refs.py`` in the
reference environment (torch 2.13.0 CPU, NumPy 2.x): it draws float32 and float64 values
(seeded: normals at many scales, values next to bfloat16 rounding ties, subnormals, the
extremes of float32), converts them with ``tensor.to(torch.bfloat16)`` and records the
16-bit patterns (``.view(torch.int16)``) in bf16_refs.json next to this file.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np


def inputs() -> dict[str, list[float]]:
    rng = np.random.default_rng(20260101)
    normal = rng.standard_normal(400) * 10.0 ** rng.integers(-30, 30, 400)
    # exact ties and near-ties of bfloat16 (low 16 bits 0x8000, 0x7FFF, 0x8001)
    base = rng.integers(0x0080, 0x7F00, 200, dtype=np.uint32) << 16
    ties = np.concatenate([base | 0x8000, base | 0x7FFF, base | 0x8001,
                           (base | 0x8000) | 0x80000000, base | 0x18000])
    ties = ties.astype(np.uint32).view(np.float32).astype(np.float64)
    special = np.array([0.0, -0.0, 1.0, -1.0, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-8 + 2**-20,
                        np.finfo(np.float32).max, -np.finfo(np.float32).max,
                        np.finfo(np.float32).tiny, np.finfo(np.float32).tiny / 3, 1e-45,
                        3.3895313892515355e38, 3.3961775292304854e38, np.inf, -np.inf])
    float32 = np.concatenate([normal, ties, special]).astype(np.float32)
    float64 = np.concatenate([normal, ties.astype(np.float64) * (1 + 2**-40),
                              np.array([1 + 2**-8 + 2**-40, 1 - 2**-30])])
    return {"float32": [float(v) for v in float32], "float64": [float(v) for v in float64]}


def main() -> None:
    import torch
    out: dict = {"torch": torch.__version__, "numpy": np.__version__}
    for name, values in inputs().items():
        dtype = torch.float32 if name == "float32" else torch.float64
        t = torch.tensor(values, dtype=dtype).to(torch.bfloat16)
        bits = t.view(torch.int16).numpy().astype(np.uint16)
        out[name] = {"values": values, "bits": [int(b) for b in bits]}
    path = pathlib.Path(__file__).with_suffix(".json")
    path.write_text(json.dumps(out))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
