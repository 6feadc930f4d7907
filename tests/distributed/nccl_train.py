"""``python -m minigrad.train`` with ``--dist-backend nccl`` in the CPU stand-in for CuPy and
NCCL (fake_nccl.py, every array a stand-in GPU array): ``mpiexec -n N python -m mpi4py
nccl_train.py ARGS...``. Each rank reports on stderr how many calls the stand-in's NCCL
carried."""
import sys

from tests.distributed import fake_nccl

fake_nccl.install(all_arrays=True)
from minigrad import distributed as dist  # noqa: E402
from minigrad import train  # noqa: E402

try:
    train.main(sys.argv[1:])
finally:
    rank = dist.get_rank() if dist.is_initialized() else -1
    sys.stderr.write(f"rank {rank}: nccl allReduce {fake_nccl.calls['allReduce']} bcast "
                     f"{fake_nccl.calls['bcast']}\n")
