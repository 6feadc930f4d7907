"""Data-parallel training across processes (and machines) on MPI, with PyTorch's names.

Start N processes with ``mpiexec -n N python -m mpi4py script.py``; in the script::

    import minigrad.distributed as dist
    dist.init_process_group("mpi")          # a world of 1 when started without mpiexec
    model = dist.DistributedDataParallel(model)
    sampler = minigrad.data.DistributedSampler(dataset)   # each rank its share
    loader = minigrad.data.DataLoader(dataset, batch_size=..., sampler=sampler)

mpi4py is imported only when a process group is made (``pip install 'minigrad[dist]'``).
Gradient-compression hooks for ``DistributedDataParallel.register_comm_hook`` are in
:mod:`minigrad.distributed.algorithms`.
"""
from minigrad.distributed.collectives import (ReduceOp, all_gather, all_gather_into_tensor,
                                              all_gather_object, all_reduce, broadcast,
                                              broadcast_object_list, reduce, reduce_scatter,
                                              reduce_scatter_tensor)
from minigrad.distributed.ddp import DistributedDataParallel, GradBucket, allreduce_hook
from minigrad.distributed.futures import Future, Work
from minigrad.distributed.launch import abort_on_exception, is_main_process, rank_zero_only
from minigrad.distributed.process_group import (ProcessGroup, barrier, destroy_process_group,
                                                get_backend, get_rank, get_world_size,
                                                init_process_group, is_available,
                                                is_initialized, is_mpi_available,
                                                is_nccl_available, new_group)

__all__ = ["DistributedDataParallel", "Future", "GradBucket", "ProcessGroup", "ReduceOp", "Work",
           "abort_on_exception", "all_gather", "all_gather_into_tensor", "all_gather_object",
           "all_reduce", "allreduce_hook", "barrier", "broadcast", "broadcast_object_list",
           "destroy_process_group", "get_backend", "get_rank", "get_world_size",
           "init_process_group", "is_available", "is_initialized", "is_main_process",
           "is_mpi_available", "is_nccl_available", "new_group", "rank_zero_only", "reduce",
           "reduce_scatter", "reduce_scatter_tensor"]
