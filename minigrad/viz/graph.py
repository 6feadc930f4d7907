"""``draw_graph``: the autograd graph behind a tensor, as Graphviz DOT.

The graph is read through the public autograd API, as torchviz reads PyTorch's:
``t.grad_fn`` is the node that made ``t``, ``node.name()`` its op (``MulBackward0``),
``node.next_functions`` leads to the nodes of its inputs, and a leaf that requires a gradient
ends a path in an ``AccumulateGrad`` whose ``.variable`` is the leaf. Edges point the way
the forward pass went (inputs to output), the backward pass walks them the other way.
"""
from __future__ import annotations

import os
import shutil
import warnings
from typing import Any, Mapping

from minigrad.nn import Module
from minigrad.tensor import Tensor

_RENDERED = {".svg": "svg", ".png": "png", ".pdf": "pdf"}


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape(t: Tensor) -> str:
    return "(" + ", ".join(str(n) for n in t.shape) + ")"


def dot_available() -> bool:
    """Whether the ``graphviz`` Python package and Graphviz's ``dot`` program are both
    present, so that :func:`draw_graph` can render a picture."""
    try:
        # only whether it is there; the optional extra "graph": untyped, or absent
        import graphviz  # type: ignore[import-untyped, import-not-found]  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def draw_graph(tensor: Tensor, params: Module | Mapping[str, Tensor] | None = None,
               path: str | os.PathLike | None = None) -> str:
    """The graph that ``tensor.backward()`` would walk, as Graphviz DOT text.

    Op nodes (grey) carry the op's name; leaves that require a gradient (blue) their shape
    and, when ``params`` (a model, or a dict name -> tensor) names them, their name; the
    tensor itself (green) its shape. With ``path`` ending in ``.svg``, ``.png`` or ``.pdf``
    the graph is rendered there when the ``graphviz`` package and its ``dot`` program are
    present (``pip install "minigrad[graph]"`` and Graphviz itself); otherwise, or for any
    other extension such as ``.dot``, the DOT text is written (to ``path`` with ``.dot`` in
    place of a picture's extension, with a warning saying what was missing).
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph: expected a minigrad Tensor, got {type(tensor).__name__}")
    if tensor.grad_fn is None and not tensor.requires_grad:
        raise ValueError("draw_graph: the tensor has no graph (it does not require grad and "
                         "was not made by ops on tensors that do)")
    if isinstance(params, Module):
        names = {id(p): name for name, p in params.named_parameters()}
    elif params is not None:
        names = {id(p): name for name, p in dict(params).items()}
    else:
        names = {}
    lines = ["digraph {",
             '  graph [rankdir=TB, nodesep=0.2, ranksep=0.3];',
             '  node [shape=box, style="filled,rounded", fontname="Helvetica", fontsize=10, '
             'height=0.25, fillcolor=lightgrey];',
             '  edge [arrowsize=0.6];']
    seen: dict[Any, str] = {}

    def node_id(node: Any) -> tuple[str, bool]:
        """The DOT id of a graph node, and whether it is new."""
        key = id(node.variable) if hasattr(node, "variable") else node
        if key in seen:
            return seen[key], False
        seen[key] = f"n{len(seen)}"
        return seen[key], True

    out = "n_out"
    lines.append(f"  {out} [label={_quote('output ' + _shape(tensor))}, "
                 "fillcolor=darkolivegreen1];")
    root = tensor.grad_fn
    if root is None:  # a leaf that requires grad: the graph is the leaf itself
        label = (names.get(id(tensor), "") + "\n" + _shape(tensor)).strip()
        lines += [f"  n_leaf [label={_quote(label)}, fillcolor=lightblue];", f"  n_leaf -> {out};"]
        return _finish(lines, path)
    first, _ = node_id(root)
    lines.append(f"  {first} [label={_quote(root.name())}];")
    lines.append(f"  {first} -> {out};")
    stack = [root]
    while stack:  # iterative: a graph may be deeper than Python's recursion limit
        node = stack.pop()
        here = seen[node]
        for child, _ in node.next_functions:
            if child is None:
                continue
            child_id, new = node_id(child)
            if new:
                if hasattr(child, "variable"):
                    leaf = child.variable
                    label = (names.get(id(leaf), "") + "\n" + _shape(leaf)).strip()
                    lines.append(f"  {child_id} [label={_quote(label)}, fillcolor=lightblue];")
                else:
                    lines.append(f"  {child_id} [label={_quote(child.name())}];")
                    stack.append(child)
            lines.append(f"  {child_id} -> {here};")
    return _finish(lines, path)


def _finish(lines: list[str], path: str | os.PathLike | None) -> str:
    lines.append("}")
    dot = "\n".join(lines) + "\n"
    if path is None:
        return dot
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    stem, extension = os.path.splitext(path)
    fmt = _RENDERED.get(extension.lower())
    if fmt is not None:
        if dot_available():
            import graphviz
            with open(path, "wb") as f:
                f.write(graphviz.Source(dot).pipe(format=fmt))
            return dot
        path = stem + ".dot"
        warnings.warn(f"draw_graph: rendering {extension} needs the graphviz package and "
                      f"Graphviz's dot program (pip install \"minigrad[graph]\"; apt-get install "
                      f"graphviz); wrote the DOT text to {path!r} instead", stacklevel=3)
    with open(path, "w", encoding="utf-8") as f:
        f.write(dot)
    return dot
