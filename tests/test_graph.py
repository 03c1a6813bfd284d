"""Graph executor: wiring, fan-out accumulation, automatic need_input_grad, errors, summary, training."""
from __future__ import annotations

import io

import numpy as np
import pytest

from dynconv.gradcheck import clear_of_kinks, gradcheck, srcnn_graph
from dynconv.graph import Graph, GraphError
from dynconv.graph_report import summary
from dynconv.layers import Add, CenterCrop, Conv2D, EuclideanLoss, MSELoss, ReLU, Reshape
from dynconv.optim import SGD


def conv(cin, cout, k, rng, **kw):
    return Conv2D(cin, cout, k, init="he", rng=rng, dtype=np.float64, **kw)


def tiny_graph(rng, requires_grad=()):
    """x -> conv1 -> relu -> conv2 -> MSE(target)."""
    g = Graph(inputs=["x", "target"], outputs=["loss"], requires_grad=requires_grad)
    g.add("conv1", conv(1, 4, 3, rng, pad=1), inputs=["x"])
    g.add("relu", ReLU(), inputs=["conv1"])
    g.add("conv2", conv(4, 1, 3, rng, pad=1), inputs=["relu"])
    g.add("loss", MSELoss(), inputs=["conv2", "target"])
    return g


def feeds(rng, shape=(2, 1, 6, 6)):
    return {"x": rng.standard_normal(shape), "target": rng.standard_normal(shape)}


# --------------------------------------------------------------------------- accumulation
def test_fan_out_gradients_accumulate(rng):
    # b = reshape(reshape(x)) = x and out = Add(b, b, x) = 3x  ⇒  dL/dx = 3·seed
    g = Graph(inputs=["x"], outputs=["out"], requires_grad=["x"])
    g.add("a", Reshape((2, 3)), inputs=["x"])
    g.add("b", Reshape((6,)), inputs=["a"])
    g.add("out", Add(), inputs=["b", "b", "x"])
    x = rng.standard_normal((4, 6))
    assert g.forward({"x": x}, outputs=["a"], keep_cache=False)["a"].shape == (4, 2, 3)
    np.testing.assert_allclose(g.forward({"x": x})["out"], 3 * x, rtol=1e-15)
    seed = rng.standard_normal((4, 6))
    seed0 = seed.copy()
    dx = g.backward({"out": seed})["x"]
    np.testing.assert_allclose(dx, 3 * seed0, rtol=1e-15)
    # Add hands the seed itself to all three inputs: accumulation must copy, not modify it
    np.testing.assert_array_equal(seed, seed0)


def test_fan_out_graph_passes_gradcheck(rng):
    g = Graph(inputs=["x", "target"], outputs=["loss"])
    g.add("conv1", conv(1, 3, 3, rng, pad=1), inputs=["x"])
    g.add("relu", ReLU(), inputs=["conv1"])
    g.add("sum", Add(), inputs=["conv1", "relu"])  # conv1 feeds two consumers
    g.add("conv2", conv(3, 1, 3, rng), inputs=["sum"])
    g.add("crop", CenterCrop(), inputs=["target", "conv2"])
    g.add("loss", EuclideanLoss(), inputs=["conv2", "crop"])
    report = gradcheck(g, feeds(rng, (2, 1, 6, 6)), rng=rng)
    assert report.ok, f"max relative error {report.max_error:.2e}\n{report}"


def test_srcnn_graph_passes_gradcheck(rng):
    g, f = clear_of_kinks(lambda: (srcnn_graph(rng), feeds(rng, (2, 1, 13, 13))))
    report = gradcheck(g, f, rng=rng)
    assert report.ok, f"max relative error {report.max_error:.2e}\n{report}"


# --------------------------------------------------------------------------- need_input_grad and caches
def test_first_layer_skips_dx_unless_input_requires_grad(rng):
    g = tiny_graph(rng)
    g.forward(feeds(rng))
    assert g["conv1"].need_input_grad == (False,)
    assert g["conv2"].need_input_grad == (True,)
    assert g["loss"].need_input_grad == (True, False)  # the target needs no gradient
    assert g.backward() == {}
    g.requires_grad = ["x"]
    g.forward(feeds(rng))
    assert g["conv1"].need_input_grad == (True,)
    assert g.backward()["x"].shape == (2, 1, 6, 6)


def test_caches_released_after_backward(rng):
    g = tiny_graph(rng)
    g.forward(feeds(rng))
    assert all(n.layer._cache is not None for n in g.nodes.values())
    g.backward()
    assert all(n.layer._cache is None for n in g.nodes.values())


def test_node_off_the_loss_path_gets_zero_grads(rng):
    g = Graph(inputs=["x", "target"], outputs=["loss"])
    g.add("used", conv(1, 1, 1, rng), inputs=["x"])
    g.add("side", conv(1, 1, 1, rng), inputs=["x"])  # computed, consumed by nothing
    g.add("loss", MSELoss(), inputs=["used", "target"])
    g["side"].grads["w"][...] = 7.0
    g.forward(feeds(rng, (1, 1, 3, 3)))
    g.backward()
    assert np.abs(g["used"].grads["w"]).max() > 0
    np.testing.assert_array_equal(g["side"].grads["w"], 0)
    assert g["side"]._cache is None


# --------------------------------------------------------------------------- errors
def test_cycle_is_reported_with_its_nodes(rng):
    g = Graph(inputs=["x"], outputs=["c"])
    g.add("a", ReLU(), inputs=["c"])
    g.add("b", ReLU(), inputs=["a"])
    g.add("c", Add(), inputs=["b", "x"])
    with pytest.raises(GraphError, match=r"cycle through node 'a': a -> c -> b -> a"):
        g.forward({"x": np.ones(3)})


@pytest.mark.parametrize("build, match", [
    (lambda g: g.add("r", ReLU(), inputs=["nope"]), r"node 'r': unknown input 'nope'"),
    (lambda g: g.add("r", ReLU(), inputs=["x"]) and None, r"unknown output 'y'"),
])
def test_unknown_names(build, match):
    g = Graph(inputs=["x"], outputs=["y"])
    build(g)
    with pytest.raises(GraphError, match=match):
        g.forward({"x": np.ones(3)})


@pytest.mark.parametrize("name, match", [("r", "duplicate name 'r': already a node"),
                                         ("x", "duplicate name 'x': already a graph input")])
def test_duplicate_names(name, match):
    g = Graph(inputs=["x"], outputs=["r"])
    g.add("r", ReLU(), inputs=["x"])
    with pytest.raises(GraphError, match=match):
        g.add(name, ReLU(), inputs=["x"])


@pytest.mark.parametrize("inputs", [["x", "x"], ("x", "t", "x")])
def test_duplicate_graph_inputs_are_an_error(inputs):
    with pytest.raises(GraphError, match=r"duplicate graph input name in \['x', "):
        Graph(inputs=inputs, outputs=["x"])


def test_same_layer_twice_is_an_error():
    g = Graph(inputs=["x"], outputs=["b"])
    relu = g.add("a", ReLU(), inputs=["x"])
    with pytest.raises(GraphError, match="already node 'a'"):
        g.add("b", relu, inputs=["a"])


def test_missing_and_unexpected_feeds(rng):
    g = tiny_graph(rng)
    with pytest.raises(GraphError, match="missing feed for graph input 'target'"):
        g.forward({"x": np.zeros((1, 1, 4, 4))})
    with pytest.raises(GraphError, match="feed 'y' is not a graph input"):
        g.forward({**feeds(rng), "y": 1})


def test_shape_mismatch_names_node_expected_and_got(rng):
    g = Graph(inputs=["x"], outputs=["conv2"])
    g.add("conv1", conv(1, 4, 3, rng), inputs=["x"])
    g.add("conv2", conv(3, 1, 3, rng), inputs=["conv1"])
    with pytest.raises(GraphError, match=r"node 'conv2' \(Conv2D\): input x: expected shape "
                                         r"\(N, 3, H, W\), got \(1, 4, 4, 4\)"):
        g.forward({"x": np.zeros((1, 1, 6, 6))})


def test_declared_input_shape_is_checked():
    g = Graph(inputs={"x": (None, 1, None, None)}, outputs=["r"])
    g.add("r", ReLU(), inputs=["x"])
    g.forward({"x": np.zeros((2, 1, 5, 5))})
    with pytest.raises(GraphError, match=r"graph input 'x': expected shape \(\*, 1, \*, \*\), got \(2, 3, 5, 5\)"):
        g.forward({"x": np.zeros((2, 3, 5, 5))})


def test_kernel_dtype_error_names_node(rng):
    g = Graph(inputs=["x"], outputs=["c"])
    g.add("c", Conv2D(1, 1, 3, rng=rng), inputs=["x"])  # float32 params
    with pytest.raises(GraphError, match=r"node 'c' \(Conv2D\): .*float64"):
        g.forward({"x": np.zeros((1, 1, 4, 4))})


def test_backward_before_forward_twice_and_without_cache(rng):
    g = tiny_graph(rng)
    with pytest.raises(GraphError, match="backward\\(\\) called before forward\\(\\)"):
        g.backward()
    g.forward(feeds(rng))
    g.backward()
    with pytest.raises(GraphError, match="before forward"):
        g.backward()
    g.forward(feeds(rng), keep_cache=False)
    assert all(n.layer._cache is None for n in g.nodes.values())
    with pytest.raises(GraphError, match="before forward"):
        g.backward()


def test_seed_errors(rng):
    g = Graph(inputs=["x"], outputs=["c"])
    g.add("c", conv(1, 1, 3, rng), inputs=["x"])
    g.forward({"x": np.zeros((1, 1, 4, 4))})
    with pytest.raises(GraphError, match="scalar outputs; output 'c' has shape"):
        g.backward()
    with pytest.raises(GraphError, match=r"seed 'c': gradient for 'c' has shape \(1, 1, 3, 3\), expected \(1, 1, 2, 2\)"):
        g.backward({"c": np.zeros((1, 1, 3, 3))})
    with pytest.raises(GraphError, match="seed 'z' is not a graph output"):
        g.backward({"z": 1.0})


# --------------------------------------------------------------------------- introspection
def test_parameters_summary_and_astype(rng):
    g = tiny_graph(rng)
    names = [n for n, _, _ in g.parameters()]
    assert names == ["conv1.w", "conv1.b", "conv2.w", "conv2.b"]
    buf = io.StringIO()
    text = summary(g, {"x": (2, 1, 6, 6), "target": (2, 1, 6, 6)}, out=buf)
    assert buf.getvalue() == text
    conv1_macs = 2 * 4 * 6 * 6 * 1 * 3 * 3
    assert any(line.split()[0] == "conv1" and "(2, 4, 6, 6)" in line and "40" in line.split()
               and f"{conv1_macs:,}" in line for line in text.splitlines()), text
    assert f"{g.num_params():,}" in text.splitlines()[-1]
    with pytest.raises(GraphError, match="pass shapes= or run forward"):
        summary(tiny_graph(rng), out=None)
    g.astype(np.float32)
    assert g.dtype == np.float32
    assert all(p.dtype == np.float32 == d.dtype for _, p, d in g.parameters())


# --------------------------------------------------------------------------- training
def test_tiny_graph_trained_by_sgd_lowers_loss_tenfold(rng):
    g = tiny_graph(rng)
    x = rng.standard_normal((4, 1, 8, 8))
    teacher = conv(1, 1, 3, rng, pad=1)  # the fixed random target: a random 3x3 filter of x
    target = teacher.forward(x)
    opt = SGD(g, lr=0.05, momentum=0.9)
    losses = []
    for _ in range(300):
        losses.append(float(g.forward({"x": x, "target": target})["loss"]))
        g.backward()
        opt.step()
    assert losses[-1] < losses[0] / 10, f"loss {losses[0]:.3g} -> {losses[-1]:.3g}"


def test_float32_end_to_end_keeps_dtype(rng):
    g = tiny_graph(rng).astype(np.float32)
    g.requires_grad = ["x"]
    f = {k: v.astype(np.float32) for k, v in feeds(rng).items()}
    loss = g.forward(f)["loss"]
    assert loss.dtype == np.float32
    assert g.backward()["x"].dtype == np.float32
    assert all(d.dtype == np.float32 and np.abs(d).max() > 0 for _, _, d in g.parameters())


def test_shape_only_inputs_do_not_pull_gradients(rng):
    """CenterCrop's ``like`` input supplies a shape only: the cropped target needs no gradient,
    so neither the crop nor the loss computes one for it."""
    from dynconv.layers import CenterCrop, Conv2D, MSELoss

    g = Graph(inputs=["x", "target"], outputs=["loss"])
    g.add("conv", Conv2D(1, 2, 3, rng=0, dtype=np.float64), ["x"])
    g.add("crop", CenterCrop(), ["target", "conv"])
    g.add("loss", MSELoss(), ["conv", "crop"])
    g.forward({"x": rng.random((2, 1, 6, 6)), "target": rng.random((2, 2, 6, 6))})
    g.backward()
    assert g._needs_grad["conv"] and not g._needs_grad["crop"]
    assert g["crop"].need_input_grad == (False, True)
    assert g["loss"].need_input_grad == (True, False)
    assert np.abs(g["conv"].grads["w"]).max() > 0


def test_a_layers_type_error_names_the_node_and_stays_a_type_error():
    from dynconv.graph import Graph
    from dynconv.layers import ReLU

    g = Graph(inputs=["x"], outputs=["act"])
    g.add("act", ReLU(), inputs=["x"])
    with pytest.raises(TypeError, match=r"node 'act' \(ReLU\): input x"):
        g.forward({"x": "not an array"})


# ------------------------------------------------------------------- training vs inference
def test_training_forward_picks_training_kernels_inference_keeps_its_own(rng):
    # 1-channel 3x3 with 8 outputs: "blocked" in a training step, "kn2row" at inference.
    g = Graph(inputs=["x", "target"], outputs=["loss"])
    layer = g.add("conv1", conv(1, 8, 3, rng, pad=1), inputs=["x"])
    g.add("conv2", conv(8, 1, 1, rng), inputs=["conv1"])
    g.add("loss", MSELoss(), inputs=["conv2", "target"])
    f = feeds(rng)
    g.forward(f)
    assert layer.training and layer._cache.algorithm == "blocked"
    g.backward()
    g.forward(f, keep_cache=False)
    assert not layer.training
    y_eval = g.forward({"x": f["x"]}, outputs=["conv1"], keep_cache=False)["conv1"]
    assert not layer.training
    y_train = g.forward(f, outputs=["conv1"])["conv1"]
    np.testing.assert_allclose(y_train, y_eval, rtol=1e-12, atol=1e-12)


def test_a_dynamic_layer_trains_on_blocked_and_infers_on_its_own(rng):
    from dynconv.layers import DynamicConv2D
    g = Graph(inputs=["x", "k", "target"], outputs=["loss"])
    layer = g.add("dyn", DynamicConv2D(3, 1, 3, pad=1), inputs=["x", "k"])
    g.add("loss", MSELoss(), inputs=["dyn", "target"])
    f = {"x": rng.standard_normal((2, 3, 6, 6)), "k": rng.standard_normal((2, 1, 3, 3, 3)),
         "target": rng.standard_normal((2, 1, 6, 6))}
    g.forward(f)
    assert layer.training and layer._cache[0].algorithm == "blocked"
    g.backward()
    y_eval = g.forward(f, outputs=["dyn"], keep_cache=False)["dyn"]
    assert not layer.training
    layer.forward(f["x"], f["k"])  # what inference runs
    assert layer._cache[0].algorithm == "direct"
    y_train = g.forward(f, outputs=["dyn"])["dyn"]
    np.testing.assert_allclose(y_train, y_eval, rtol=1e-12, atol=1e-12)


def test_partial_forward_runs_only_the_nodes_it_needs(rng):
    g = tiny_graph(rng)
    f = feeds(rng)
    full = g.forward(f, outputs=["relu", "conv2"], keep_cache=False)
    calls = []
    g["conv1"].forward = lambda *a: calls.append("conv1")  # would be wrong, and must not run
    part = g.forward({"relu": full["relu"]}, outputs=["conv2"], keep_cache=False)
    assert calls == []
    np.testing.assert_array_equal(part["conv2"], full["conv2"])
    with pytest.raises(GraphError, match="backward"):
        g.backward()
