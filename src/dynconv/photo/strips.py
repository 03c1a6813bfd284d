r"""The strip engine: colour conversion, MATLAB bicubic, network and merge in horizontal strips.

:func:`dynconv.sr.super_resolve_lr` holds several full-size float64 arrays (the colour planes,
their bicubic upsampling, the network's input and output). :func:`run` computes the same result
strip by strip: for each band of output rows it converts only the input rows that band needs
(:class:`Channels`), resizes them with the separable MATLAB weights of
:func:`dynconv.sr.image.imresize`, asks the network for its estimate of the band
(:mod:`dynconv.photo.networks`: one interface for bicubic, whole-channel callables, static tiles
and dynamic windows) and writes the rounded integers into the output. Only the decoded input and
the integer output are full size; the floats live one strip at a time.

**Exactness.** Every step repeats the whole-image arithmetic on the same numbers in the same
order, so the result equals :func:`dynconv.sr.super_resolve_lr` bit for bit:

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
given the whole upsampled channel, as by :func:`dynconv.sr.super_resolve_lr`.

Words: ``pixels`` is the image array, ``color`` the colour mode (``"ycbcr"``, ...), as in
:func:`dynconv.upscale`; ``method`` is the engine's form of a method (see :mod:`dynconv.sr`).
"""
from __future__ import annotations


import numba
import numpy as np

from dynconv.kernels import parallel
from dynconv.photo import networks as _networks
from dynconv.sr import image as _im
from dynconv.sr import inference as _inf
from dynconv.sr.image.resize import resize_matrix

__all__ = ["run", "Channels", "resize_taps", "resize_strip", "COLORS"]

#: The colour modes (as :func:`dynconv.sr.super_resolve_lr`'s ``color``): which channel the method runs on.
COLORS = ("ycbcr", "y", "rgb", "hsv")


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


def _estimated(ndim, color):
    """The channels of :func:`_planes` the method runs on (the others are bicubic)."""
    if ndim == 2 or color in ("y", "ycbcr"):
        return (0,)
    return (2,) if color == "hsv" else (0, 1, 2)


def _planes(block, color, kind):
    """The channels of rows ``block`` in colour mode ``color``, on the 0-255 scale."""
    x = _to_255(block, kind)
    if block.ndim == 2:
        return [np.asarray(x, np.float64)]
    if color in ("y", "ycbcr"):
        ycc = _im.rgb_to_ycbcr(x)
        return [ycc[:, :, 0], ycc[:, :, 1], ycc[:, :, 2]]
    if color == "hsv":
        hsv = _im.rgb_to_hsv(x)
        return [hsv[:, :, 0] * 255.0, hsv[:, :, 1] * 255.0, hsv[:, :, 2]]
    return [np.asarray(x[:, :, c], np.float64) for c in range(3)]


def _quantise(v, kind, dtype):
    if kind == "u8":
        return _im.to_uint8(v)
    if kind == "u16":
        return np.floor(np.clip(v, 0.0, 255.0) * 257.0 + 0.5).astype(np.uint16)
    return (np.clip(v, 0.0, 255.0) / 255.0).astype(dtype)


def _combine(planes, color, ndim, kind, dtype):
    """Output rows from the strip's channels (the method's already clipped to 0-255)."""
    if ndim == 2:
        return _quantise(planes[0], kind, dtype)
    if color in ("y", "ycbcr"):
        return _quantise(_im.ycbcr_to_rgb(np.dstack(planes)), kind, dtype)
    if color == "hsv":
        hs = np.clip(np.dstack(planes[:2]) / 255.0, 0.0, 1.0)
        return _quantise(_im.hsv_to_rgb(np.dstack([hs, planes[2]])), kind, dtype)
    return np.dstack([_quantise(p, kind, dtype) for p in planes])


# --------------------------------------------------------------------------- the upsampled channels
class Channels:
    """The bicubic-upsampled channels of a photo, any band of output rows at a time.

    ``pixels`` (h, w) or (h, w, 3) of ``kind`` (see :func:`_to_255`) is converted to the channels
    of colour mode ``color`` (:func:`_planes`) only for the input rows a band reads; the last
    conversion is kept, so the channels of one band (or of one halo) are converted once.
    """

    def __init__(self, pixels, color, kind, taps):
        self.pixels, self.color, self.kind, self.taps = pixels, color, kind, taps
        self.count = 1 if pixels.ndim == 2 else 3
        self.estimated = _estimated(pixels.ndim, color)  # the channels the method runs on
        self._last = (None, None)

    def upsampled(self, c, a, b):
        """Output rows ``[a, b)`` of channel ``c``, bicubic-upsampled, float64 on the 0-255 scale."""
        lo, hi = source_rows(self.taps[0], a, b)
        if self._last[0] != (lo, hi):
            self._last = ((lo, hi), _planes(self.pixels[lo:hi], self.color, self.kind))
        return resize_strip(self._last[1][c] / 255.0, lo, self.taps, a, b) * 255.0

    def release(self):
        """Forget the last conversion (after a whole-image one, which the strips do not reuse)."""
        self._last = (None, None)


# --------------------------------------------------------------------------- the pipeline
def _pixel_kind(pixels):
    kind = {np.dtype(np.uint8): "u8", np.dtype(np.uint16): "u16"}.get(pixels.dtype)
    if kind is None:
        if pixels.dtype.kind != "f":
            raise ValueError(f"pixels must be uint8, uint16 or float, got {pixels.dtype}")
        kind = "f"
    return kind


def run(pixels, alpha, scale, method=None, color="ycbcr", *, tile=256, batch=64, progress=None):
    """Super-resolve ``pixels`` (and bicubic-upsample ``alpha``) by ``scale``, strip by strip.

    Parameters
    ----------
    pixels : ndarray ``(h, w)`` or ``(h, w, 3)``, uint8, uint16 or float in [0, 1]
    alpha : ndarray ``(h, w)`` of the same dtype, or None
        Upscaled with bicubic.
    scale : float
    method : None, Model or callable
        None for bicubic; a :class:`~dynconv.sr.models.Model` runs tile by tile; a callable
        ``f(up, scale)`` (0-255 scale) sees the whole upsampled channel
        (:func:`dynconv.photo.networks.network`).
    color : {"ycbcr", "y", "rgb", "hsv"}
        As :func:`dynconv.sr.super_resolve_lr`'s: the method runs on Y, on each of R, G, B, or
        on V; the other channels are bicubic.
    tile : int
        The network's tile (the same grid as :func:`dynconv.sr.model_method`'s).
    progress : callable, optional
        Called with ``(rows done, rows total)`` after each strip.

    Returns
    -------
    pixels, alpha : ndarray of the input's dtype, ``(ceil(h*scale), ceil(w*scale)[, 3])``; alpha
    None if none was given.
    """
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, got {color!r}")
    pixels = np.asarray(pixels)
    kind = _pixel_kind(pixels)
    h, w = pixels.shape[:2]
    H, W = _im.output_size(h, float(scale)), _im.output_size(w, float(scale))
    taps = resize_taps((h, w), (H, W), scale)
    channels = Channels(pixels, color, kind, taps)
    net = _networks.network(method, H, W, float(scale), tile, batch)
    out = np.empty((H, W) + pixels.shape[2:], pixels.dtype)
    a_out = None if alpha is None else np.empty((H, W), pixels.dtype)
    for o0 in range(0, H, net.strip):
        o1 = min(H, o0 + net.strip)
        ups = [np.clip(net.estimate(channels, c, o0, o1), 0.0, 255.0) if c in channels.estimated
               else channels.upsampled(c, o0, o1) for c in range(channels.count)]
        out[o0:o1] = _combine(ups, color, pixels.ndim, kind, pixels.dtype)
        if alpha is not None:
            lo, hi = source_rows(taps[0], o0, o1)
            a = _to_255(alpha[lo:hi], kind)
            a_out[o0:o1] = _quantise(resize_strip(np.asarray(a, np.float64) / 255.0, lo, taps, o0, o1) * 255.0,
                                     kind, pixels.dtype)
        if progress is not None:
            progress(o1, H)
    return out, a_out
