"""draw_graph: the DOT text names every op and leaf; rendering when Graphviz is present."""
import re
import shutil

import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.functional import cross_entropy
from minigrad.viz import draw_graph
from minigrad.viz import graph as graph_module


def _nodes_and_edges(dot):
    nodes = dict(re.findall(r"^\s*(n\w+) \[label=\"(.*?)\"", dot, flags=re.M))
    edges = re.findall(r"^\s*(n\w+) -> (n\w+);", dot, flags=re.M)
    return nodes, edges


def test_dot_of_a_small_model():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = mg.randn(5, 3)  # an input that requires no grad is not drawn
    loss = cross_entropy(model(x), mg.tensor([0, 1, 0, 1, 1]))
    dot = draw_graph(loss, model)
    assert dot.startswith("digraph {") and dot.rstrip().endswith("}")
    nodes, edges = _nodes_and_edges(dot)
    labels = sorted(nodes.values())
    assert labels == sorted(["output ()", "CrossEntropyBackward0", "LinearBackward0",
                             "LinearBackward0", "ReluBackward0", "0.weight\\n(4, 3)",
                             "0.bias\\n(4)", "2.weight\\n(2, 4)", "2.bias\\n(2)"])
    assert len(edges) == 8 and len(set(edges)) == 8
    by_label = {v: k for k, v in nodes.items()}
    assert (by_label["0.weight\\n(4, 3)"], by_label["ReluBackward0"]) not in edges
    assert (by_label["ReluBackward0"], by_label["CrossEntropyBackward0"]) not in edges


def test_a_tensor_used_twice_is_one_node_and_names_are_optional():
    w = mg.randn(3, requires_grad=True)
    y = (w * w + w.exp()).sum()
    nodes, edges = _nodes_and_edges(draw_graph(y))
    assert list(nodes.values()).count("(3)") == 1  # the leaf, once, without a name
    assert sorted(nodes.values()) == sorted(["output ()", "SumBackward0", "AddBackward0",
                                             "MulBackward0", "ExpBackward0", "(3)"])
    leaf = next(k for k, v in nodes.items() if v == "(3)")
    assert sum(1 for a, _ in edges if a == leaf) == 3  # into Mul twice, into Exp once
    named = draw_graph(y, {"w": w})
    assert '"w\\n(3)"' in named


def test_a_deep_chain_needs_no_recursion():
    x = mg.ones(2, requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    nodes, edges = _nodes_and_edges(draw_graph(y))
    assert len(nodes) == 3002 and len(edges) == 3001


def test_refusals():
    with pytest.raises(ValueError, match="has no graph"):
        draw_graph(mg.ones(3))
    with pytest.raises(TypeError, match="expected a minigrad Tensor"):
        draw_graph([1.0])


def test_without_graphviz_the_dot_text_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_module, "dot_available", lambda: False)
    y = (mg.randn(2, requires_grad=True) * 2).sum()
    with pytest.warns(UserWarning, match="needs the graphviz package"):
        dot = draw_graph(y, path=tmp_path / "g.svg")
    assert (tmp_path / "g.dot").read_text() == dot and not (tmp_path / "g.svg").exists()
    draw_graph(y, path=tmp_path / "h.dot")
    assert (tmp_path / "h.dot").read_text() == dot


@pytest.mark.skipif(not graph_module.dot_available(),
                    reason="needs the graphviz package and Graphviz's dot program")
@pytest.mark.parametrize("extension, magic", [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_rendered_with_graphviz(tmp_path, extension, magic):
    assert shutil.which("dot")
    model = nn.Sequential(nn.Linear(3, 2))
    loss = model(mg.randn(4, 3)).sum()
    path = tmp_path / f"g.{extension}"
    draw_graph(loss, model, path)
    data = path.read_bytes()
    assert data.startswith(magic)
    if extension == "svg":
        assert b"LinearBackward0" in data and b"0.weight" in data
