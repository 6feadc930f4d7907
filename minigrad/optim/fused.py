"""The elementwise optimizers' update rules as one CUDA kernel each (see
:mod:`minigrad.kernels`), for parameters on the GPU.

On the CPU an elementwise optimizer's step is a handful of in-place NumPy calls over the
flat buffer; on the GPU each such call is a kernel launch and a pass over memory, so Adam's
step would read and write the parameter, gradient and moment buffers about ten times. Each
rule is therefore also written once as the body of an ``ElementwiseKernel``: the arrays it
only reads are ``const T`` values, the arrays it updates are ``T&`` references into the
buffers, and the hyper-parameters are ``const T`` scalars computed on the host exactly as the
NumPy path computes them; the whole update is one pass, one launch per buffer. float16
parameters keep the array calls.

Tests check each body against the NumPy path on the CPU (``tests/optim/test_fused.py``).
This module holds what several rules share: body pieces, and the pairing of a rule with
its AMSGrad variant.
"""
from __future__ import annotations

from minigrad import kernels

#: Adam's moment estimates, as ``optim.adam.update_moments_`` computes them.
ADAM_MOMENTS = """
exp_avg = exp_avg * beta1 + grad * one_minus_beta1;
exp_avg_sq = exp_avg_sq * beta2 + (grad * grad) * one_minus_beta2;
"""
#: AMSGrad's running maximum of the second moment, with NumPy's ``maximum`` (NaN and ties).
AMSGRAD_MAXIMUM = ("max_exp_avg_sq = (max_exp_avg_sq > exp_avg_sq || max_exp_avg_sq != "
                   "max_exp_avg_sq) ? max_exp_avg_sq : exp_avg_sq;")


def with_amsgrad(name: str, ams_name: str, scalars: str, body: str,
                 **fields: str) -> tuple[kernels.ElementwiseKernel, kernels.ElementwiseKernel]:
    """An Adam-like rule's kernel and its AMSGrad variant, from one ``body`` in which
    ``{amsgrad}`` stands for the running maximum's update (:data:`AMSGRAD_MAXIMUM`, in the
    variant only) and ``{second}`` for the second moment the step divides by (``exp_avg_sq``,
    or its running maximum ``max_exp_avg_sq``, which the variant also writes); ``fields``
    fill the body's other placeholders."""
    def kernel(amsgrad: bool) -> kernels.ElementwiseKernel:
        return kernels.ElementwiseKernel(
            ams_name if amsgrad else name, reads="grad",
            writes="param, exp_avg, exp_avg_sq" + (", max_exp_avg_sq" if amsgrad else ""),
            scalars=scalars, body=body.format(
                amsgrad=AMSGRAD_MAXIMUM if amsgrad else "",
                second="max_exp_avg_sq" if amsgrad else "exp_avg_sq", **fields))
    return kernel(False), kernel(True)
