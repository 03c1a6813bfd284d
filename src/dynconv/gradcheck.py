r"""Finite-difference gradient checking of layers and graphs — a user-facing tool.

:func:`gradcheck` compares a layer's (or graph's) analytic backward pass with central
differences, in float64, on a deep copy (the object passed in is not modified). It checks a
vector–Jacobian product: with a random output gradient :math:`\bar y` it takes the scalar

.. math::

    f(\theta) = \sum_{\text{outputs } o} \langle \bar y_o,\, o(\theta) \rangle

whose gradient with respect to every input and parameter is exactly what ``backward(ȳ)``
returns. For each tensor :math:`X` it compares directional derivatives along directions
:math:`u_j` — every unit vector :math:`e_j` when ``X.size <= max_elements``, otherwise
``n_directions`` random unit vectors:

.. math::

    n_j = \frac{f(X + h u_j) - f(X - h u_j)}{2h}, \qquad a_j = \langle \nabla_X f, u_j \rangle,
    \qquad \text{error} = \frac{\max_j |a_j - n_j|}{\max(\max_j |a_j|, \max_j |n_j|)}

(0 when both are exactly 0, e.g. the shape-only input of ``CenterCrop``). Relative to the
largest derivative, so a gradient that is tiny in places does not cause false alarms.

:func:`run_suite` checks every layer type and small SRCNN- and DCNN-shaped graphs and prints a
table; ``dynconv gradcheck`` runs it. ReLU kinks make finite differences wrong within ``h`` of 0;
the suite's inputs keep away from them.
"""
from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass

import numpy as np

from dynconv.graph import Graph
from dynconv.layers import (Add, CenterCrop, ConcatChannels, Conv2D, DynamicConv2D, EuclideanLoss,
                            FilteredMSELoss, GlobalAvgPool2D, Linear, Log1p, MSELoss, PeriodicityPool,
                            ReLU, Reshape)

# Max relative error accepted, per dtype. Checks run in float64 only: central differences with
# h = 1e-5 have truncation error ~h² and round-off ~1e-16/h ≈ 1e-11 relative.
TOLERANCE = {np.dtype(np.float64): 1e-6}


@dataclass
class Check:
    """One checked tensor."""

    name: str       # "input 'x'" or "param 'conv1.w'"
    shape: tuple
    method: str     # "all 12 elements" or "8 random directions"
    error: float    # max relative error
    tol: float

    @property
    def passed(self):
        return bool(self.error <= self.tol)


@dataclass
class GradcheckReport:
    """All checks of one :func:`gradcheck` call; ``ok`` when every check passed."""

    checks: list

    @property
    def ok(self):
        return all(c.passed for c in self.checks)

    @property
    def max_error(self):
        return max((c.error for c in self.checks), default=0.0)

    def failures(self):
        return [c for c in self.checks if not c.passed]

    def __getitem__(self, name):
        """The check of tensor ``name`` (e.g. ``"x"``, ``"0"`` or ``"conv1.w"``)."""
        for c in self.checks:
            if c.name.split(" ", 1)[1].strip("'") == name:
                return c
        raise KeyError(name)

    def __str__(self):
        return format_table([("", c) for c in self.checks])


def format_table(rows):
    """Text table of ``(case, Check)`` rows."""
    head = ("case", "tensor", "shape", "method", "max rel err", "tol", "")
    body = [(case, c.name, str(c.shape), c.method, f"{c.error:.2e}", f"{c.tol:.0e}",
             "ok" if c.passed else "FAIL") for case, c in rows]
    widths = [max(len(r[i]) for r in body + [head]) for i in range(len(head))]
    fmt = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), "-" * len(fmt(head)), *map(fmt, body)]) + "\n"


def _adapter(target, inputs):
    """(names, values, forward(values) -> outputs, backward(dys) -> input grads) of a float64 copy."""
    target = copy.deepcopy(target).astype(np.float64)
    if isinstance(target, Graph):
        names = list(target.inputs)
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ValueError(f"gradcheck: missing input {missing[0]!r} of the graph")
        values = [np.array(inputs[n], dtype=np.float64) for n in names]
        target.requires_grad = names

        def forward(vals):
            out = target.forward(dict(zip(names, vals)))
            return [out[o] for o in target.outputs]

        def backward(dys):
            g = target.backward(dict(zip(target.outputs, dys)))
            return [g[n] for n in names]
    else:
        names = [str(i) for i in range(len(inputs))]
        values = [np.array(a, dtype=np.float64) for a in inputs]
        target.need_input_grad = True

        def forward(vals):
            return [target.forward(*vals)]

        def backward(dys):
            return list(target.backward(dys[0]))
    return target, names, values, forward, backward


def gradcheck(target, inputs, *, dy=None, h=1e-5, rng=None, max_elements=32, n_directions=8,
              tol=None):
    """Compare analytic and finite-difference gradients of a layer or a graph.

    Parameters
    ----------
    target : Layer or Graph
        Checked on a float64 deep copy.
    inputs : sequence of ndarray (layer) or dict name -> ndarray (graph)
        Every input is checked (a graph's inputs are all made ``requires_grad``).
    dy : list of ndarray, optional
        Output gradients, one per output; default random normal.
    h : float
        Central-difference step.
    rng : numpy.random.Generator or int, optional
        For ``dy`` and the random directions.
    max_elements : int
        Tensors up to this size are checked element by element, larger ones along
        ``n_directions`` random unit directions.
    tol : float, optional
        Max relative error; default ``TOLERANCE[float64]``.

    Returns
    -------
    GradcheckReport
    """
    rng = np.random.default_rng(rng)
    tol = TOLERANCE[np.dtype(np.float64)] if tol is None else tol
    target, names, values, forward, backward = _adapter(target, inputs)

    outs = forward(values)
    dys = [rng.standard_normal(np.shape(o)) for o in outs] if dy is None else \
        [np.asarray(d, dtype=np.float64) for d in dy]
    grads_in = backward(dys)
    tensors = [(f"input '{n}'", v, np.zeros_like(v) if g is None else np.array(g, np.float64))
               for n, v, g in zip(names, values, grads_in)]
    tensors += [(f"param '{n}'", p, g.copy()) for n, p, g in target.parameters()]

    def f():
        return sum(float(np.vdot(d, o)) for d, o in zip(dys, forward(values)))

    checks = []
    for label, x, grad in tensors:  # x is perturbed in place: the very array forward reads
        if x.size <= max_elements:
            dirs = (np.eye(x.size)[j].reshape(x.shape) for j in range(x.size))
            method = f"all {x.size} elements"
        else:
            raw = rng.standard_normal((n_directions, *x.shape))
            dirs = (u / np.linalg.norm(u) for u in raw)
            method = f"{n_directions} random directions"
        x0, num, ana = x.copy(), [], []
        for u in dirs:
            x[...] = x0 + h * u
            fp = f()
            x[...] = x0 - h * u
            fm = f()
            x[...] = x0
            num.append((fp - fm) / (2 * h))
            ana.append(float(np.vdot(grad, u)))
        num, ana = np.array(num), np.array(ana)
        scale = max(np.abs(num).max(), np.abs(ana).max())
        err = 0.0 if scale == 0 else float(np.abs(num - ana).max() / scale)
        checks.append(Check(label, tuple(x.shape), method, err, tol))
    return GradcheckReport(checks)


# --------------------------------------------------------------------------- the suite
def _away_from_zero(rng, shape):
    """Normal-ish values with |x| >= 0.1: no ReLU kink within a finite-difference step."""
    return np.sign(rng.standard_normal(shape)) * (0.1 + np.abs(rng.standard_normal(shape)))


def _random_biases(g, rng):
    """Non-zero biases: with zero bias, a pixel whose ReLU inputs are all negative makes the next
    layer's pre-activation exactly 0 — a ReLU kink that finite differences straddle."""
    for name, p, _ in g.parameters():
        if name.endswith(".b"):
            p[...] = 0.1 * rng.standard_normal(p.shape)
    return g


def srcnn_graph(rng, f1=4, f2=3, dtype=np.float64):
    """SRCNN shape: conv9x9 → ReLU → conv1x1 → ReLU → conv5x5, Euclidean loss on the cropped target.

    Inputs ``x`` (N, 1, H, W) and ``target`` (N, 1, H, W); output ``loss``. He init, random
    non-zero biases.
    """
    g = Graph(inputs=["x", "target"], outputs=["loss"])
    kw = dict(init="he", rng=rng, dtype=dtype)
    g.add("conv1", Conv2D(1, f1, 9, **kw), inputs=["x"])
    g.add("relu1", ReLU(), inputs=["conv1"])
    g.add("conv2", Conv2D(f1, f2, 1, **kw), inputs=["relu1"])
    g.add("relu2", ReLU(), inputs=["conv2"])
    g.add("conv3", Conv2D(f2, 1, 5, **kw), inputs=["relu2"])
    g.add("crop", CenterCrop(), inputs=["target", "conv3"])
    g.add("loss", EuclideanLoss(), inputs=["conv3", "crop"])
    return _random_biases(g, rng)


def dcnn_graph(rng, features=3, k=3, dtype=np.float64):
    """DCNN shape: network A (feature maps) and network B (per-sample kernels) into DynamicConv2D.

    A: conv3x3 → ReLU → conv3x3 → ReLU, 'same' padding, ``features`` maps. B: conv3x3 → ReLU →
    global average pool → Linear emitting a flat kernel and bias for a ``k``×``k`` dynamic layer
    with one output map. The image ``x`` fans out to both networks. MSE loss against ``target``.
    He init, random non-zero biases.
    """
    g = Graph(inputs=["x", "target"], outputs=["loss"])
    kw = dict(init="he", rng=rng, dtype=dtype)
    g.add("a1", Conv2D(1, 4, 3, pad="same", **kw), inputs=["x"])
    g.add("a1_relu", ReLU(), inputs=["a1"])
    g.add("a2", Conv2D(4, features, 3, pad="same", **kw), inputs=["a1_relu"])
    g.add("a2_relu", ReLU(), inputs=["a2"])
    g.add("b1", Conv2D(1, 4, 3, **kw), inputs=["x"])
    g.add("b1_relu", ReLU(), inputs=["b1"])
    g.add("b_pool", GlobalAvgPool2D(), inputs=["b1_relu"])
    dyn = DynamicConv2D(features, 1, k, pad="same", bias=True)
    g.add("b_fc", Linear(4, dyn.flat_size, **kw), inputs=["b_pool"])
    g.add("dyn", dyn, inputs=["a2_relu", "b_fc"])
    g.add("loss", MSELoss(), inputs=["dyn", "target"])
    return _random_biases(g, rng)


def clear_of_kinks(draw, margin=1e-3, tries=50):
    """A ``(graph, feeds)`` from ``draw()`` whose every ReLU input keeps ``margin`` away from 0.

    A finite-difference step that moves a ReLU input across 0 measures the kink, not the
    gradient (a step moves pre-activations by about h·‖patch‖ ≈ 1e-4). Both the graph and the
    feeds are redrawn: a pixel whose ReLU inputs are all negative makes the next pre-activation
    equal to a bias. Deterministic given ``draw``.
    """
    for _ in range(tries):
        graph, feeds = draw()
        relu_inputs = [n.inputs[0] for n in graph.nodes.values() if isinstance(n.layer, ReLU)]
        values = graph.forward(feeds, keep_cache=False, outputs=relu_inputs)
        if all(np.abs(v).min() >= margin for v in values.values()):
            return graph, feeds
    raise RuntimeError(f"no graph and feeds clear of ReLU kinks by {margin} in {tries} draws")


def suite_cases(seed=0):
    """``{case name: (layer or graph, inputs)}``: every layer type and the two small networks."""
    rng = np.random.default_rng(seed)
    n = lambda *s: rng.standard_normal(s)  # noqa: E731
    kw = dict(init="he", rng=rng, dtype=np.float64)
    d5 = DynamicConv2D(2, 3, 3, pad=1, bias=True)
    df = DynamicConv2D(2, 3, (3, 2), bias=True)
    return {
        "Conv2D 3x3 bias": (Conv2D(2, 3, 3, **kw), [n(2, 2, 5, 6)]),
        "Conv2D 3x2 pad1 nobias": (Conv2D(2, 3, (3, 2), pad=1, bias=False, **kw), [n(2, 2, 4, 5)]),
        "DynamicConv2D 5-D": (DynamicConv2D(2, 3, 3), [n(2, 2, 5, 5), n(2, 3, 2, 3, 3)]),
        "DynamicConv2D 5-D + b": (d5, [n(2, 2, 4, 4), n(2, 3, 2, 3, 3), n(2, 3)]),
        "DynamicConv2D flat + b": (df, [n(2, 2, 5, 4), n(2, df.flat_size)]),
        "ReLU": (ReLU(), [_away_from_zero(rng, (2, 3, 4, 4))]),
        "Log1p": (Log1p(eps=0.5), [np.abs(n(2, 3)) + 0.1]),
        "Linear": (Linear(5, 4, **kw), [n(3, 5)]),
        "GlobalAvgPool2D": (GlobalAvgPool2D(), [n(2, 3, 4, 5)]),
        "PeriodicityPool": (PeriodicityPool((2, 3), eps=0.1), [n(2, 2, 9, 10)]),
        "PeriodicityPool real periods, both energies, axes mean": (
            PeriodicityPool((2, 2.5, 3.7), eps=0.1, energies=("laplacian", "gradient"), axes="mean"),
            [n(2, 2, 9, 10)]),
        "Reshape": (Reshape((3, -1)), [n(2, 2, 3, 3)]),
        "Add": (Add(), [n(2, 3, 4), n(2, 3, 4), n(2, 3, 4)]),
        "ConcatChannels": (ConcatChannels(), [n(2, 2, 3, 3), n(2, 1, 3, 3)]),
        "CenterCrop border": (CenterCrop(1), [n(2, 2, 5, 6)]),
        "CenterCrop like": (CenterCrop(), [n(2, 2, 7, 6), n(2, 1, 4, 3)]),
        "MSELoss": (MSELoss(), [n(2, 1, 4, 4), n(2, 1, 4, 4)]),
        "EuclideanLoss": (EuclideanLoss(), [n(3, 1, 4, 4), n(3, 1, 4, 4)]),
        "FilteredMSELoss 5x3": (FilteredMSELoss(n(5, 3)), [n(2, 1, 6, 5), n(2, 1, 6, 5)]),
        "SRCNN graph": clear_of_kinks(lambda: (srcnn_graph(rng), {"x": n(2, 1, 14, 14),
                                                                  "target": n(2, 1, 14, 14)})),
        "DCNN graph": clear_of_kinks(lambda: (dcnn_graph(rng), {"x": n(2, 1, 7, 7),
                                                                "target": n(2, 1, 7, 7)})),
    }


def run_suite(seed=0, out=sys.stdout):
    """Gradient-check every layer type and the small SRCNN and DCNN graphs; print a table.

    Returns
    -------
    bool
        True when every check passed (``dynconv gradcheck`` exits 1 otherwise).
    """
    t0 = time.perf_counter()
    rows = []
    for i, (case, (target, inputs)) in enumerate(suite_cases(seed).items()):
        report = gradcheck(target, inputs, rng=seed * 1000 + i)
        rows += [(case, c) for c in report.checks]
    out.write(format_table(rows))
    failed = [r for r in rows if not r[1].passed]
    out.write(f"\n{len(rows)} tensors checked in {time.perf_counter() - t0:.1f} s (seed {seed}): "
              f"{'all passed' if not failed else f'{len(failed)} FAILED'}; worst relative error "
              f"{max(c.error for _, c in rows):.2e}\n")
    return not failed
