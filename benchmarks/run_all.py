"""The whole table of issue 10 in one command: every training-step workload of
``mlp_step.py`` and the optimizer steps of ``optim_step.py``, one row each, against the floor,
with the issue's targets; then the minima, peak memory and the optimizer details. Run:

    python benchmarks/run_all.py [--quick] [--device cpu|cuda] [--repeats 21]

``--quick`` takes fewer repeats and leaves out the 1024-4096-4096-10 workload (about 20 s
instead of a few minutes). ``--device cuda`` runs the GPU rows (1024-4096-4096-10, batch
1024, SGD momentum and Adam, against PyTorch CUDA) and the optimizer steps on the GPU; without
CuPy and a GPU it says so and exits.
"""
from __future__ import annotations

import harness  # first: it sets the BLAS thread count before NumPy loads

import argparse

import mlp_step
import optim_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    workloads = mlp_step.workloads_of(args.device, args.quick)
    if workloads is None:
        return
    repeats = harness.repeats_of(args)
    print(harness.environment(args.device, repeats))
    step_rows = mlp_step.measure(workloads, args.device, repeats)
    optim_rows, others = optim_step.measure(args.device, repeats)
    harness.print_tables(step_rows + optim_rows)
    mlp_step.print_memory(step_rows)
    optim_step.print_details(optim_rows, others)
    print(f"\nload average at the end: {harness.load_average()}")


if __name__ == "__main__":
    main()
