"""The elementwise optimizers' update rules as one CUDA kernel each (see
:mod:`minigrad.kernels`), for parameters on the GPU.

On the CPU an elementwise optimizer's step is a handful of in-place NumPy calls over the
flat buffer; on the GPU each such call is a kernel launch and a pass over memory, so Adam's
step would read and write the parameter, gradient and moment buffers about ten times. Each
rule is therefore also written once as the body of a :class:`minigrad.kernels.
ElementwiseKernel`: the arrays it only reads are ``const T`` values, the arrays it updates
are ``T&`` references into the buffers, and the hyper-parameters are ``const T`` scalars
computed on the host exactly as the NumPy path computes them; the whole update is one pass,
one launch per buffer. float16 parameters keep the array calls.

Tests check each body against the NumPy path on the CPU (``tests/optim/test_fused.py``).
This module holds the pieces several rules' bodies share.
"""
from __future__ import annotations

#: Adam's moment estimates, as ``optim.adam.update_moments_`` computes them.
ADAM_MOMENTS = """
exp_avg = exp_avg * beta1 + grad * one_minus_beta1;
exp_avg_sq = exp_avg_sq * beta2 + (grad * grad) * one_minus_beta2;
"""
#: AMSGrad's running maximum of the second moment, with NumPy's ``maximum`` (NaN and ties).
AMSGRAD_MAXIMUM = ("max_exp_avg_sq = (max_exp_avg_sq > exp_avg_sq || max_exp_avg_sq != "
                   "max_exp_avg_sq) ? max_exp_avg_sq : exp_avg_sq;")
