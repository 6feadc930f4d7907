"""Accuracy and bytes of every gradient-compression hook on the digits MLP, data-parallel
on N MPI processes: the table in the README.

    python benchmarks/compression_table.py                # 2 ranks, 15 epochs, every hook
    python benchmarks/compression_table.py --ranks 4 --epochs 5 --hooks allreduce,qsgd_s16

It starts ``mpiexec -n N python -m mpi4py tests/distributed/compression_worker.py`` once
(every hook trains in that one launch, one after the other, from the same seed) and prints a
Markdown table: the test accuracy (rank 0's model; 360 test digits, so one digit is 0.28
points), the bytes each rank sends per step once compression runs, that against the dense
float32 allreduce, the ratio over the whole run (PowerSGD runs plain allreduce for its first
10% of steps), the bytes each rank receives per step (an allgather brings N messages back),
and the training time. The model and recipe are those of ``python -m minigrad.train``
(64-128-128-10, BatchNorm, dropout 0.1, AdamW lr 1e-3, weight decay 1e-4, cosine schedule)
with a global batch of 64. Needs the ``dist`` extra (mpi4py, mpich).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SETTINGS = {
    "allreduce": ("`allreduce_hook`", "float32, the baseline"),
    "fp16": ("`fp16_compress_hook`", "float16"),
    "bf16": ("`bf16_compress_hook`", "bfloat16 (emulated), allgather"),
    "powersgd_r1": ("`powerSGD_hook`", "rank 1, start after 10% of steps"),
    "powersgd_r2": ("`powerSGD_hook`", "rank 2, start after 10% of steps"),
    "topk_1pct": ("`topk_hook`", "1% of entries, error feedback"),
    "topk_1pct_warmup": ("`topk_hook`", "1%, error feedback, DGC's warm-up (4 of 15 epochs)"),
    "topk_10pct": ("`topk_hook`", "10% of entries, error feedback"),
    "onebit": ("`onebit_sgd_hook`", "signs + 2 means per tensor, error feedback"),
    "ef_signsgd": ("`ef_signsgd_hook`", "signs + mean abs per tensor, error feedback"),
    "majority_vote": ("`signsgd_majority_vote_hook`", "signs only"),
    "qsgd_s16": ("`qsgd_hook`", "s = 16 levels, chunks of 512, int8"),
    "qsgd_s4": ("`qsgd_hook`", "s = 4 levels, chunks of 512, int8"),
    "allreduce_sgd": ("`allreduce_hook`", "float32; SGD momentum 0.9 (the baseline below)"),
    "topk_1pct_warmup_sgd": ("`topk_hook`", "1%, warm-up; SGD momentum 0.9"),
    "topk_1pct_dgc": ("`topk_hook`", "1%, warm-up, DGC's momentum correction (0.9, masking) "
                      "and clipping (5); SGD without momentum"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--hooks", default=",".join(SETTINGS))
    args = parser.parse_args()
    unknown = [h for h in args.hooks.split(",") if h not in SETTINGS]
    if unknown:
        parser.error(f"unknown hooks {unknown}; choose from {', '.join(SETTINGS)}")
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    mpiexec = beside if os.path.exists(beside) else shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("no mpiexec: pip install -e '.[dist]' (mpi4py, mpich)")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([mpiexec, "-n", str(args.ranks), sys.executable, "-m", "mpi4py",
                        os.path.join(ROOT, "tests", "distributed", "compression_worker.py"), out,
                        "--train", args.hooks, "--epochs", str(args.epochs)],
                       cwd=ROOT, env=env, check=True)
        wall = time.perf_counter() - start
        ranks = [json.load(open(os.path.join(out, f"train_rank{r}.json")))
                 for r in range(args.ranks)]
    print(f"digits MLP, {args.ranks} ranks, {args.epochs} epochs, global batch 64 "
          f"({wall:.0f} s in all)\n")
    print("| hook | setting | test acc. | sent / step | vs dense | whole run | "
          "received / step | time |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.hooks.split(","):
        r0 = ranks[0][name]
        same = all(r[name]["digest"] == r0["digest"] for r in ranks)
        hook, setting = SETTINGS[name]
        sent, dense = r0["last_step_bytes_sent"], r0["last_step_dense_bytes"]
        received = r0["bytes_received"] * sent // max(1, r0["bytes_sent"])
        print(f"| {hook} | {setting} | {r0['test_accuracy']:.3f} | {sent:,} B | "
              f"{dense / sent:.1f}x | {r0['dense_bytes'] / r0['bytes_sent']:.1f}x | "
              f"{received:,} B | {r0['seconds']:.1f} s{'' if same else ' (replicas differ!)'} |")


if __name__ == "__main__":
    main()
