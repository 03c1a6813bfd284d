r"""The paper's networks — SRCNN (eqs 8–10) and DCNN (network A + B + dynamic layer) — and the
one inference path every command uses.

A :class:`Model` is a :class:`~dynconv.graph.Graph` from ``"x"`` (N, 1, H, W), the
bicubic-upsampled Y channel scaled to [0, 1], to its output node :attr:`Model.output`
(``"conv3"`` for SRCNN, ``"dyn"`` for DCNN, ``"y"`` for residual networks, where ``y`` adds the
input back), plus the JSON configuration that rebuilds it. Convolutions are *valid* (no padding) in training, exactly as in SRCNN: a 33×33
sub-image gives a 21×21 output for 9-1-5. At inference :meth:`Model.predict` pads the image
symmetrically by the receptive-field radius instead of zero-padding every layer, so border
pixels see image-like context rather than zeros; with ``padding="same"`` the layers pad with
zeros, as the paper does at test time.

The dynamic network (DCNN)
--------------------------
* **Network A** is SRCNN's patch extraction and non-linear mapping (eqs 8–9): feature maps x^t.
* **Network B**, fed the same input window, generates the reconstruction kernels (eq 10 made
  per sample): conv ``b_kernel``×``b_kernel`` (1→``b_channels``), ReLU, conv 1×1, ReLU,
  global average pooling, ``Linear`` → ReLU → ``Linear`` to F·C·f3·f3 + F numbers, read by
  :class:`~dynconv.layers.DynamicConv2D` as the per-sample kernel k^t and bias.
* **The dynamic layer** applies eq 5; eq 7's per-sample gradient trains B end to end.

Design choices the issue asks to document:

(i)  B is an ordinary differentiable graph ending in a ``Linear`` whose output *is* the flat
     kernel, so eq 7's ``dk`` flows straight into B's parameters.
(ii) The last ``Linear`` of B starts with **zero weights** and its **bias set to a static
     reconstruction kernel** (the same initialisation SRCNN's conv3 gets):
     :math:`k^t = W_3 + \Delta W(x^t)` with :math:`\Delta W = 0` at step 0, so a fresh DCNN
     *is* a static SRCNN and training can only add what the dynamic part buys.
(iii) B pools over a fixed window: the ``window``×``window`` training sub-image (33×33). At
     inference :meth:`Model.predict` never shows B a whole image: it cuts the image into the
     same 33×33 windows (stride ``window_stride``), so B's pooled statistics have the
     distribution they had in training, and blends the overlapping outputs with a
     triangular weight. Because eq 5 is linear in k, blending outputs equals applying, at
     each pixel, the blend of the neighbouring windows' kernels: the reconstruction kernel
     varies smoothly across the image instead of jumping at tile borders.

``variant="scale"`` (an ablation, not the paper's) also gives B's first ``Linear`` a one-hot
of the upscaling factor.

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

All three keep the paper's structure — A, a B that sees only the input, eq 5 — and (iii)
holds: B's periodicity statistics, like its pooled features, are computed per training-size
window at inference.
"""
from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path

import numpy as np

from dynconv.graph import Graph
from dynconv.layers import (
    Add,
    CenterCrop,
    ConcatChannels,
    Conv2D,
    DynamicConv2D,
    GlobalAvgPool2D,
    Linear,
    Log1p,
    PeriodicityPool,
    Reshape,
    ReLU,
)

__all__ = ["Model", "srcnn", "dcnn", "build", "ARCHITECTURES", "SCALES_ONE_HOT", "PRETRAINED",
           "pretrained", "sr_method"]

#: The scales a ``variant="scale"`` DCNN knows, in one-hot order.
SCALES_ONE_HOT = (2, 3, 4)


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
    """

    def __init__(self, graph, config, radius, window=None):
        self.graph, self.config, self.radius, self.window = graph, config, int(radius), window
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
        out = self.graph.output_shapes(shapes)[self.output]
        return self.graph.macs(shapes) / (out[2] * out[3])

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
        """Super-resolve one bicubic-upsampled channel.

        Parameters
        ----------
        image : ndarray (H, W)
            The bicubic-upsampled channel in [0, 1] (float).
        scale : float, optional
            The upscaling factor (needed only by ``variant="scale"`` models).
        tile : int, optional
            Output tile size: memory stays bounded for any image size, and tiled and untiled
            results agree to rounding. Static models run untiled when None; dynamic models
            always use tiles (512 when None) of their training windows (see the module
            docstring).
        batch : int
            Windows per forward pass for tiled inference.

        Returns
        -------
        ndarray (H, W), float64 — the network's estimate (not clipped).
        """
        image = np.asarray(image, dtype=np.float64)
        if image.ndim != 2 or min(image.shape) < 1:
            raise ValueError(f"image must be a non-empty 2-D array (H, W), got shape {image.shape}")
        dtype = self.graph.dtype
        if not self.valid:
            return self._run(image[None, None].astype(dtype), scale)[0, 0].astype(np.float64)
        r = self.radius
        if self.dynamic:
            return self._predict_windows(image, scale, batch, tile or 512)
        if tile is None:
            padded = np.pad(image, r, mode="symmetric")
            return self._run(padded[None, None].astype(dtype), scale)[0, 0].astype(np.float64)
        return self._predict_tiles(image, scale, int(tile), batch)

    def as_method(self, name=None, *, tile=256):
        """``(name, f(up, scale) -> sr)``: :meth:`predict` on the 0–255 scale, the form
        :func:`dynconv.metrics.evaluate` and :func:`dynconv.metrics.upscale` take."""

        def run(up, scale):
            return self.predict(np.asarray(up, dtype=np.float64) / 255.0, scale, tile=tile) * 255.0

        return (name or self.name), run

    def _run(self, x, scale):
        return self.graph.evaluate(self.feeds(x, scale), [self.output])[self.output]

    def _predict_tiles(self, image, scale, tile, batch):
        """Static model: non-overlapping output tiles, each computed from its padded context."""
        if tile < 1:
            raise ValueError(f"tile must be a positive int, got {tile}")
        H, W = image.shape
        r = self.radius
        padded = _pad_to(image, r, -(-H // tile) * tile, -(-W // tile) * tile)
        out = np.zeros((H, W))
        starts = [(i, j) for i in range(0, H, tile) for j in range(0, W, tile)]
        for b0 in range(0, len(starts), batch):
            group = starts[b0:b0 + batch]
            x = np.stack([padded[i:i + tile + 2 * r, j:j + tile + 2 * r] for i, j in group])
            y = self._run(x[:, None].astype(self.graph.dtype), scale)
            for (i, j), yt in zip(group, y[:, 0]):
                h, w = min(tile, H - i), min(tile, W - j)
                out[i:i + h, j:j + w] = yt[:h, :w]
        return out

    def window_grid(self, image):
        """The windows a dynamic model's :meth:`predict` uses on ``image`` (H, W).

        Returns ``(padded, rows, cols)``: the image padded symmetrically by the receptive-field
        radius (and up to one window's output size), and the top-left corners of the
        ``window``×``window`` crops in it — every ``window_stride`` pixels, the last flush
        with the border. Crop ``(i, j)`` produces output pixels ``[i, i + L) × [j, j + L)``
        with ``L = window - 2 radius``.
        """
        if not self.dynamic:
            raise ValueError(f"{self.name} is a static model: it has no windows")
        H, W = image.shape
        L = self.window - 2 * self.radius
        stride = int(self.config.get("window_stride") or max(1, L // 2))

        def starts(n):
            s = list(range(0, n - L + 1, stride))
            return s if s[-1] == n - L else s + [n - L]

        return _pad_to(image, self.radius, L, L), starts(max(H, L)), starts(max(W, L))

    def _predict_windows(self, image, scale, batch, tile):
        """Dynamic model: B's kernels per training-size window, outputs blended across windows.

        Exactly what the network computes on each ``window``×``window`` crop — the crops B saw
        in training — without recomputing the convolutions for every overlapping crop: A's
        and B's convolutions are translation-invariant, so they run once per region; B's
        global pooling over a crop is a box mean of its feature maps (an integral image); only
        the fully-connected part of B and the dynamic layer run per window. The window grid is
        global, and the image is processed in ``tile``×``tile`` output regions, each computing
        every window that touches it: memory stays bounded and the result does not depend on
        the tile size.
        """
        H, W = image.shape
        L = self.window - 2 * self.radius  # a window's output size
        padded, rows, cols = self.window_grid(image)
        Hc, Wc = max(H, L), max(W, L)
        out = np.empty((Hc, Wc))
        tile = max(int(tile), L)
        for y0 in range(0, Hc, tile):
            for x0 in range(0, Wc, tile):
                y1, x1 = min(Hc, y0 + tile), min(Wc, x0 + tile)
                si = [i for i in rows if y0 - L < i < y1]
                sj = [j for j in cols if x0 - L < j < x1]
                acc, norm = self._window_region(padded, si, sj, scale, batch)
                out[y0:y1, x0:x1] = (acc / norm)[y0 - si[0]:y1 - si[0], x0 - sj[0]:x1 - sj[0]]
        return out[:H, :W]

    def _window_region(self, padded, si, sj, scale, batch):
        """Blended outputs of the windows at rows ``si`` × columns ``sj`` (padded-image
        coordinates of their top-left corners), on the region they cover."""
        c = self.config
        r, win = self.radius, self.window
        L = win - 2 * r
        # A's shared features: what feeds the first dynamic layer, cropped per window.
        shared, fa = ("relu2", L + c["f3"] - 1)
        if "conv2" in c.get("dynamic_layers", ()):
            shared, fa = ("relu1", fa + c["f2"] - 1)
        nb = win - c["b_kernel"] + 1  # B's feature crop that the pooling averages
        r0, c0 = si[0], sj[0]
        region = padded[r0:si[-1] + win, c0:sj[-1] + win]
        dtype = self.graph.dtype
        full = self.graph.evaluate({"x": region[None, None].astype(dtype)}, [shared, "b_relu2"])
        feat, bfeat = full[shared][0], full["b_relu2"][0]
        integral = np.zeros((bfeat.shape[0], bfeat.shape[1] + 1, bfeat.shape[2] + 1))
        integral[:, 1:, 1:] = bfeat.astype(np.float64).cumsum(1).cumsum(2)
        ramp = np.minimum(np.arange(1, L + 1), np.arange(L, 0, -1)).astype(np.float64)
        weight = np.outer(ramp, ramp)
        acc = np.zeros((si[-1] - r0 + L, sj[-1] - c0 + L))
        norm = np.zeros_like(acc)
        pos = [(i - r0, j - c0) for i in si for j in sj]
        for b0 in range(0, len(pos), batch):
            group = pos[b0:b0 + batch]
            ii, jj = np.array([p[0] for p in group]), np.array([p[1] for p in group])
            box = (integral[:, ii + nb, jj + nb] - integral[:, ii, jj + nb]
                   - integral[:, ii + nb, jj] + integral[:, ii, jj])
            feeds = {
                "b_pool": (box.T / nb**2).astype(dtype),
                shared: np.stack([feat[:, i:i + fa, j:j + fa] for i, j in group]),
                "x": np.stack([region[i:i + win, j:j + win] for i, j in group])[:, None].astype(dtype),
            }
            if c.get("variant") == "scale":
                feeds["scale"] = scale_one_hot(scale, len(group), dtype)
            y = self.graph.evaluate(feeds, [self.output])[self.output]
            for (i, j), yt in zip(group, y[:, 0]):
                acc[i:i + L, j:j + L] += weight * yt
                norm[i:i + L, j:j + L] += weight
        return acc, norm

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
        from dynconv import checkpoint

        ckpt = checkpoint.load(path)
        if not ckpt.config or "arch" not in ckpt.config:
            raise checkpoint.CheckpointError(f"{path}: checkpoint has no model config ('arch')")
        config = {k: v for k, v in ckpt.config.items() if k != "meta"}
        model = build(config)
        checkpoint.load(path, into=model.graph, optimizer=optimizer)
        model.meta = ckpt.config.get("meta", {})
        model.step = ckpt.step
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


def _pad_to(image, r, min_h, min_w):
    """Symmetric padding by ``r``, plus bottom/right padding so the image is at least
    ``min_h``×``min_w`` before the ``r`` border."""
    H, W = image.shape
    extra_h, extra_w = max(0, min_h - H), max(0, min_w - W)
    return np.pad(image, ((r, r + extra_h), (r, r + extra_w)), mode="symmetric")


# ---------------------------------------------------------------------- builders
def _odd(name, f):
    if not (isinstance(f, int) and f >= 1 and f % 2 == 1):
        raise ValueError(f"{name} must be an odd positive int (centred kernels), got {f!r}")
    return f


def _network_a(g, f1, f2, n1, n2, padding, init, std, rng, dtype, dynamic_conv2=False):
    """SRCNN's layers 1–2. Returns the node that feeds what follows and, with
    ``dynamic_conv2``, conv2's initial kernel instead of a conv2 node (network B will
    generate that layer's kernels, starting from this one)."""
    pad = (lambda f: (f - 1) // 2) if padding == "same" else (lambda f: 0)
    g.add("conv1", Conv2D(1, n1, f1, pad=pad(f1), init=init, std=std, rng=rng, dtype=dtype), ["x"])
    g.add("relu1", ReLU(), ["conv1"])
    conv2 = Conv2D(n1, n2, f2, pad=pad(f2), init=init, std=std, rng=rng, dtype=dtype)
    if dynamic_conv2:
        return "relu1", conv2.params["w"]
    g.add("conv2", conv2, ["relu1"])
    g.add("relu2", ReLU(), ["conv2"])
    return "relu2", None


def _init3(init, std, residual):
    """The reconstruction layer's initialisation. A residual network starts with a zero
    kernel: a fresh network then *is* bicubic interpolation, and the first steps move only
    the last layer until it passes gradients back."""
    return dict(init="gaussian", std=0.0) if residual else dict(init=init, std=std)


def _residual(g, out, radius, padding):
    """y = out + x (cropped to out's size): the network predicts HR − bicubic."""
    if padding == "valid":
        g.add("skip", CenterCrop(radius), ["x"])
        g.add("y", Add(), [out, "skip"])
    else:
        g.add("y", Add(), [out, "x"])


def srcnn(f1=9, f2=1, f3=5, n1=64, n2=32, *, padding="valid", residual=False, init="he",
          std=1e-3, seed=0, dtype=np.float32, name=None):
    """SRCNN, eqs 8–10: conv f1 (1→n1) · ReLU · conv f2 (n1→n2) · ReLU · conv f3 (n2→1).

    ``init="gaussian"`` with ``std=0.001`` is the paper's initialisation; ``"he"`` trains
    faster with Adam. ``residual=True`` adds the input back (the network predicts the
    difference to bicubic) and starts the last layer at zero, so training starts from
    bicubic. Biases start at zero.
    """
    for k, f in (("f1", f1), ("f2", f2), ("f3", f3)):
        _odd(k, f)
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    rng = np.random.default_rng(seed)
    config = dict(arch="srcnn", f1=f1, f2=f2, f3=f3, n1=n1, n2=n2, padding=padding,
                  residual=bool(residual), init=init, std=std, seed=seed)
    if name:
        config["name"] = name
    radius = (f1 - 1) // 2 + (f2 - 1) // 2 + (f3 - 1) // 2
    g = Graph(inputs={"x": (None, 1, None, None)}, outputs=["y" if residual else "conv3"])
    feat, _ = _network_a(g, f1, f2, n1, n2, padding, init, std, rng, dtype)
    pad3 = (f3 - 1) // 2 if padding == "same" else 0
    out = "conv3"
    g.add(out, Conv2D(n2, 1, f3, pad=pad3, **_init3(init, std, residual), rng=rng, dtype=dtype), [feat])
    if residual:
        _residual(g, out, radius, padding)
    return Model(g, config, radius)


def dcnn(f1=9, f2=1, f3=5, n1=64, n2=32, *, b_kernel=5, b_channels=32, b_hidden=64,
         b_log=False, b_log_eps=1e-3, b_periods=(), dynamic_layers=("conv3",), window=33,
         window_stride=None,
         variant="image", padding="valid", residual=False, init="he", std=1e-3, seed=0,
         dtype=np.float32, name=None):
    """The dynamic network: A (SRCNN layers 1–2) + B (kernel generator) + eq 5.

    See the module docstring for B's design and the three properties it guarantees.

    Parameters
    ----------
    f1, f2, f3, n1, n2 : int
        As :func:`srcnn`; f3 and n2 shape the dynamic kernel (1, n2, f3, f3).
    b_kernel, b_channels, b_hidden : int
        B: conv b_kernel×b_kernel (1→b_channels), conv 1×1, pooling, Linear b_hidden.
    b_log : bool
        Pass B's pooled features through :class:`~dynconv.layers.Log1p` (``b_log_eps``) and
        start B's first filters zero-mean, so that B compares band energies (ratios become
        differences) rather than brightness — see the module docstring.
    b_periods : sequence of int
        Also give B's first ``Linear`` :class:`~dynconv.layers.PeriodicityPool` statistics of
        the input window for these periods (e.g. ``(2, 3, 4)``): how strongly its local
        sharpness repeats every p pixels, the fingerprint of upsampling by p.
    dynamic_layers : sequence of {"conv2", "conv3"}
        The layers whose kernels B generates: the reconstruction layer (the paper's DCNN),
        and optionally A's non-linear mapping layer too, each with its own head
        ``k = W + ΔW(h)``, ΔW starting at zero.
    window : int
        The input window B pools over; the training sub-image size.
    window_stride : int, optional
        Stride between inference windows (default: half the window's output size).
    variant : {"image", "scale"}
        ``"scale"`` also feeds B a one-hot of the upscaling factor (an ablation).
    """
    for k, f in (("f1", f1), ("f2", f2), ("f3", f3), ("b_kernel", b_kernel)):
        _odd(k, f)
    if padding != "valid":
        raise ValueError("dcnn supports padding='valid' only (B pools over a fixed window)")
    if variant not in ("image", "scale"):
        raise ValueError(f"variant must be 'image' or 'scale', got {variant!r}")
    dynamic_layers = list(dynamic_layers)
    if dynamic_layers not in (["conv3"], ["conv2", "conv3"]):
        raise ValueError("dynamic_layers must be ['conv3'] or ['conv2', 'conv3'], "
                         f"got {dynamic_layers!r}")
    radius = (f1 - 1) // 2 + (f2 - 1) // 2 + (f3 - 1) // 2
    if window - 2 * radius < 1 or window < b_kernel:
        raise ValueError(f"window {window} is too small for the receptive field (radius {radius})")
    rng = np.random.default_rng(seed)
    config = dict(arch="dcnn", f1=f1, f2=f2, f3=f3, n1=n1, n2=n2, b_kernel=b_kernel,
                  b_channels=b_channels, b_hidden=b_hidden, window=window, variant=variant,
                  padding=padding, residual=bool(residual), init=init, std=std, seed=seed)
    # New options enter the config only when set, so older checkpoints' configs stay valid.
    if b_log:
        config.update(b_log=True, b_log_eps=float(b_log_eps))
    if b_periods:
        config["b_periods"] = [int(p) for p in b_periods]
    if dynamic_layers != ["conv3"]:
        config["dynamic_layers"] = dynamic_layers
    if window_stride is not None:
        config["window_stride"] = int(window_stride)
    if name:
        config["name"] = name
    # Training feeds window×window crops; predict() runs the convolutions on whole images.
    inputs = {"x": (None, 1, None, None)}
    if variant == "scale":
        inputs["scale"] = (None, len(SCALES_ONE_HOT))
    g = Graph(inputs=inputs, outputs=["y" if residual else "dyn"])
    # With a dynamic conv2, A stops at relu1 and conv2's kernel comes from B (wired below).
    feat, w2 = _network_a(g, f1, f2, n1, n2, padding, init, std, rng, dtype,
                          dynamic_conv2="conv2" in dynamic_layers)
    # Network B: the same input window → per-sample reconstruction kernel and bias.
    conv_b1 = Conv2D(1, b_channels, b_kernel, init="he", rng=rng, dtype=dtype)
    if b_log:
        # Zero-mean filters: B's pooled responses start as texture energies, not brightness.
        conv_b1.params["w"] -= conv_b1.params["w"].mean(axis=(1, 2, 3), keepdims=True)
    g.add("b_conv1", conv_b1, ["x"])
    g.add("b_relu1", ReLU(), ["b_conv1"])
    g.add("b_conv2", Conv2D(b_channels, b_channels, 1, init="he", rng=rng, dtype=dtype), ["b_relu1"])
    g.add("b_relu2", ReLU(), ["b_conv2"])
    g.add("b_pool", GlobalAvgPool2D(), ["b_relu2"])
    features = ["b_pool"]
    if b_log:
        g.add("b_log", Log1p(b_log_eps), ["b_pool"])
        features = ["b_log"]
    n_in = b_channels
    if b_periods:
        g.add("b_period", PeriodicityPool(b_periods), ["x"])
        features.append("b_period")
        n_in += 2 * len(b_periods)
    if variant == "scale":
        features.append("scale")
        n_in += len(SCALES_ONE_HOT)
    pooled = features[0]
    if len(features) > 1:  # concatenate (N, k) vectors as (N, k, 1, 1) channels
        for f in features:
            g.add(f"{f}4", Reshape((-1, 1, 1)), [f])
        g.add("b_cat4", ConcatChannels(), [f"{f}4" for f in features])
        g.add("b_cat", Reshape((n_in,)), ["b_cat4"])
        pooled = "b_cat"
    g.add("b_fc1", Linear(n_in, b_hidden, init="he", rng=rng, dtype=dtype), [pooled])
    g.add("b_relu3", ReLU(), ["b_fc1"])

    def head(node, layer, make_w):
        # (ii): ΔW = 0 at step 0 and the bias holds a static kernel W (and bias 0).
        fc = Linear(b_hidden, layer.flat_size, init="he", rng=rng, dtype=dtype)
        w = make_w()
        fc.params["w"][...] = 0
        fc.params["b"][...] = np.concatenate([w.reshape(-1), np.zeros(layer.out_channels, dtype)])
        g.add(node, fc, ["b_relu3"])

    if w2 is not None:
        dyn2 = DynamicConv2D(n1, n2, f2, bias=True)
        head("b_fc2_conv2", dyn2, lambda: w2)
        g.add("conv2", dyn2, [feat, "b_fc2_conv2"])
        g.add("relu2", ReLU(), ["conv2"])
        feat = "relu2"
    dyn = DynamicConv2D(n2, 1, f3, bias=True)
    head("b_fc2", dyn, lambda: Conv2D(n2, 1, f3, **_init3(init, std, residual), rng=rng,
                                      dtype=dtype).params["w"])
    out = "dyn"
    g.add(out, dyn, [feat, "b_fc2"])
    if residual:
        _residual(g, out, radius, padding)
    return Model(g, config, radius, window=window)


ARCHITECTURES = {"srcnn": srcnn, "dcnn": dcnn}


def build(config):
    """Rebuild a model from its config dict (as stored in checkpoints)."""
    config = copy.deepcopy(dict(config))
    arch = config.pop("arch", None)
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    config.pop("meta", None)
    try:
        return ARCHITECTURES[arch](**config)
    except TypeError as exc:
        raise ValueError(f"bad {arch} config {json.dumps(config)}: {exc}") from None


# ---------------------------------------------------------------------- shipped weights
#: Package folder of the shipped weights (``<name>.npz``; each header holds its config,
#: seed, training wall time and measured Set5/Set14 scores). ``$DYNCONV_WEIGHTS`` points the
#: model names at another folder (e.g. weights you trained yourself).
WEIGHTS_DIR = Path(os.environ.get("DYNCONV_WEIGHTS") or Path(__file__).resolve().parent / "weights")

#: Names ``--model``/``--method`` accept, and the weight file each one loads.
PRETRAINED = {
    "dcnn": "dcnn-x234",
    "dcnn-x234": "dcnn-x234",
    "srcnn-x2": "srcnn-x2",
    "srcnn-x3": "srcnn-x3",
    "srcnn-x4": "srcnn-x4",
    "srcnn-x234": "srcnn-x234",
    # Ablation, not the paper's design: B is also told the scale (needs --scale at inference).
    "dcnn-scale": "dcnn-scale-x234",
    "dcnn-scale-x234": "dcnn-scale-x234",
}


#: The architecture of each shipped model (what ``configs/<name>.toml`` trains), so that
#: ``dynconv models`` can describe weights that are not shipped in a build.
SHIPPED_ARCHITECTURES = {
    "dcnn-x234": {"arch": "dcnn", "residual": True, "b_log": True, "b_log_eps": 0.01,
                  "b_periods": [2, 3, 4], "dynamic_layers": ["conv2", "conv3"], "name": "dcnn-x234"},
    "srcnn-x2": {"arch": "srcnn", "residual": True, "name": "srcnn-x2"},
    "srcnn-x3": {"arch": "srcnn", "residual": True, "name": "srcnn-x3"},
    "srcnn-x4": {"arch": "srcnn", "residual": True, "name": "srcnn-x4"},
    "srcnn-x234": {"arch": "srcnn", "residual": True, "name": "srcnn-x234"},
    "dcnn-scale-x234": {"arch": "dcnn", "residual": True, "variant": "scale", "name": "dcnn-scale-x234"},
}


def is_model_spec(spec):
    """True for a shipped model name or a path to a ``.npz`` checkpoint."""
    return isinstance(spec, (str, Path)) and (str(spec) in PRETRAINED or str(spec).endswith(".npz"))


@functools.lru_cache(maxsize=8)
def pretrained(spec):
    """Load a shipped model by name (see :data:`PRETRAINED`) or any checkpoint by path."""
    spec = str(spec)
    if spec in PRETRAINED:
        path = WEIGHTS_DIR / f"{PRETRAINED[spec]}.npz"
        if not path.exists():
            raise FileNotFoundError(
                f"the weights of {spec!r} are not shipped in this build ({path}); train them with "
                f"`dynconv train --config configs/{PRETRAINED[spec]}.toml`")
        return Model.load(path)
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    return Model.load(path)


def sr_method(spec, *, tile=256):
    """``(name, f(up, scale) -> sr)`` for :func:`dynconv.metrics.evaluate` and
    :func:`dynconv.metrics.upscale`: the model's :meth:`Model.predict` on the 0–255 scale."""
    model = pretrained(spec)
    return model.as_method(str(spec) if str(spec) in PRETRAINED else None, tile=tile)
