"""What the benchmarks share: thread settings, interleaved timing, the hand-written floor
optimizers over flat buffers, the agreement check, and Markdown tables.

Import this module before NumPy (each script imports it first): it fixes the number of BLAS
threads, ``OMP_NUM_THREADS`` (default 1), before NumPy or PyTorch start their thread pools.
Two pools in one process, one spinning while the other works, would distort every number.

The *floor* is what a NumPy-backed framework cannot beat: the same computation written by
hand on the arrays. Its optimizer keeps every parameter in one contiguous 1-D buffer (and
every gradient and every state slot in one buffer each) and updates them all with one
sequence of in-place NumPy calls, so its cost does not grow with the number of tensors.
"""
from __future__ import annotations

import os

THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", "1"))
for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, str(THREADS))

import argparse  # noqa: E402
import datetime  # noqa: E402
import functools  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any, Callable, ClassVar, Protocol, Sequence  # noqa: E402

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import backend  # noqa: E402

Array = Any  # a NumPy or a CuPy array
Step = Callable[[], Any]

MIN_BLOCK_S = 0.02  # steps are timed in blocks at least this long: timer resolution is moot
REPEATS, QUICK_REPEATS = 21, 5
# The floor updates its flat buffers on the CPU in slices of this many elements, so that the
# several passes of one update run over a slice still in cache (twice as fast as whole
# passes for Adam on 21M parameters, and no full-size temporary). On a GPU, one pass each.
CPU_CHUNK = 1 << 16

HAS_COMPILE = hasattr(mg, "compile")


@functools.cache
def load_torch() -> Any | None:
    """PyTorch with ``THREADS`` threads, or None when it is not installed.

    Imported on first use rather than at start-up, so that a process measuring the memory of
    NumPy or minigrad alone never loads it.
    """
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    return torch


def torch_on(device: str) -> Any | None:
    """PyTorch when it can run on ``device``, else None."""
    torch = load_torch()
    if torch is None or (device == "cuda" and not torch.cuda.is_available()):
        return None
    return torch


def cuda_missing() -> str | None:
    """Why minigrad cannot run on ``"cuda"`` here, or None when it can."""
    if not mg.cuda.is_available():
        return ("--device cuda needs CuPy and a CUDA GPU (mg.cuda.is_available() is False); "
                "install the gpu extra on a machine with one")
    return None


def synchronizer(device: str) -> Callable[[], None]:
    """A function that waits until every queued GPU kernel (CuPy's and PyTorch's) has run,
    so that a timer read after it counts them; a no-op on the CPU."""
    if device != "cuda":
        return lambda: None
    cupy = backend.xp("cuda")
    torch = torch_on("cuda")

    def sync() -> None:
        cupy.cuda.get_current_stream().synchronize()
        if torch is not None:
            torch.cuda.synchronize()

    return sync


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy copy of a NumPy, CuPy, minigrad or PyTorch array."""
    if hasattr(array, "detach"):  # a minigrad or PyTorch tensor
        array = array.detach()
        return array.cpu().numpy() if hasattr(array, "cpu") else array.numpy()
    return np.array(array.get() if hasattr(array, "get") else array)


def as_float(value: Any) -> float:
    """A loss (a tensor, an array or a number) as a Python float."""
    return float(value.item() if hasattr(value, "item") else value)


# ---------------------------------------------------------------------------- timing

@dataclass(frozen=True)
class Timing:
    """Seconds per step of one contender over the timed blocks: their median (the number
    reported) and their minimum (the least disturbed block)."""

    median: float
    minimum: float


def time_interleaved(steps: dict[str, Step], repeats: int, sync: Callable[[], None],
                     warmup: int = 2) -> dict[str, Timing]:
    """Time each step function in ``repeats`` blocks, the contenders interleaved.

    Each contender's block holds enough steps to last ``MIN_BLOCK_S``. Every repetition runs
    one block of each contender, starting with a different one each time, so that the slow
    phases of a shared machine fall on all of them alike.
    """
    for step in steps.values():  # allocations, caches, thread start, tracing
        for _ in range(warmup):
            step()
    sync()
    numbers = {name: max(1, math.ceil(MIN_BLOCK_S / min(_block_seconds(step, 1, sync)
                                                         for _ in range(2))))
               for name, step in steps.items()}
    names = list(steps)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        first = r % len(names)
        for name in names[first:] + names[:first]:
            samples[name].append(_block_seconds(steps[name], numbers[name], sync) / numbers[name])
    return {name: Timing(statistics.median(s), min(s)) for name, s in samples.items()}


def _block_seconds(step: Step, number: int, sync: Callable[[], None]) -> float:
    start = time.perf_counter()
    for _ in range(number):
        step()
    sync()
    return time.perf_counter() - start


def check_agreement(observers: dict[str, Callable[[], Any]], what: str, steps: int = 3,
                    rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Fail unless every contender computes the same thing as the first one, the floor.

    Each observer takes one step and returns what it computed (a loss, the parameters);
    they are compared after each of ``steps`` steps, so that a wrong forward shows at the
    first step and a wrong backward or update at the next ones.
    """
    reference, *others = observers
    for step in range(1, steps + 1):
        seen = {name: np.concatenate([to_numpy(a).ravel() for a in _as_list(observe())])
                for name, observe in observers.items()}
        for name in others:
            if not np.allclose(seen[name], seen[reference], rtol=rtol, atol=atol):
                worst = np.abs(seen[name] - seen[reference]).max()
                raise RuntimeError(f"{what}: {name} disagrees with {reference} at step {step} "
                                   f"(largest difference {worst:.3g}; first values "
                                   f"{ {n: s[:3].tolist() for n, s in seen.items()} })")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [np.asarray(as_float(value))]


# ---------------------------------------------------------------------------- the floor

class FlatBuffer:
    """One contiguous 1-D array (``flat``) and views of it with the given shapes (``views``).

    The floor keeps its parameters in one and its gradients in another, so that the whole
    update is one pass over memory however many tensors the model has.
    """

    def __init__(self, xp: Any, shapes: Sequence[tuple[int, ...]],
                 dtype: Any = np.float32) -> None:
        sizes = [math.prod(shape) for shape in shapes]
        self.flat = xp.zeros(sum(sizes), dtype=dtype)
        bounds = [0, *np.cumsum(sizes).tolist()]
        self.views = [self.flat[start:end].reshape(shape)
                      for shape, start, end in zip(shapes, bounds[:-1], bounds[1:])]

    @classmethod
    def holding(cls, xp: Any, arrays: Sequence[Any]) -> "FlatBuffer":
        """A flat buffer holding copies of ``arrays`` (all float32)."""
        buffer = cls(xp, [a.shape for a in arrays])
        for view, array in zip(buffer.views, arrays):
            view[...] = xp.asarray(array)
        return buffer


class UpdateRule(Protocol):
    """An elementwise optimizer update, applied in place to arrays of any shape."""

    slots: ClassVar[tuple[str, ...]]  # the state arrays it keeps, each shaped like the param

    @property
    def label(self) -> str:
        """Its name in a table."""

    def make(self, lib: Any, params: list[Any], **options: Any) -> Any:
        """The same optimizer, with the same hyper-parameters, from ``lib`` (minigrad or
        PyTorch), over ``params``, with PyTorch-only ``options`` such as ``fused=True``."""

    def __call__(self, xp: Any, param: Array, grad: Array, state: dict[str, Array],
                 scratch: Array, step: int) -> None:
        """Update ``param`` and ``state`` from ``grad`` at step ``step`` (counted from 1);
        ``scratch`` is a free array shaped like ``param``."""


@dataclass(frozen=True)
class SGDMomentum:
    """PyTorch's SGD with momentum: ``b = g`` at the first step, then ``b = momentum * b + g``;
    ``p = p - lr * b``."""

    lr: float = 0.01
    momentum: float = 0.9
    slots: ClassVar[tuple[str, ...]] = ("momentum_buffer",)

    @property
    def label(self) -> str:
        return f"SGD momentum {self.momentum}"

    def make(self, lib: Any, params: list[Any], **options: Any) -> Any:
        return lib.optim.SGD(params, lr=self.lr, momentum=self.momentum, **options)

    def __call__(self, xp: Any, param: Array, grad: Array, state: dict[str, Array],
                 scratch: Array, step: int) -> None:
        buf = state["momentum_buffer"]
        if step == 1:
            buf[...] = grad
        else:
            buf *= self.momentum
            buf += grad
        param -= xp.multiply(buf, self.lr, out=scratch)


@dataclass(frozen=True)
class Adam:
    """Adam as PyTorch (and minigrad) define it, without weight decay::

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
        p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    slots: ClassVar[tuple[str, ...]] = ("exp_avg", "exp_avg_sq")

    @property
    def label(self) -> str:
        return "Adam"

    def make(self, lib: Any, params: list[Any], **options: Any) -> Any:
        return lib.optim.Adam(params, lr=self.lr, betas=(self.beta1, self.beta2), eps=self.eps,
                              **options)

    def __call__(self, xp: Any, param: Array, grad: Array, state: dict[str, Array],
                 scratch: Array, step: int) -> None:
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= self.beta1
        m += xp.multiply(grad, 1 - self.beta1, out=scratch)
        v *= self.beta2
        xp.multiply(grad, grad, out=scratch)
        scratch *= 1 - self.beta2
        v += scratch
        denom = xp.sqrt(v, out=scratch)
        denom *= 1 / math.sqrt(1 - self.beta2 ** step)
        denom += self.eps
        update = xp.divide(m, denom, out=scratch)
        update *= -self.lr / (1 - self.beta1 ** step)
        param += update


RULES: dict[str, UpdateRule] = {"sgd": SGDMomentum(), "adam": Adam()}


class HandOptimizer:
    """An :class:`UpdateRule` applied by hand to pairs of (parameter, gradient) arrays.

    Given the one pair of flat buffers of a model it is the floor: every parameter in one
    pass (in slices of ``chunk`` elements; None: whole arrays). Given one pair per tensor
    it is the per-tensor loop a framework without flat storage runs. Each pair gets its own
    state arrays, one per slot of the rule.
    """

    def __init__(self, rule: UpdateRule, xp: Any, pairs: Sequence[tuple[Array, Array]],
                 chunk: int | None = None) -> None:
        self.rule, self.xp, self.steps = rule, xp, 0
        longest = max(p.size for p, _ in pairs)
        scratch = xp.empty(min(longest, chunk or longest), dtype=pairs[0][0].dtype)
        self.slices = []  # (param, grad, state, scratch), each a 1-D view
        for param, grad in pairs:
            param, grad = param.reshape(-1), grad.reshape(-1)  # views: both are contiguous
            state = {slot: xp.zeros_like(param) for slot in rule.slots}
            step = chunk or param.size
            for start in range(0, param.size, step):
                part = slice(start, start + step)
                self.slices.append((param[part], grad[part],
                                    {slot: s[part] for slot, s in state.items()},
                                    scratch[:param[part].size]))

    def step(self) -> None:
        self.steps += 1
        for param, grad, state, scratch in self.slices:
            self.rule(self.xp, param, grad, state, scratch, self.steps)


def floor_chunk(device: str) -> int | None:
    """The slice length of the floor's update on ``device`` (see ``CPU_CHUNK``)."""
    return CPU_CHUNK if device == "cpu" else None


def load_values(lib: Any, params: Sequence[Any], arrays: Sequence[np.ndarray]) -> None:
    """Copy NumPy ``arrays`` into the parameters of ``lib``, minigrad or PyTorch (the same
    code serves both: they share these names)."""
    with lib.no_grad():
        for param, array in zip(params, arrays):
            param.copy_(lib.from_numpy(array))


# ---------------------------------------------------------------------------- reporting

@dataclass
class Row:
    """One workload of the table: each contender's timing, by contender name (``"floor"``,
    ``"minigrad"``, ``"compiled"``, ``"torch"``, and any others), and what the issue aims at."""

    workload: str
    timings: dict[str, Timing]
    target: str = ""
    # by contender, from a process running only it: {"training": peak resident MB while
    # training, "libraries": peak after the imports, "restarted": whether the peak was
    # restarted after the model was built}
    peak_rss_mb: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


MAIN_COLUMNS = (("floor", "floor"), ("minigrad", "minigrad"),
                ("compiled", "minigrad compiled"), ("torch", "PyTorch"))


def markdown_table(rows: Sequence[Row], columns: Sequence[tuple[str, str]] = MAIN_COLUMNS,
                   statistic: str = "median", target: bool = True) -> str:
    """The rows as a Markdown table of ms per step (``statistic``: "median" or "minimum"),
    each contender after the first with its ratio to the first (the floor); "n/a" where a
    contender was not run."""
    (floor_key, floor_label), *others = columns
    header = ["workload", f"{floor_label} ms"]
    for _, label in others:
        header += [f"{label} ms", "ratio"]
    header += ["target"] if target else []
    lines = ["| " + " | ".join(header) + " |",
             "|---|" + "---:|" * (len(header) - 1 - target) + ("---|" if target else "")]
    for row in rows:
        base = row.timings.get(floor_key)
        cells = [row.workload, _ms(base, statistic)]
        for key, _ in others:
            timing = row.timings.get(key)
            ratio = (f"{getattr(timing, statistic) / getattr(base, statistic):.2f}x"
                     if timing and base else "n/a")
            cells += [_ms(timing, statistic), ratio]
        cells += [row.target or "-"] if target else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ms(timing: Timing | None, statistic: str) -> str:
    if timing is None:
        return "n/a"
    ms = 1e3 * getattr(timing, statistic)
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def print_tables(rows: Sequence[Row], columns: Sequence[tuple[str, str]] = MAIN_COLUMNS,
                 title: str = "") -> None:
    """Print the median table, then the minimum one, then each row's notes."""
    for statistic in ("median", "minimum"):
        print(f"\n{title}{statistic} ms per step:\n")
        print(markdown_table(rows, columns, statistic, target=statistic == "median"))
    notes = [f"- {row.workload}: {note}" for row in rows for note in row.notes]
    if notes:
        print("\n" + "\n".join(notes))


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes: above 0 when other jobs run."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def environment(device: str, repeats: int) -> str:
    """One line saying what the numbers were measured with (and how busy the machine was)."""
    torch = load_torch()
    return (f"{datetime.date.today()}, {platform.machine()} with {os.cpu_count()} CPUs "
            f"(load average {load_average()}), device {_device_name(device)}, {THREADS} BLAS "
            f"thread(s); Python {platform.python_version()}, NumPy {np.__version__}, PyTorch "
            f"{torch.__version__ if torch else 'not installed'}, mg.compile "
            f"{'present' if HAS_COMPILE else 'absent'}, {_source_version()}; median and "
            f"minimum of {repeats} interleaved blocks of >= {MIN_BLOCK_S * 1e3:.0f} ms")


def _source_version() -> str:
    """The commit of the minigrad being measured, and whether its files differ from it."""
    package = os.path.dirname(os.path.abspath(mg.__file__))
    try:
        commit, changes = (subprocess.run(["git", *command], cwd=package, capture_output=True,
                                          text=True, check=True).stdout.strip()
                           for command in (["rev-parse", "--short", "HEAD"],
                                           ["status", "--porcelain", "--", "."]))
    except (OSError, subprocess.CalledProcessError):
        return "minigrad not in a git checkout"
    return f"minigrad at {commit}" + (" with uncommitted changes" if changes else "")


def _device_name(device: str) -> str:
    if device != "cuda":
        return device
    properties = backend.xp("cuda").cuda.runtime.getDeviceProperties(0)
    return f"cuda ({properties['name'].decode()})"


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every script takes: --device, --repeats and --quick."""
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"timed blocks per contender (default {REPEATS}, "
                             f"{QUICK_REPEATS} with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="a fast check: fewer repeats, and no large workloads")


def repeats_of(args: argparse.Namespace) -> int:
    """The number of timed blocks the options ask for."""
    return args.repeats or (QUICK_REPEATS if args.quick else REPEATS)
