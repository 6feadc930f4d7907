"""Reverse-mode automatic differentiation: the engine, grad mode, checks and helpers."""
from minigrad.grad_mode import (detect_anomaly, enable_grad, inference_mode, is_anomaly_enabled,
                                is_grad_enabled, no_grad, set_detect_anomaly, set_grad_enabled)
from minigrad.tensor import install
from minigrad.autograd import engine
from minigrad.autograd.engine import backward, grad
from minigrad.autograd import functional
from minigrad.autograd.function import Function, FunctionCtx
from minigrad.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "functional", "gradcheck", "gradgradcheck", "GradcheckError", "Function",
           "FunctionCtx", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "inference_mode"]

install(engine=engine)
