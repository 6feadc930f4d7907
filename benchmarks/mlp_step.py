"""Time of one MLP training step: minigrad against a hand-written NumPy step and PyTorch.

A step is forward, cross-entropy, backward, SGD update and zero_grad, for ReLU MLPs from
tiny (2-16-16-2, batch 32) to wide (1024-4096-4096-10, batch 256). The hand-written NumPy
step computes the same network with the same float32 arrays, weight layout and in-place
SGD update, and is the floor for any NumPy-backed framework: minigrad/NumPy is what the
framework costs. The three run from the same initial weights and batch, interleaved in
one process so that they share machine noise. Run:

    [OMP_NUM_THREADS=1] python benchmarks/mlp_step.py [--device cpu|cuda] [--repeats 15]
        [--sizes 2-16-16-2/32,784-512-512-10/128] [--profile]

NumPy's BLAS and PyTorch both use OMP_NUM_THREADS threads (default 1): two thread pools
in one process, one spinning while the other works, would distort every number.
"""
from __future__ import annotations

import os

# Before NumPy or PyTorch load their thread pools.
THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", "1"))
for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, str(THREADS))

import argparse  # noqa: E402
import cProfile  # noqa: E402
import math  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import backend  # noqa: E402
from minigrad.nn import Linear, ReLU, Sequential  # noqa: E402
from minigrad.nn.functional import cross_entropy  # noqa: E402
from minigrad.optim.sgd import SGD  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

SIZES = "2-16-16-2/32,64-128-128-10/64,784-512-512-10/128,1024-4096-4096-10/256"
LR = 0.01
MIN_BLOCK_S = 0.02  # steps are timed in blocks this long, so timer resolution does not matter

Step = Callable[[], Any]
Weights = list[tuple[np.ndarray, np.ndarray]]


def parse_size(text: str) -> tuple[list[int], int]:
    """``"784-512-512-10/128"`` -> ([784, 512, 512, 10], 128)."""
    widths, _, batch = text.partition("/")
    return [int(w) for w in widths.split("-")], int(batch or 32)


def initial_weights(widths: list[int], rng: np.random.Generator) -> Weights:
    """Uniform(+-1/sqrt(fan_in)) weights of shape (out, in) and biases, as nn.Linear uses."""
    layers = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return layers


def numpy_step(weights: Weights, x: Any, y: Any, xp: Any) -> Step:
    """The training step written out by hand: the floor for a NumPy-backed framework."""
    params = [(xp.asarray(w), xp.asarray(b)) for w, b in weights]
    rows = xp.arange(len(y))

    def step() -> Any:
        inputs = [x]  # the input of every layer, kept for the backward pass
        for W, b in params[:-1]:
            inputs.append(xp.maximum(inputs[-1] @ W.T + b, 0))
        W, b = params[-1]
        logits = inputs[-1] @ W.T + b
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        loss = (xp.log(total[:, 0]) - shifted[rows, y]).mean()
        grad = exp / total  # d loss / d logits = (softmax - onehot) / batch
        grad[rows, y] -= 1
        grad /= len(y)
        for i in range(len(params) - 1, -1, -1):
            W, b = params[i]
            h = inputs[i]
            grad_W, grad_b = grad.T @ h, grad.sum(axis=0)
            if i > 0:
                grad = (grad @ W) * (h > 0)
            W -= LR * grad_W
            b -= LR * grad_b
        return loss

    return step


def minigrad_step(weights: Weights, x: Any, y: Any, device: str) -> Step:
    model, linears = _mlp(Sequential, Linear, ReLU, weights)
    for layer, (w, b) in zip(linears, weights):
        layer.weight.array[...] = w
        layer.bias.array[...] = b
    model.to(device)
    inputs, targets = mg.tensor(x, device=device), mg.tensor(y, device=device)
    optimizer = SGD(model.parameters(), lr=LR)

    def step() -> Any:
        loss = cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss

    return step


def torch_step(weights: Weights, x: Any, y: Any, device: str) -> Step:
    model, linears = _mlp(torch.nn.Sequential, torch.nn.Linear, torch.nn.ReLU, weights)
    with torch.no_grad():
        for layer, (w, b) in zip(linears, weights):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    model.to(device)
    inputs = torch.from_numpy(x).to(device)
    targets = torch.from_numpy(y).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)

    def step() -> Any:
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss

    return step


def _mlp(sequential: Any, linear: Any, relu: Any, weights: Weights) -> tuple[Any, list[Any]]:
    """An MLP shaped like ``weights`` (``relu`` between ``linear`` layers) and its linears."""
    linears = [linear(w.shape[1], w.shape[0]) for w, _ in weights]
    layers = [m for layer in linears for m in (layer, relu())][:-1]
    return sequential(*layers), linears


def median_step_times(steps: dict[str, Step], sync: Callable[[], None],
                      repeats: int) -> dict[str, float]:
    """Median seconds per step of each contender, timed in interleaved blocks.

    Every repetition times one block of each contender, in a rotating order, so that slow
    phases of a shared machine hit all of them alike.
    """
    for step in steps.values():  # warm-up: allocations, BLAS thread start, caches
        step(), step()
    sync()
    number = max(1, math.ceil(MIN_BLOCK_S / _block_seconds(steps["numpy"], 1, sync)))
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(_block_seconds(steps[name], number, sync) / number)
    return {name: statistics.median(t) for name, t in times.items()}


def _block_seconds(step: Step, number: int, sync: Callable[[], None]) -> float:
    start = time.perf_counter()
    for _ in range(number):
        step()
    sync()
    return time.perf_counter() - start


def _synchronizer(device: str) -> Callable[[], None]:
    def sync() -> None:
        if device == "cuda":
            backend.xp("cuda").cuda.get_current_stream().synchronize()
            if torch is not None and torch.cuda.is_available():
                torch.cuda.synchronize()
    return sync


def profile_minigrad(step: Step, steps: int = 2000, top: int = 25) -> None:
    """Print cProfile's top entries (by own time) for ``steps`` minigrad training steps."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def _contenders(size: str, device: str, use_torch: bool) -> dict[str, Step]:
    """The training steps to compare on one network size, from one set of weights and data."""
    widths, batch = parse_size(size)
    rng = np.random.default_rng(0)
    weights = initial_weights(widths, rng)
    x = rng.standard_normal((batch, widths[0])).astype(np.float32)
    y = rng.integers(0, widths[-1], batch)
    xp = backend.xp(device)
    steps = {"numpy": numpy_step(weights, xp.asarray(x), xp.asarray(y), xp),
             "minigrad": minigrad_step(weights, x, y, device)}
    if use_torch:
        steps["torch"] = torch_step(weights, x, y, device)
    return steps


def _check_same_first_loss(steps: dict[str, Step], size: str) -> None:
    """Fail unless every contender computes the same loss: they must train the same network."""
    losses = {}
    for name, step in steps.items():
        loss = step()
        losses[name] = float(loss.detach() if hasattr(loss, "detach") else loss)
    if max(losses.values()) - min(losses.values()) > 1e-4 * max(1.0, abs(losses["numpy"])):
        raise RuntimeError(f"{size}: the contenders disagree on the first loss: {losses}")


def _table_row(size: str, device: str, use_torch: bool, sync: Callable[[], None],
               repeats: int) -> str:
    steps = _contenders(size, device, use_torch)
    _check_same_first_loss(steps, size)
    ms = {name: 1e3 * t for name, t in median_step_times(steps, sync, repeats).items()}
    torch_ms, vs_torch = (f"{ms['torch']:>12.3f}", f"{ms['minigrad'] / ms['torch']:>12.2f}") \
        if use_torch else (f"{'-':>12}", f"{'-':>12}")
    return (f"{size:<28}{ms['numpy']:>10.3f}{ms['minigrad']:>13.3f}{torch_ms}"
            f"{ms['minigrad'] / ms['numpy']:>10.2f}{vs_torch}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=15,
                        help="timed blocks per contender and size (the median is reported)")
    parser.add_argument("--sizes", default=SIZES,
                        help="comma-separated layer widths/batch, e.g. 784-512-512-10/128")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of minigrad on the first size")
    args = parser.parse_args()

    use_torch = torch is not None and (args.device == "cpu" or torch.cuda.is_available())
    if use_torch:
        torch.set_num_threads(THREADS)
    sync = _synchronizer(args.device)
    print(f"device {args.device}, float32, SGD lr {LR}, {THREADS} thread(s), median of "
          f"{args.repeats} blocks; PyTorch {torch.__version__ if use_torch else 'not run'}")
    header = f"{'network/batch':<28}{'NumPy ms':>10}{'minigrad ms':>13}{'PyTorch ms':>12}" \
             f"{'mg/NumPy':>10}{'mg/PyTorch':>12}"
    print(header)
    print("-" * len(header))
    for size in args.sizes.split(","):
        print(_table_row(size, args.device, use_torch, sync, args.repeats), flush=True)
    if args.profile:
        first = args.sizes.split(",")[0]
        print(f"\ncProfile of minigrad, {first}, 2000 steps:")
        profile_minigrad(_contenders(first, args.device, use_torch=False)["minigrad"])


if __name__ == "__main__":
    main()
