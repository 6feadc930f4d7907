"""Train an MLP on the bundled handwritten digits: ``python -m minigrad.train``.

The whole recipe of supervised learning in one file: standardise the features with
statistics of the training set, train with mini-batches, watch the validation set every
epoch, report accuracy on the untouched test set once at the end, and save a checkpoint.
The defaults reach about 98.5% test accuracy in about a second on one CPU core;
``python -m minigrad.train --help`` lists the knobs.

Nothing silent, nothing lost: the checkpoint is saved (atomically) after every epoch with
everything a run needs to go on (model, optimizer, schedule, epoch, random-number and
data-order state), so ``--resume PATH`` continues a run exactly as if it had never stopped;
a loss that stops being finite ends the run with a message and exit status 1, and a model
with a non-finite value is never saved over a good checkpoint.

Seeing the run: ``--plot history.png`` draws its loss, accuracy and learning rate
(:func:`minigrad.viz.plot_history`), ``--history run.json`` (or ``.csv``) saves the numbers
behind it, and ``--logdir runs/x`` writes TensorBoard logs: the loss per step, loss, accuracy
and learning rate per epoch, histograms of every weight and gradient, and the hyper-parameters.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, Callable, Iterable, cast

import minigrad as mg
from minigrad import backend
from minigrad.data import DataLoader, StandardScaler, TensorDataset
from minigrad.datasets.digits import NUM_CLASSES, load_digits
from minigrad.errors import DeviceError
from minigrad.nn import BatchNorm1d, Dropout, LayerNorm, Linear, Module, ReLU, Sequential
from minigrad.nn.functional import cross_entropy
from minigrad.optim.adabelief import AdaBelief
from minigrad.optim.adam import Adam, AdamW
from minigrad.optim.lion import Lion
from minigrad.optim.lr_scheduler import CosineAnnealingLR, StepLR
from minigrad.optim.nadam import NAdam
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.radam import RAdam
from minigrad.optim.rmsprop import RMSprop
from minigrad.optim.sgd import SGD
from minigrad.errors import CheckpointError
from minigrad.random import Generator, get_rng_state, set_rng_state
from minigrad.serialization import load, save
from minigrad.utils.history import History

try:  # untyped (no types-tqdm), or absent
    from tqdm import tqdm  # type: ignore[import-untyped, import-not-found]
except ImportError:  # the progress bar is the optional extra "train"
    tqdm = None

# name -> (class, learning rate used when --lr is not given)
OPTIMIZERS = {"adamw": (AdamW, 3e-3), "adam": (Adam, 3e-3), "sgd": (SGD, 0.05),
              "nadam": (NAdam, 3e-3), "radam": (RAdam, 3e-3), "rmsprop": (RMSprop, 1e-3),
              "adabelief": (AdaBelief, 3e-3), "lion": (Lion, 3e-4)}
NORMS = {"batch": BatchNorm1d, "layer": LayerNorm, "none": None}
SCHEDULERS = ("cosine", "step", "none")
CHECKPOINT_FORMAT = "minigrad-train-v1"
# What defines a run: a resumed run takes these from its checkpoint, and refuses a different
# value given on the command line. --epochs may grow when no schedule depends on it.
RUN_SETTINGS = ("hidden", "norm", "dropout", "optimizer", "lr", "weight_decay", "momentum",
                "scheduler", "epochs", "batch_size", "seed")


class TrainingDiverged(RuntimeError):
    """The loss (or a parameter) stopped being finite: training cannot go on from here."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's settings (with those of the checkpoint named by ``--resume``)."""
    return _parse(argv)[0]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m minigrad.train", description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 128],
                        help="widths of the hidden layers")
    parser.add_argument("--norm", choices=NORMS, default="batch",
                        help="normalisation after each hidden linear layer")
    parser.add_argument("--dropout", type=float, default=0.1,
                        help="dropout probability after each hidden activation")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw")
    parser.add_argument("--lr", type=float, default=None,
                        help="peak learning rate (default: a value suited to the optimizer)")
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--momentum", type=float, default=0.9, help="momentum of --optimizer sgd")
    parser.add_argument("--scheduler", choices=SCHEDULERS, default="cosine",
                        help="learning-rate schedule over the epochs")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="seeds initialisation and shuffling")
    parser.add_argument("--checkpoint", default=os.path.join("checkpoints", "digits_mlp.npz"),
                        help="where to save the model after every epoch ('' to skip saving; "
                             "with --resume, default: the resumed checkpoint)")
    parser.add_argument("--resume", metavar="PATH", default=None,
                        help="continue the run saved in this checkpoint exactly where it stopped")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--plot", metavar="PNG", default=None,
                        help="draw this run's loss, accuracy and learning rate (needs matplotlib)")
    parser.add_argument("--history", metavar="JSON_OR_CSV", default=None,
                        help="save this run's per-step and per-epoch numbers")
    parser.add_argument("--logdir", metavar="DIR", default=None,
                        help="write TensorBoard logs there (needs tensorboardX)")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel on the MPI processes (mpiexec -n N python -m mpi4py "
                             "-m minigrad.train --distributed): each of N ranks trains on 1/N "
                             "of every batch of --batch-size; rank 0 prints and saves")
    parser.add_argument("--dist-backend", choices=["mpi", "nccl"], default="mpi",
                        help="with --distributed: how gradients travel (nccl: GPU to GPU, "
                             "with --device cuda and one GPU per rank)")
    return parser


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, dict[str, Any] | None]:
    """The settings, and the checkpoint to resume from (None for a new run)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.lr is None:
        args.lr = OPTIMIZERS[args.optimizer][1]
    _check_ranges(parser, args)
    if args.resume is None:
        return args, None
    # Parsed again into a namespace that already has every name (so argparse fills in no
    # defaults): the names that changed were given on the command line.
    unset = object()
    probe = parser.parse_args(argv, argparse.Namespace(**{name: unset for name in vars(args)}))
    given = {name for name, value in vars(probe).items() if value is not unset}
    return args, _resume_settings(parser, args, given)


def _resume_settings(parser: argparse.ArgumentParser, args: argparse.Namespace,
                     given: set[str]) -> dict[str, Any]:
    """Load the ``--resume`` checkpoint and take the run's settings from it."""
    try:
        checkpoint = load(args.resume)
    except CheckpointError as exc:
        parser.error(f"--resume: {exc}")
    missing = [key for key in ("format", "model", "optimizer", "scheduler", "epoch", "args",
                               "rng") if key not in checkpoint]
    if missing or checkpoint["format"] != CHECKPOINT_FORMAT:
        parser.error(f"--resume: {args.resume!r} is not a checkpoint of python -m minigrad.train "
                     f"that a run can resume from (missing: {', '.join(missing) or 'format'})")
    saved = checkpoint["args"]
    for name in RUN_SETTINGS:
        value = getattr(args, name)
        # With a constant learning rate nothing depends on --epochs: a run may be extended.
        extendable = name == "epochs" and saved["scheduler"] == "none"
        if name in given and value != saved[name] and not extendable:
            flag = "--" + name.replace("_", "-")
            parser.error(f"--resume: {flag} {_shown(value)} differs from the resumed run's "
                         f"{_shown(saved[name])}; a resumed run keeps its settings"
                         + (f" (its {saved['scheduler']} schedule was made for "
                            f"{saved['epochs']} epochs)" if name == "epochs" else ""))
        if name not in given:
            setattr(args, name, saved[name])
    if checkpoint["epoch"] > args.epochs:
        parser.error(f"--resume: {args.resume!r} is at epoch {checkpoint['epoch']}, beyond "
                     f"--epochs {args.epochs}")
    if "checkpoint" not in given:
        args.checkpoint = args.resume  # go on saving the same run
    return checkpoint


def _check_ranges(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject values argparse's types let through, with the flag's name."""
    if any(width < 1 for width in args.hidden):
        parser.error(f"--hidden widths must be positive, got {args.hidden}")
    if not 0.0 <= args.dropout < 1.0:
        parser.error(f"--dropout must be in [0, 1), got {args.dropout}")
    for flag in ("lr", "epochs", "batch_size"):
        if getattr(args, flag) <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")
    if args.weight_decay < 0:
        parser.error(f"--weight-decay must be non-negative, got {args.weight_decay}")


def _shown(value: Any) -> str:
    """A setting as it is written on the command line (``--hidden 64 64``)."""
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def load_data(batch_size: int, device: str, generator: Generator | None = None
              ) -> tuple[dict[str, DataLoader], StandardScaler]:
    """Loaders of the standardised train/val/test splits, and the scaler fitted on train.
    The training set is shuffled from ``generator`` (default: the global generator)."""
    splits = {name: load_digits(name) for name in ("train", "val", "test")}
    scaler = StandardScaler().fit(splits["train"][0])
    loaders = {name: DataLoader(TensorDataset(scaler.transform(X), y), batch_size=batch_size,
                                shuffle=(name == "train"), device=device,
                                generator=generator if name == "train" else None)
               for name, (X, y) in splits.items()}
    return loaders, scaler


def build_model(in_features: int, hidden: Iterable[int], num_classes: int, norm: str = "batch",
                dropout: float = 0.0) -> Sequential:
    """An MLP: each hidden block is Linear -> norm -> ReLU -> Dropout; then a Linear to logits."""
    layers: list[Module] = []
    width = in_features
    for size in hidden:
        layers.append(Linear(width, size))
        norm_layer = NORMS[norm]
        if norm_layer is not None:
            layers.append(norm_layer(size))
        layers.append(ReLU())
        if dropout > 0:
            layers.append(Dropout(dropout))
        width = size
    layers.append(Linear(width, num_classes))
    return Sequential(*layers)


def make_optimizer(name: str, model: Module, lr: float, weight_decay: float,
                   momentum: float = 0.9) -> Optimizer:
    """The optimizer ``name`` over the model's parameters (SGD with Nesterov momentum)."""
    optimizer_class = OPTIMIZERS[name][0]
    options = {"lr": lr, "weight_decay": weight_decay}
    if optimizer_class is SGD and momentum > 0:
        options.update(momentum=momentum, nesterov=True)
    return optimizer_class(model.parameters(), **options)


def make_scheduler(name: str, optimizer: Optimizer, epochs: int) -> Any:
    """A per-epoch learning-rate schedule, or None for a constant rate."""
    if name == "cosine":
        return CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "step":
        return StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    return None


def train_epoch(model: Module, loader: DataLoader, optimizer: Optimizer,
                progress: Any = None, on_batch: Callable[[float], Any] | None = None
                ) -> tuple[float, float]:
    """One pass over ``loader`` with an optimizer step per batch: (mean loss, accuracy).
    ``on_batch(loss)`` is called after each step with that batch's loss.

    Raises :class:`TrainingDiverged` at the first batch whose loss is not finite, before
    that batch updates the model."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for batch, (X, y) in enumerate(loader, start=1):
        logits = model(X)
        loss = cross_entropy(logits, y)
        batch_loss = loss.item()
        if not math.isfinite(batch_loss):
            raise TrainingDiverged(f"the loss is {batch_loss} at batch {batch}/{len(loader)}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total_loss += batch_loss * len(y)
        correct += _correct(logits, y)
        seen += len(y)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{batch_loss:.4f}")
        if on_batch is not None:
            on_batch(batch_loss)
    return total_loss / seen, correct / seen


def evaluate(model: Module, loader: DataLoader) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` in eval mode over ``loader``, without gradients."""
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with mg.no_grad():
        for X, y in loader:
            logits = model(X)
            total_loss += cross_entropy(logits, y, reduction="sum").item()
            correct += _correct(logits, y)
            seen += len(y)
    return total_loss / seen, correct / seen


def _correct(logits: mg.Tensor, y: mg.Tensor) -> int:
    """How many samples the logits classify right."""
    return int((logits.argmax(axis=1) == y).sum().item())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Train, validate every epoch, test once; return the final metrics.

    Raises :class:`TrainingDiverged` when the loss stops being finite (the command line
    prints its message and exits with status 1)."""
    args, resumed = _parse(argv)
    world = _join_ranks(args) if args.distributed else 1
    mg.manual_seed(args.seed)
    start = time.perf_counter()
    # Shuffling, like initialisation and dropout, draws from the global generator: its state
    # in the checkpoint is also the data order's.
    loaders, scaler = load_data(args.batch_size, args.device)
    # load_data's loaders are over TensorDatasets
    in_features = cast(TensorDataset, loaders["train"].dataset).tensors[0].shape[1]
    model: Module = build_model(in_features, args.hidden, NUM_CLASSES, args.norm, args.dropout)
    model.to(args.device)
    trained = model  # what the steps run through: model itself, or its DDP wrapper
    if args.distributed:
        model, trained, loaders["train"] = _data_parallel(model, loaders["train"], args, world)
    optimizer = make_optimizer(args.optimizer, model, args.lr, args.weight_decay, args.momentum)
    scheduler = make_scheduler(args.scheduler, optimizer, args.epochs)
    run: dict[str, Any] = {"epoch": 0, "metrics": {}}
    if resumed is not None:
        run = _restore(resumed, model, optimizer, scheduler, args.device)
        print(f"resumed {args.resume} after epoch {run['epoch']}/{args.epochs}")
    log = _RunLog(args, optimizer, steps_done=run["epoch"] * len(loaders["train"]))
    print(f"digits: {len(loaders['train'].dataset)} train / {len(loaders['val'].dataset)} val / "
          f"{len(loaders['test'].dataset)} test samples; "
          f"{sum(p.numel() for p in model.parameters()):,} parameters on {args.device}"
          + (f", {world} process{'es' if world > 1 else ''}" if args.distributed else ""))

    for epoch in range(run["epoch"] + 1, args.epochs + 1):
        progress = _progress_bar(len(loaders["train"]), epoch, args)
        if args.distributed:
            loaders["train"].sampler.set_epoch(epoch)
        try:
            train_loss, train_acc = train_epoch(trained, loaders["train"], optimizer, progress,
                                                **log.batch_hook(epoch))
            if args.distributed:  # every rank's share counted (equal shares: the mean)
                train_loss, train_acc = _mean_over_ranks(train_loss, train_acc)
        except TrainingDiverged as exc:
            log.close()
            raise _diverged(exc, epoch, optimizer, args) from None
        finally:
            if progress is not None:
                progress.close()
        val_loss, val_acc = evaluate(model, loaders["val"])
        lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        print(f"epoch {epoch:>3}/{args.epochs}  train loss {train_loss:.4f} acc {train_acc:6.2%}"
              f"  val loss {val_loss:.4f} acc {val_acc:6.2%}  lr {lr:.2e}", flush=True)
        run = {"epoch": epoch, "metrics": {"train_loss": train_loss, "train_accuracy": train_acc,
                                           "val_loss": val_loss, "val_accuracy": val_acc}}
        log.epoch(epoch, run["metrics"], model)
        if args.checkpoint:
            _save_checkpoint(args, model, optimizer, scaler, scheduler=scheduler, run=run,
                             quiet=True)

    test_loss, test_acc = evaluate(model, loaders["test"])
    seconds = time.perf_counter() - start
    print(f"test loss {test_loss:.4f}  test accuracy {test_acc:.2%}  ({seconds:.1f} s)")
    log.finish(test_loss, test_acc)
    if args.checkpoint:
        _save_checkpoint(args, model, optimizer, scaler, test_acc, scheduler=scheduler, run=run)
    return {"test_loss": test_loss, "test_accuracy": test_acc,
            "val_accuracy": run["metrics"].get("val_accuracy"),
            "train_loss": run["metrics"].get("train_loss"), "seconds": seconds,
            "history": log.history}


def _join_ranks(args: argparse.Namespace) -> int:
    """``--distributed``: join the MPI processes; on ranks other than 0 silence the output,
    progress bar, checkpoints and logs (rank 0 does them for the run). Returns the world
    size."""
    from minigrad import distributed as dist
    try:
        dist.init_process_group(args.dist_backend)
    except (ImportError, DeviceError, RuntimeError) as error:
        sys.exit(f"error: --dist-backend {args.dist_backend}: {error}")
    dist.abort_on_exception()  # a rank that fails takes the others down, not into a hang
    world = dist.get_world_size()
    if args.batch_size % world:
        sys.exit(f"error: --batch-size {args.batch_size} must be a multiple of the number of "
                 f"processes ({world}) with --distributed: each trains on an equal share")
    if dist.get_rank() != 0:
        sys.stdout = open(os.devnull, "w")
        args.no_progress, args.checkpoint = True, ""
        args.plot = args.history = args.logdir = None
    return world


def _data_parallel(model: Module, loader: DataLoader, args: argparse.Namespace,
                   world: int) -> tuple[Module, Module, DataLoader]:
    """The model (BatchNorm made SyncBatchNorm, so that statistics are the whole batch's),
    its DistributedDataParallel wrapper, and a training loader of this rank's shares."""
    from minigrad.data import DistributedSampler
    from minigrad.distributed import DistributedDataParallel
    from minigrad.nn import SyncBatchNorm
    model = SyncBatchNorm.convert_sync_batchnorm(model)
    sampler = DistributedSampler(loader.dataset, shuffle=True, seed=args.seed)
    shard = DataLoader(loader.dataset, batch_size=args.batch_size // world, sampler=sampler,
                       device=args.device)
    return model, DistributedDataParallel(model), shard


def _mean_over_ranks(*values: float) -> list[float]:
    from minigrad import distributed as dist
    total = mg.tensor(list(values), dtype=mg.float64)
    dist.all_reduce(total, op=dist.ReduceOp.AVG)
    return total.tolist()


def _diverged(exc: TrainingDiverged, epoch: int, optimizer: Optimizer,
              args: argparse.Namespace) -> TrainingDiverged:
    """The message for a run that stopped on a non-finite loss: where, and what was kept."""
    lr = optimizer.param_groups[0]["lr"]
    if not args.checkpoint:
        kept = "nothing was saved (--checkpoint '')"
    elif os.path.exists(args.checkpoint):
        kept = f"the checkpoint {args.checkpoint!r} is unchanged (its last good state)"
    else:
        kept = "no checkpoint was saved"
    return TrainingDiverged(f"training diverged: {exc} of epoch {epoch} (lr {lr:.3g}); stopped, "
                            f"and {kept}. Try a smaller --lr.")


def _restore(checkpoint: dict[str, Any], model: Module, optimizer: Optimizer, scheduler: Any,
             device: str) -> dict[str, Any]:
    """Put a run's saved state back; returns its epoch and last metrics."""
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    for rng_device, state in checkpoint["rng"].items():
        if rng_device in ("cpu", device):  # (a run moved to another device draws afresh there)
            set_rng_state(state, rng_device)
    return {"epoch": checkpoint["epoch"], "metrics": checkpoint.get("metrics") or {}}


def _progress_bar(batches: int, epoch: int, args: argparse.Namespace) -> Any:
    if tqdm is None or args.no_progress:
        return None
    return tqdm(total=batches, desc=f"epoch {epoch}/{args.epochs}", leave=False,
                dynamic_ncols=True)


def _non_finite(model: Module, optimizer: Optimizer) -> list[str]:
    """The names of the model's parameters and buffers, and optimizer states, that hold a
    NaN or an infinity."""
    bad = [f"model {name!r}" for name, t in model.state_dict().items()
           if t.dtype.kind == "f" and not _all_finite(t.array)]

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}[{key!r}]")
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f"{where}[{i}]")
        else:
            array = value.array if isinstance(value, mg.Tensor) else value
            if backend.is_array(array) and array.dtype.kind == "f" \
                    and not _all_finite(array):
                bad.append(f"optimizer state{where}")
            elif isinstance(array, float) and not math.isfinite(array):
                bad.append(f"optimizer state{where}")

    walk(optimizer.state_dict()["state"], "")
    return bad


def _all_finite(array: Any) -> bool:
    return bool(backend.xp(backend.device_of(array)).isfinite(array).all())


def _save_checkpoint(args: argparse.Namespace, model: Module, optimizer: Optimizer,
                     scaler: StandardScaler, test_accuracy: float | None = None, *,
                     scheduler: Any = None, run: dict[str, Any] | None = None,
                     quiet: bool = False) -> None:
    """Save everything needed to use the model on new data or to resume training, after
    checking that it is all finite (a diverged model never replaces a good checkpoint)."""
    bad = _non_finite(model, optimizer)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise TrainingDiverged(f"not saving {args.checkpoint!r}: {shown} hold NaN or infinite "
                               "values (the file there, if any, is unchanged)")
    directory = os.path.dirname(args.checkpoint)
    if directory:
        os.makedirs(directory, exist_ok=True)
    run = run or {"epoch": args.epochs, "metrics": {}}
    rng = {"cpu": get_rng_state("cpu")}
    if args.device != "cpu":
        rng[args.device] = get_rng_state(args.device)
    save({"format": CHECKPOINT_FORMAT, "model": model.state_dict(),
          "optimizer": optimizer.state_dict(),
          "scheduler": None if scheduler is None else scheduler.state_dict(),
          "epoch": run["epoch"], "metrics": run["metrics"],
          "rng": rng,  # initialisation, dropout masks and the data order all draw from it
          "args": {k: v for k, v in vars(args).items()},
          "scaler": {"mean": scaler.mean_, "scale": scaler.scale_},
          "test_accuracy": test_accuracy}, args.checkpoint)
    if not quiet:
        print(f"saved checkpoint to {args.checkpoint}")


class _RunLog:
    """What ``--plot``, ``--history`` and ``--logdir`` keep of a run: a :class:`History` of
    the metrics per epoch and, when one of those flags is given, the loss and learning rate
    per step (of this run's epochs: a resumed run starts a new one), and a TensorBoard
    writer. What they need is checked before training starts, not after."""

    def __init__(self, args: argparse.Namespace, optimizer: Optimizer, steps_done: int) -> None:
        self.args, self.optimizer, self.step = args, optimizer, steps_done
        self.history = History()
        self.writer = None
        if args.plot:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                sys.exit('error: --plot needs matplotlib: pip install "minigrad[viz]"')
        if args.history:
            History().save(args.history)  # a bad file name fails now, not after training
        if args.logdir:
            try:
                from minigrad.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(args.logdir)
            except ImportError as exc:
                sys.exit(f"error: --logdir: {exc}")

    def batch_hook(self, epoch: int) -> dict[str, Any]:
        """train_epoch's keyword for a per-step record, when a flag wants one."""
        if not (self.args.plot or self.args.history or self.args.logdir):
            return {}
        return {"on_batch": lambda loss: self.batch(loss, epoch)}

    def batch(self, loss: float, epoch: int) -> None:
        self.step += 1
        lr = self.optimizer.param_groups[0]["lr"]
        self.history.log(step=self.step, epoch=epoch, loss=loss, lr=lr)
        if self.writer is not None:
            self.writer.add_scalar("loss/train_step", loss, self.step)

    def epoch(self, epoch: int, metrics: dict[str, float], model: Module) -> None:
        self.history.log(step=self.step, epoch=epoch, **metrics)
        if self.writer is None:
            return
        for name, value in metrics.items():  # train_loss -> loss/train, val_accuracy -> ...
            split, kind = name.split("_", 1)
            self.writer.add_scalar(f"{kind}/{split}", value, epoch)
        self.writer.add_scalar("lr", self.history.last("lr"), epoch)
        for name, p in model.named_parameters():
            self.writer.add_histogram(f"weights/{name}", p, epoch)
            if p.grad is not None:
                self.writer.add_histogram(f"gradients/{name}", p.grad, epoch)

    def finish(self, test_loss: float, test_accuracy: float) -> None:
        self.history.log(step=self.step, epoch=self.args.epochs, test_loss=test_loss,
                         test_accuracy=test_accuracy)
        if self.writer is not None:
            hparams = {name: _shown(getattr(self.args, name)) if name == "hidden"
                       else getattr(self.args, name) for name in RUN_SETTINGS}
            self.writer.add_hparams(hparams, {"hparam/test_accuracy": test_accuracy,
                                              "hparam/test_loss": test_loss}, run_name="hparams")
        self.close()

    def close(self) -> None:
        """Write the history and its plot, and close the TensorBoard files."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.args.history and len(self.history):
            self.history.save(self.args.history)
        if self.args.plot and len(self.history):
            from minigrad.viz import plot_history
            plot_history(self.history, self.args.plot, title="python -m minigrad.train")
            print(f"wrote {self.args.plot}")


def _cli(argv: list[str] | None = None) -> int:
    """``python -m minigrad.train``: a diverged run is one line on stderr and status 1."""
    try:
        main(argv)
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
