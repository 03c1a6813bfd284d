"""dynconv.sr.models: architectures, the DCNN's design guarantees, and the one inference path."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv.gradcheck import gradcheck
from dynconv.graph import GraphError
from dynconv.sr import models
from _models import SMALL, REACH, randomise_b as _randomise_b


@pytest.mark.parametrize("builder, kwargs", [
    (models.srcnn, {}), (models.srcnn, dict(f2=5)), (models.srcnn, dict(residual=True)),
    (models.srcnn, dict(padding="same")), (models.dcnn, {}), (models.dcnn, dict(residual=True)),
    (models.dcnn, dict(variant="scale")), (models.dcnn, REACH),
    (models.dcnn, dict(REACH, variant="scale")),
], ids=lambda v: getattr(v, "__name__", None) or str(v))
def test_build_from_config_rebuilds_the_same_model(builder, kwargs):
    m = builder(**SMALL, **kwargs, seed=3)
    again = models.build(m.config)
    names = [n for n, _, _ in m.graph.parameters()]
    assert names == [n for n, _, _ in again.graph.parameters()]
    for (_, p, _), (_, q, _) in zip(m.graph.parameters(), again.graph.parameters()):
        np.testing.assert_array_equal(p, q)


def test_srcnn_shapes_and_counts():
    m = models.srcnn()
    assert m.radius == 6 and m.num_params() == 64 * 81 + 64 + 32 * 64 + 32 + 32 * 25 + 1
    assert m.output == "conv3"
    y = m.graph.forward({"x": np.zeros((2, 1, 33, 33), np.float32)})["conv3"]
    assert y.shape == (2, 1, 21, 21)
    assert models.srcnn(f2=5).graph.forward({"x": np.zeros((1, 1, 33, 33), np.float32)})["conv3"].shape == (1, 1, 17, 17)
    same = models.srcnn(padding="same")
    assert same.graph.forward({"x": np.zeros((1, 1, 20, 23), np.float32)})["conv3"].shape == (1, 1, 20, 23)


def test_fresh_dcnn_is_a_static_srcnn(rng):
    """Design property (ii): k^t = W3 + ΔW(x) with ΔW = 0 at initialisation."""
    d = models.dcnn(**SMALL, seed=5)
    s = models.srcnn(**SMALL, seed=99)
    params = dict((n, p) for n, p, _ in d.graph.parameters())
    for name, p, _ in s.graph.parameters():
        if name.startswith("conv1") or name.startswith("conv2"):
            p[...] = params[name]
    flat = params["b_fc2.b"]
    s.graph["conv3"].params["w"][...] = flat[:-1].reshape(s.graph["conv3"].params["w"].shape)
    s.graph["conv3"].params["b"][...] = flat[-1:]
    x = rng.random((3, 1, 33, 33)).astype(np.float32)
    np.testing.assert_allclose(d.graph.forward({"x": x})["dyn"], s.graph.forward({"x": x})["conv3"], rtol=1e-5, atol=1e-6)


def test_fresh_dcnn_with_dynamic_mapping_layer_is_a_static_srcnn(rng):
    """Property (ii) holds for every dynamic layer: conv2's head starts at ΔW = 0 too."""
    d = models.dcnn(**SMALL, **REACH, seed=5)
    s = models.srcnn(**SMALL, seed=99)
    params = dict((n, p) for n, p, _ in d.graph.parameters())
    s.graph["conv1"].params["w"][...] = params["conv1.w"]
    s.graph["conv1"].params["b"][...] = params["conv1.b"]
    for conv, head in (("conv2", "b_fc2_conv2.b"), ("conv3", "b_fc2.b")):
        w = s.graph[conv].params["w"]
        w[...] = params[head][:w.size].reshape(w.shape)
        s.graph[conv].params["b"][...] = params[head][w.size:]
    x = rng.random((3, 1, 33, 33)).astype(np.float32)
    np.testing.assert_allclose(d.graph.forward({"x": x})["dyn"], s.graph.forward({"x": x})["conv3"],
                               rtol=1e-5, atol=1e-6)


def test_dynamic_layers_and_log_pooling_are_validated_and_recorded():
    with pytest.raises(ValueError, match="dynamic_layers must be"):
        models.dcnn(dynamic_layers=["conv1", "conv3"])
    assert "b_log" not in models.dcnn().config  # configs of older checkpoints stay valid
    m = models.dcnn(**SMALL, **REACH)
    assert m.config["b_log"] and m.config["dynamic_layers"] == ["conv2", "conv3"]
    assert m.config["b_periods"] == [2, 3, 4] and m.graph["b_fc1"].params["w"].shape[1] == 32 + 6
    # B's first filters start zero-mean: the pooled features measure texture, not brightness.
    np.testing.assert_allclose(m.graph["b_conv1"].params["w"].sum(axis=(1, 2, 3)), 0, atol=1e-6)


def test_fresh_residual_network_is_bicubic(rng):
    x = rng.random((2, 1, 33, 33)).astype(np.float32)
    for m in (models.srcnn(residual=True), models.dcnn(residual=True),
              models.dcnn(residual=True, **REACH)):
        y = m.graph.forward({"x": x})["y"]
        np.testing.assert_array_equal(y, x[:, :, 6:-6, 6:-6])


@pytest.mark.parametrize("options", [{}, REACH], ids=["conv3", "conv2+conv3+log"])
def test_dcnn_gradients_reach_network_b(rng, options):
    """Design property (i): eq 7's per-sample gradient trains B end to end."""
    m = models.dcnn(n1=4, n2=3, f1=3, f3=3, b_kernel=3, b_channels=3, b_hidden=5, window=9,
                    residual=True, dtype=np.float64, seed=1, **options)
    _randomise_b(m, rng, 0.3)
    for _, p, _ in m.graph.parameters():  # non-zero biases keep ReLU inputs away from kinks
        if p.ndim == 1:
            p += rng.uniform(0.05, 0.1, p.shape)
    x = rng.random((2, 1, 9, 9))
    report = gradcheck(m.graph, {"x": x}, rng=rng)
    assert report.ok, str(report)
    m.graph.forward({"x": x})
    m.graph.backward({m.output: rng.standard_normal((2, 1, 5, 5))})
    grads = {n: g for n, _, g in m.graph.parameters()}
    heads = ("b_fc2_conv2.w", "b_fc2_conv2.b") if options else ()
    if options:  # the periodicity statistics reach B's first Linear
        assert np.abs(grads["b_fc1.w"][:, -6:]).max() > 0
    for name in ("b_conv1.w", "b_conv2.w", "b_fc1.w", "b_fc2.w", "b_fc2.b", *heads):
        assert np.abs(grads[name]).max() > 0, name


def test_scale_variant_needs_the_scale(rng):
    m = models.dcnn(**SMALL, variant="scale", seed=0)
    with pytest.raises(ValueError, match="needs the upscaling factor"):
        m.predict(rng.random((30, 30)))
    a, b = m.predict(rng.random((30, 30)), 2), m.predict(rng.random((30, 30)), 4)
    assert a.shape == b.shape == (30, 30)
    one_hot = models.scale_one_hot([2, 3, 4, 2.5], 4, np.float64)
    np.testing.assert_array_equal(one_hot, [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0]])


def test_bad_configs_are_reported():
    with pytest.raises(ValueError, match="unknown architecture 'vdsr'"):
        models.build({"arch": "vdsr"})
    with pytest.raises(ValueError, match="bad srcnn config"):
        models.build({"arch": "srcnn", "depth": 20})
    with pytest.raises(ValueError, match="f1 must be an odd positive int"):
        models.srcnn(f1=4)
    with pytest.raises(ValueError, match="window 12 is too small"):
        models.dcnn(window=12)


def test_partial_forward_runs_only_what_is_needed(rng):
    m = models.dcnn(**SMALL, seed=0)
    x = rng.random((2, 1, 33, 33)).astype(np.float32)
    full = m.graph.forward({"x": x}, outputs=["relu2", "b_pool", "dyn"], keep_cache=False)
    part = m.graph.forward({"relu2": full["relu2"], "b_pool": full["b_pool"]}, outputs=["dyn"], keep_cache=False)
    np.testing.assert_allclose(part["dyn"], full["dyn"], rtol=1e-6)
    with pytest.raises(GraphError, match="missing feed for graph input 'x'"):
        m.graph.forward({"relu2": full["relu2"]}, outputs=["dyn"], keep_cache=False)
    with pytest.raises(GraphError, match="feed 'nope' is not a graph input"):
        m.graph.forward({"nope": x}, outputs=["dyn"], keep_cache=False)
    with pytest.raises(GraphError, match="intermediate values are fed only with keep_cache=False"):
        m.graph.forward({"x": x, "relu2": full["relu2"]})


def test_mapping_layers_start_as_the_identity_with_the_same_bytes_every_build():
    a, b = models.dcnn(n1=8, n2=4, mapping=[3], residual=True), models.dcnn(n1=8, n2=4, mapping=[3], residual=True)
    w = a.graph.nodes["map1"].layer.params["w"]
    assert w.tobytes() == b.graph.nodes["map1"].layer.params["w"].tobytes()
    np.testing.assert_array_equal(w[:, :, 1, 1], np.eye(4))
    assert not np.signbit(w).any() and not a.graph.nodes["map1"].layer.params["b"].any()
