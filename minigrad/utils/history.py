"""``History``: the numbers a training run produces, step by step and epoch by epoch.

The training loop (and ``python -m minigrad.train``) fills one with
``history.log(step=..., epoch=..., **metrics)``; :func:`minigrad.viz.plot_history` draws it;
``save``/``load`` keep it as JSON or CSV (chosen by the file's extension) so a run can be
plotted, compared or read by other tools later. It needs nothing beyond the standard library.

Each call to ``log`` appends one *record*: the step and epoch it belongs to (either may be
None) and the metrics given, each a real number. A metric need not appear in every record:
a per-step ``loss`` and a per-epoch ``val_loss`` live in the same history, and
``history.series("val_loss")`` picks out the records that have it.
"""
from __future__ import annotations

import csv
import json
import math
import numbers
import os
from typing import Any, Iterator, cast

__all__ = ["History"]

_FORMAT = "minigrad-history-v1"
_INDEX = ("step", "epoch")
# JSON has no NaN or infinity: they are stored as these strings and read back as floats.
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class History:
    """An ordered list of records ``{"step": int | None, "epoch": int | None, **metrics}``."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def log(self, *, step: int | None = None, epoch: int | None = None,
            **metrics: float) -> None:
        """Append a record. ``step`` and ``epoch`` are non-negative ints (or None); each
        metric is a real number (a Python/NumPy number or a one-element tensor)."""
        if not metrics:
            raise ValueError("History.log: give at least one metric, e.g. log(step=3, loss=0.5)")
        record: dict[str, Any] = {"step": _index("step", step), "epoch": _index("epoch", epoch)}
        for name, value in metrics.items():
            record[name] = _number(name, value)
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __repr__(self) -> str:
        return f"History({len(self.records)} records, metrics {self.metrics()})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History) or len(other) != len(self):
            return False
        return all(_same_record(a, b) for a, b in zip(self.records, other.records))

    def metrics(self) -> list[str]:
        """The metric names, in the order they first appeared."""
        names: dict[str, None] = {}
        for record in self.records:
            for name in record:
                if name not in _INDEX:
                    names.setdefault(name)
        return list(names)

    def series(self, name: str, by: str = "step") -> tuple[list[Any], list[float]]:
        """``(xs, values)`` of the records that have metric ``name``; ``xs`` are their
        ``by`` ("step" or "epoch") entries, None where a record has none."""
        if by not in _INDEX:
            raise ValueError(f"History.series: by must be 'step' or 'epoch', got {by!r}")
        if name not in self.metrics():
            raise KeyError(f"History.series: no metric {name!r}; the history has "
                           f"{self.metrics()}")
        rows = [r for r in self.records if name in r]
        return [r[by] for r in rows], [r[name] for r in rows]

    def last(self, name: str) -> float:
        """The most recent value of metric ``name``."""
        return self.series(name)[1][-1]

    # --- files ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "records": [dict(r) for r in self.records]}

    def save(self, path: str | os.PathLike) -> None:
        """Write the history to ``path``: JSON for ``.json``, CSV (one column per metric,
        empty where a record lacks it) for ``.csv``."""
        kind = _kind(path)
        directory = os.path.dirname(os.fspath(path))
        if directory:
            os.makedirs(directory, exist_ok=True)
        if kind == "json":
            state = self.state_dict()
            state["records"] = [{k: _json_value(v) for k, v in r.items()}
                                for r in state["records"]]
            with open(path, "w", encoding="utf-8") as f:
                json.dump(state, f, indent=1, allow_nan=False)
                f.write("\n")
            return
        columns = list(_INDEX) + self.metrics()
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for record in self.records:
                writer.writerow(["" if record.get(c) is None else repr(record[c])
                                 for c in columns])

    @classmethod
    def load(cls, path: str | os.PathLike) -> "History":
        """Read a history written by :meth:`save` (the format follows the extension)."""
        kind = _kind(path)
        history = cls()
        with open(path, encoding="utf-8", newline="") as f:
            if kind == "json":
                state = json.load(f)
                if not isinstance(state, dict) or state.get("format") != _FORMAT:
                    raise ValueError(f"History.load: {os.fspath(path)!r} is not a history "
                                     f"saved by History.save (format {_FORMAT!r})")
                rows = [{k: _from_json(v) for k, v in r.items()} for r in state["records"]]
            else:
                reader = csv.reader(f)
                header = next(reader, None)
                if header is None or header[:2] != list(_INDEX):
                    raise ValueError(f"History.load: {os.fspath(path)!r} is not a history CSV "
                                     "(its first columns must be step, epoch)")
                rows = []
                for line, cells in enumerate(reader, start=2):
                    if len(cells) != len(header):
                        raise ValueError(f"History.load: {os.fspath(path)!r} line {line} has "
                                         f"{len(cells)} cells, the header {len(header)}")
                    row = {name: _from_csv(name, cell, path, line)
                           for name, cell in zip(header, cells) if cell != ""}
                    rows.append(row)
        for row in rows:
            step, epoch = row.pop("step", None), row.pop("epoch", None)
            history.log(step=cast(Any, step), epoch=cast(Any, epoch), **row)  # log checks
        return history


def _index(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise TypeError(f"History.log: {name} must be a non-negative int or None, got {value!r}")
    return int(value)


def _number(name: str, value: Any) -> float | int:
    if hasattr(value, "item") and callable(value.item):  # a tensor or NumPy scalar
        size = getattr(value, "size", 1)
        size = size() if callable(size) else size
        if not (size == 1 or size == () or (isinstance(size, tuple) and math.prod(size) == 1)):
            raise TypeError(f"History.log: metric {name!r} must be one number, got a value of "
                            f"size {size}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"History.log: metric {name!r} must be a real number, got "
                        f"{type(value).__name__} {value!r}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _kind(path: str | os.PathLike) -> str:
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in (".json", ".csv"):
        raise ValueError(f"History: the file name must end in .json or .csv, got "
                         f"{os.fspath(path)!r}")
    return extension[1:]


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _from_json(value: Any) -> Any:
    return _NON_FINITE[value] if isinstance(value, str) and value in _NON_FINITE else value


def _from_csv(name: str, cell: str, path: Any, line: int) -> float | int:
    try:
        return int(cell) if name in _INDEX or cell.lstrip("-").isdigit() else float(cell)
    except ValueError:
        raise ValueError(f"History.load: {os.fspath(path)!r} line {line}: {name} = {cell!r} "
                         "is not a number") from None


def _same_record(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if set(a) != set(b):
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y or type(x) is not type(y):
            return False
    return True
