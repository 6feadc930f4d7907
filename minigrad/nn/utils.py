"""Training utilities under PyTorch's name ``nn.utils``; gradient clipping lives in
:mod:`minigrad.optim.clip_grad` (``adaptive_clip_grad_``, adaptive gradient clipping, is
minigrad's addition: PyTorch has none)."""
from minigrad.optim.clip_grad import (adaptive_clip_grad_, clip_grad_norm_, clip_grad_value_,
                                      clip_grads_with_norm_, get_total_norm)

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
           "adaptive_clip_grad_"]
