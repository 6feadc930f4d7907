"""Golden index lists of torch.utils.data.DistributedSampler without shuffling (its split
and padding arithmetic; shuffled orders come from another generator and are not compared).

Produced with /tmp/refenv/bin/python tests/distributed/golden/sampler_refs.py (torch 2.13
CPU); writes sampler_refs.json next to this file, read by test_in_process.py.
"""
import json
import os

import torch
from torch.utils.data import DistributedSampler

CASES = [(10, 3, False), (10, 3, True), (10, 4, False), (10, 4, True), (7, 2, False),
         (7, 2, True), (2, 4, False), (5, 5, True), (3, 8, False), (11, 4, True), (9, 3, True)]

out = {"torch": torch.__version__, "cases": []}
for n, replicas, drop_last in CASES:
    shares = [list(DistributedSampler(list(range(n)), num_replicas=replicas, rank=r,
                                      shuffle=False, drop_last=drop_last))
              for r in range(replicas)]
    out["cases"].append({"n": n, "num_replicas": replicas, "drop_last": drop_last,
                         "shares": shares})
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sampler_refs.json"),
          "w") as f:
    json.dump(out, f, indent=1)
