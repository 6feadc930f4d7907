"""Per-op Python overhead: minigrad vs the same NumPy expression, on tiny arrays.

On 2x2 inputs the arithmetic is free, so what is timed is what the framework adds per op:
wrapping the result, recording the graph, and walking it backward. Run:

    python benchmarks/op_overhead.py [--device cpu|cuda] [--repeats 7] [--number 20000]
"""
from __future__ import annotations

import argparse
import statistics
import timeit

import numpy as np

import minigrad as mg


def median_us(stmt, number: int, repeats: int) -> float:
    times = timeit.repeat(stmt, number=number, repeat=repeats)
    return statistics.median(times) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal((2, 2), dtype=np.float32), rng.standard_normal((2, 2), dtype=np.float32)
    a = mg.tensor(a_np, device=args.device)
    b = mg.tensor(b_np, device=args.device)
    a_grad, b_grad = a.detach().requires_grad_(), b.detach().requires_grad_()
    seed = mg.ones(2, 2, device=args.device)

    def backward_only():
        a_grad.grad = b_grad.grad = None
        (a_grad + b_grad).backward(seed)

    rows = [
        ("a + b  (NumPy arrays)", lambda: a_np + b_np),
        ("a + b  (no grad needed)", lambda: a + b),
        ("a + b  (recording the graph)", lambda: a_grad + b_grad),
        ("a * b  (recording the graph)", lambda: a_grad * b_grad),
        ("a @ b  (NumPy arrays)", lambda: a_np @ b_np),
        ("a @ b  (recording the graph)", lambda: a_grad @ b_grad),
        ("(a + b).backward(g)  forward + backward", backward_only),
    ]
    baseline = None
    print(f"device={args.device}, median of {args.repeats} x {args.number} calls")
    print(f"{'operation':44s} {'us/call':>8s} {'x NumPy add':>12s}")
    for name, fn in rows:
        us = median_us(fn, args.number, args.repeats)
        baseline = baseline or us
        print(f"{name:44s} {us:8.2f} {us / baseline:12.1f}")


if __name__ == "__main__":
    main()
