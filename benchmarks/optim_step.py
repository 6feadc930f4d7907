"""Time of one optimizer step: minigrad's Adam against a hand-written per-tensor NumPy loop.

The model is 100 small float32 parameter tensors (50 weights of 64x64 and 50 biases of 64,
the shapes of a deep narrow MLP), each with a fixed gradient. The hand-written loop is the
Adam update as one would write it directly on the arrays, in place where that is natural;
it is the floor for any framework that keeps one array per parameter. Both update their
own copies from the same start, interleaved in one process so that they share machine
noise; the median of the repeats is reported. The other optimizers are timed too, for
reference. Run:

    [OMP_NUM_THREADS=1] python benchmarks/optim_step.py [--device cpu|cuda] [--repeats 15]
        [--steps 200] [--count 100]
"""
from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any, Callable

import minigrad as mg
from minigrad import backend, optim

SHAPES = ((64, 64), (64,))


def make_arrays(xp: Any, count: int, seed: int) -> list[Any]:
    gen = xp.random.default_rng(seed)
    return [gen.standard_normal(SHAPES[i % 2], dtype=xp.float32) for i in range(count)]


def numpy_adam(xp: Any, params: list[Any], grads: list[Any], lr: float = 1e-3,
               betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> Callable[[], None]:
    """A step function running Adam by hand over ``params`` (same equations as optim.Adam)."""
    beta1, beta2 = betas
    exp_avgs = [xp.zeros_like(p) for p in params]
    exp_avg_sqs = [xp.zeros_like(p) for p in params]
    count = [0]

    def step() -> None:
        count[0] += 1
        bias1, bias2 = 1 - beta1 ** count[0], 1 - beta2 ** count[0]
        for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * (g * g)
            p -= (lr / bias1) * m / (xp.sqrt(v) / math.sqrt(bias2) + eps)

    return step


def minigrad_step(cls: type, device: str, params: list[Any], grads: list[Any],
                  **kwargs: Any) -> Callable[[], None]:
    """A step function running a minigrad optimizer over tensors wrapping copies of ``params``."""
    tensors = []
    for array, grad in zip(params, grads):
        t = mg.tensor(array.copy(), device=device, requires_grad=True)
        t.grad = mg.tensor(grad, device=device)
        tensors.append(t)
    return cls(tensors, **kwargs).step


def time_per_step(step: Callable[[], None], steps: int, xp: Any) -> float:
    """Milliseconds per call of ``step``, averaged over ``steps`` calls."""
    synchronize = (lambda: xp.cuda.Device().synchronize()) if xp.__name__ == "cupy" else (
        lambda: None)
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return (time.perf_counter() - start) * 1e3 / steps


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
    (optim.ASGD, dict(lr=1e-3)),
    (optim.Rprop, dict(lr=1e-3)),
    (optim.Adafactor, dict(lr=1e-3)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--count", type=int, default=100, help="number of parameter tensors")
    args = parser.parse_args()
    xp = backend.xp(args.device)
    params, grads = make_arrays(xp, args.count, 0), make_arrays(xp, args.count, 1)

    hand = numpy_adam(xp, [p.copy() for p in params], grads)
    ours = minigrad_step(optim.Adam, args.device, params, grads, lr=1e-3)
    hand_ms, ours_ms = [], []
    for _ in range(args.repeats):
        hand_ms.append(time_per_step(hand, args.steps, xp))
        ours_ms.append(time_per_step(ours, args.steps, xp))
    hand_median, ours_median = statistics.median(hand_ms), statistics.median(ours_ms)
    print(f"Adam step over {args.count} tensors ({args.device}, float32, median of "
          f"{args.repeats} x {args.steps} steps)")
    print(f"  hand-written NumPy loop   {hand_median:8.3f} ms/step")
    print(f"  minigrad optim.Adam       {ours_median:8.3f} ms/step")
    print(f"  ratio minigrad / NumPy    {ours_median / hand_median:8.2f}x")

    print("\nother optimizers, minigrad ms/step (median):")
    for cls, kwargs in OTHERS:
        step = minigrad_step(cls, args.device, params, grads, **kwargs)
        ms = statistics.median(time_per_step(step, args.steps // 4 or 1, xp)
                               for _ in range(max(3, args.repeats // 3)))
        options = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        print(f"  {cls.__name__ + '(' + options + ')':48s} {ms:8.3f}")


if __name__ == "__main__":
    main()
