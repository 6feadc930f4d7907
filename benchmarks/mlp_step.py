"""Time of one MLP training step: the NumPy floor, minigrad, minigrad compiled and PyTorch.

A step is forward, cross-entropy, backward, optimizer update and zero_grad. The contenders:

- **floor**: the step written out by hand in NumPy (CuPy on the GPU). Its weights and biases
  are views of one flat parameter buffer; its backward writes each gradient into a view of
  one flat gradient buffer; one update (SGD momentum or Adam) then runs over the whole
  buffer. It is what a NumPy-backed framework cannot beat: minigrad / floor is what the
  framework costs.
- **minigrad**: ``nn.Linear``, ``nn.BatchNorm1d``/``nn.LayerNorm``, ``nn.ReLU``,
  ``nn.CrossEntropyLoss``, ``optim.SGD``/``optim.Adam``, ``zero_grad()``.
- **minigrad compiled**: the same step function wrapped by ``mg.compile``, only when minigrad
  has it ("n/a" otherwise).
- **PyTorch** eager, the same modules, when PyTorch is importable.

All start from the same float32 weights and batch, and the script checks that they compute
the same loss for the first five steps (the first checks the forward pass, the next ones the
backward pass and the update; under ``mg.compile``, steps three to five are replays). They
run interleaved in one process, so that they share the machine's noise. The peak memory of
the large workload is measured per contender in a child process of its own (one process's
peak cannot be split between contenders). Run:

    python benchmarks/mlp_step.py [--quick] [--device cpu|cuda] [--repeats 21]
        [--workloads 2-16-16-2/32/sgd 784-512-512-10/128/adam] [--no-rss] [--profile]

A workload is ``WIDTHS/BATCH/OPTIMIZER[/NORMS]``: ``64-128-128-10/64/sgd/bn-ln`` is a
64-128-128-10 ReLU MLP on batches of 64, trained by SGD with momentum 0.9, with Linear ->
BatchNorm1d -> ReLU for the first hidden layer and Linear -> LayerNorm -> ReLU for the
second (one of ``bn``, ``ln``, ``none`` per hidden layer).
"""
from __future__ import annotations

import harness  # first: it sets the BLAS thread count before NumPy loads

import argparse
import cProfile
import gc
import json
import math
import pstats
import resource
import subprocess
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import minigrad as mg
from minigrad import backend
from harness import Array, Row, Step

EPS, BN_MOMENTUM = 1e-5, 0.1  # the norms' defaults
NORM_LAYERS = {"bn": "BatchNorm1d", "ln": "LayerNorm"}  # and "none": no norm
# Steps checked for the same loss, and run by a child measuring memory: mg.compile traces
# the first call and checks the second against eager, so from the third on it replays.
AGREEMENT_STEPS, RSS_STEPS = 5, 4


@dataclass(frozen=True)
class Workload:
    """A network, a batch size and an optimizer (see the module docstring for ``spec``).

    ``large`` workloads are left out by ``--quick``, and on the CPU each contender's peak
    resident memory is measured for them in a child process.
    """

    spec: str
    target: str = ""
    large: bool = False

    def __post_init__(self) -> None:
        self.parts  # noqa: B018 -- parsing checks the spec when the workload is made

    @property
    def parts(self) -> tuple[list[int], int, str, list[str | None]]:
        """(widths, batch, optimizer, each hidden layer's norm: "bn", "ln" or None), checked."""
        widths_text, batch, optimizer, *rest = self.spec.split("/") + [""]
        widths = [int(w) for w in widths_text.split("-")]
        codes = rest[0].split("-") if rest and rest[0] else ["none"] * (len(widths) - 2)
        if optimizer not in harness.RULES or len(codes) != len(widths) - 2 or \
                not set(codes) <= {"none", *NORM_LAYERS}:
            raise ValueError(f"workload {self.spec!r}: expected WIDTHS/BATCH/OPTIMIZER[/NORMS] "
                             f"with OPTIMIZER one of {sorted(harness.RULES)} and one of bn, ln, "
                             f"none per hidden layer, e.g. 64-128-128-10/64/sgd/bn-ln")
        return widths, int(batch), optimizer, [None if c == "none" else c for c in codes]

    @property
    def label(self) -> str:
        widths, batch, optimizer, norms = self.parts
        used = [NORM_LAYERS[n] for n in norms if n]
        return (f"{'-'.join(map(str, widths))}, batch {batch}, {harness.RULES[optimizer].label}"
                + (f", {' + '.join(used)}" if used else ""))


CPU_WORKLOADS = [
    Workload("2-16-16-2/32/sgd", "<= 2.0x (compiled <= 1.3x)"),
    Workload("64-128-128-10/64/sgd", "<= 1.3x (compiled <= 1.3x)"),
    Workload("64-128-128-10/64/adam", "<= 1.4x (compiled <= 1.3x)"),
    Workload("64-128-128-10/64/sgd/bn-ln", "<= 1.5x (compiled <= 1.3x)"),
    Workload("784-512-512-10/128/adam", "<= 1.05x"),
    Workload("1024-4096-4096-10/256/sgd", "<= 1.05x, peak RSS <= PyTorch's", large=True),
]
CUDA_WORKLOADS = [
    Workload("1024-4096-4096-10/1024/sgd", "minigrad >= 0.9x PyTorch's throughput"),
    Workload("1024-4096-4096-10/1024/adam", "minigrad >= 0.9x PyTorch's throughput"),
]


@dataclass
class Problem:
    """The starting point every contender shares: float32 weights (out, in) and biases drawn
    as ``nn.Linear`` draws them, a batch ``x`` and its integer targets ``y``. Normalisation
    layers start at weight 1 and bias 0, their defaults."""

    weights: list[tuple[np.ndarray, np.ndarray]]
    x: np.ndarray
    y: np.ndarray

    @classmethod
    def for_workload(cls, work: Workload) -> "Problem":
        widths, batch, _, _ = work.parts
        rng = np.random.default_rng(0)
        weights = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            weights.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                            rng.uniform(-bound, bound, fan_out).astype(np.float32)))
        x = rng.standard_normal((batch, widths[0])).astype(np.float32)
        return cls(weights, x, rng.integers(0, widths[-1], batch))


# ---------------------------------------------------------------------------- the floor

def floor_step(work: Workload, problem: Problem, device: str) -> Step:
    """The training step written by hand on flat buffers: the floor (module docstring)."""
    xp = backend.xp(device)
    widths, _, optimizer, norms = work.parts
    shapes: list[tuple[int, ...]] = []  # per layer: weight, bias, then its norm's weight, bias
    for i, (w, b) in enumerate(problem.weights):
        shapes += [w.shape, b.shape]
        if i < len(norms) and norms[i]:
            shapes += [b.shape, b.shape]
    params, grads = harness.FlatBuffer(xp, shapes), harness.FlatBuffer(xp, shapes)
    views = iter(zip(params.views, grads.views))  # (parameter, its gradient), in that order
    linears, layer_norms = [], []  # (W, b, grad_W, grad_b) per layer; a HandNorm or None
    for i, (w, b) in enumerate(problem.weights):
        (W, grad_W), (bias, grad_b) = next(views), next(views)
        W[...], bias[...] = xp.asarray(w), xp.asarray(b)
        linears.append((W, bias, grad_W, grad_b))
        if i < len(norms):
            kind = norms[i]
            layer_norms.append(HandNorm(kind, *next(views), *next(views), xp) if kind else None)
    update = harness.HandOptimizer(harness.RULES[optimizer], xp, [(params.flat, grads.flat)],
                                   harness.floor_chunk(device))
    x, y = xp.asarray(problem.x), xp.asarray(problem.y)
    rows = xp.arange(len(y))

    def step() -> Any:
        inputs = [x]  # each linear's input: x, then each hidden layer's ReLU output
        for (W, b, _, _), norm in zip(linears[:-1], layer_norms):
            h = inputs[-1] @ W.T
            h += b
            if norm is not None:
                h = norm.forward(h)
            inputs.append(xp.maximum(h, 0, out=h))
        W, b, _, _ = linears[-1]
        logits = inputs[-1] @ W.T
        logits += b
        loss, grad = cross_entropy_and_grad(logits, y, rows, xp)
        for i in range(len(linears) - 1, -1, -1):
            W, _, grad_W, grad_b = linears[i]
            xp.matmul(grad.T, inputs[i], out=grad_W)
            xp.sum(grad, axis=0, out=grad_b)
            if i > 0:
                grad = grad @ W
                grad *= inputs[i] > 0
                if (norm := layer_norms[i - 1]) is not None:
                    grad = norm.backward(grad)
        update.step()
        return loss

    return step


def cross_entropy_and_grad(logits: Array, y: Array, rows: Array, xp: Any) -> tuple[Any, Array]:
    """Mean cross-entropy of ``logits`` at targets ``y``, and its gradient with respect to
    the logits, (softmax - onehot) / batch, computed in the logits' memory."""
    logits -= logits.max(axis=1, keepdims=True)
    exp = xp.exp(logits)
    total = exp.sum(axis=1, keepdims=True)
    loss = (xp.log(total[:, 0]) - logits[rows, y]).mean()
    exp /= total
    exp[rows, y] -= 1
    exp /= len(y)
    return loss, exp


class HandNorm:
    """BatchNorm1d (``"bn"``: statistics over the batch, axis 0, and running statistics as
    PyTorch keeps them) or LayerNorm (``"ln"``: over the features, axis 1) by hand. Both are
    ``y = weight * xhat + bias`` with ``xhat = (h - mean) / sqrt(var + eps)`` (biased var),
    so one forward and one backward serve both; only the axis differs. The parameters and
    their gradients are views of the floor's flat buffers."""

    def __init__(self, kind: str, weight: Array, grad_weight: Array, bias: Array,
                 grad_bias: Array, xp: Any) -> None:
        self.xp, self.axis = xp, 0 if kind == "bn" else 1
        self.weight, self.grad_weight = weight, grad_weight
        self.bias, self.grad_bias = bias, grad_bias
        weight[...] = 1  # the layers' initial values; the bias starts at 0
        # BatchNorm's running mean and variance (buffers, outside the flat parameters)
        self.running = (xp.zeros_like(weight), xp.ones_like(weight)) if kind == "bn" else None
        self.xhat: Array = None  # saved by forward for backward
        self.inv_std: Array = None

    def forward(self, h: Array) -> Array:
        mean = h.mean(axis=self.axis, keepdims=True)
        centered = h - mean
        var = (centered * centered).mean(axis=self.axis, keepdims=True)
        self.inv_std = 1 / self.xp.sqrt(var + EPS)
        self.xhat = centered * self.inv_std
        if self.running is not None:  # r = (1 - momentum) r + momentum * batch (var unbiased)
            n = h.shape[0]
            for running, batch in zip(self.running, (mean[0], var[0] * (n / (n - 1)))):
                running *= 1 - BN_MOMENTUM
                running += BN_MOMENTUM * batch
        out = self.xhat * self.weight
        out += self.bias
        return out

    def backward(self, grad: Array) -> Array:
        """The gradient with respect to the input, from the output's; the parameters'
        gradients go to their views in the flat buffer."""
        xp, axis = self.xp, self.axis
        xp.sum(grad * self.xhat, axis=0, out=self.grad_weight)
        xp.sum(grad, axis=0, out=self.grad_bias)
        grad_xhat = grad * self.weight
        dx = grad_xhat - grad_xhat.mean(axis=axis, keepdims=True)
        dx -= self.xhat * (grad_xhat * self.xhat).mean(axis=axis, keepdims=True)
        dx *= self.inv_std
        return dx


# ---------------------------------------------------------------------------- frameworks

def framework_step(lib: Any, work: Workload, problem: Problem, device: str,
                   wrap: Callable[[Callable[..., Any]], Callable[..., Any]] = lambda f: f) -> Step:
    """The training step of a framework with PyTorch's API, ``lib``: minigrad or PyTorch.

    The step takes the batch as arguments, the form ``mg.compile`` keys its traces on, and
    ``wrap`` (``mg.compile`` for the compiled contender) wraps it."""
    widths, _, optimizer, norms = work.parts
    nn = lib.nn
    linears = [nn.Linear(w.shape[1], w.shape[0]) for w, _ in problem.weights]
    harness.load_values(lib, [p for linear in linears for p in (linear.weight, linear.bias)],
                        [a for pair in problem.weights for a in pair])
    layers = []
    for i, linear in enumerate(linears):
        layers.append(linear)
        if i < len(norms):  # a hidden layer: its norm (if any), then ReLU
            if kind := norms[i]:
                layers.append(getattr(nn, NORM_LAYERS[kind])(widths[i + 1]))
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to(device)
    update = harness.RULES[optimizer].make(lib, list(model.parameters()))
    criterion = nn.CrossEntropyLoss()
    inputs, targets = (lib.from_numpy(a).to(device) for a in (problem.x, problem.y))

    def train(inputs: Any, targets: Any) -> Any:
        loss = criterion(model(inputs), targets)
        loss.backward()
        update.step()
        update.zero_grad()
        return loss

    step = wrap(train)
    return lambda: step(inputs, targets)


def minigrad_step(work: Workload, problem: Problem, device: str) -> Step:
    return framework_step(mg, work, problem, device)


def compiled_step(work: Workload, problem: Problem, device: str) -> Step:
    """minigrad's step wrapped by ``mg.compile`` (only called when minigrad has it)."""
    return framework_step(mg, work, problem, device, wrap=mg.compile)


def torch_step(work: Workload, problem: Problem, device: str) -> Step:
    return framework_step(harness.torch_on(device), work, problem, device)


BUILDERS: dict[str, Callable[[Workload, Problem, str], Step]] = {
    "floor": floor_step, "minigrad": minigrad_step, "compiled": compiled_step,
    "torch": torch_step}


def contender_names(device: str) -> list[str]:
    """The contenders that can run here: the floor and minigrad always, the others when
    present."""
    return ["floor", "minigrad"] + (["compiled"] if harness.HAS_COMPILE else []) + \
        (["torch"] if harness.torch_on(device) else [])


# ---------------------------------------------------------------------------- measuring

def measure(workloads: list[Workload], device: str, repeats: int, rss: bool = True) -> list[Row]:
    """Time every contender on each workload (and measure peak memory for large ones on the
    CPU, unless ``rss`` is False); one :class:`harness.Row` per workload."""
    sync = harness.synchronizer(device)
    rows = []
    for work in workloads:
        problem = Problem.for_workload(work)
        # Warnings become the row's notes: mg.compile, for one, warns when it runs eagerly.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            steps = {name: BUILDERS[name](work, problem, device)
                     for name in contender_names(device)}
            harness.check_agreement(steps, f"{work.spec}: the loss", AGREEMENT_STEPS)
            timings = harness.time_interleaved(steps, repeats, sync)
        row = Row(work.label, timings, work.target,
                  notes=sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
        if device == "cuda" and "torch" in row.timings:  # the GPU rows' target
            speed = row.timings["torch"].median / row.timings["minigrad"].median
            row.notes.append(f"minigrad's throughput is {speed:.2f}x PyTorch's")
        del steps, problem
        gc.collect()
        if rss and work.large and device == "cpu":
            row.peak_rss_mb = {name: peak_rss_in_child(work, name)
                               for name in contender_names(device)}
        rows.append(row)
        print(f"  measured {work.spec}", file=sys.stderr, flush=True)
    return rows


def peak_rss_in_child(work: Workload, contender: str) -> dict[str, Any]:
    """Run ``RSS_STEPS`` steps of one contender in a fresh Python process and return its
    resident memory in MB (see :func:`rss_child`)."""
    result = subprocess.run([sys.executable, __file__, "--rss-child", work.spec, contender],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{work.spec}: measuring the memory of {contender} failed:\n"
                           f"{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def rss_child(spec: str, contender: str) -> None:
    """The child of :func:`peak_rss_in_child`. Prints one JSON line: ``libraries``, the peak
    after the imports (PyTorch's own memory counts here, as NumPy's does), and ``training``,
    the peak while the built model trains. The peak is restarted after the model is built,
    so what initialisation briefly needs does not count; ``restarted`` says whether that
    worked (if not, ``training`` is the peak of the whole process)."""
    if contender == "torch":
        harness.load_torch()
    libraries = _peak_rss_mb()
    work = Workload(spec)
    problem = Problem.for_workload(work)
    step = BUILDERS[contender](work, problem, "cpu")
    del problem  # the contender holds its own copy of the weights
    gc.collect()
    restarted = _restart_peak_rss()
    for _ in range(RSS_STEPS):
        step()
    print(json.dumps({"libraries": libraries, "training": _peak_rss_mb(),
                      "restarted": restarted}))


def _restart_peak_rss() -> bool:
    """Make the peak resident memory start over from the current one (Linux's
    ``clear_refs``); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's ``VmHWM`` (high-water mark) belongs to the process image, so it starts afresh at
    ``exec``; ``getrusage``'s ``ru_maxrss`` does not (it keeps the parent's peak at the fork,
    which here would be the peak of the parent holding every contender), so it serves only
    where there is no ``/proc``.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    per_mb = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, else KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mb


def print_memory(rows: list[Row]) -> None:
    """The peak-memory table of the rows that have one."""
    measured = [row for row in rows if row.peak_rss_mb]
    if not measured:
        return
    print("\npeak RSS while training, each contender in a process of its own, MB = the "
          "interpreter and libraries + the model, its data and its training:\n")
    print("| workload | " + " | ".join(label for _, label in harness.MAIN_COLUMNS) + " |")
    print("|---|" + "---:|" * len(harness.MAIN_COLUMNS))
    for row in measured:
        cells = []
        for name, _ in harness.MAIN_COLUMNS:
            if (m := row.peak_rss_mb.get(name)) is None:
                cells.append("n/a")
                continue
            whole = "" if m["restarted"] else " (peak of the whole run)"
            cells.append(f"{m['training']:.0f} = {m['libraries']:.0f} + "
                         f"{m['training'] - m['libraries']:.0f}{whole}")
        print(f"| {row.workload} | " + " | ".join(cells) + " |")


def profile_minigrad(work: Workload, device: str, steps: int = 2000, top: int = 25) -> None:
    """Print cProfile's top entries (by own time) for ``steps`` minigrad training steps."""
    step = minigrad_step(work, Problem.for_workload(work), device)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    print(f"\ncProfile of minigrad, {work.label}, {steps} steps:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def workloads_of(device: str, quick: bool, specs: list[str] | None = None) -> list[Workload] | None:
    """The workloads to run: ``specs`` (default: those of the device), less the large ones
    when ``quick``; None, after saying why, when the device cannot run."""
    if device == "cuda" and (reason := harness.cuda_missing()):
        print(f"skipped: {reason}")
        return None
    defaults = CPU_WORKLOADS if device == "cpu" else CUDA_WORKLOADS
    known = {work.spec: work for work in defaults}
    chosen = [known.get(spec, Workload(spec)) for spec in specs] if specs else defaults
    return [work for work in chosen if not (quick and work.large)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    harness.add_common_arguments(parser)
    parser.add_argument("--workloads", nargs="+", metavar="SPEC",
                        help="WIDTHS/BATCH/OPTIMIZER[/NORMS] each (default: the issue's)")
    parser.add_argument("--no-rss", action="store_true",
                        help="skip the per-contender peak memory of the large workload")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of minigrad on the first workload")
    parser.add_argument("--rss-child", nargs=2, metavar=("SPEC", "CONTENDER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return
    try:
        workloads = workloads_of(args.device, args.quick, args.workloads)
    except ValueError as error:
        parser.error(str(error))
    if workloads is None:
        return
    repeats = harness.repeats_of(args)
    print(harness.environment(args.device, repeats))
    rows = measure(workloads, args.device, repeats, rss=not args.no_rss)
    harness.print_tables(rows)
    print_memory(rows)
    print(f"\nload average at the end: {harness.load_average()}")
    if args.profile:
        profile_minigrad(workloads[0], args.device)


if __name__ == "__main__":
    main()
