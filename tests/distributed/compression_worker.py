"""What every rank runs for the compression tests and the compression table:
``mpiexec -n N python -m mpi4py tests/distributed/compression_worker.py OUTDIR [options]``.

``--glue``: each hook is called directly, on real MPI, on two hand-made
``minigrad.distributed.GradBucket`` objects per step (float64 gradients seeded by rank and
step); every rank saves its outputs to OUTDIR/glue_rank{r}.npz, and test_compression.py
compares them with the in-process (threads) run of the same hooks.

``--train HOOKS --epochs E``: for each named hook (see ``CONFIGS``), the digits MLP of
``python -m minigrad.train`` (64-128-128-10, BatchNorm, ReLU, dropout 0.1, AdamW lr 1e-3,
weight decay 1e-4 unless ``OPTIMIZERS`` names another optimizer for the hook, cosine
schedule, global batch 64 split over the ranks by
DistributedSampler) is trained inside DistributedDataParallel with that hook; rank r writes
OUTDIR/train_rank{r}.json with, per hook, the test accuracy, the bytes sent per step against
the dense allreduce, the seconds taken, and a digest of the final parameters (every rank
must end with the same bits).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
from minigrad.distributed.algorithms import ddp_comm_hooks as H
from minigrad.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as powerSGD

# name -> (hook, a function of the run's total step count making the state)
CONFIGS = {
    "allreduce": lambda steps: (H.allreduce_hook, H.DefaultState(None)),
    "fp16": lambda steps: (H.fp16_compress_hook, H.DefaultState(None)),
    "bf16": lambda steps: (H.bf16_compress_hook, H.DefaultState(None)),
    "powersgd_r1": lambda steps: (powerSGD.powerSGD_hook, powerSGD.PowerSGDState(
        None, matrix_approximation_rank=1, start_powerSGD_iter=max(2, steps // 10))),
    "powersgd_r2": lambda steps: (powerSGD.powerSGD_hook, powerSGD.PowerSGDState(
        None, matrix_approximation_rank=2, start_powerSGD_iter=max(2, steps // 10))),
    "topk_1pct": lambda steps: (H.topk_hook, H.TopKState(None, compress_ratio=0.01)),
    # Deep Gradient Compression's warm-up over the first 4 of 15 epochs
    "topk_1pct_warmup": lambda steps: (H.topk_hook, H.TopKState(
        None, compress_ratio=0.01, warmup_steps=steps * 4 // 15)),
    "topk_10pct": lambda steps: (H.topk_hook, H.TopKState(None, compress_ratio=0.1)),
    "onebit": lambda steps: (H.onebit_sgd_hook, H.OneBitState(None)),
    "ef_signsgd": lambda steps: (H.ef_signsgd_hook, H.EFSignSGDState(None)),
    "majority_vote": lambda steps: (H.signsgd_majority_vote_hook, H.MajorityVoteState(None)),
    "qsgd_s16": lambda steps: (H.qsgd_hook, H.QSGDState(None, num_levels=16)),
    "qsgd_s4": lambda steps: (H.qsgd_hook, H.QSGDState(None, num_levels=4)),
    "powersgd_r1_buckets": lambda steps: (powerSGD.powerSGD_hook, powerSGD.PowerSGDState(
        None, matrix_approximation_rank=1, start_powerSGD_iter=max(2, steps // 10))),
    # momentum SGD, dense and with 1% top-k: plain, and with Deep Gradient Compression's
    # momentum correction (the momentum in the hook, the optimizer without) and clipping
    "allreduce_sgd": lambda steps: (H.allreduce_hook, H.DefaultState(None)),
    "topk_1pct_warmup_sgd": lambda steps: (H.topk_hook, H.TopKState(
        None, compress_ratio=0.01, warmup_steps=steps * 4 // 15)),
    "topk_1pct_dgc": lambda steps: (H.topk_hook, H.TopKState(
        None, compress_ratio=0.01, warmup_steps=steps * 4 // 15, momentum=0.9,
        clip_norm=5.0)),
}
# the optimizer, where not AdamW(lr=1e-3, weight_decay=1e-4)
SGD_LR = 0.05
OPTIMIZERS = {
    "allreduce_sgd": lambda params, optim: optim.SGD(params, lr=SGD_LR, momentum=0.9,
                                                     weight_decay=1e-4),
    "topk_1pct_warmup_sgd": lambda params, optim: optim.SGD(params, lr=SGD_LR, momentum=0.9,
                                                            weight_decay=1e-4),
    "topk_1pct_dgc": lambda params, optim: optim.SGD(params, lr=SGD_LR, weight_decay=1e-4),
}
# DistributedDataParallel arguments other than the defaults (small buckets: several a step)
DDP_KWARGS = {"powersgd_r1_buckets": {"bucket_cap_mb": 0.02}}

# the glue check: name -> a function of the process group making (hook, state)
GLUE = {
    "allreduce": lambda g: (H.allreduce_hook, H.DefaultState(g)),
    "allreduce_bare_group": lambda g: (H.allreduce_hook, g),
    "fp16": lambda g: (H.fp16_compress_hook, H.DefaultState(g)),
    "bf16": lambda g: (H.bf16_compress_hook, H.DefaultState(g)),
    "fp16_wrapper_powersgd": lambda g: (H.fp16_compress_wrapper(powerSGD.powerSGD_hook),
                                        powerSGD.PowerSGDState(g, start_powerSGD_iter=2)),
    "bf16_wrapper_allreduce": lambda g: (H.bf16_compress_wrapper(H.allreduce_hook),
                                         H.DefaultState(g)),
    "powersgd": lambda g: (powerSGD.powerSGD_hook, powerSGD.PowerSGDState(
        g, matrix_approximation_rank=2, start_powerSGD_iter=2)),
    "topk": lambda g: (H.topk_hook, H.TopKState(g, compress_ratio=0.05)),
    "onebit": lambda g: (H.onebit_sgd_hook, H.OneBitState(g)),
    "ef_signsgd": lambda g: (H.ef_signsgd_hook, H.EFSignSGDState(g)),
    "majority_vote": lambda g: (H.signsgd_majority_vote_hook, H.MajorityVoteState(g, 0.5)),
    "qsgd": lambda g: (H.qsgd_hook, H.QSGDState(g, num_levels=8, bucket_size=64)),
}
GLUE_SHAPES = [[(12, 8), (12,), (6, 12)], [(6,), (40, 30)]]  # bucket 0 (last), bucket 1
GLUE_STEPS = 4


def glue_grads(rank: int, step: int, bucket: int) -> np.ndarray:
    n = sum(int(np.prod(s)) for s in GLUE_SHAPES[bucket])
    return np.random.default_rng([rank, step, bucket, 11]).standard_normal(n)


def glue(out: str) -> None:
    from minigrad.distributed.ddp import GradBucket
    from minigrad.tensor import wrap
    rank = dist.get_rank()
    saved = {}
    for name, make in GLUE.items():
        hook, state = make(None)
        for step in range(GLUE_STEPS):
            for b in (1, 0):  # DDP's order: the last bucket (index 0) goes last
                params = [mg.zeros(*s, dtype=mg.float64) for s in GLUE_SHAPES[b]]
                bounds, at = [], 0
                for p in params:
                    bounds.append((at, at + p.numel()))
                    at += p.numel()
                flat = glue_grads(rank, step, b)
                fut = hook(state, GradBucket(b, wrap(flat, "cpu"), params, bounds, b == 0))
                value = fut.wait()
                value = value[0] if isinstance(value, list) else value
                saved[f"{name}/{step}/{b}"] = value.array.copy()
        if isinstance(state, H.CommState):
            saved[f"{name}/bytes_sent"] = np.array(state.bytes_sent)
    np.savez(os.path.join(out, f"glue_rank{rank}.npz"), **saved)


def train(out: str, names: list[str], epochs: int) -> None:
    from minigrad.data import DataLoader, DistributedSampler, TensorDataset
    from minigrad.train import build_model, evaluate, load_data
    from minigrad import optim, nn
    rank, world = dist.get_rank(), dist.get_world_size()
    batch = 64
    results = {}
    for name in names:
        mg.manual_seed(0)
        loaders, _ = load_data(batch, "cpu")
        train_set = loaders["train"].dataset
        sampler = DistributedSampler(train_set, shuffle=True, seed=0)
        loader = DataLoader(train_set, batch_size=batch // world, sampler=sampler)
        steps = epochs * len(loader)
        mg.manual_seed(0)
        model = build_model(64, [128, 128], 10, "batch", 0.1)
        ddp = dist.DistributedDataParallel(model, **DDP_KWARGS.get(name, {}))
        hook, state = CONFIGS[name](steps)
        ddp.register_comm_hook(state, hook)
        make_opt = OPTIMIZERS.get(name)
        opt = make_opt(ddp.parameters(), optim) if make_opt else \
            optim.AdamW(ddp.parameters(), lr=1e-3, weight_decay=1e-4)
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        loss_fn = nn.CrossEntropyLoss()
        mg.manual_seed(1 + rank)  # each rank its own dropout masks
        start = time.perf_counter()
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            ddp.train()
            for x, y in loader:
                opt.zero_grad()
                loss_fn(ddp(x), y).backward()
                opt.step()
            sched.step()
        seconds = time.perf_counter() - start
        _, test_acc = evaluate(model, loaders["test"])
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(p.array).tobytes()
                                         for p in model.parameters())).hexdigest()
        results[name] = {"test_accuracy": test_acc, "steps": state.steps,
                         "bytes_sent": state.bytes_sent, "bytes_received": state.bytes_received,
                         "dense_bytes": state.dense_bytes,
                         "last_step_bytes_sent": state.last_step_bytes_sent,
                         "last_step_dense_bytes": state.last_step_dense_bytes,
                         "seconds": seconds, "digest": digest, "epochs": epochs,
                         "world_size": world, "buckets": len(ddp._buckets)}
    with open(os.path.join(out, f"train_rank{rank}.json"), "w") as f:
        json.dump(results, f)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--glue", action="store_true")
    parser.add_argument("--train", default="", help="comma-separated names from CONFIGS")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    dist.init_process_group("mpi")
    if args.glue:
        glue(args.out)
    if args.train:
        train(args.out, args.train.split(","), args.epochs)


if __name__ == "__main__":
    main()
