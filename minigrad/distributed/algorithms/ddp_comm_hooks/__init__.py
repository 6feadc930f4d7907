"""Communication hooks for ``DistributedDataParallel.register_comm_hook``, in PyTorch's
layout (``torch.distributed.algorithms.ddp_comm_hooks``), with the gradient-compression
schemes of the literature next to PyTorch's own.

A hook is ``hook(state, bucket) -> minigrad.distributed.Future`` whose value is the bucket's
averaged flat gradient. Every state class keeps byte counters (``bytes_sent``,
``bytes_received``, ``dense_bytes``, ``last_step_bytes_sent``, ``last_step_dense_bytes``,
``steps``, ``compression_ratio``; see ``_comm``).

Hook (state): paper.

- ``allreduce_hook`` (a group or ``DefaultState``): plain averaging, DDP's default.
- ``fp16_compress_hook``, ``bf16_compress_hook`` (the same): 16-bit casting (bfloat16
  emulated); ``fp16_compress_wrapper(hook)``, ``bf16_compress_wrapper(hook)``.
- ``powerSGD.powerSGD_hook``, ``powerSGD.batched_powerSGD_hook`` (``PowerSGDState``):
  Vogels, Karimireddy & Jaggi 2019.
- ``topk_hook`` (``TopKState``): Stich, Cordonnier & Jaggi 2018; Lin et al. 2018.
- ``onebit_sgd_hook`` (``OneBitState``): Seide et al. 2014.
- ``ef_signsgd_hook`` (``EFSignSGDState``): Karimireddy et al. 2019.
- ``signsgd_majority_vote_hook`` (``MajorityVoteState``): Bernstein et al. 2018.
- ``qsgd_hook`` (``QSGDState``): Alistarh et al. 2017.

As in PyTorch, ``powerSGD_hook`` here names the module (``from
minigrad.distributed.algorithms.ddp_comm_hooks import powerSGD_hook as powerSGD``, then
``powerSGD.PowerSGDState`` and ``powerSGD.powerSGD_hook``); it is also ``powerSGD``.
"""
from . import default_hooks, powerSGD_hook as powerSGD, quantization_hooks, sign_hooks
from . import sparsification_hooks
from ._comm import CommState, ErrorFeedbackState
from .default_hooks import (DefaultState, allreduce_hook, bf16_compress_hook,
                            bf16_compress_wrapper, fp16_compress_hook, fp16_compress_wrapper)
from .powerSGD_hook import PowerSGDState
from .quantization_hooks import QSGDState, qsgd_hook
from .sign_hooks import (EFSignSGDState, MajorityVoteState, OneBitState, ef_signsgd_hook,
                         onebit_sgd_hook, signsgd_majority_vote_hook)
from .sparsification_hooks import TopKState, topk_hook

__all__ = ["CommState", "ErrorFeedbackState", "DefaultState", "allreduce_hook",
           "fp16_compress_hook", "bf16_compress_hook", "fp16_compress_wrapper",
           "bf16_compress_wrapper", "PowerSGDState", "TopKState", "topk_hook",
           "OneBitState", "onebit_sgd_hook", "EFSignSGDState", "ef_signsgd_hook",
           "MajorityVoteState", "signsgd_majority_vote_hook", "QSGDState", "qsgd_hook",
           "default_hooks", "powerSGD", "quantization_hooks", "sign_hooks",
           "sparsification_hooks"]
