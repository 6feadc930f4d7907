"""Training utilities under PyTorch's name ``nn.utils``; gradient clipping lives in
:mod:`minigrad.optim.clip_grad`."""
from minigrad.optim.clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
