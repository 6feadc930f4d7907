"""Golden learning rates of Ranger21's built-in schedule, for ``Ranger21LR`` in
tests/optim/test_lr_scheduler.py: the lr the reference optimizer (lessw2020/Ranger21 at commit
1a96777278cdd14bc11afd865112724386d26a44, run under torch 2.13.0 on the CPU) uses at each of
its steps, read from its ``current_lr`` after the step (the value its warm-up and warm-down
write; it holds the group lr between them).

To regenerate ranger21_lr_refs.json (the package extracted from a mirror of the repository)::

    for f in __init__ ranger21 chebyshev_lr_functions rangerabel; do
        git --git-dir=<mirror> show HEAD:ranger21/$f.py > /tmp/ranger21_ref/ranger21/$f.py
    done
    PYTHONPATH=/tmp/ranger21_ref /tmp/refenv/bin/python tests/optim/golden/ranger21_lr_refs.py

The test imports this module to run the reference live when ``ranger21`` is importable (the
long case only from the JSON).
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

OUTPUT = Path(__file__).with_suffix(".json")
LR = 0.1

# name -> Ranger21 keyword arguments (besides lr); num_epochs * num_batches_per_epoch steps
CASES = {
    "defaults-120": dict(num_epochs=12, num_batches_per_epoch=10),
    "rounding-53": dict(num_epochs=5, num_batches_per_epoch=15, num_warmup_iterations=0),
    "beta2-0.9": dict(num_epochs=10, num_batches_per_epoch=10, betas=(0.9, 0.9),
                      warmdown_min_lr=1e-3),
    "given-warmup-no-warmdown": dict(num_epochs=4, num_batches_per_epoch=25,
                                     num_warmup_iterations=17, warmdown_active=False),
    "no-warmup": dict(num_epochs=8, num_batches_per_epoch=10, use_warmup=False,
                      warmdown_start_pct=0.5),
    "beta2-rule-4500": dict(num_epochs=1, num_batches_per_epoch=4500),
}
LIVE = [name for name in CASES if name != "beta2-rule-4500"]


def run_reference(name: str) -> list[float]:
    import torch
    from ranger21 import Ranger21
    kwargs = CASES[name]
    steps = kwargs["num_epochs"] * kwargs["num_batches_per_epoch"]
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    lrs = []
    with contextlib.redirect_stdout(io.StringIO()):  # Ranger21 prints its settings
        optimizer = Ranger21([p], lr=LR, **kwargs)
        for _ in range(steps):
            p.grad = torch.ones(3, dtype=torch.float64)
            optimizer.step()
            lrs.append(float(optimizer.current_lr))
    return lrs


def main() -> None:
    import torch
    out = {"torch": torch.__version__, "ranger21_commit": "1a96777278cdd14bc11afd865112724386d26a44",
           "lr": LR, "lrs": {name: run_reference(name) for name in CASES}}
    OUTPUT.write_text(json.dumps(out) + "\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
