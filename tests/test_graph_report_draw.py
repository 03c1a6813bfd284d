"""graph_report.draw: one labelled box per value with its shape, one arrow per edge, no arrow through a box."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.patches import FancyArrowPatch  # noqa: E402

from dynconv import graph_report  # noqa: E402
from dynconv.graph import GraphError  # noqa: E402
from dynconv.sr import models  # noqa: E402

# The notebooks' networks: SRCNN (03, 04), the paper's DCNN, and notebook 04's DCNN (dcnn-x234's options).
MODELS = {
    "srcnn": lambda: models.srcnn(),
    "srcnn-residual": lambda: models.srcnn(residual=True),
    "dcnn": lambda: models.dcnn(),
    "dcnn-04": lambda: models.dcnn(n1=16, n2=8, b_channels=8, b_hidden=16, b_log=True, b_periods=[2, 3, 4],
                                   dynamic_layers=["conv2", "conv3"], residual=True),
}


def _drawn(name):
    model = MODELS[name]()
    shapes = model.feed_shapes(2, 33)
    return model, shapes, graph_report.draw(model.graph, shapes)


def _arrows(ax):
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


@pytest.mark.parametrize("name", MODELS)
def test_one_label_per_value_naming_its_layer_and_shape(name):
    model, shapes, ax = _drawn(name)
    g = model.graph
    want = {**shapes, **graph_report.output_shapes(g, shapes)}
    labels = {t.get_gid(): t.get_text() for t in ax.texts}
    assert len(ax.texts) == len(g.inputs) + len(g.nodes) == len(labels)
    assert set(labels) == set(want)
    for value, shape in want.items():
        assert "(" + ", ".join(map(str, shape)) + ")" in labels[value], (value, labels[value])
        kind = "input" if value in g.inputs else type(g[value]).__name__
        assert kind in labels[value]


@pytest.mark.parametrize("name", MODELS)
def test_one_arrow_per_edge(name):
    model, _, ax = _drawn(name)
    edges = sorted(f"{i}->{n}" for n, node in model.graph.nodes.items() for i in node.inputs)
    assert sorted(a.get_gid() for a in _arrows(ax)) == edges


@pytest.mark.parametrize("name", ["dcnn", "dcnn-04"])
def test_the_dynamic_layer_has_two_incoming_arrows_features_then_kernels(name):
    model, _, ax = _drawn(name)
    into = {a.get_gid().split("->")[0]: a for a in _arrows(ax) if a.get_gid().endswith("->dyn")}
    assert list(into) == ["relu2", models.B_KERNELS] == list(model.graph.nodes["dyn"].inputs)
    # the kernels' arrow has the second input's colour
    assert into["relu2"].get_edgecolor() != into[models.B_KERNELS].get_edgecolor()


@pytest.mark.parametrize("name", MODELS)
def test_boxes_do_not_overlap_and_no_arrow_runs_through_a_box(name):
    model, shapes, _ = _drawn(name)
    g = model.graph
    names = list(graph_report.output_shapes(g, shapes))
    pos = graph_report.layout(g, names)
    assert len(set(pos.values())) == len(pos)
    taken = set(pos.values())
    half_w, half_h = graph_report.BOX_W / 2 - 1e-6, graph_report.BOX_H / 2 - 1e-6
    for n in names:
        for slot, src in enumerate(g.nodes[n].inputs):
            assert pos[src][1] < pos[n][1], f"{src}->{n} does not point down"
            verts = np.array(graph_report.route(pos[src], pos[n], slot, len(g.nodes[n].inputs), taken))
            t = np.linspace(0, 1, 41)[:, None]
            points = np.concatenate([a + t * (b - a) for a, b in zip(verts[:-1], verts[1:])])
            for other, (c, r) in pos.items():
                if other not in (src, n):
                    inside = (np.abs(points[:, 0] - c) < half_w) & (np.abs(points[:, 1] + r) < half_h)
                    assert not inside.any(), f"arrow {src}->{n} runs through the box of {other}"


def test_draw_on_a_given_axes_and_by_default_at_the_last_forward_shapes(rng):
    from dynconv.sr.plotting import subplots

    model = models.srcnn(n1=4, n2=2)
    _, ax = subplots()
    x = rng.standard_normal((3, 1, 15, 15)).astype(np.float32)
    model.graph.forward({"x": x}, keep_cache=False)
    assert graph_report.draw(model.graph, ax=ax) is ax
    assert "(3, 1, 3, 3)" in {t.get_gid(): t.get_text() for t in ax.texts}["conv3"]


def test_bad_arguments_give_clear_errors():
    model = models.srcnn()
    with pytest.raises(TypeError, match=r"dict \{graph input: shape\}, e.g. \{'x': \(1, 1, 33, 33\)\}"):
        graph_report.draw(model.graph, (1, 1, 33, 33))
    with pytest.raises(TypeError, match="needs a dynconv Graph, got Model .for a Model, draw model.graph"):
        graph_report.draw(model, {"x": (1, 1, 33, 33)})
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes, got str"):
        graph_report.draw(model.graph, {"x": (1, 1, 33, 33)}, ax="left")
    with pytest.raises(GraphError, match="missing shape for graph input 'x'"):
        graph_report.draw(model.graph, {"y": (1, 1, 33, 33)})
    with pytest.raises(GraphError, match=r"draw\(\) needs the input shapes"):
        graph_report.draw(models.srcnn().graph)
    with pytest.raises(GraphError, match="conv1"):  # too small for the 9x9 kernel: the layer says so
        graph_report.draw(model.graph, {"x": (1, 1, 5, 5)})


def test_the_graph_module_does_not_import_matplotlib():
    code = "import sys, dynconv.graph, dynconv.graph_report, dynconv.sr.models; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
