"""Step time and bytes per step of data-parallel training on 1, 2 and 4 MPI processes.

    python benchmarks/distributed_step.py                      # 1, 2, 4 ranks, the wide MLP
    python benchmarks/distributed_step.py --ranks 1 2 --steps 5 --widths 64-128-128-10
    python benchmarks/distributed_step.py --compressor powersgd   # a compression hook

For each world size N it starts ``mpiexec -n N python -m mpi4py`` on this script (worker
mode). Every rank trains the same ReLU MLP (default 1024-4096-4096-10, float32, SGD with
momentum 0.9) wrapped in DistributedDataParallel on its 1/N share of a global batch
(default 256), so every row does the same work in total; the time of a step is the slowest
rank's (forward, backward with the overlapped bucket allreduces, the wait at the end of
backward, optimizer step, zero_grad), the median over the timed steps. ``compute`` is the
same step inside ``no_sync()`` (no communication at all), run alternately with the synced
steps so that both see the same machine, so ``step - compute`` is what the communication
adds beyond what it overlaps. (MPICH moves a nonblocking transfer on only inside MPI calls;
DDP tests the earlier buckets' requests each time it starts one. ``MPICH_ASYNC_PROGRESS=1``
adds a progress thread, which needs a core of its own.) Bytes: what each rank hands to the
collectives per step (the flat gradient buffers for the dense allreduce; the compressed
messages for a hook, from its state's ``last_step_bytes_sent``). The ranks share the
machine's cores: N ranks on fewer cores than N measure contention, not scaling.

``--compressor NAME`` uses a hook of minigrad.distributed.algorithms.ddp_comm_hooks
(``fp16``, ``bf16``, ``powersgd``, ``topk``, ``onebit``, ``ef_signsgd``, ``majority_vote``,
``qsgd``) when that package has it. Needs the ``dist`` extra (mpi4py, mpich).
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread per rank
for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, os.environ["OMP_NUM_THREADS"])

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def compressors() -> dict[str, Any]:
    """name -> function of the process group making (hook, state), for the hooks present."""
    try:
        from minigrad.distributed.algorithms import ddp_comm_hooks as H
    except ImportError:
        return {}
    table = {
        "fp16": lambda g: (H.fp16_compress_hook, H.DefaultState(g)),
        "bf16": lambda g: (H.bf16_compress_hook, H.DefaultState(g)),
        "powersgd": lambda g: (H.powerSGD.powerSGD_hook, H.powerSGD.PowerSGDState(
            g, matrix_approximation_rank=1, start_powerSGD_iter=2)),
        "topk": lambda g: (H.topk_hook, H.TopKState(g, compress_ratio=0.01)),
        "onebit": lambda g: (H.onebit_sgd_hook, H.OneBitState(g)),
        "ef_signsgd": lambda g: (H.ef_signsgd_hook, H.EFSignSGDState(g)),
        "majority_vote": lambda g: (H.signsgd_majority_vote_hook, H.MajorityVoteState(g)),
        "qsgd": lambda g: (H.qsgd_hook, H.QSGDState(g)),
    }
    return {name: make for name, make in table.items()}


def worker(args: argparse.Namespace) -> None:
    import numpy as np

    import minigrad as mg
    import minigrad.distributed as dist
    from minigrad import nn

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    comm = dist.process_group.default_group().comm
    widths = [int(w) for w in args.widths.split("-")]
    mg.manual_seed(0)
    layers: list[Any] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=args.bucket_cap_mb)
    state = None
    if args.compressor:
        hook, state = compressors()[args.compressor](None)
        ddp.register_comm_hook(state, hook)
    opt = mg.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
    local = args.batch // world
    rng = np.random.default_rng(rank)
    x = mg.tensor(rng.standard_normal((local, widths[0])).astype(np.float32))
    y = mg.tensor(rng.integers(0, widths[-1], local))
    loss_fn = nn.CrossEntropyLoss()

    def step() -> float:
        comm.Barrier()
        start = time.perf_counter()
        opt.zero_grad()
        loss_fn(ddp(x), y).backward()
        opt.step()
        return comm.allreduce(time.perf_counter() - start, op=dist.process_group._mpi().MAX)

    times, compute = [], []
    for k in range(args.warmup + args.steps):  # interleaved, so that both share the noise
        t = step()
        with ddp.no_sync():
            c = step()
        if k >= args.warmup:
            times.append(t)
            compute.append(c)
    dense = sum(b.nbytes() for b in ddp._buckets)
    sent = dense if state is None else getattr(state, "last_step_bytes_sent", dense)
    if rank == 0:
        print(json.dumps({"ranks": world, "step_ms": 1e3 * statistics.median(times),
                          "compute_ms": 1e3 * statistics.median(compute),
                          "buckets": len(ddp._buckets), "bytes_sent": sent,
                          "dense_bytes": dense, "local_batch": local}), flush=True)


def mpiexec() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.path.exists(beside) else shutil.which("mpiexec")
    if found is None:
        sys.exit("no mpiexec: pip install 'minigrad[dist]' (mpi4py and mpich)")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--widths", default="1024-4096-4096-10")
    parser.add_argument("--batch", type=int, default=256, help="the global batch")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--bucket-cap-mb", type=float, default=25)
    parser.add_argument("--compressor", default=None,
                        help="a compression hook by name (see the module docstring)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compressor and args.compressor not in compressors():
        parser.error(f"--compressor {args.compressor!r}: available are "
                     f"{sorted(compressors()) or 'none (no ddp_comm_hooks package)'}")
    if args.worker:
        return worker(args)
    if any(args.batch % n for n in args.ranks):
        parser.error(f"--batch {args.batch} must divide by every --ranks value {args.ranks}")
    passed = [a for a in sys.argv[1:]]
    rows = []
    for n in args.ranks:
        command = [mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py",
                   os.path.abspath(__file__), "--worker", *passed]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    hook = args.compressor or "allreduce (dense)"
    print(f"{args.widths} MLP, float32, SGD momentum, global batch {args.batch}, "
          f"bucket_cap_mb {args.bucket_cap_mb:g}, hook {hook}, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, {os.cpu_count()} cores\n")
    print("| ranks | batch per rank | buckets | step (ms) | compute only (ms) | "
          "MB sent per rank per step | vs dense |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['ranks']} | {r['local_batch']} | {r['buckets']} | {r['step_ms']:.1f} | "
              f"{r['compute_ms']:.1f} | {r['bytes_sent'] / 1e6:.2f} | "
              f"{r['bytes_sent'] / r['dense_bytes']:.3f} |")


if __name__ == "__main__":
    main()
