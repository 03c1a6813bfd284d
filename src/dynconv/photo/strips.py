r"""Streaming upscale: colour conversion, MATLAB bicubic, network and merge in horizontal strips.

:func:`dynconv.sr.upscale` holds several full-size float64 arrays (the colour planes, their
bicubic upsampling, the network's input and output). :func:`upscale_planes` computes the same
result strip by strip: for each band of output rows it converts only the input rows that band
needs, resizes them with the separable MATLAB weights of :func:`dynconv.sr.image.imresize`, runs
the network on the band plus its halo and writes the rounded integers into the output. Only
the decoded input and the integer output are full size; the floats live one strip at a time.

**Exactness.** Every step repeats the whole-image arithmetic on the same numbers in the same
order, so the result equals :func:`dynconv.sr.upscale` bit for bit:

* the resize takes each axis's taps from the very sparse matrix ``imresize`` multiplies by,
  in its stored order, and accumulates them from zero as scipy's sparse product does (the
  padding taps have weight 0 and add nothing);
* colour conversions are per pixel and run on full-width rows, as on the whole image;
* a static network's output tiles lie on the same global grid with the same symmetric
  padding, and a dynamic network's windows on the same global window grid
  (:func:`dynconv.sr.inference.window_grid`), so every tile sees the numbers it saw before.

The strips stay in float64: they are small, and float32 would change the rounding of
the colour conversion and the resize (the network itself runs in its own dtype, as before).
A plain callable method (not a :class:`~dynconv.sr.models.Model`) cannot be cut into tiles: it is
given the whole upsampled channel, as by :func:`dynconv.sr.upscale`.
"""
from __future__ import annotations


import numba
import numpy as np

from dynconv.kernels import parallel
from dynconv.sr import image as _im
from dynconv.sr import inference as _inf
from dynconv.sr.image.resize import resize_matrix

__all__ = ["upscale_planes", "resize_taps", "resize_strip", "MODES"]

#: Colour handling (as :func:`dynconv.sr.upscale`): which channel the method runs on.
MODES = ("ycbcr", "y", "rgb", "hsv")


# --------------------------------------------------------------------------- separable bicubic
# Serial, GIL-free loops over a range of output rows; :func:`resize_strip` runs disjoint ranges on
# the kernels' threads (``parallel=True`` compiled several times slower, for the same speed).
@numba.njit(cache=True, nogil=True)
def _vpass(x, idx, w, out, o0, o1):  # pragma: no cover - compiled
    """out[o, c] = sum_p w[o, p] * x[idx[o, p], c], accumulated from 0 in tap order."""
    for o in range(o0, o1):
        for c in range(out.shape[1]):
            out[o, c] = 0.0
        for p in range(idx.shape[1]):
            a = w[o, p]
            r = idx[o, p]
            for c in range(out.shape[1]):
                out[o, c] += a * x[r, c]


@numba.njit(cache=True, nogil=True)
def _hpass(t, idx, w, out, r0, r1):  # pragma: no cover - compiled
    """out[r, o] = sum_p w[o, p] * t[r, idx[o, p]], accumulated from 0 in tap order."""
    for r in range(r0, r1):
        for o in range(out.shape[1]):
            s = 0.0
            for p in range(idx.shape[1]):
                s += w[o, p] * t[r, idx[o, p]]
            out[r, o] = s


def _check_pass(x, idx, w, out, axis):
    """What the loops read and write unchecked: 2-D float64 C-contiguous arrays, ``idx``/``w`` of
    one shape, one row per output position along the resized ``axis`` (0: :func:`_vpass`, 1:
    :func:`_hpass`), every index inside ``x`` along that axis, and ``out`` sized to match."""
    for name, a in (("x", x), ("w", w), ("out", out)):
        if a.ndim != 2 or a.dtype != np.float64 or not a.flags.c_contiguous:
            raise ValueError(f"{name} must be a 2-D C-contiguous float64 array, got {a.dtype} {a.shape}")
    if idx.dtype != np.int64 or not idx.flags.c_contiguous or idx.shape != w.shape:
        raise ValueError(f"idx and w must be C-contiguous int64 and float64 arrays of one shape, "
                         f"got {idx.dtype} {idx.shape} and {w.shape}")
    n_src = x.shape[axis]
    want = (idx.shape[0], x.shape[1]) if axis == 0 else (x.shape[0], idx.shape[0])
    if out.shape != want:
        raise ValueError(f"out must have shape {want}, got {out.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= n_src):
        raise ValueError(f"the taps read source positions {idx.min()}..{idx.max()} outside [0, {n_src})")


class Taps:
    """One axis of ``imresize``: ``idx``, ``w`` (out, P), or ``identity`` when it is left alone."""

    def __init__(self, in_len: int, out_len: int, scale: float):
        self.identity = (out_len, scale) == (in_len, 1.0)
        if self.identity:
            self.idx = self.w = None
            return
        m = resize_matrix(in_len, out_len, scale, True)
        counts = np.diff(m.indptr)
        P = int(counts.max())
        self.idx = np.zeros((out_len, P), np.int64)
        self.w = np.zeros((out_len, P), np.float64)
        for o in range(out_len):
            a, b = m.indptr[o], m.indptr[o + 1]
            self.idx[o, :b - a] = m.indices[a:b]
            self.idx[o, b - a:] = m.indices[a] if b > a else 0
            self.w[o, :b - a] = m.data[a:b]


def resize_taps(in_shape, out_shape, scale):
    """``(rows, cols)`` :class:`Taps` for ``imresize(img, scale)`` of an ``in_shape`` image."""
    return (Taps(in_shape[0], out_shape[0], float(scale)), Taps(in_shape[1], out_shape[1], float(scale)))


def source_rows(taps: Taps, a: int, b: int) -> tuple[int, int]:
    """The input rows ``[lo, hi)`` that output rows ``[a, b)`` read."""
    if taps.identity:
        return a, b
    idx = taps.idx[a:b]
    return int(idx.min()), int(idx.max()) + 1


def resize_strip(plane, lo, taps, a, b):
    """Output rows ``[a, b)`` of ``imresize`` from ``plane`` = input rows ``[lo, ...)``, float64."""
    rows, cols = taps
    x = np.ascontiguousarray(plane, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"plane must be 2-D (rows, columns), got shape {x.shape}")
    if not rows.identity:
        idx, w = np.ascontiguousarray(rows.idx[a:b] - lo), np.ascontiguousarray(rows.w[a:b])
        t = np.empty((b - a, x.shape[1]))
        _check_pass(x, idx, w, t, 0)
        parallel(_vpass, b - a, x, idx, w, t)
    else:
        t = x[a - lo:b - lo]
    if cols.identity:
        return np.array(t)
    t = np.ascontiguousarray(t)
    out = np.empty((b - a, cols.idx.shape[0]))
    _check_pass(t, cols.idx, cols.w, out, 1)
    parallel(_hpass, b - a, t, cols.idx, cols.w, out)
    return out


# --------------------------------------------------------------------------- colour
def _to_255(block, kind):
    """The 0-255 float scale the protocol works on: uint8 as is, uint16 / 257, float * 255."""
    if kind == "u8":
        return block
    return block.astype(np.float64) / 257.0 if kind == "u16" else block.astype(np.float64) * 255.0


def _planes(block, mode, kind):
    """Channels of rows ``block`` on the 0-255 scale, and the indices the method runs on."""
    x = _to_255(block, kind)
    if block.ndim == 2:
        return [np.asarray(x, np.float64)], (0,)
    if mode in ("y", "ycbcr"):
        ycc = _im.rgb_to_ycbcr(x)
        return [ycc[:, :, 0], ycc[:, :, 1], ycc[:, :, 2]], (0,)
    if mode == "hsv":
        hsv = _im.rgb_to_hsv(x)
        return [hsv[:, :, 0] * 255.0, hsv[:, :, 1] * 255.0, hsv[:, :, 2]], (2,)
    return [np.asarray(x[:, :, c], np.float64) for c in range(3)], (0, 1, 2)


def _quantise(v, kind, dtype):
    if kind == "u8":
        return _im.to_uint8(v)
    if kind == "u16":
        return np.floor(np.clip(v, 0.0, 255.0) * 257.0 + 0.5).astype(np.uint16)
    return (np.clip(v, 0.0, 255.0) / 255.0).astype(dtype)


def _combine(planes, mode, ndim, kind, dtype):
    """Output rows from the strip's channels (the method's already clipped to 0-255)."""
    if ndim == 2:
        return _quantise(planes[0], kind, dtype)
    if mode in ("y", "ycbcr"):
        return _quantise(_im.ycbcr_to_rgb(np.dstack(planes)), kind, dtype)
    if mode == "hsv":
        hs = np.clip(np.dstack(planes[:2]) / 255.0, 0.0, 1.0)
        return _quantise(_im.hsv_to_rgb(np.dstack([hs, planes[2]])), kind, dtype)
    return np.dstack([_quantise(p, kind, dtype) for p in planes])


# --------------------------------------------------------------------------- the networks on strips
class _Static:
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


class _Dynamic:
    """A dynamic model on its global window grid (as :func:`dynconv.sr.inference.predict`)."""

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


def _network(method, H, W, scale, tile, batch):
    """``method``: None (bicubic), a Model, or a callable ``f(up, scale)`` on the 0-255 scale
    (returned as is: it sees the whole channel)."""
    from dynconv.sr.models import Model

    if isinstance(method, Model):
        if not method.valid:  # padding="same": the network runs on the whole image
            return lambda up, s: method.predict(up / 255.0, s) * 255.0
        return (_Dynamic if method.dynamic else _Static)(method, H, W, scale, tile, batch)
    return method


# --------------------------------------------------------------------------- the pipeline
def upscale_planes(color, alpha, scale, method=None, mode="ycbcr", *, tile=256, batch=64, progress=None):
    """Upscale ``color`` (and ``alpha``) by ``scale``, strip by strip.

    Parameters
    ----------
    color : ndarray ``(h, w)`` or ``(h, w, 3)``, uint8, uint16 or float in [0, 1]
    alpha : ndarray ``(h, w)`` of the same dtype, or None
        Upscaled with bicubic.
    scale : float
    method : None, Model or callable
        None for bicubic; a :class:`~dynconv.sr.models.Model` runs tile by tile; a callable
        ``f(up, scale)`` (0-255 scale) sees the whole upsampled channel.
    mode : {"ycbcr", "y", "rgb", "hsv"}
        As :func:`dynconv.sr.upscale`'s ``color``: the method runs on Y, on each of R, G, B, or
        on V; the other channels are bicubic.
    tile : int
        The network's tile (the same grid as :func:`dynconv.sr.model_method`'s).
    progress : callable, optional
        Called with ``(rows done, rows total)`` after each strip.

    Returns
    -------
    color, alpha : ndarray of the input's dtype, ``(ceil(h*scale), ceil(w*scale)[, 3])``; alpha None
    if none was given.
    """
    if mode not in MODES:
        raise ValueError(f"color must be one of {', '.join(MODES)}, got {mode!r}")
    color = np.asarray(color)
    kind = {np.dtype(np.uint8): "u8", np.dtype(np.uint16): "u16"}.get(color.dtype)
    if kind is None:
        if color.dtype.kind != "f":
            raise ValueError(f"pixels must be uint8, uint16 or float, got {color.dtype}")
        kind = "f"
    h, w = color.shape[:2]
    H, W = _im.output_size(h, float(scale)), _im.output_size(w, float(scale))
    taps = resize_taps((h, w), (H, W), scale)
    net = _network(method, H, W, float(scale), tile, batch)
    out_dtype = color.dtype
    out = np.empty((H, W) + color.shape[2:], out_dtype)
    a_out = None if alpha is None else np.empty((H, W), out_dtype)
    whole = {}
    if callable(net):  # a plain callable: the whole channel, once
        planes, sr_idx = _planes(color, mode, kind)
        for c in sr_idx:
            up = resize_strip(planes[c] / 255.0, 0, taps, 0, H) * 255.0
            res = _inf.check_output(net(up, float(scale)), _inf.method_name(method), up.shape)
            whole[c] = np.clip(res, 0.0, 255.0)
        del planes, up, res
    strip = getattr(net, "strip", 256)
    for o0 in range(0, H, strip):
        o1 = min(H, o0 + strip)
        lo, hi = source_rows(taps[0], o0, o1)
        planes, sr_idx = _planes(color[lo:hi], mode, kind)
        run_net = net is not None and not callable(net)
        ups = [None if (c in sr_idx and net is not None) else resize_strip(p / 255.0, lo, taps, o0, o1) * 255.0
               for c, p in enumerate(planes)]
        if run_net:
            rmap = net.rows(o0, o1)
            need = (int(rmap.min()), int(rmap.max()) + 1)
            slo, shi = source_rows(taps[0], *need)
            halo, _ = _planes(color[slo:shi], mode, kind)
        for c in sr_idx:
            if run_net:
                u = resize_strip(halo[c] / 255.0, slo, taps, *need) * 255.0 / 255.0
                with _inf.serial_numpy_blas():
                    est = net.run(u[rmap - need[0]][:, net.cmap], o0, o1)
                ups[c] = np.clip(_inf.check_output(est, _inf.method_name(method)) * 255.0, 0.0, 255.0)
            elif net is not None:
                ups[c] = whole[c][o0:o1]
            else:
                ups[c] = np.clip(ups[c], 0.0, 255.0)
        out[o0:o1] = _combine(ups, mode, color.ndim, kind, out_dtype)
        if alpha is not None:
            a = _to_255(alpha[lo:hi], kind)
            a_out[o0:o1] = _quantise(resize_strip(np.asarray(a, np.float64) / 255.0, lo, taps, o0, o1) * 255.0,
                                     kind, out_dtype)
        if progress is not None:
            progress(o1, H)
    return out, a_out

