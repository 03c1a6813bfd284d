"""graph_report: shapes, MACs and the summary table of a graph, without running it."""
from __future__ import annotations

import io

import numpy as np
import pytest

from dynconv import graph_report
from dynconv.graph import Graph, GraphError
from dynconv.layers import Conv2D, MSELoss, ReLU


def tiny(rng):
    g = Graph(inputs=["x", "target"], outputs=["loss"])
    g.add("conv1", Conv2D(1, 4, 3, pad=1, rng=rng, dtype=np.float64), inputs=["x"])
    g.add("relu", ReLU(), inputs=["conv1"])
    g.add("conv2", Conv2D(4, 1, 3, rng=rng, dtype=np.float64), inputs=["relu"])
    g.add("loss", MSELoss(), inputs=["conv2", "target"])
    return g


def test_shapes_and_macs_match_a_real_forward(rng):
    g = tiny(rng)
    shapes = {"x": (2, 1, 7, 9), "target": (2, 1, 5, 7)}
    predicted = graph_report.output_shapes(g, shapes)
    x = rng.standard_normal(shapes["x"])
    ran = g.forward({"x": x, "target": np.zeros(shapes["target"])}, outputs=list(predicted), keep_cache=False)
    assert predicted == {k: np.shape(v) for k, v in ran.items()}
    # conv1: 2·4·7·9 outputs × 1·3·3 taps; conv2: 2·1·5·7 outputs × 4·3·3 taps; the rest is
    # each layer's own count
    rest = sum(g[n].macs(*[predicted.get(i, shapes.get(i)) for i in g.nodes[n].inputs]) for n in ("relu", "loss"))
    assert graph_report.macs(g, shapes) == 2 * 4 * 7 * 9 * 9 + 2 * 1 * 5 * 7 * 36 + rest


def test_summary_defaults_to_the_last_forward_and_names_missing_shapes(rng):
    g = tiny(rng)
    with pytest.raises(GraphError, match="pass shapes= or run forward"):
        graph_report.summary(g, out=None)
    with pytest.raises(GraphError, match="missing shape for graph input 'target'"):
        graph_report.output_shapes(g, {"x": (1, 1, 5, 5)})
    g.forward({"x": rng.standard_normal((1, 1, 5, 5)), "target": np.zeros((1, 1, 3, 3))}, outputs=["conv2"],
              keep_cache=False)
    buf = io.StringIO()
    text = graph_report.summary(g, out=buf)
    assert buf.getvalue() == text
    assert [line.split()[0] for line in text.splitlines()[2:6]] == ["conv1", "relu", "conv2", "loss"]
    assert "(1, 1, 3, 3)" in text.splitlines()[4]
