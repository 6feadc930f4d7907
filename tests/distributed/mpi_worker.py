"""What every rank runs in the multi-rank tests: ``mpiexec -n N python -m mpi4py
mpi_worker.py OUTDIR [BACKEND]``. Each rank runs all the checks (one launch per world size,
since starting mpiexec costs about a second) and writes its measurements to
OUTDIR/rank{r}.json and its final parameters to OUTDIR/rank{r}.npz; test_multi_rank.py
reads and judges them.

BACKEND ``nccl`` runs the same checks with ``backend="nccl"`` in the CPU stand-in for CuPy
and NCCL (fake_nccl.py): every array is a stand-in GPU array, so each collective takes the
NCCL transport's path, and the counts of the stand-in's calls are reported.

Every rank also trains the single-process reference (the whole batch, no DDP) itself: it
holds all the data, so no result needs sending back for the comparison.
"""
import json
import os
import sys

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
from minigrad import nn
from minigrad.data import DataLoader, DistributedSampler, TensorDataset

OUT = sys.argv[1]
BACKEND = sys.argv[2] if len(sys.argv) > 2 else "mpi"
if BACKEND == "nccl":
    from tests.distributed import fake_nccl
    fake_nccl.install(all_arrays=True)
dist.init_process_group(BACKEND)
mg.set_default_dtype(mg.float64)
RANK, WORLD = dist.get_rank(), dist.get_world_size()
B = 24  # divisible by 2, 3 and 4
results = {}
params_out = {}


def mlp(seed):
    mg.manual_seed(seed)
    # made in float64 (not .double(): a converted parameter keeps a link to its float32
    # original, so the optimizer would not give it flat storage)
    return nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(),
                         nn.Linear(12, 3))


def batches(steps):
    rng = np.random.default_rng(1)
    for _ in range(steps):
        yield rng.standard_normal((B, 5)), rng.integers(0, 3, B)


def local(x, y):
    n = B // WORLD
    return x[RANK * n:(RANK + 1) * n], y[RANK * n:(RANK + 1) * n]


def max_diff(a_params, b_params):
    return max(float(np.max(np.abs(a.array - b.array))) for a, b in zip(a_params, b_params))


def train(make_opt, ddp_kwargs, steps=30, flat=True, homes=True):
    """DDP on B/N rows per rank vs one process on all B rows; the max parameter difference.
    ``homes=False``: DDP gives no grad homes of its own, so buckets are gathered."""
    reference = mlp(0)
    model = mlp(0 if RANK == 0 else 100 + RANK)  # other ranks start elsewhere: overwritten
    ddp = dist.DistributedDataParallel(model, **ddp_kwargs)
    ddp._use_homes = homes
    wrapped_equal = max_diff(reference.parameters(), model.parameters()) == 0.0
    opt_ref = make_opt(reference.parameters(), flat)
    opt = make_opt(ddp.parameters(), flat)
    loss_fn = nn.CrossEntropyLoss()
    for x, y in batches(steps):
        xl, yl = local(x, y)
        opt_ref.zero_grad()
        loss_fn(reference(mg.tensor(x)), mg.tensor(y)).backward()
        opt_ref.step()
        opt.zero_grad()
        loss_fn(ddp(mg.tensor(xl)), mg.tensor(yl)).backward()
        opt.step()
    return ddp, wrapped_equal, max_diff(reference.parameters(), model.parameters()), \
        [p.array.copy() for p in model.parameters()]


def sgd(params, flat):
    return mg.optim.SGD(params, lr=0.1, momentum=0.9, flat=flat)


def adam(params, flat):
    return mg.optim.Adam(params, lr=0.01, flat=flat)


for name, make, kwargs, flat, homes in [
        ("sgd", sgd, dict(bucket_cap_mb=0.0001), True, True),
        ("adam", adam, dict(bucket_cap_mb=0.0001), True, True),
        ("adam_ddp_homes", adam, dict(bucket_cap_mb=0.0001), False, True),
        ("adam_gather", adam, dict(bucket_cap_mb=0.0001), False, False),
        ("sgd_view", sgd, dict(bucket_cap_mb=0.0001, gradient_as_bucket_view=True), False,
         False)]:
    ddp, wrapped_equal, diff, final = train(make, kwargs, flat=flat, homes=homes)
    results[name] = {"buckets": len(ddp._buckets), "wrapped_equal": wrapped_equal,
                     "max_diff": diff,
                     "gathered": any(b.scratch is not None for b in ddp._buckets),
                     "ddp_homes": any(b.buffer is not None for b in ddp._buckets)}
    for k, a in enumerate(final):
        params_out[f"{name}_{k}"] = a

# no_sync: two micro-batches accumulated locally, the third synchronised
reference, model = mlp(0), mlp(0)
ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0001)
loss_fn = nn.CrossEntropyLoss()
rng = np.random.default_rng(2)
x, y = rng.standard_normal((36, 5)), rng.integers(0, 3, 36)
micro = np.array_split(np.arange(36), 3)  # 12 rows each: divisible by 2, 3 and 4
local_only = True
for k, rows in enumerate(micro):
    xm, ym = x[rows], y[rows]
    loss_fn(reference(mg.tensor(xm)), mg.tensor(ym)).backward()
    n = len(rows) // WORLD
    xl, yl = xm[RANK * n:(RANK + 1) * n], ym[RANK * n:(RANK + 1) * n]
    if k < 2:
        with ddp.no_sync():
            loss_fn(ddp(mg.tensor(xl)), mg.tensor(yl)).backward()
        # no communication yet: the gradient is this rank's own
        g = model[4].bias.grad.array.copy()
        mine = np.empty((WORLD, g.size))
        ddp.process_group.comm.Allgather(g, mine)
        local_only &= WORLD == 1 or not np.allclose(mine[0], mine[1])
    else:
        loss_fn(ddp(mg.tensor(xl)), mg.tensor(yl)).backward()
results["no_sync"] = {"local_only": bool(local_only), "max_diff": max(
    float(np.max(np.abs(a.grad.array - b.grad.array)))
    for a, b in zip(reference.parameters(), model.parameters()))}

# collectives, blocking and not
r = float(RANK + 1)
coll = {}
everyone_values = np.array([[k + 1.0, 2.0 * (k + 1)] for k in range(WORLD)])
for op, expect in [(dist.ReduceOp.SUM, everyone_values.sum(0)),
                   (dist.ReduceOp.AVG, everyone_values.sum(0) / WORLD),
                   (dist.ReduceOp.PRODUCT, everyone_values.prod(0)),
                   (dist.ReduceOp.MAX, everyone_values.max(0)),
                   (dist.ReduceOp.MIN, everyone_values.min(0))]:
    t = mg.tensor([r, 2 * r], dtype=mg.float64)
    dist.all_reduce(t, op=op)
    a = mg.tensor([r, 2 * r], dtype=mg.float64)
    work = dist.all_reduce(a, op=op, async_op=True)
    fut = work.get_future().then(lambda f: f.value()[0] * 2)
    doubled = fut.wait()
    coll[op.name] = t.tolist() == expect.tolist() and a.tolist() == t.tolist() and \
        doubled.tolist() == (2 * expect).tolist() and work.is_completed()
view = mg.zeros(4, 3, dtype=mg.float64)[:, 1]  # not contiguous: staged through a copy
view.array[...] = r
dist.all_reduce(view)
coll["strided"] = view.tolist() == [sum(range(1, WORLD + 1))] * 4
t = mg.full((3,), r)
dist.broadcast(t, src=WORLD - 1)
coll["broadcast"] = t.tolist() == [float(WORLD)] * 3
gathered = [mg.zeros(2) for _ in range(WORLD)]
dist.all_gather(gathered, mg.full((2,), r))
coll["all_gather"] = [g.tolist() for g in gathered] == [[k + 1.0] * 2 for k in range(WORLD)]
out = mg.zeros(WORLD * 2)
dist.all_gather_into_tensor(out, mg.full((2,), r), async_op=True).wait()
coll["all_gather_into_tensor"] = out.tolist() == sum([[k + 1.0] * 2 for k in range(WORLD)], [])
out = mg.zeros(2)
dist.reduce_scatter(out, [mg.full((2,), r * (k + 1)) for k in range(WORLD)])
total = sum(range(1, WORLD + 1))
coll["reduce_scatter"] = out.tolist() == [total * (RANK + 1.0)] * 2
out = mg.zeros(1)
dist.reduce_scatter_tensor(out, mg.arange(WORLD, dtype=mg.float64) + r,
                           op=dist.ReduceOp.AVG)
coll["reduce_scatter_tensor"] = out.tolist() == [RANK + total / WORLD]
dist.barrier()
dist.barrier(async_op=True).wait()
results["collectives"] = coll

# a comm hook: bucket order, is_last, and its value written back
seen = []


def doubling_hook(state, bucket):
    seen.append((bucket.index(), bucket.is_last(), len(bucket.parameters())))
    fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
    return fut.then(lambda f: f.value()[0] * (2.0 / WORLD))


(x, y), = batches(1)
reference, model = mlp(0), mlp(0)
ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.0001)
ddp.register_comm_hook(None, doubling_hook)
loss_fn(reference(mg.tensor(x)), mg.tensor(y)).backward()
xl, yl = local(x, y)
loss_fn(ddp(mg.tensor(xl)), mg.tensor(yl)).backward()
results["hook"] = {"order": [s[0] for s in seen] == list(range(len(ddp._buckets))),
                   "last": [s[1] for s in seen] == [False] * (len(seen) - 1) + [True],
                   "max_diff": max(float(np.max(np.abs(2 * a.grad.array - b.grad.array)))
                                   for a, b in zip(reference.parameters(), model.parameters()))}

# DistributedSampler + DataLoader: the ranks' shares cover the dataset once, padded
ds = TensorDataset(mg.arange(10))
sampler = DistributedSampler(ds, shuffle=True, seed=3)
sampler.set_epoch(2)
mine = [int(v) for b in DataLoader(ds, batch_size=2, sampler=sampler) for v in b[0].tolist()]
everyone = ddp.process_group.comm.allgather(mine)
results["sampler"] = {"mine": mine, "everyone": everyone}

# SyncBatchNorm across ranks equals BatchNorm1d on the concatenated batch
MPI = dist.process_group._mpi()
sbn_res = {}
for shape in [(8, 3), (8, 3, 5)]:
    rng = np.random.default_rng(7)
    full = rng.standard_normal(shape) * 3 + 1
    weights = rng.standard_normal(shape)
    counts = [shape[0] // WORLD + (1 if k < shape[0] % WORLD else 0) for k in range(WORLD)]
    starts = np.cumsum([0] + counts)
    lo, hi = starts[RANK], starts[RANK + 1]  # unequal shares when N does not divide 8
    bn = nn.BatchNorm1d(3, dtype=mg.float64)
    sbn = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(
        nn.BatchNorm1d(3, dtype=mg.float64)))
    for layer in (bn, sbn[0]):
        layer.weight.array[...] = [1.5, -0.5, 2.0]
        layer.bias.array[...] = [0.1, 0.2, -0.3]
    xf = mg.tensor(full, requires_grad=True)
    out_full = bn(xf)
    (out_full * mg.tensor(weights)).sum().backward()
    xl = mg.tensor(full[lo:hi], requires_grad=True)
    yl = sbn(xl)
    (yl * mg.tensor(weights[lo:hi])).sum().backward()
    w_grad = sbn[0].weight.grad.array.copy()  # each rank's share: their sum is the whole
    b_grad = sbn[0].bias.grad.array.copy()
    ddp.process_group.comm.Allreduce(MPI.IN_PLACE, w_grad)
    ddp.process_group.comm.Allreduce(MPI.IN_PLACE, b_grad)
    sbn_res[str(shape)] = {
        "out": float(np.max(np.abs(out_full.array[lo:hi] - yl.array))),
        "x_grad": float(np.max(np.abs(xf.grad.array[lo:hi] - xl.grad.array))),
        "w_grad": float(np.max(np.abs(bn.weight.grad.array - w_grad))),
        "b_grad": float(np.max(np.abs(bn.bias.grad.array - b_grad))),
        "running": float(max(np.max(np.abs(bn.running_mean.array - sbn[0].running_mean.array)),
                             np.max(np.abs(bn.running_var.array - sbn[0].running_var.array))))}
results["sync_bn"] = sbn_res

# broadcast_buffers: rank 0's buffers at wrap time and at every training forward
bn_model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 2),
                         nn.BatchNorm1d(2))
for bn in (bn_model[1], bn_model[3]):
    bn.running_mean.array[...] = RANK
    bn.num_batches_tracked.array[...] = 10 * RANK
ddp_bn = dist.DistributedDataParallel(bn_model)
state = lambda: np.concatenate([b.array.ravel().astype(float)  # noqa: E731
                                for b in bn_model.buffers()])
at_wrap = ddp.process_group.comm.allgather(state())
ddp_bn(mg.tensor(np.random.default_rng(RANK).standard_normal((4, 5))))  # local statistics
after_one = ddp.process_group.comm.allgather(state())
for bn in (bn_model[1], bn_model[3]):
    bn.momentum = 0.0  # the next update keeps what the forward's broadcast put there
ddp_bn(mg.tensor(np.random.default_rng(RANK).standard_normal((4, 5))))
after_two = ddp.process_group.comm.allgather(state())
results["buffers"] = {
    "wrap": all(np.array_equal(a, at_wrap[0]) for a in at_wrap) and not at_wrap[0][:4].any(),
    "diverged": WORLD == 1 or not np.array_equal(after_one[0], after_one[1]),
    "forward": all(np.array_equal(a[:4], after_one[0][:4]) for a in after_two)}

# SyncBatchNorm's buffers are not broadcast at each forward: every rank updates them alike
sync_model = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(
    nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 3)))
ddp_sync = dist.DistributedDataParallel(sync_model)
opt = mg.optim.SGD(ddp_sync.parameters(), lr=0.1)
for x, y in batches(3):
    xl, yl = local(x, y)
    opt.zero_grad()
    loss_fn(ddp_sync(mg.tensor(xl)), mg.tensor(yl)).backward()
    opt.step()
mine = np.concatenate([b.array.ravel().astype(float) for b in sync_model.buffers()] +
                      [p.array.ravel() for p in sync_model.parameters()])
everyone_sync = ddp.process_group.comm.allgather(mine)
results["sync_buffers_equal"] = all(np.array_equal(a, mine) for a in everyone_sync) and \
    not ddp_sync._buffers_list(skip_synced=True)

# different models on different ranks: a clear error on every rank, no hang
try:
    dist.DistributedDataParallel(nn.Linear(3, 2 + (RANK % 2)))
    results["mismatch"] = WORLD == 1
except RuntimeError as error:
    results["mismatch"] = "different models" in str(error)

if BACKEND == "nccl":
    results["nccl_calls"] = dict(fake_nccl.calls)
with open(os.path.join(OUT, f"rank{RANK}.json"), "w") as f:
    json.dump(results, f)
np.savez(os.path.join(OUT, f"rank{RANK}.npz"), **params_out)
