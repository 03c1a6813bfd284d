r"""The paper's networks: SRCNN (eqs 8–10) and DCNN (network A + B + dynamic layer).

A :class:`Model` is a :class:`~dynconv.graph.Graph` from ``"x"`` (N, 1, H, W), the
bicubic-upsampled Y channel scaled to [0, 1], to its output node :attr:`Model.output`
(``"conv3"`` for SRCNN, ``"dyn"`` for DCNN, ``"y"`` for residual networks, where ``y`` adds the
input back), plus the JSON configuration that rebuilds it. Convolutions are *valid* (no
padding) in training, exactly as in SRCNN: a 33×33 sub-image gives a 21×21 output for 9-1-5.
Whole images go through :mod:`dynconv.sr.inference` (:meth:`Model.predict`).

A model's options are a config object of :mod:`dynconv.sr.model_config` (:class:`SrcnnConfig`,
:class:`DcnnConfig`: defaults, checks, the dict a checkpoint stores); the builders here only turn
one into a graph. ``srcnn(**options)`` is ``build_srcnn(SrcnnConfig(**options))``, ``dcnn``
likewise, and :func:`build` takes a config object or a stored dict.

The dynamic network (DCNN)
--------------------------
* **Network A** is SRCNN's patch extraction and non-linear mapping (eqs 8–9): feature maps x^t.
* **Network B**, fed the same input window, generates the reconstruction kernels (eq 10 made
  per sample): conv ``b_kernel``×``b_kernel`` (1→``b_channels``), ReLU, conv 1×1, ReLU,
  global average pooling, ``Linear`` → ReLU → ``Linear`` to F·C·f3·f3 + F numbers, read by
  :class:`~dynconv.layers.DynamicConv2D` as the per-sample kernel k^t and bias.
* **The dynamic layer** applies eq 5; eq 7's per-sample gradient trains B end to end.

Design choices:

(i)  B is an ordinary differentiable graph ending in a ``Linear`` whose output *is* the flat
     kernel, so eq 7's ``dk`` flows straight into B's parameters.
(ii) The last ``Linear`` of B starts with **zero weights** and its **bias set to a static
     reconstruction kernel** (the same initialisation SRCNN's conv3 gets):
     :math:`k^t = W_3 + \Delta W(x^t)` with :math:`\Delta W = 0` at step 0, so a fresh DCNN
     *is* a static SRCNN and training can only add what the dynamic part buys.
(iii) B pools over a fixed window: the ``window``×``window`` training sub-image (33×33). At
     inference (:mod:`dynconv.sr.inference`) B sees the same windows, never a whole image, and
     their outputs are blended; the builder exports the nodes inference feeds per window as
     :attr:`Model.parts` (:class:`DynamicParts`).

``variant="scale"`` (an ablation) also gives B's first ``Linear`` a one-hot of the factor.

What the shipped ``dcnn-x234`` adds (each measured in ``docs/discussion.md``)
-----------------------------------------------------------------------------
One network serves x2, x3 and x4, so B must tell the factor from the image. Two statistics
make that possible, and one option gives B's answer more reach:

* ``b_log=True``: B's pooled features pass through :class:`~dynconv.layers.Log1p`, so the
  ``Linear`` after them compares *ratios* of band energies (differences of logs), independent
  of the window's contrast; B's first filters start zero-mean so they measure texture, not
  brightness.
* ``b_periods=(2, 3, 4)``: :class:`~dynconv.layers.PeriodicityPool` statistics of the input
  window — how strongly the local sharpness repeats every p pixels. Upsampling by an integer
  factor s interpolates a period-s grid and leaves exactly that fingerprint; blur alone does
  not separate x3 from x4, the period does.
* ``dynamic_layers=("conv2", "conv3")``: B generates the kernels of A's mapping layer as well
  as the reconstruction layer's, each ``W + ΔW(h)`` with ΔW = 0 at step 0, so property (ii)
  still holds. The 1×1 dynamic layer runs as one batched BLAS product.

The any-factor ``dcnn`` adds ``b_spectrum``: periodicity at real periods in [2, 6] (every
factor in [1.2, 4], directly or by aliasing), of both the Laplacian and the gradient energy,
rows and columns averaged; its rows of B's first ``Linear`` are appended last.

All keep the paper's structure (A, a B that sees only the input, eq 5) and (iii): B's
periodicity statistics, like its pooled features, are computed per window.
"""
from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np

from dynconv import graph_report
from dynconv.graph import Graph
from dynconv.layers import Conv2D, DynamicConv2D, Linear, ReLU
from dynconv.sr import inference
from dynconv.sr.model_config import DcnnConfig, SrcnnConfig, from_dict
from dynconv.sr.network_a import A_RELU1, A_RELU2, add_skip, init3, mapping_layers, network_a
from dynconv.sr.network_b import B_FEATURES, B_POOL, SCALES_ONE_HOT, network_b

__all__ = ["Model", "DynamicParts", "srcnn", "dcnn", "build", "build_srcnn", "build_dcnn", "SrcnnConfig", "DcnnConfig",
           "ARCHITECTURES", "SCALES_ONE_HOT"]


# Node names of the DCNN that code outside the builders addresses; the builders use them too
# (A_RELU1, A_RELU2: A's feature maps after layer 1 and layer 2).
B_KERNELS = "b_fc2"  # the flat kernel and bias of the reconstruction layer, one row per sample


class DynamicParts(NamedTuple):
    """The nodes of a dynamic model that windowed inference feeds and reads (set by :func:`dcnn`)."""

    shared: str  # A's feature map feeding the first dynamic layer (computed once per region)
    shared_margin: int  # its crop for one window is window - 2 radius + shared_margin wide
    b_features: str  # B's feature maps before global pooling
    b_pool: str  # B's pooled features (fed per window: a box mean of b_features)
    b_pool_size: int  # the side of b_features over one window (the box the pooling averages)
    b_kernels: str  # the reconstruction layer's flat kernels and bias, one row per window


class Model:
    """A super-resolution network: a graph ``x → y`` plus the config that rebuilds it.

    Attributes
    ----------
    graph : Graph
        Inputs ``"x"`` (N, 1, H, W) (and ``"scale"`` (N, 3) for ``variant="scale"``), one
        output, the estimate.
    config : dict
        JSON-serialisable; ``build(config)`` rebuilds the same architecture.
    radius : int
        Receptive-field radius: a valid network's output is the input cropped by ``radius``.
    window : int or None
        For dynamic networks, the input window network B pools over (the training sub-image
        size); None for static networks.
    parts : DynamicParts or None
        For dynamic networks, the nodes windowed inference addresses.
    meta : dict
        What a checkpoint recorded beside the weights (scores, training run); ``{}`` when built.
    step : int
        The training step the weights are from (0 when built).
    """

    def __init__(self, graph, config, radius, window=None, parts=None):
        self.graph, self.config, self.radius, self.window, self.parts = graph, config, int(radius), window, parts
        self.meta: dict = {}
        self.step: int = 0
        (self.output,) = graph.outputs

    @property
    def name(self):
        return self.config.get("name", self.config["arch"])

    @property
    def dynamic(self):
        return self.window is not None

    @property
    def valid(self):
        return self.config.get("padding", "valid") == "valid"

    def num_params(self):
        return self.graph.num_params()

    def macs_per_pixel(self, size=33):
        """Multiply–accumulates per output pixel for a ``size``×``size`` input window."""
        shapes = self.feed_shapes(1, size)
        out = graph_report.output_shapes(self.graph, shapes)[self.output]
        return graph_report.macs(self.graph, shapes) / (out[2] * out[3])

    def feed_shapes(self, n, size):
        shapes = {"x": (n, 1, size, size)}
        if self.config.get("variant") == "scale":
            shapes["scale"] = (n, len(SCALES_ONE_HOT))
        return shapes

    def feeds(self, x, scale=None):
        """The graph feeds for a batch ``x`` (N, 1, H, W) at upscaling factor ``scale``."""
        feeds = {"x": x}
        if self.config.get("variant") == "scale":
            feeds["scale"] = scale_one_hot(scale, x.shape[0], x.dtype)
        return feeds

    def astype(self, dtype):
        self.graph.astype(dtype)
        return self

    # ------------------------------------------------------------------ inference
    def predict(self, image, scale=None, *, tile=None, batch=64):
        """:func:`dynconv.sr.inference.predict`: ``image`` (H, W) in [0, 1] → float64 estimate (H, W)."""
        return inference.predict(self, image, scale, tile=tile, batch=batch)

    # ------------------------------------------------------------------ persistence
    def save(self, path, *, step=0, optimizer=None, meta=None):
        """Checkpoint (atomic ``.npz`` + JSON header); ``meta`` is stored in the config."""
        from dynconv import checkpoint

        config = dict(self.config)
        if meta:
            config["meta"] = meta
        checkpoint.save(path, self.graph, config=config, step=step, optimizer=optimizer)

    @classmethod
    def load(cls, path, optimizer=None):
        """Rebuild the architecture from a checkpoint's config and load its parameters."""
        from dynconv import bounded, checkpoint

        ckpt = checkpoint.load(path)
        try:  # before building: a header must not make us allocate the model it describes
            bounded.check_architecture(path, ckpt.config, sum(int(p.size) for p in ckpt.params.values()))
        except bounded.BoundError as exc:
            raise checkpoint.CheckpointError(f"corrupt checkpoint: {exc}") from None
        try:  # fails for a checkpoint without a model config ('arch') or with a wrong one
            model = build({k: v for k, v in ckpt.config.items() if k != "meta"})
        except (TypeError, KeyError, ValueError) as exc:
            raise checkpoint.CheckpointError(f"{path}: its model config cannot be built: {exc}") from None
        checkpoint.load(path, into=model.graph, optimizer=optimizer)
        model.meta = dict(ckpt.config.get("meta") or {})
        model.step = int(ckpt.step)
        return model


def scale_one_hot(scale, n, dtype):
    if scale is None:
        raise ValueError("this model (variant='scale') needs the upscaling factor")
    scales = np.broadcast_to(np.asarray(scale, dtype=np.float64), (n,))
    out = np.zeros((n, len(SCALES_ONE_HOT)), dtype)
    for i, s in enumerate(scales):
        # Scales between the trained ones interpolate linearly between their one-hots.
        s = float(np.clip(s, SCALES_ONE_HOT[0], SCALES_ONE_HOT[-1]))
        lo = max(k for k, v in enumerate(SCALES_ONE_HOT) if v <= s)
        hi = min(lo + 1, len(SCALES_ONE_HOT) - 1)
        t = 0.0 if hi == lo else (s - SCALES_ONE_HOT[lo]) / (SCALES_ONE_HOT[hi] - SCALES_ONE_HOT[lo])
        out[i, lo] += 1 - t
        out[i, hi] += t
    return out


# ---------------------------------------------------------------------- builders
def srcnn(*args, **options) -> Model:
    """SRCNN, eqs 8–10: :func:`build_srcnn` of ``SrcnnConfig(*args, **options)``.

    The options, their defaults and their checks are :class:`~dynconv.sr.model_config.SrcnnConfig`'s:
    ``f1=9, f2=1, f3=5, n1=64, n2=32, *, padding="valid", residual=False, init="he", std=1e-3,
    seed=0, dtype=np.float32, name=None``.
    """
    return build_srcnn(SrcnnConfig(*args, **options))


def build_srcnn(cfg: SrcnnConfig) -> Model:
    """The graph of ``cfg``: conv1 · relu1 · conv2 · relu2 · conv3, and with ``residual`` + x."""
    config, rng = cfg.to_dict(), np.random.default_rng(cfg.seed)
    g = Graph(inputs={"x": (None, 1, None, None)}, outputs=["y" if cfg.residual else "conv3"])
    feat, _ = network_a(g, cfg, rng)
    pad3 = (cfg.f3 - 1) // 2 if cfg.padding == "same" else 0
    conv3 = Conv2D(cfg.n2, 1, cfg.f3, pad=pad3, **init3(cfg.init, cfg.std, cfg.residual), rng=rng, dtype=cfg.dtype)
    g.add("conv3", conv3, [feat])
    if cfg.residual:
        add_skip(g, "conv3", cfg.radius, cfg.padding)
    return Model(g, config, cfg.radius)


def dcnn(*args, **options) -> Model:
    """The dynamic network, A (SRCNN layers 1–2) + B (kernel generator) + eq 5:
    :func:`build_dcnn` of ``DcnnConfig(*args, **options)``.

    The options (B's size, ``b_log``, ``b_periods``, ``b_spectrum``, ``dynamic_layers``,
    ``mapping``, ``window``, ``variant``, ...), their defaults and their checks are
    :class:`~dynconv.sr.model_config.DcnnConfig`'s; the module docstring explains B's design.
    """
    return build_dcnn(DcnnConfig(*args, **options))


def build_dcnn(cfg: DcnnConfig) -> Model:
    """The graph of ``cfg``: network A, network B, the dynamic layers fed by B's heads, and the
    nodes windowed inference addresses (:class:`DynamicParts`)."""
    config, rng = cfg.to_dict(), np.random.default_rng(cfg.seed)
    # Training feeds window×window crops; predict() runs the convolutions on whole images.
    inputs = {"x": (None, 1, None, None)}
    if cfg.variant == "scale":
        inputs["scale"] = (None, len(SCALES_ONE_HOT))
    g = Graph(inputs=inputs, outputs=["y" if cfg.residual else "dyn"])
    # With a dynamic conv2, A stops at relu1 and conv2's kernel comes from B (wired below).
    feat, w2 = network_a(g, cfg, rng, dynamic_conv2="conv2" in cfg.dynamic_layers)
    # Network B: the same input window → per-sample kernels and biases.
    hidden = network_b(g, cfg, rng)
    if w2 is not None:
        dyn2 = DynamicConv2D(cfg.n1, cfg.n2, cfg.f2, bias=True)
        _kernel_head(g, "b_fc2_conv2", dyn2, hidden, lambda: w2, cfg, rng)
        g.add("conv2", dyn2, [feat, "b_fc2_conv2"])
        g.add(A_RELU2, ReLU(), ["conv2"])
        feat = A_RELU2
    feat = mapping_layers(g, feat, cfg.mapping, cfg.n2, cfg.padding, cfg.dtype)
    dyn = DynamicConv2D(cfg.n2, 1, cfg.f3, bias=True)

    def w3():  # the static reconstruction kernel W3, drawn after its head's Linear
        return Conv2D(cfg.n2, 1, cfg.f3, **init3(cfg.init, cfg.std, cfg.residual), rng=rng, dtype=cfg.dtype).params["w"]

    _kernel_head(g, B_KERNELS, dyn, hidden, w3, cfg, rng)
    g.add("dyn", dyn, [feat, B_KERNELS])
    if cfg.residual:
        add_skip(g, "dyn", cfg.radius, cfg.padding)
    # What windowed inference feeds per window: A's features from the first dynamic layer's input
    # (cropped with the margin of the dynamic layers' kernels) and B's pooled features.
    if w2 is not None:
        shared, margin = A_RELU1, cfg.f2 - 1 + sum(f - 1 for f in cfg.mapping) + cfg.f3 - 1
    else:
        shared, margin = feat, cfg.f3 - 1
    parts = DynamicParts(shared=shared, shared_margin=margin, b_features=B_FEATURES, b_pool=B_POOL,
                         b_pool_size=cfg.window - cfg.b_kernel + 1, b_kernels=B_KERNELS)
    return Model(g, config, cfg.radius, window=cfg.window, parts=parts)


def _kernel_head(g, node, layer, hidden, make_w, cfg, rng):
    """B's head for dynamic ``layer``: a Linear from B's hidden layer to its flat kernel and bias.

    Property (ii): ΔW = 0 at step 0 (zero weights) and the bias holds a static kernel W (and
    bias 0). ``make_w`` draws W only after the Linear has drawn its weights: the order of the
    seeded draws is part of every model's initial state.
    """
    fc = Linear(cfg.b_hidden, layer.flat_size, init="he", rng=rng, dtype=cfg.dtype)
    w = make_w()
    fc.params["w"][...] = 0
    fc.params["b"][...] = np.concatenate([w.reshape(-1), np.zeros(layer.out_channels, cfg.dtype)])
    g.add(node, fc, [hidden])


ARCHITECTURES = {"srcnn": srcnn, "dcnn": dcnn}
_BUILDERS = {SrcnnConfig: build_srcnn, DcnnConfig: build_dcnn}


def build(config) -> Model:
    """Build a model from its config: a config object, or the dict a checkpoint stores.

    Raises
    ------
    ValueError
        For an unknown architecture, an unknown option, or a value a layer refuses (quoting the
        config); an invalid value is the config's own ``ValueError``.
    """
    if isinstance(config, tuple(_BUILDERS)):
        return _BUILDERS[type(config)](config)
    cfg = from_dict(config)
    try:
        return _BUILDERS[type(cfg)](cfg)
    except TypeError as exc:  # a value of the wrong type that only a layer checks (e.g. n1="64")
        options = {k: v for k, v in dict(config).items() if k not in ("arch", "meta")}
        raise ValueError(f"bad {cfg.ARCH} config {json.dumps(options)}: {exc}") from None
