"""Time of one optimizer step alone: the NumPy flat floor, a per-tensor NumPy loop, minigrad
and PyTorch (default, foreach and fused), for SGD with momentum 0.9 and for Adam.

The model is issue 10's: 50 x Linear(32, 32), that is 100 float32 tensors (weights 32x32,
biases 32). The contenders:

- **floor**: the update written by hand over one flat buffer holding every parameter (and
  one for the gradients, one per state slot); each parameter is a view into it. Its cost
  does not grow with the number of tensors.
- **NumPy per-tensor loop**: the same update by hand, once per tensor: the floor of a
  framework that keeps one array per parameter.
- **minigrad** ``optim.SGD(momentum=0.9)`` / ``optim.Adam`` over its ``nn.Linear`` layers.
- **PyTorch**, when importable: its default (a per-tensor loop on the CPU), ``foreach=True``
  and ``fused=True``; a variant that PyTorch refuses (fused on the CPU, in some versions) is
  skipped with a note.

All start from the same parameters and gradients (the frameworks get theirs from a backward
pass, as in training, and keep them: every step sees the same gradient). The script checks
that they compute the same parameters for three steps, then times them interleaved in one
process; the other minigrad optimizers are timed too, for reference. Run:

    python benchmarks/optim_step.py [--quick] [--device cpu|cuda] [--repeats 21]
"""
from __future__ import annotations

import harness  # first: it sets the BLAS thread count before NumPy loads

import argparse
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import minigrad as mg
from minigrad import backend, optim
from harness import Row, Step, Timing

LINEARS, WIDTH = 50, 32
TARGETS = {"sgd": "-", "adam": "<= 0.15 ms"}
TORCH_VARIANTS = {"torch": {}, "torch foreach": {"foreach": True}, "torch fused": {"fused": True}}
DETAIL_COLUMNS = (("floor", "floor"), ("numpy loop", "NumPy per-tensor loop"),
                  ("minigrad", "minigrad"), ("torch", "PyTorch"),
                  ("torch foreach", "PyTorch foreach"), ("torch fused", "PyTorch fused"))
OTHERS = [
    (optim.SGD, dict(lr=1e-3)),
    (optim.SGD, dict(lr=1e-3, momentum=0.9, nesterov=True)),
    (optim.AdamW, dict(lr=1e-3)),
    (optim.Adagrad, dict(lr=1e-2)),
    (optim.RMSprop, dict(lr=1e-3, momentum=0.9, centered=True)),
    (optim.Adadelta, dict()),
    (optim.Adamax, dict(lr=1e-3)),
    (optim.NAdam, dict(lr=1e-3)),
    (optim.RAdam, dict(lr=1e-3)),
    (optim.Lion, dict(lr=1e-4)),
    (optim.AdaBelief, dict(lr=1e-3)),
    (optim.ASGD, dict(lr=1e-3)),
    (optim.Rprop, dict(lr=1e-3)),
    (optim.Adafactor, dict(lr=1e-3)),
]


@dataclass
class Contender:
    """A step function and the parameters (arrays or tensors) it updates."""

    step: Step
    params: list[Any]


def model_arrays(seed: int) -> list[np.ndarray]:
    """Standard-normal float32 arrays shaped like the model's parameters, in its order
    (weight, bias, weight, bias, ...)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape, dtype=np.float32)
            for _ in range(LINEARS) for shape in ((WIDTH, WIDTH), (WIDTH,))]


def floor(rule: harness.UpdateRule, device: str, params: list[np.ndarray],
          grads: list[np.ndarray]) -> Contender:
    """The update by hand over one flat buffer each for parameters, gradients and state."""
    xp = backend.xp(device)
    flat_params = harness.FlatBuffer.holding(xp, params)
    flat_grads = harness.FlatBuffer.holding(xp, grads)
    update = harness.HandOptimizer(rule, xp, [(flat_params.flat, flat_grads.flat)],
                                   harness.floor_chunk(device))
    return Contender(update.step, flat_params.views)


def numpy_loop(rule: harness.UpdateRule, device: str, params: list[np.ndarray],
               grads: list[np.ndarray]) -> Contender:
    """The same update by hand, one tensor (its own arrays) at a time."""
    xp = backend.xp(device)
    own = [xp.array(p) for p in params]
    update = harness.HandOptimizer(rule, xp, list(zip(own, [xp.array(g) for g in grads])))
    return Contender(update.step, own)


def framework(lib: Any, device: str, make: Callable[[list[Any]], Any],
              params: list[np.ndarray], grads: list[np.ndarray]) -> Contender:
    """``make(parameters)``'s optimizer (minigrad's or PyTorch's) over 50 ``nn.Linear``
    layers of ``lib``, with ``params`` as values. The gradients come from a backward pass
    of sum(p * g) over the parameters, which leaves exactly ``grads`` in ``.grad``, where a
    training loop's backward leaves them (after the optimizer is made, as in training)."""
    model = lib.nn.Sequential(*(lib.nn.Linear(WIDTH, WIDTH) for _ in range(LINEARS)))
    tensors = list(model.parameters())
    harness.load_values(lib, tensors, params)
    model.to(device)
    optimizer = make(tensors)
    probe = sum((p * lib.from_numpy(g).to(device)).sum() for p, g in zip(tensors, grads))
    probe.backward()
    return Contender(optimizer.step, tensors)


def torch_variants(rule: harness.UpdateRule, device: str, params: list[np.ndarray],
                   grads: list[np.ndarray]) -> tuple[dict[str, Contender], list[str]]:
    """PyTorch's optimizer in each of ``TORCH_VARIANTS`` that it accepts here, and a note
    for each one it refuses."""
    torch = harness.torch_on(device)
    if torch is None:
        return {}, []
    contenders, notes = {}, []
    for name, options in TORCH_VARIANTS.items():
        def make(tensors: list[Any], options: dict[str, Any] = options) -> Any:
            return rule.make(torch, tensors, **options)
        try:  # one trial step on a throwaway copy: some variants fail only when stepping
            framework(torch, device, make, params, grads).step()
        except Exception as error:  # whatever PyTorch raises for an unsupported variant
            notes.append(f"PyTorch {options} skipped: {type(error).__name__}: "
                         f"{str(error).splitlines()[0]}")
            continue
        contenders[name] = framework(torch, device, make, params, grads)
    return contenders, notes


def measure(device: str, repeats: int) -> tuple[list[Row], dict[str, Timing]]:
    """A :class:`harness.Row` per update rule (SGD momentum, Adam) with every contender,
    and the other minigrad optimizers' timings by name."""
    sync = harness.synchronizer(device)
    params, grads = model_arrays(0), model_arrays(1)
    rows = []
    for kind, rule in harness.RULES.items():
        contenders = {"floor": floor(rule, device, params, grads),
                      "numpy loop": numpy_loop(rule, device, params, grads),
                      "minigrad": framework(mg, device, lambda ts: rule.make(mg, ts),
                                            params, grads)}
        in_torch, notes = torch_variants(rule, device, params, grads)
        contenders.update(in_torch)
        harness.check_agreement({name: _stepped(c) for name, c in contenders.items()},
                                f"{rule.label} .step(): the parameters", rtol=1e-5)
        timings = harness.time_interleaved({n: c.step for n, c in contenders.items()},
                                           repeats, sync)
        rows.append(Row(f"{rule.label} .step() alone, {2 * LINEARS} tensors "
                        f"({LINEARS} x Linear({WIDTH},{WIDTH}))", timings, TARGETS[kind],
                        notes=notes))
        print(f"  measured {rule.label} .step()", file=sys.stderr, flush=True)
    others = {_name(cls, kwargs): framework(mg, device, _maker(cls, kwargs), params, grads).step
              for cls, kwargs in OTHERS}
    return rows, harness.time_interleaved(others, max(3, repeats // 3), sync)


def _stepped(contender: Contender) -> Callable[[], list[Any]]:
    """An observer for :func:`harness.check_agreement`: one step, then the parameters."""
    def observe() -> list[Any]:
        contender.step()
        return contender.params
    return observe


def _maker(cls: type, kwargs: dict[str, Any]) -> Callable[[list[Any]], Any]:
    """``cls(tensors, **kwargs)``, as :func:`framework` takes it."""
    return lambda tensors: cls(tensors, **kwargs)


def _name(cls: type, kwargs: dict[str, Any]) -> str:
    return f"{cls.__name__}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def print_details(rows: list[Row], others: dict[str, Timing]) -> None:
    """Every contender of the optimizer rows, then the other minigrad optimizers."""
    harness.print_tables(rows, DETAIL_COLUMNS, title="optimizer step alone, ")
    print("\nother minigrad optimizers, same model, ms per step (median, minimum):\n")
    print("| optimizer | median ms | minimum ms |\n|---|---:|---:|")
    for name, timing in others.items():
        print(f"| {name} | {1e3 * timing.median:.3f} | {1e3 * timing.minimum:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    if args.device == "cuda" and (reason := harness.cuda_missing()):
        print(f"skipped: {reason}")
        return
    repeats = harness.repeats_of(args)
    print(harness.environment(args.device, repeats))
    print_details(*measure(args.device, repeats))
    print(f"\nload average at the end: {harness.load_average()}")


if __name__ == "__main__":
    main()
