"""Data parallelism on 2, 3 and 4 ranks: pytest starts ``mpiexec`` (one launch per world
size runs every check of mpi_worker.py) and judges what the ranks wrote."""
import json
import os

import numpy as np
import pytest

from tests.distributed.mpi import needs_mpi, run

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_worker.py")
pytestmark = needs_mpi


# the NCCL runs use the CPU stand-in for CuPy and NCCL (fake_nccl.py): no GPU is needed
@pytest.fixture(scope="module", params=[(2, "mpi"), (3, "mpi"), (4, "mpi"), (2, "nccl"),
                                        (3, "nccl")], ids=lambda p: f"{p[0]}-{p[1]}")
def ranks(request, tmp_path_factory):
    world, backend = request.param
    out = tmp_path_factory.mktemp(f"world{world}{backend}")
    run(world, WORKER, str(out), backend)
    results = [json.load(open(out / f"rank{r}.json")) for r in range(world)]
    params = [dict(np.load(out / f"rank{r}.npz")) for r in range(world)]
    for res in results:
        res["backend"] = backend
    return world, results, params


def test_the_nccl_backend_carries_every_collective_on_its_own_stream(ranks):
    world, results, _ = ranks
    if results[0]["backend"] != "nccl":
        pytest.skip("an MPI run")
    for rank, res in enumerate(results):
        calls = res["nccl_calls"]
        assert calls[f"use GPU {rank}"] == 1  # local rank r takes GPU r
        for kind in ("allReduce", "bcast", "allGather", "reduceScatter"):
            assert calls.get(kind, 0) > 0, (kind, calls)
        launched = sum(calls.get(k, 0) for k in ("allReduce", "bcast", "allGather",
                                                 "reduceScatter", "reduce"))
        # every call waits for the compute stream's work first; results are waited for
        # in stream order (or found complete), never by blocking the host
        assert calls["communication waits on compute"] == launched
        assert calls["compute waits on communication"] > 0
        assert not any("synchronize" in kind for kind in calls)  # the host never waited


@pytest.mark.parametrize("run_name", ["sgd", "adam", "adam_ddp_homes", "adam_gather",
                                      "sgd_view"])
def test_ddp_matches_one_process_on_the_whole_batch(ranks, run_name):
    world, results, _ = ranks
    for rank, res in enumerate(results):
        r = res[run_name]
        assert r["buckets"] >= 3
        assert r["wrapped_equal"], f"rank {rank} kept its own initial weights"
        assert r["max_diff"] <= 1e-12, (world, rank, r)
        # flat optimizer buffers are reduced in place; without them DDP's own grad homes
        # are; only with those switched off are gradients gathered
        assert r["gathered"] == (run_name in ("adam_gather", "sgd_view"))
        assert r["ddp_homes"] == (run_name == "adam_ddp_homes")


def test_every_rank_ends_bitwise_equal(ranks):
    _, _, params = ranks
    for other in params[1:]:
        assert other.keys() == params[0].keys()
        for key in params[0]:
            assert np.array_equal(other[key], params[0][key]), key


def test_no_sync_accumulates_locally_then_averages_the_sum(ranks):
    for res in ranks[1]:
        assert res["no_sync"]["local_only"]
        assert res["no_sync"]["max_diff"] <= 1e-12


def test_collectives(ranks):
    for res in ranks[1]:
        assert all(res["collectives"].values()), res["collectives"]


def test_comm_hook_sees_buckets_in_order_and_its_value_is_written_back(ranks):
    for res in ranks[1]:
        assert res["hook"]["order"] and res["hook"]["last"]
        assert res["hook"]["max_diff"] <= 1e-12


def test_distributed_sampler_shares_cover_the_dataset(ranks):
    world, results, _ = ranks
    everyone = results[0]["sampler"]["everyone"]
    assert [r["sampler"]["mine"] for r in results] == everyone
    flat = sum(everyone, [])
    per_rank = -(-10 // world)
    assert all(len(share) == per_rank for share in everyone)
    assert set(flat) == set(range(10))
    assert len(flat) - len(set(flat)) == per_rank * world - 10  # the padding repeats


def test_sync_batchnorm_equals_batchnorm_on_the_concatenated_batch(ranks):
    for res in ranks[1]:
        for shape, diffs in res["sync_bn"].items():
            assert max(diffs.values()) <= 1e-12, (shape, diffs)


def test_buffers_are_rank_zeros_at_wrap_time_and_each_training_forward(ranks):
    for res in ranks[1]:
        assert res["buffers"] == {"wrap": True, "diverged": True, "forward": True}


def test_sync_batchnorm_buffers_stay_bitwise_equal_without_broadcasts(ranks):
    assert all(res["sync_buffers_equal"] for res in ranks[1])


def test_different_models_on_the_ranks_are_refused(ranks):
    assert all(res["mismatch"] for res in ranks[1])


def test_train_module_runs_distributed_and_rank0_alone_prints_and_saves(tmp_path):
    checkpoint = tmp_path / "ddp.npz"
    done = run(2, "-m", "minigrad.train", "--distributed", "--epochs", "2", "--hidden", "32",
               "--batch-size", "64", "--no-progress", "--checkpoint", str(checkpoint))
    assert done.stdout.count("test accuracy") == 1 and "2 processes" in done.stdout
    accuracy = float(done.stdout.split("test accuracy")[1].split("%")[0])
    assert accuracy > 75.0  # two epochs of a small model: it learns
    import minigrad as mg
    from minigrad.train import build_model
    saved = mg.load(str(checkpoint))
    model = build_model(64, [32], 10, "batch", 0.1)  # a plain BatchNorm model loads it
    model.load_state_dict(saved["model"])
    assert saved["args"]["distributed"] is True


def test_train_module_runs_distributed_over_nccl(tmp_path):
    """The CLI's --dist-backend nccl, in the CPU stand-in for CuPy and NCCL: the gradients of
    every step travel over the (stand-in) NCCL communicator."""
    script = os.path.join(os.path.dirname(WORKER), "nccl_train.py")
    done = run(2, script, "--distributed", "--dist-backend", "nccl", "--epochs", "2",
               "--hidden", "32", "--batch-size", "64", "--no-progress", "--checkpoint", "")
    assert done.stdout.count("test accuracy") == 1 and "2 processes" in done.stdout
    assert float(done.stdout.split("test accuracy")[1].split("%")[0]) > 75.0
    for rank in (0, 1):
        line = next(l for l in done.stderr.splitlines() if l.startswith(f"rank {rank}:"))
        assert int(line.split("allReduce ")[1].split()[0]) >= 2 * 13  # a bucket a step at least


def test_odd_batch_split_is_refused_on_every_rank():
    from tests.distributed.mpi import mpiexec
    import subprocess
    import sys
    done = subprocess.run([mpiexec(), "-n", "3", sys.executable, "-m", "mpi4py", "-m",
                           "minigrad.train", "--distributed", "--batch-size", "64",
                           "--epochs", "1", "--checkpoint", ""],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "multiple of the number of processes (3)" in done.stderr


def test_abort_on_exception_takes_every_rank_down_instead_of_hanging(tmp_path):
    """Started with plain python (no -m mpi4py): rank 1 raises while rank 0 waits in a
    collective; the hook aborts the job, so mpiexec returns instead of hanging."""
    import subprocess
    import sys
    from tests.distributed.mpi import ROOT, mpiexec
    script = tmp_path / "fails.py"
    script.write_text(
        "import minigrad as mg, minigrad.distributed as dist\n"
        "dist.init_process_group()\n"
        "dist.abort_on_exception()\n"
        "if dist.get_rank() == 1:\n"
        "    raise ValueError('rank one fails')\n"
        "dist.all_reduce(mg.ones(1))\n"
        "print('unreachable')\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([mpiexec(), "-n", "2", sys.executable, str(script)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    # the launcher may drop a killed rank's last output (seen: the hook's first line alone),
    # so any of the hook's line, the traceback or MPI's abort message will do
    assert any(text in done.stderr for text in (
        "uncaught exception, aborting all ranks", "rank one fails", "MPI_Abort")), done.stderr
    assert "unreachable" not in done.stdout
