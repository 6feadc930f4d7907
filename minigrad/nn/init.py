"""Weight initialisers under PyTorch's name ``nn.init``; the one implementation lives in
:mod:`minigrad.optim.init`."""
from minigrad.optim.init import (calculate_gain, constant_, dirac_, eye_, kaiming_normal_,
                                 kaiming_uniform_, lecun_normal_, lecun_uniform_, normal_, ones_,
                                 orthogonal_, sparse_, trunc_normal_, uniform_, variance_scaling_,
                                 xavier_normal_, xavier_uniform_, zeros_)

__all__ = ["calculate_gain", "constant_", "dirac_", "eye_", "kaiming_normal_", "kaiming_uniform_",
           "lecun_normal_", "lecun_uniform_", "normal_", "ones_", "orthogonal_", "sparse_",
           "trunc_normal_", "uniform_", "variance_scaling_", "xavier_normal_", "xavier_uniform_",
           "zeros_"]
