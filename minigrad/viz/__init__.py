"""See what training does: loss curves, optimizer paths, loss landscapes, the autograd graph,
and per-layer statistics (``pip install "minigrad[viz]"`` for matplotlib).

Importing this package imports no matplotlib: each plotting function does so when called, and
:func:`draw_graph` needs it not at all. Every plotting function returns the matplotlib
``Figure`` together with the numbers it drew, and writes a PNG (or any format matplotlib knows,
by the file's extension) when given ``path``. The figures are made without ``pyplot``, so they
leave no global state behind and work on a machine without a display.

- :func:`plot_history`: train/validation loss and accuracy per epoch, the per-step loss
  smoothed, the learning rate on a second axis (from a :class:`History`).
- :func:`plot_trajectories` / :func:`run_trajectory`: optimizers' paths on the contours of a
  function of two variables, and loss against step.
- :func:`loss_landscape` / :func:`plot_landscape`: the 1-D and 2-D plots of Li et al. 2018,
  along filter-normalised random directions.
- :func:`draw_graph`: the autograd graph behind a tensor as Graphviz DOT (rendered when the
  ``graphviz`` package and its ``dot`` program are present).
- :func:`plot_layer_stats` / :func:`layer_stats`: per-layer mean and standard deviation of
  activations and of back-propagated gradients (Glorot & Bengio 2010).
"""
from minigrad.utils.history import History
from minigrad.viz.graph import draw_graph
from minigrad.viz.history import plot_history, smooth
from minigrad.viz.landscape import (Landscape, filter_normalized_direction, loss_landscape,
                                    plot_landscape)
from minigrad.viz.layers import LayerStats, layer_stats, plot_layer_stats
from minigrad.viz.trajectories import plot_trajectories, run_trajectory

__all__ = ["History", "plot_history", "smooth", "plot_trajectories", "run_trajectory",
           "loss_landscape", "plot_landscape", "filter_normalized_direction", "Landscape",
           "draw_graph", "plot_layer_stats", "layer_stats", "LayerStats"]
