"""Optimizers against hand-computed steps; groups; schedules; clipping; state round-trip."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dynconv.graph import Graph
from dynconv.layers import Conv2D, Linear
from dynconv.optim import Adam, ConstantLR, CosineLR, SGD, StepLR, clip_grad_norm

TOL = {np.float32: 1e-6, np.float64: 1e-14}


def triple(name, p, g):
    return (name, np.array(p, dtype=np.float64), np.array(g, dtype=np.float64))


def test_sgd_plain_is_eq4():
    name, p, g = triple("w", [1.0, -2.0], [0.5, 0.25])
    SGD([(name, p, g)], lr=0.1).step()
    np.testing.assert_allclose(p, [0.95, -2.025], rtol=TOL[np.float64])


def test_sgd_momentum_and_weight_decay_by_hand():
    # Caffe: v = mu v + lr (g + wd w); w = w - v, with g = 1, w0 = 1, mu = 0.9, lr = 0.1, wd = 0.5:
    # v1 = 0.15 → w1 = 0.85; v2 = 0.135 + 0.1425 = 0.2775 → w2 = 0.5725;
    # v3 = 0.24975 + 0.128625 = 0.378375 → w3 = 0.194125
    name, p, g = triple("w", [1.0], [1.0])
    opt = SGD([(name, p, g)], lr=0.1, momentum=0.9, weight_decay=0.5)
    for expected in (0.85, 0.5725, 0.194125):
        opt.step()
        np.testing.assert_allclose(p, [expected], rtol=TOL[np.float64] * 10)


def test_adam_by_hand():
    name, p, g = triple("w", [1.0, 2.0], [0.1, -0.2])
    opt = Adam([(name, p, g)], lr=0.01, betas=(0.9, 0.99), eps=1e-8)
    opt.step()
    # step 1: m̂ = g, v̂ = g², update = lr·g/(|g| + eps) ≈ lr·sign(g)
    expected1 = np.array([1.0, 2.0]) - 0.01 * np.array([0.1, -0.2]) / (np.array([0.1, 0.2]) + 1e-8)
    np.testing.assert_allclose(p, expected1, rtol=TOL[np.float64])
    g[...] = [0.3, 0.1]
    opt.step()
    m = 0.9 * (0.1 * np.array([0.1, -0.2])) + 0.1 * np.array([0.3, 0.1])
    v = 0.99 * (0.01 * np.array([0.01, 0.04])) + 0.01 * np.array([0.09, 0.01])
    expected2 = expected1 - 0.01 * (m / (1 - 0.81)) / (np.sqrt(v / (1 - 0.99 ** 2)) + 1e-8)
    np.testing.assert_allclose(p, expected2, rtol=TOL[np.float64])


def paper_graph(rng):
    g = Graph(inputs=["x"], outputs=["conv3"])
    kw = dict(rng=rng, dtype=np.float64)
    g.add("conv1", Conv2D(1, 2, 3, **kw), inputs=["x"])
    g.add("conv2", Conv2D(2, 2, 1, **kw), inputs=["conv1"])
    g.add("conv3", Conv2D(2, 1, 3, **kw), inputs=["conv2"])
    return g


def test_parameter_groups_paper_rates(rng):
    g = paper_graph(rng)
    opt = SGD(g, lr=1e-4, groups={"conv3.*": {"lr": 1e-5}, "conv*.b": {"lr": 0.5}})
    assert opt.lrs() == {"conv1.w": 1e-4, "conv1.b": 0.5, "conv2.w": 1e-4, "conv2.b": 0.5,
                         "conv3.w": 1e-5, "conv3.b": 1e-5}  # first matching pattern wins
    before = {n: p.copy() for n, p, _ in g.parameters()}
    for _, _, d in g.parameters():
        d[...] = 1.0
    opt.step()
    for n, p, _ in g.parameters():
        np.testing.assert_allclose(before[n] - p, opt.hyper(n)["lr"], rtol=1e-10)


@pytest.mark.parametrize("groups, match", [
    ({"conv9.*": {"lr": 1.0}}, "matches no parameter"),
    ({"conv1.*": {"rate": 1.0}}, "unknown hyperparameter"),
])
def test_bad_groups_are_rejected(groups, match, rng):
    with pytest.raises(ValueError, match=match):
        SGD(paper_graph(rng), lr=0.1, groups=groups)


@pytest.mark.parametrize("schedule, expected", [
    (ConstantLR(), [1, 1, 1, 1]),
    (StepLR(2, gamma=0.5), [1, 1, 0.5, 0.5, 0.25]),
    (CosineLR(4), [1, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2, 0, 0]),
    (CosineLR(2, min_factor=0.1), [1, 0.55, 0.1, 0.1]),
])
def test_schedules(schedule, expected):
    np.testing.assert_allclose([schedule(t) for t in range(len(expected))], expected, atol=1e-15)


def test_schedule_scales_every_group(rng):
    g = paper_graph(rng)
    opt = SGD(g, lr=1.0, groups={"conv3.*": {"lr": 0.1}}, schedule=StepLR(1, gamma=0.5))
    for t in range(3):
        assert opt.lrs()["conv1.w"] == 0.5 ** t and abs(opt.lrs()["conv3.w"] - 0.1 * 0.5 ** t) < 1e-15
        opt.step()


def test_clip_grad_norm(rng):
    grads = [np.array([3.0, 0.0]), np.array([[4.0]])]
    assert clip_grad_norm(grads, 10.0) == 5.0
    np.testing.assert_array_equal(grads[0], [3.0, 0.0])  # below the limit: untouched
    assert clip_grad_norm(grads, 1.0) == 5.0
    np.testing.assert_allclose(grads[0], [0.6, 0.0], rtol=TOL[np.float64])
    np.testing.assert_allclose(grads[1], [[0.8]], rtol=TOL[np.float64])


def test_optimizer_clip_norm_option():
    name, p, g = triple("w", [0.0, 0.0], [30.0, 40.0])
    SGD([(name, p, g)], lr=1.0, clip_norm=5.0).step()
    np.testing.assert_allclose(p, [-3.0, -4.0], rtol=TOL[np.float64])


@pytest.mark.parametrize("make", [
    lambda src: SGD(src, lr=0.1, momentum=0.9),
    lambda src: Adam(src, lr=0.01),
])
def test_state_dict_round_trip_continues_identically(make, rng):
    layer_a = Linear(3, 2, rng=1, dtype=np.float64)
    layer_b = Linear(3, 2, rng=1, dtype=np.float64)
    opt_a, opt_b = make(layer_a), make(layer_b)
    grads = [rng.standard_normal((2, 3)) for _ in range(5)]
    for t in range(5):
        for layer in (layer_a, layer_b):
            layer.grads["w"][...] = grads[t]
            layer.grads["b"][...] = grads[t][:, 0]
        opt_a.step()
        if t == 2:  # instead of its 3rd step, b takes over a's state (and parameters)
            opt_b.load_state_dict(opt_a.state_dict())
            for k in layer_b.params:
                layer_b.params[k][...] = layer_a.params[k]
        else:
            opt_b.step()
    assert opt_b.step_count == opt_a.step_count == 5
    for k in layer_a.params:
        np.testing.assert_array_equal(layer_a.params[k], layer_b.params[k])


def test_load_state_dict_errors(rng):
    layer = Linear(3, 2, dtype=np.float64)
    opt = SGD(layer, lr=0.1, momentum=0.9)
    layer.grads["w"][...] = 1.0
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match="is for 'SGD', not 'Adam'"):
        Adam(layer).load_state_dict(state)
    with pytest.raises(ValueError, match=r"buffer 'w/momentum': expected shape \(3, 2\)"):
        SGD(Linear(2, 3), lr=0.1).load_state_dict(state)
    bad = {**state, "buffers": {"zz/momentum": np.zeros(1)}}
    with pytest.raises(ValueError, match="unknown parameter 'zz'"):
        SGD(layer, lr=0.1).load_state_dict(bad)


def test_optimizer_follows_graph_after_astype(rng):
    g = paper_graph(rng)
    opt = SGD(g, lr=0.1)
    g.astype(np.float32)
    for _, _, d in g.parameters():
        d[...] = 1.0
    before = g["conv1"].params["w"].copy()
    opt.step()
    assert g["conv1"].params["w"].dtype == np.float32
    np.testing.assert_allclose(before - g["conv1"].params["w"], 0.1, rtol=TOL[np.float32])
