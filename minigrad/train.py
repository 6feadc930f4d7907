"""Train an MLP on the bundled handwritten digits: ``python -m minigrad.train``.

The whole recipe of supervised learning in one file: standardise the features with
statistics of the training set, train with mini-batches, watch the validation set every
epoch, report accuracy on the untouched test set once at the end, and save a checkpoint.
The defaults reach about 98.5% test accuracy in about a second on one CPU core;
``python -m minigrad.train --help`` lists the knobs.
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Any, Iterable

import minigrad as mg
from minigrad.data import DataLoader, StandardScaler, TensorDataset
from minigrad.datasets.digits import NUM_CLASSES, load_digits
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
from minigrad.serialization import save

try:
    from tqdm import tqdm
except ImportError:  # the progress bar is the optional extra "train"
    tqdm = None

# name -> (class, learning rate used when --lr is not given)
OPTIMIZERS = {"adamw": (AdamW, 3e-3), "adam": (Adam, 3e-3), "sgd": (SGD, 0.05),
              "nadam": (NAdam, 3e-3), "radam": (RAdam, 3e-3), "rmsprop": (RMSprop, 1e-3),
              "adabelief": (AdaBelief, 3e-3), "lion": (Lion, 3e-4)}
NORMS = {"batch": BatchNorm1d, "layer": LayerNorm, "none": None}
SCHEDULERS = ("cosine", "step", "none")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
                        help="where to save the trained model ('' to skip saving)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.lr is None:
        args.lr = OPTIMIZERS[args.optimizer][1]
    _check_ranges(parser, args)
    return args


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


def load_data(batch_size: int, device: str) -> tuple[dict[str, DataLoader], StandardScaler]:
    """Loaders of the standardised train/val/test splits, and the scaler fitted on train."""
    splits = {name: load_digits(name) for name in ("train", "val", "test")}
    scaler = StandardScaler().fit(splits["train"][0])
    loaders = {name: DataLoader(TensorDataset(scaler.transform(X), y), batch_size=batch_size,
                                shuffle=(name == "train"), device=device)
               for name, (X, y) in splits.items()}
    return loaders, scaler


def build_model(in_features: int, hidden: Iterable[int], num_classes: int, norm: str = "batch",
                dropout: float = 0.0) -> Sequential:
    """An MLP: each hidden block is Linear -> norm -> ReLU -> Dropout; then a Linear to logits."""
    layers: list[Module] = []
    width = in_features
    for size in hidden:
        layers.append(Linear(width, size))
        if NORMS[norm] is not None:
            layers.append(NORMS[norm](size))
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
                progress: Any = None) -> tuple[float, float]:
    """One pass over ``loader`` with an optimizer step per batch: (mean loss, accuracy)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for X, y in loader:
        logits = model(X)
        loss = cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        batch_loss = loss.item()
        total_loss += batch_loss * len(y)
        correct += _correct(logits, y)
        seen += len(y)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{batch_loss:.4f}")
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
    """Train, validate every epoch, test once; return the final metrics."""
    args = parse_args(argv)
    mg.manual_seed(args.seed)
    start = time.perf_counter()
    loaders, scaler = load_data(args.batch_size, args.device)
    in_features = loaders["train"].dataset.tensors[0].shape[1]
    model = build_model(in_features, args.hidden, NUM_CLASSES, args.norm, args.dropout)
    model.to(args.device)
    optimizer = make_optimizer(args.optimizer, model, args.lr, args.weight_decay, args.momentum)
    scheduler = make_scheduler(args.scheduler, optimizer, args.epochs)
    print(f"digits: {len(loaders['train'].dataset)} train / {len(loaders['val'].dataset)} val / "
          f"{len(loaders['test'].dataset)} test samples; "
          f"{sum(p.numel() for p in model.parameters()):,} parameters on {args.device}")

    for epoch in range(1, args.epochs + 1):
        progress = _progress_bar(len(loaders["train"]), epoch, args)
        train_loss, train_acc = train_epoch(model, loaders["train"], optimizer, progress)
        if progress is not None:
            progress.close()
        val_loss, val_acc = evaluate(model, loaders["val"])
        lr = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()
        print(f"epoch {epoch:>3}/{args.epochs}  train loss {train_loss:.4f} acc {train_acc:6.2%}"
              f"  val loss {val_loss:.4f} acc {val_acc:6.2%}  lr {lr:.2e}", flush=True)

    test_loss, test_acc = evaluate(model, loaders["test"])
    seconds = time.perf_counter() - start
    print(f"test loss {test_loss:.4f}  test accuracy {test_acc:.2%}  ({seconds:.1f} s)")
    if args.checkpoint:
        _save_checkpoint(args, model, optimizer, scaler, test_acc)
    return {"test_loss": test_loss, "test_accuracy": test_acc, "val_accuracy": val_acc,
            "train_loss": train_loss, "seconds": seconds}


def _progress_bar(batches: int, epoch: int, args: argparse.Namespace) -> Any:
    if tqdm is None or args.no_progress:
        return None
    return tqdm(total=batches, desc=f"epoch {epoch}/{args.epochs}", leave=False,
                dynamic_ncols=True)


def _save_checkpoint(args: argparse.Namespace, model: Module, optimizer: Optimizer,
                     scaler: StandardScaler, test_accuracy: float) -> None:
    """Save everything needed to use the model on new data or to resume training."""
    directory = os.path.dirname(args.checkpoint)
    if directory:
        os.makedirs(directory, exist_ok=True)
    save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
          "args": vars(args),
          "scaler": {"mean": scaler.mean_, "scale": scaler.scale_},
          "test_accuracy": test_accuracy}, args.checkpoint)
    print(f"saved checkpoint to {args.checkpoint}")


if __name__ == "__main__":
    main()
