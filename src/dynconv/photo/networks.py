"""The networks the strip engine (:mod:`dynconv.photo.strips`) runs, behind one interface.

Each has ``strip``, the output rows one strip holds, and ``estimate(channels, c, o0, o1)``: the
method's unclipped estimate of channel ``c`` on output rows ``[o0, o1)``, float64 on the 0-255
scale, read from a :class:`dynconv.photo.strips.Channels` (its ``upsampled(c, a, b)`` gives any
band of rows of the bicubic-upsampled channel). :func:`network` picks the kind for a method:

* :class:`Bicubic` — no network (``method=None``): the upsampled channel itself;
* :class:`WholeChannel` — a callable ``f(up, scale)``, or a ``padding="same"`` model: the whole
  upsampled channel, once, as :func:`dynconv.sr.super_resolve_lr` gives it;
* :class:`StaticTiles` — a valid static model on its global tile grid;
* :class:`DynamicWindows` — a valid dynamic model on its global window grid
  (:func:`dynconv.sr.inference.window_grid`, :func:`~dynconv.sr.inference.window_region`).

Tiles and windows lie on the same global grids as in :func:`dynconv.sr.inference.predict`, with
the same symmetric padding, so every tile sees the numbers it sees on the whole image.
"""
from __future__ import annotations

import numpy as np

from dynconv.sr import inference as _inf

__all__ = ["network", "Bicubic", "WholeChannel", "StaticTiles", "DynamicWindows"]


class Bicubic:
    """No network: the estimate is the bicubic-upsampled channel."""

    strip = 256

    def estimate(self, channels, c, o0, o1):
        return channels.upsampled(c, o0, o1)


class WholeChannel:
    """A callable ``f(up, scale)`` on the 0-255 scale, given the whole upsampled channel once (as by
    :func:`dynconv.sr.super_resolve_lr`): it cannot be cut into tiles."""

    strip = 256

    def __init__(self, f, name, H, scale):
        self.f, self.name, self.H, self.scale = f, name, H, scale
        self._done = {}

    def estimate(self, channels, c, o0, o1):
        if not self._done:  # every channel the method runs on, at the first strip
            for k in channels.estimated:
                up = channels.upsampled(k, 0, self.H)
                self._done[k] = _inf.check_output(self.f(up, self.scale), self.name, up.shape)
            channels.release()  # the whole image's planes are not kept for the strips
        return self._done[c][o0:o1]


class _Grid:
    """A valid model on a global grid: subclasses give the padded rows a strip reads
    (``rows(o0, o1)``, indices into the upsampled image), the padded columns ``cmap`` and
    ``run(padded, o0, o1)``, the model's estimate (0-1 scale) from those rows and columns."""

    def estimate(self, channels, c, o0, o1):
        rmap = self.rows(o0, o1)
        lo, hi = int(rmap.min()), int(rmap.max()) + 1
        u = channels.upsampled(c, lo, hi) / 255.0
        with _inf.serial_numpy_blas():
            est = self.run(u[rmap - lo][:, self.cmap], o0, o1)
        return _inf.check_output(est, _inf.method_name(self.model)) * 255.0


class StaticTiles(_Grid):
    """A valid static model on its global tile grid (as :func:`dynconv.sr.inference.predict`)."""

    def __init__(self, model, H, W, scale, tile, batch):
        r = model.radius
        # A few tiles per pass: a tile's feature maps are large (64 channels of (tile + 2r)^2),
        # and a tile's result does not depend on the others in its batch.
        batch = max(1, min(batch, (4 * 256 * 256) // (tile + 2 * r) ** 2))
        self.model, self.scale, self.tile, self.batch, self.H, self.W = model, scale, tile, batch, H, W
        self.rmap = np.pad(np.arange(H), (r, r + (-H) % tile), mode="symmetric")
        self.cmap = np.pad(np.arange(W), (r, r + (-W) % tile), mode="symmetric")
        self.strip = tile

    def rows(self, o0, o1):
        r, t = self.model.radius, self.tile
        return self.rmap[o0:o0 + -(-(o1 - o0) // t) * t + 2 * r]

    def run(self, padded, o0, o1):
        """``padded``: the rows of :meth:`rows`, columns padded; the estimate of rows [o0, o1)."""
        t, r, W, dtype = self.tile, self.model.radius, self.W, self.model.graph.dtype
        out = np.empty((o1 - o0, W))
        starts = [(i, j) for i in range(0, o1 - o0, t) for j in range(0, W, t)]
        for b0 in range(0, len(starts), self.batch):
            group = starts[b0:b0 + self.batch]
            x = np.stack([padded[i:i + t + 2 * r, j:j + t + 2 * r] for i, j in group])
            y = _inf.predict_batch(self.model, x[:, None].astype(dtype), self.scale)
            for (i, j), yt in zip(group, y[:, 0]):
                h, w = min(t, o1 - o0 - i), min(t, W - j)
                out[i:i + h, j:j + w] = yt[:h, :w]
        return out


class DynamicWindows(_Grid):
    """A dynamic model on its global window grid (the windowed inference of
    :func:`dynconv.sr.inference.predict`, one region of windows at a time)."""

    def __init__(self, model, H, W, scale, tile, batch):
        self.model, self.scale, self.batch, self.H, self.W = model, scale, batch, H, W
        r, L = model.radius, model.window - 2 * model.radius
        _, self.si, self.sj = _inf.window_grid(model, np.empty((H, W), np.uint8))
        self.rmap = np.pad(np.arange(H), (r, r + max(0, L - H)), mode="symmetric")
        self.cmap = np.pad(np.arange(W), (r, r + max(0, L - W)), mode="symmetric")
        self.L, self.tile = L, max(int(tile), L)
        self.strip = self.tile

    def _windows(self, o0):
        y1 = min(max(self.H, self.L), o0 + self.tile)
        return [i for i in self.si if o0 - self.L < i < y1], y1

    def rows(self, o0, o1):
        si, _ = self._windows(o0)
        return self.rmap[si[0]:si[-1] + self.model.window]

    def run(self, padded, o0, o1):
        L, t = self.L, self.tile
        si, y1 = self._windows(o0)
        Wc = max(self.W, L)
        out = np.empty((y1 - o0, Wc))
        rel = [i - si[0] for i in si]
        for x0 in range(0, Wc, t):
            x1 = min(Wc, x0 + t)
            sj = [j for j in self.sj if x0 - L < j < x1]
            acc, norm = _inf.window_region(self.model, padded, rel, sj, self.scale, self.batch)
            out[:, x0:x1] = (acc / norm)[o0 - si[0]:y1 - si[0], x0 - sj[0]:x1 - sj[0]]
        return out[:o1 - o0, :self.W]


def network(method, H, W, scale, tile=256, batch=64):
    """The network that runs ``method`` on an ``H``×``W`` output: ``None`` (bicubic), a
    :class:`~dynconv.sr.models.Model` (valid models tile by tile, ``padding="same"`` on the whole
    channel), or a callable ``f(up, scale)`` on the 0-255 scale (the whole channel)."""
    from dynconv.sr.models import Model

    if method is None:
        return Bicubic()
    if isinstance(method, Model):
        if method.valid:
            return (DynamicWindows if method.dynamic else StaticTiles)(method, H, W, scale, tile, batch)

        def f(up, s):  # padding="same": the network runs on the whole image
            return method.predict(up / 255.0, s) * 255.0

        return WholeChannel(f, _inf.method_name(method), H, scale)
    return WholeChannel(method, _inf.method_name(method), H, scale)
