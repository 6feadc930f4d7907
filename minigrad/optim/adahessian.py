"""AdaHessian, and the Hutchinson machinery it shares with SophiaH.

Both optimizers estimate the diagonal of the Hessian from Hessian-vector products through
minigrad's double backward. They are used as their references are: the gradients must carry
their own graph, so the loop is ::

    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward(create_graph=True)      # .grad keeps the graph of the gradient
    optimizer.step()                      # H v from that graph; the graph is then released

``step()`` differentiates ``<grad, v>`` once more for a random probe ``v`` and, when it is
done (also when it raises or skips the step), replaces every ``.grad`` by a detached copy
of its values, so nothing of the step's graphs is kept alive.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping

from minigrad import backend
from minigrad.autograd.engine import grad as autograd_grad
from minigrad.grad_mode import enable_grad, no_grad
from minigrad.optim.checks import BETAS, LR, NONNEGATIVE, Integer, Real, Rule, Tuple
from minigrad.optim.optimizer import Optimizer, ParamsT, hyperparameters, zeros_state
from minigrad.tensor import Tensor, wrap

PROBE_DISTRIBUTIONS = ("gaussian", "rademacher")


def draw_probe(param: Tensor, distribution: str) -> Any:
    """A random probe shaped like ``param`` from minigrad's global generator of its device
    (seeded by ``mg.manual_seed``): standard normal entries, or +-1 with equal odds."""
    gen = backend.generator(param.device)
    dtype = param.dtype
    if distribution == "rademacher":
        signs = gen.integers(0, 2, size=param.shape, dtype=backend.int8)
        return (signs * 2 - 1).astype(dtype)
    if dtype == backend.float64 or dtype == backend.float32:
        return gen.standard_normal(param.shape, dtype=dtype)
    return gen.standard_normal(param.shape, dtype=backend.float32).astype(dtype)


class HessianOptimizer(Optimizer):
    """An optimizer whose step needs Hessian-vector products of the loss (Hutchinson's
    estimator), computed from gradients made by ``loss.backward(create_graph=True)``.

    At a step where :meth:`_needs_hessian` says so for some parameters, the step draws one
    probe ``z`` per such parameter (:meth:`_probe`; the hook a test overrides to inject
    probes), computes ``H z`` restricted to those parameters with one more backward through
    the gradients' graph, and hands ``z`` and ``H z`` to :meth:`_estimate`; :meth:`_update`
    then finds the estimate of its parameter in :meth:`hessian_estimate`. A parameter whose
    gradient has no graph while others have one is one the gradient does not depend on
    (its rows of H are 0): its ``H z`` is zero. If no gradient that needs it has a graph,
    ``loss.backward`` was called without ``create_graph=True``: the step raises a
    ``RuntimeError`` saying so, and changes nothing. A ``closure`` given to ``step`` must
    itself call ``backward(create_graph=True)``.

    Whatever happens (an update, a skipped non-finite step, an error), the step ends by
    replacing every parameter's ``.grad`` by a detached tensor with the same values, which
    releases the graphs of the gradients (and of the forward pass they refer to).
    """

    #: the catalog tests' hint: this optimizer's gradients must come from
    #: ``backward(create_graph=True)``
    needs_create_graph: ClassVar[bool] = True
    _estimates: dict[int, Any] | None = None

    # --- what a subclass defines -------------------------------------------------------------
    def _needs_hessian(self, param: Tensor, group: dict[str, Any]) -> bool:
        """Whether this step needs a Hessian estimate for ``param`` (it has a gradient)."""
        return True

    def _samples(self, group: dict[str, Any]) -> int:
        """How many probes the estimate averages."""
        return 1

    def _distribution(self, group: dict[str, Any]) -> str:
        return "rademacher"

    def _estimate(self, param: Tensor, probes: list[Any], products: list[Any],
                  group: dict[str, Any]) -> Any:
        """The estimate kept for ``param`` from its probes ``z`` and products ``H z``."""
        raise NotImplementedError

    # --- the machinery -------------------------------------------------------------------------
    def _probe(self, param: Tensor, group: dict[str, Any]) -> Any:
        """One probe for ``param``: an array shaped like it, on its device, in its dtype.

        Drawn from minigrad's global generator (:func:`draw_probe`), so ``mg.manual_seed``
        makes a run repeat. Override it to inject chosen probes (the tests do)."""
        return draw_probe(param, self._distribution(group))

    def hessian_estimate(self, param: Tensor) -> Any:
        """The estimate computed for ``param`` in the current step (None outside a step, or
        where this step computed none)."""
        estimates = self._estimates
        return None if estimates is None else estimates.get(id(param))

    def _begin_step(self) -> None:
        self._estimates = self._hutchinson()

    def _end_step(self) -> None:
        self._estimates = None
        self._release_graphs()

    def _release_graphs(self) -> None:
        """Detach every gradient that carries a graph (values kept, graph dropped)."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is not None and g.requires_grad:
                    p.grad = g.detach()

    def _hutchinson(self) -> dict[int, Any]:
        """The estimates of the parameters that need one this step, by id."""
        wanted = [(p, group) for group in self.param_groups for p in group["params"]
                  if p.grad is not None and self._needs_hessian(p, group)]
        if not wanted:
            return {}
        with_graph = [(p, group) for p, group in wanted if p.grad.requires_grad]
        if not with_graph:
            raise RuntimeError(
                f"{self._name()}.step() needs Hessian-vector products, but the gradients "
                f"have no graph (none of the {len(wanted)} gradients it needs requires grad): "
                "call loss.backward(create_graph=True) before step(); nothing was updated")
        groups = {id(group): group for _, group in wanted}
        samples = {self._samples(group) for group in groups.values()}
        if len(samples) != 1:
            raise ValueError(f"{self._name()}: every param group must use the same "
                             f"num_samples at a step (got {sorted(samples)})")
        count = samples.pop()
        probes: dict[int, list[Any]] = {id(p): [] for p, _ in wanted}
        products: dict[int, list[Any]] = {id(p): [] for p, _ in wanted}
        params = [p for p, _ in with_graph]
        for i in range(count):
            drawn = {id(p): self._probe(p, group) for p, group in wanted}
            for p, _ in wanted:
                z = drawn[id(p)]
                if tuple(z.shape) != tuple(p.shape) or z.dtype != p.dtype:
                    raise ValueError(f"{self._name()}: a probe has shape {tuple(z.shape)} and "
                                     f"dtype {z.dtype}, its parameter shape {tuple(p.shape)} "
                                     f"and dtype {p.dtype}")
                probes[id(p)].append(z)
            outputs = [wrap(drawn[id(p)], p.device) for p in params]
            with enable_grad():
                hvs = autograd_grad([p.grad for p in params], params, grad_outputs=outputs,
                                    retain_graph=i < count - 1, allow_unused=True)
            found = {id(p): hv for p, hv in zip(params, hvs)}
            for p, _ in wanted:
                hv = found.get(id(p))
                products[id(p)].append(zeros_state(p) if hv is None else hv.array)
        with no_grad():
            return {id(p): self._estimate(p, probes[id(p)], products[id(p)], group)
                    for p, group in wanted}


_BLOCK = Integer(-1)


def _spatial_average(hv_abs: Any, block: int, xp: Any) -> Any:
    """|H v| averaged as AdaHessian's spatial averaging does (``block`` for this ndim)."""
    ndim = hv_abs.ndim
    if block == -1:
        if ndim <= 1:
            return hv_abs
        axes = {2: (1,), 3: (2,), 4: (2, 3)}[ndim]
        return hv_abs.mean(axis=axes, keepdims=True)
    flat = hv_abs.reshape(-1, block).mean(axis=1)
    return xp.repeat(flat, block).reshape(hv_abs.shape)


def _blocks_fit(group: Mapping[str, Any]) -> bool:
    sizes = group.get("spatial_average_block_size")
    if not isinstance(sizes, tuple) or len(sizes) != 4:
        return True  # the hyper-parameter check reports it
    for p in group.get("params", ()):
        if not isinstance(p, Tensor):
            continue
        if p.ndim > 4:
            return False
        block = sizes[max(p.ndim, 1) - 1]
        if block > 0 and math.prod(p.shape) % block:
            return False
    return True


class AdaHessian(HessianOptimizer):
    """AdaHessian (Yao, Gholami, Shen, Mustafa, Keutzer & Mahoney 2021, "ADAHESSIAN: An
    Adaptive Second Order Optimizer for Machine Learning"), as the authors' code
    (amirgholami/adahessian, ``instruction/adahessian.py``).

    Adam with the squared gradient replaced by the square of a Hutchinson estimate of the
    Hessian's diagonal. Call ``loss.backward(create_graph=True)`` before every ``step()``
    (see the module's docstring). With ``g`` the gradient (negated when ``maximize``),
    ``z`` a Rademacher probe (entries +-1) drawn at every step, ``t`` the step count::

        D = |z * (H z)| = |H z|                   # Hutchinson: E[z * H z] = diag(H)
        D = spatial_average(D)                    # see below
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * D^2
        denom = (sqrt(v) / sqrt(1 - b2^t))^k + eps          # k = hessian_power
        p = p - lr * (m / (1 - b1^t) / denom + wd * p)

    Weight decay is decoupled (as AdamW's: ``p`` shrinks by ``lr * wd`` apart from the
    adaptive step), as in the reference.

    **Spatial averaging** (``spatial_average_block_size``, one entry per parameter
    dimensionality 1, 2, 3, 4; 0-D parameters follow the 1-D entry): ``-1`` means no
    averaging for 1-D parameters, the mean over each row (last dimension) of a 2-D weight,
    over the last dimension of a 3-D (1-D convolution) kernel and over the last two
    (spatial) dimensions of a 4-D (2-D convolution) kernel; a positive ``b`` averages each
    run of ``b`` consecutive entries of the flattened parameter (its size must be a
    multiple of ``b``; ``b = 1``: no averaging). The averaged ``D`` has the shape it
    reduces to and broadcasts in the update of ``v``. The default ``(-1, -1, -1, -1)`` is
    the reference's; the older ``image_classification/optim_adahessian.py`` averages only
    4-D kernels (and has no rule for 3-D ones): ``(-1, 1, -1, -1)`` here for 1-, 2- and
    4-D parameters.

    Defaults (the reference's): ``lr=0.15``, ``betas=(0.9, 0.999)``, ``eps=1e-4``,
    ``weight_decay=0``, ``hessian_power=1`` (0.5 is the other value the authors suggest).

    Not reproduced from the reference: it hard-codes ``device='cuda'`` for the probes, and
    indexes the gradients and estimates of all groups by the position within one group
    (wrong with several groups or with parameters lacking a gradient); here each parameter
    gets its own. Parameters with more than four dimensions are refused at construction
    (the reference raises at the step).
    """

    hyperparameter_checks = {
        "lr": LR, "betas": BETAS, "eps": NONNEGATIVE, "weight_decay": NONNEGATIVE,
        "hessian_power": Real(0, 1),
        "spatial_average_block_size": Tuple(
            _BLOCK, _BLOCK, _BLOCK, _BLOCK,
            text="four integers, each -1 or >= 1 (for 1-, 2-, 3- and 4-D parameters)",
            relation=lambda *sizes: all(s != 0 for s in sizes)),
    }
    group_checks = (Rule(_blocks_fit, "every parameter must have at most 4 dimensions and a "
                                      "size divisible by its positive block size",
                         ("spatial_average_block_size",)),)

    def __init__(self, params: ParamsT, lr: float = 0.15,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-4,
                 weight_decay: float = 0.0, hessian_power: float = 1.0,
                 spatial_average_block_size: tuple[int, int, int, int] = (-1, -1, -1, -1), *,
                 maximize: bool = False, on_nonfinite: str = "raise",
                 flat: bool = True) -> None:
        super().__init__(params, hyperparameters(locals()), on_nonfinite=on_nonfinite,
                         flat=flat)

    def _estimate(self, param: Tensor, probes: list[Any], products: list[Any],
                  group: dict[str, Any]) -> Any:
        xp = backend.xp(param.device)
        hv_abs = xp.abs(products[0])  # |z * Hz| = |Hz| for z = +-1
        block = group["spatial_average_block_size"][max(param.ndim, 1) - 1]
        return _spatial_average(hv_abs, block, xp)

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...] | None:
        return tuple(param.shape)

    def _init_state(self, param: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["exp_avg"] = zeros_state(param)
        state["exp_hessian_diag_sq"] = zeros_state(param)

    def _update(self, param: Tensor, grad: Any, state: dict[str, Any],
                group: dict[str, Any]) -> None:
        xp = backend.xp(param.device)
        data = param.array
        lr, eps, k = group["lr"], group["eps"], group["hessian_power"]
        beta1, beta2 = group["betas"]
        step = state["step"]
        exp_avg, exp_h = state["exp_avg"], state["exp_hessian_diag_sq"]
        diag = self.hessian_estimate(param)
        exp_avg *= beta1
        exp_avg += (1.0 - beta1) * grad
        exp_h *= beta2
        exp_h += (1.0 - beta2) * (diag * diag)
        denom = xp.sqrt(exp_h, out=xp.empty_like(exp_h))
        if k != 1:
            denom **= k
        denom /= math.sqrt(1.0 - beta2 ** step) ** k
        denom += eps
        update = xp.divide(exp_avg, denom, out=denom)
        update *= 1.0 / (1.0 - beta1 ** step)
        if group["weight_decay"]:
            update += group["weight_decay"] * data
        update *= lr
        data -= update
