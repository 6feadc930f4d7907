"""``SummaryWriter``: ``torch.utils.tensorboard.SummaryWriter``'s methods for minigrad tensors.

The event files are written by tensorboardX, a well-kept writer of TensorBoard's format that
needs no TensorFlow or PyTorch; this class hands it NumPy values, so minigrad tensors (on the
CPU or the GPU) go wherever PyTorch takes tensors, and checks each argument at the call with
a message that names it. tensorboardX is imported when a writer is made, not before.
"""
from __future__ import annotations

import numbers
import os
import socket
import sys
import time
from datetime import datetime
from typing import Any, Mapping

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor


def _writer_class() -> Any:
    try:
        # the optional extra "tensorboard": no stubs when installed, absent when not
        from tensorboardX import (  # type: ignore[import-untyped, import-not-found]
            SummaryWriter as Writer)
    except ImportError:
        raise ImportError('minigrad.utils.tensorboard needs tensorboardX: pip install '
                          '"minigrad[tensorboard]" (or pip install tensorboardX)') from None
    return Writer


def _array(value: Any, what: str) -> np.ndarray:
    if isinstance(value, Tensor):
        return backend.to_numpy(value.detach().array)
    if backend.is_array(value):
        return backend.to_numpy(value)
    try:
        return np.asarray(value)
    except Exception:
        raise TypeError(f"{what}: expected a tensor, an array or numbers, got "
                        f"{type(value).__name__}") from None


def _scalar(value: Any, what: str) -> float:
    if isinstance(value, (Tensor, np.ndarray, np.generic)) or backend.is_array(value):
        array = _array(value, what)
        if array.size != 1:
            raise ValueError(f"{what}: a scalar needs one element, got shape {array.shape}")
        value = array.reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what}: expected a real number, got {type(value).__name__} "
                        f"{value!r}")
    return float(value)


def _step(global_step: Any, what: str) -> int | None:
    if global_step is None:
        return None
    if isinstance(global_step, Tensor):
        global_step = _scalar(global_step, what)
    if isinstance(global_step, float) and global_step.is_integer():
        global_step = int(global_step)
    if isinstance(global_step, bool) or not isinstance(global_step, numbers.Integral):
        raise TypeError(f"{what}: global_step must be an int, got {global_step!r}")
    return int(global_step)


def _tag(tag: Any, what: str) -> str:
    if not isinstance(tag, str) or not tag:
        raise TypeError(f"{what}: tag must be a non-empty str, got {tag!r}")
    return tag


class SummaryWriter:
    """Writes TensorBoard event files into ``log_dir`` (default
    ``runs/<date>_<host><comment>``, as PyTorch's).

    Methods: :meth:`add_scalar`, :meth:`add_scalars`, :meth:`add_histogram`,
    :meth:`add_figure`, :meth:`add_image`, :meth:`add_text`, :meth:`add_hparams`,
    :meth:`flush`, :meth:`close`; it is a context manager that closes itself.
    """

    def __init__(self, log_dir: str | os.PathLike | None = None, comment: str = "",
                 purge_step: int | None = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "") -> None:
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = os.fspath(log_dir)
        self._writer = _writer_class()(logdir=self.log_dir, purge_step=purge_step,
                                       max_queue=max_queue, flush_secs=flush_secs,
                                       filename_suffix=filename_suffix)

    def get_logdir(self) -> str:
        return self.log_dir

    def add_scalar(self, tag: str, scalar_value: Any, global_step: int | None = None,
                   walltime: float | None = None, new_style: bool = False) -> None:
        """One number (a Python number or a one-element tensor) at ``global_step``."""
        what = f"SummaryWriter.add_scalar({tag!r})"
        self._writer.add_scalar(_tag(tag, "SummaryWriter.add_scalar"),
                                _scalar(scalar_value, what), _step(global_step, what),
                                walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: Mapping[str, Any],
                    global_step: int | None = None, walltime: float | None = None) -> None:
        """Several numbers drawn on one chart: each is written to a run of its own,
        ``log_dir/main_tag/name`` (tensorboardX's layout; PyTorch's is ``main_tag_name``),
        under the tag ``main_tag``."""
        what = f"SummaryWriter.add_scalars({main_tag!r})"
        if not isinstance(tag_scalar_dict, Mapping) or not tag_scalar_dict:
            raise TypeError(f"{what}: tag_scalar_dict must be a non-empty dict name -> number")
        values = {_tag(k, what): _scalar(v, f"{what}[{k!r}]") for k, v in tag_scalar_dict.items()}
        self._writer.add_scalars(_tag(main_tag, what), values, _step(global_step, what),
                                 walltime)

    def add_histogram(self, tag: str, values: Any, global_step: int | None = None,
                      bins: str | int | Any = "tensorflow", walltime: float | None = None,
                      max_bins: int | None = None) -> None:
        """The distribution of a tensor's values (all of them, flattened). ``bins`` is as
        in PyTorch: ``"tensorflow"`` (TensorBoard's exponential buckets), any of NumPy's
        names, an int or the bucket edges."""
        what = f"SummaryWriter.add_histogram({tag!r})"
        array = _array(values, what).astype(np.float64, copy=False).ravel()
        if array.size == 0:
            raise ValueError(f"{what}: values is empty")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{what}: values hold {int(np.sum(~np.isfinite(array)))} NaN or "
                             "infinite entries; a histogram needs finite values")
        self._writer.add_histogram(_tag(tag, what), array, _step(global_step, what), bins,
                                   walltime, max_bins)

    def add_image(self, tag: str, img_tensor: Any, global_step: int | None = None,
                  walltime: float | None = None, dataformats: str = "CHW") -> None:
        """An image: floats in [0, 1] or uint8, laid out as ``dataformats`` says."""
        what = f"SummaryWriter.add_image({tag!r})"
        self._writer.add_image(_tag(tag, what), _array(img_tensor, what),
                               _step(global_step, what), walltime, dataformats)

    def add_figure(self, tag: str, figure: Any, global_step: int | None = None,
                   close: bool = True, walltime: float | None = None) -> None:
        """A matplotlib figure (such as those of :mod:`minigrad.viz`), drawn to an image.
        ``close`` closes it in pyplot when pyplot manages it, as PyTorch does."""
        what = f"SummaryWriter.add_figure({tag!r})"
        figures = figure if isinstance(figure, (list, tuple)) else [figure]
        images = []
        for item in figures:
            if not hasattr(item, "savefig") or not hasattr(item, "canvas"):
                raise TypeError(f"{what}: expected a matplotlib Figure, got "
                                f"{type(item).__name__}")
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            canvas = FigureCanvasAgg(item)
            canvas.draw()
            images.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
            if close and "matplotlib.pyplot" in sys.modules:
                sys.modules["matplotlib.pyplot"].close(item)
        if isinstance(figure, (list, tuple)):
            self._writer.add_images(_tag(tag, what), np.stack(images), _step(global_step, what),
                                    walltime, dataformats="NHWC")
        else:
            self._writer.add_image(_tag(tag, what), images[0], _step(global_step, what),
                                   walltime, dataformats="HWC")

    def add_text(self, tag: str, text_string: str, global_step: int | None = None,
                 walltime: float | None = None) -> None:
        what = f"SummaryWriter.add_text({tag!r})"
        if not isinstance(text_string, str):
            raise TypeError(f"{what}: text_string must be a str, got {type(text_string).__name__}")
        self._writer.add_text(_tag(tag, what), text_string, _step(global_step, what), walltime)

    def add_hparams(self, hparam_dict: Mapping[str, Any], metric_dict: Mapping[str, Any],
                    hparam_domain_discrete: Mapping[str, list] | None = None,
                    run_name: str | None = None, global_step: int | None = None) -> None:
        """A run's hyper-parameters (bool, int, float or str each) and the metrics it reached,
        for TensorBoard's HParams tab. As in PyTorch, they are written to a run of their own,
        ``log_dir/run_name`` (default: the time), with each metric also as a scalar there.
        (``hparam_domain_discrete``, the values the UI offers as filters, is not written:
        tensorboardX takes no such argument; the UI then lists the values it sees.)"""
        what = "SummaryWriter.add_hparams"
        if not isinstance(hparam_dict, Mapping) or not isinstance(metric_dict, Mapping):
            raise TypeError(f"{what}: hparam_dict and metric_dict must be dicts")
        hparams: dict[str, Any] = {}
        for key, value in hparam_dict.items():
            if isinstance(value, Tensor):
                value = _scalar(value, f"{what}: hparam {key!r}")
            if not isinstance(value, (bool, int, float, str)):
                raise TypeError(f"{what}: hparam {key!r} must be a bool, int, float or str, "
                                f"got {type(value).__name__} {value!r}")
            hparams[_tag(key, what)] = value
        metrics = {_tag(k, what): _scalar(v, f"{what}: metric {k!r}")
                   for k, v in metric_dict.items()}
        name = run_name if run_name is not None else str(time.time())
        self._writer.add_hparams(hparams, metrics, name=name, global_step=_step(global_step, what))

    def flush(self) -> None:
        """Write what is queued to disk now."""
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event files (the writer cannot be used afterwards)."""
        self._writer.close()

    def __enter__(self) -> "SummaryWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
