"""Golden learning rates of the warmup-stable-decay and inverse-square-root schedules from
Hugging Face transformers (5.24.0, ``transformers.optimization.get_wsd_schedule`` and
``get_inverse_sqrt_schedule``, LambdaLR schedules on torch 2.13.0), for
``WarmupStableDecayLR`` and ``InverseSqrtLR`` in tests/optim/test_lr_scheduler.py.

transformers' WSD warms up from ``min_lr_ratio`` (our ``start_factor = end_factor``) and
decays to it; its ``"cosine"`` decay with ``num_cycles=0.5`` is our ``"cos"``. Its inverse
square root with the default timescale (= the warm-up) is fairseq's, with ``warmup_init_lr=0``.

To regenerate warmup_schedule_refs.json::

    /tmp/refenv/bin/pip install torch transformers
    /tmp/refenv/bin/python tests/optim/golden/warmup_schedule_refs.py

The test imports this module to run transformers live when it is importable.
"""
from __future__ import annotations

import json
from pathlib import Path

OUTPUT = Path(__file__).with_suffix(".json")
BASES = [0.1, 0.02]
STEPS = 130

# name -> (transformers function, its keyword arguments, our class, our keyword arguments)
CASES = {
    "wsd-cos": ("get_wsd_schedule",
                dict(num_warmup_steps=10, num_stable_steps=60, num_decay_steps=40),
                "WarmupStableDecayLR",
                dict(warmup_steps=10, stable_steps=60, decay_steps=40, anneal_strategy="cos",
                     start_factor=0.0)),
    "wsd-1-sqrt-min": ("get_wsd_schedule",
                       dict(num_warmup_steps=7, num_stable_steps=50, num_decay_steps=55,
                            decay_type="1-sqrt", min_lr_ratio=0.1),
                       "WarmupStableDecayLR",
                       dict(warmup_steps=7, stable_steps=50, decay_steps=55,
                            start_factor=0.1, end_factor=0.1)),
    "wsd-linear": ("get_wsd_schedule",
                   dict(num_warmup_steps=0, num_stable_steps=30, num_decay_steps=90,
                        decay_type="linear", min_lr_ratio=0.01),
                   "WarmupStableDecayLR",
                   dict(warmup_steps=0, stable_steps=30, decay_steps=90,
                        anneal_strategy="linear", end_factor=0.01)),
    "inverse-sqrt": ("get_inverse_sqrt_schedule", dict(num_warmup_steps=16),
                     "InverseSqrtLR", dict(warmup_steps=16)),
}


def run_reference(name: str) -> list[list[float]]:
    import torch
    import transformers.optimization as hf
    function, kwargs, _, _ = CASES[name]
    params = [torch.zeros(2, requires_grad=True) for _ in BASES]
    optimizer = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, BASES)],
                                lr=BASES[0])
    scheduler = getattr(hf, function)(optimizer, **kwargs)
    lrs = [[g["lr"] for g in optimizer.param_groups]]
    for _ in range(STEPS - 1):
        optimizer.step()
        scheduler.step()
        lrs.append([float(g["lr"]) for g in optimizer.param_groups])
    return lrs


def main() -> None:
    import torch
    import transformers
    out = {"torch": torch.__version__, "transformers": transformers.__version__,
           "lrs": {name: run_reference(name) for name in CASES}}
    OUTPUT.write_text(json.dumps(out) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
