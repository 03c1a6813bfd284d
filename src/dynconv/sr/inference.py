r"""Whole-image inference: the one path from a bicubic-upsampled channel to a model's estimate.

Networks are *valid* (unpadded) in training, exactly as in SRCNN: a 33×33 sub-image gives a
21×21 output for 9-1-5. At inference :func:`predict` pads the image symmetrically by the
receptive-field radius instead of zero-padding every layer, so border pixels see image-like
context rather than zeros (with ``padding="same"`` the layers pad with zeros, as the paper does
at test time).

* **Static models** run on the whole image, or in non-overlapping output tiles each computed
  from its padded context (memory stays bounded; tiled and untiled results agree to rounding).
* **Dynamic models** never show network B a whole image: B pooled over 33×33 training windows,
  so the image is cut into the same windows (:func:`window_grid`) and the overlapping outputs
  are blended with a triangular weight. (With only the reconstruction layer dynamic, eq 5 is
  linear in k, so blending outputs equals applying, at each pixel, the blend of the neighbouring
  windows' kernels.) A's and B's convolutions are translation-invariant, so they run once per
  image region; B's global pooling over a window is a box mean of its feature maps (an integral
  image, evaluated at the windows' corners); only B's dense part, any node of B that reads the
  input window itself (such as its periodicity statistics) and the dynamic layers run per
  window, a batch of windows at a time.

  **Cost.** Windows start every ``window_stride`` pixels (default: half a window's output size),
  so the per-window layers cover every pixel several times: for the shipped ``dcnn`` (21-pixel
  outputs, 25-pixel crops of A's features for its dynamic 1×1 layer, stride 10) that layer runs
  on 6.25× the image's area, which puts its multiply-adds at ≈ 2.9× those of ``srcnn-x2``.
  Changing the stride changes the output (and, measured on Set14, costs PSNR), so it stays the
  model config's ``window_stride``.

This module reaches a dynamic model's nodes only through ``model.parts``
(:class:`dynconv.sr.models.DynamicParts`), the names its builder exports.
"""
from __future__ import annotations

import contextlib

import numpy as np

__all__ = ["predict", "window_grid", "window_kernels", "pad_to", "serial_numpy_blas"]


@contextlib.contextmanager
def serial_numpy_blas():
    """Run the body with NumPy's BLAS on one thread, then restore its thread count.

    Inference multiplies small matrices between the kernels (B's dense layers, one batch of
    windows at a time); waking NumPy's pool of BLAS threads for each product cost ~10 ms where
    the product takes ~0.1 ms (measured on a loaded 2-core machine: a quarter of a ``dcnn``
    upscale). The kernels bring their own threads (:func:`dynconv.kernels.set_threads`).
    """
    from dynconv.kernels import serial_blas

    with serial_blas("numpy"):
        yield


def pad_to(image, r, min_h, min_w):
    """Symmetric padding by ``r``, plus bottom/right padding so the image is at least
    ``min_h``×``min_w`` before the ``r`` border."""
    H, W = image.shape
    extra_h, extra_w = max(0, min_h - H), max(0, min_w - W)
    return np.pad(image, ((r, r + extra_h), (r, r + extra_w)), mode="symmetric")


def check_output(out, name, shape=None) -> np.ndarray:
    """The one check of a network's (or a method's) output, before it becomes pixels.

    ``out`` as float64; a ``ValueError`` naming the model ``name`` if its shape is not ``shape``
    or it holds NaN or infinite values (diverged or damaged weights), which clipping would
    otherwise turn silently into black or white pixels.
    """
    out = np.asarray(out, dtype=np.float64)
    if shape is not None and out.shape != tuple(shape):
        raise ValueError(f"method returned shape {out.shape}, expected {tuple(shape)}")
    bad = int(out.size - np.count_nonzero(np.isfinite(out)))
    if bad:
        raise ValueError(f"model {name!r} produced {bad} NaN or infinite output value(s) of {out.size} "
                         "(diverged or damaged weights?)")
    return out


def method_name(method) -> str:
    """How :func:`check_output` names a model or a callable."""
    return str(getattr(method, "name", None) or getattr(method, "__name__", type(method).__name__))


def predict_batch(model, x, scale):
    """The model's output for a batch ``x`` of shape (N, 1, H, W) at ``scale``, without caches."""
    return _infer(model, model.feeds(x, scale), [model.output])[model.output]


def predict(model, image, scale=None, *, tile=None, batch=64):
    """Super-resolve one bicubic-upsampled channel with ``model``.

    Parameters
    ----------
    model : dynconv.sr.models.Model
    image : ndarray (H, W)
        The bicubic-upsampled channel in [0, 1] (float).
    scale : float, optional
        The upscaling factor (needed only by ``variant="scale"`` models).
    tile : int, optional
        Output tile size: memory stays bounded for any image size, and tiled and untiled
        results agree to rounding. Static models run untiled when None; dynamic models always
        use tiles (512 when None) of their training windows.
    batch : int
        Windows (or tiles) per forward pass.

    Returns
    -------
    ndarray (H, W), float64 — the network's estimate (not clipped).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) < 1:
        raise ValueError(f"image must be a non-empty 2-D array (H, W), got shape {image.shape}")
    dtype = model.graph.dtype
    with serial_numpy_blas():
        if not model.valid:
            return predict_batch(model, image[None, None].astype(dtype), scale)[0, 0].astype(np.float64)
        if model.dynamic:
            return _predict_windows(model, image, scale, batch, tile or 512)
        if tile is None:
            padded = np.pad(image, model.radius, mode="symmetric")
            return predict_batch(model, padded[None, None].astype(dtype), scale)[0, 0].astype(np.float64)
        return _predict_tiles(model, image, scale, int(tile), batch)


def _predict_tiles(model, image, scale, tile, batch):
    """Static model: non-overlapping output tiles, each computed from its padded context."""
    if tile < 1:
        raise ValueError(f"tile must be a positive int, got {tile}")
    H, W = image.shape
    r = model.radius
    padded = pad_to(image, r, -(-H // tile) * tile, -(-W // tile) * tile)
    out = np.zeros((H, W))
    starts = [(i, j) for i in range(0, H, tile) for j in range(0, W, tile)]
    for b0 in range(0, len(starts), batch):
        group = starts[b0:b0 + batch]
        x = np.stack([padded[i:i + tile + 2 * r, j:j + tile + 2 * r] for i, j in group])
        y = predict_batch(model, x[:, None].astype(model.graph.dtype), scale)
        for (i, j), yt in zip(group, y[:, 0]):
            h, w = min(tile, H - i), min(tile, W - j)
            out[i:i + h, j:j + w] = yt[:h, :w]
    return out


def window_grid(model, image):
    """The windows a dynamic model's :func:`predict` uses on ``image`` (H, W).

    Returns ``(padded, rows, cols)``: the image padded symmetrically by the receptive-field
    radius (and up to one window's output size), and the top-left corners of the
    ``window``×``window`` crops in it — every ``window_stride`` pixels, the last flush with the
    border. Crop ``(i, j)`` produces output pixels ``[i, i + L) × [j, j + L)`` with
    ``L = window - 2 radius``.
    """
    if not model.dynamic:
        raise ValueError(f"{model.name} is a static model: it has no windows")
    H, W = np.shape(image)
    L = model.window - 2 * model.radius
    stride = int(model.config.get("window_stride") or max(1, L // 2))

    def starts(n):
        s = list(range(0, n - L + 1, stride))
        return s if s[-1] == n - L else s + [n - L]

    return pad_to(np.asarray(image), model.radius, L, L), starts(max(H, L)), starts(max(W, L))


def _predict_windows(model, image, scale, batch, tile):
    """Dynamic model: B's kernels per training-size window, outputs blended across windows.

    The window grid is global, and the image is processed in ``tile``×``tile`` output regions,
    each computing every window that touches it: memory stays bounded and the result does not
    depend on the tile size.
    """
    H, W = image.shape
    L = model.window - 2 * model.radius  # a window's output size
    padded, rows, cols = window_grid(model, image)
    Hc, Wc = max(H, L), max(W, L)
    out = np.empty((Hc, Wc))
    tile = max(int(tile), L)
    for y0 in range(0, Hc, tile):
        for x0 in range(0, Wc, tile):
            y1, x1 = min(Hc, y0 + tile), min(Wc, x0 + tile)
            si = [i for i in rows if y0 - L < i < y1]
            sj = [j for j in cols if x0 - L < j < x1]
            acc, norm = window_region(model, padded, si, sj, scale, batch)
            out[y0:y1, x0:x1] = (acc / norm)[y0 - si[0]:y1 - si[0], x0 - sj[0]:x1 - sj[0]]
    return out[:H, :W]


def _box_means(feat, nb, ii, jj):
    """The mean of ``feat`` (C, h, w) over the ``nb``×``nb`` boxes with top-left corners
    ``(ii[k], jj[k])``, as (len(ii), C).

    The arithmetic of a float64 integral image (prefix sums over rows, then over columns, each
    added in order), evaluated only at the boxes' corners: the running row sum visits every row
    but keeps the rows at a corner, and only those rows get the column prefix sums. Every value
    equals the full integral image's bit for bit, without a full-size float64 copy.
    """
    C, h, w = feat.shape
    rows = np.unique(np.concatenate([ii, ii + nb]))
    cols = np.unique(np.concatenate([jj, jj + nb]))
    # integral[:, a, b] = sum of feat[:, :rows[a], :cols[b]]; row or column 0 is the zero border.
    kept = np.zeros((C, len(rows), w))
    run = np.zeros((C, w))
    k = int(rows[0] == 0)
    for r in range(int(rows[-1])):
        run += feat[:, r]
        if r + 1 == rows[k]:
            kept[:, k] = run
            k += 1
    kept = kept.cumsum(2)
    integral = np.zeros((C, len(rows), len(cols)))
    nz = cols > 0
    integral[:, :, nz] = kept[:, :, cols[nz] - 1]
    a0, a1 = np.searchsorted(rows, ii), np.searchsorted(rows, ii + nb)
    b0, b1 = np.searchsorted(cols, jj), np.searchsorted(cols, jj + nb)
    s = (integral[:, a1, b1] - integral[:, a0, b1] - integral[:, a1, b0] + integral[:, a0, b0])
    return s.T / nb**2


def _infer(model, feeds, outputs):
    """An inference forward of ``outputs``, then ``feeds`` emptied: a batch of windows feeds tens
    of MiB, and the caller's dict would otherwise hold them until its next batch is built."""
    try:
        return model.graph.forward(feeds, outputs=outputs, keep_cache=False)
    finally:
        feeds.clear()


def _crops(a, size, ii, jj):
    """``a[..., i:i + size, j:j + size]`` for each ``(i, j)``, stacked first: (len(ii), ..., size, size)."""
    view = np.lib.stride_tricks.sliding_window_view(a, (size, size), axis=(-2, -1))
    if a.ndim == 3:  # (C, i, j, size, size) -> (i, j, C, size, size)
        view = view.transpose(1, 2, 0, 3, 4)
    return view[ii, jj]


def window_region(model, padded, si, sj, scale, batch):
    """Blended outputs of the windows at rows ``si`` × columns ``sj`` (padded-image
    coordinates of their top-left corners), on the region they cover.

    A's shared features and B's pooled features come from one pass over the region; each
    batch of windows then evaluates the rest of the graph from its crops (any node that reads
    the input window ``x`` directly, such as B's periodicity statistics, runs per window).
    """
    parts, win = model.parts, model.window
    L = win - 2 * model.radius
    fa = L + parts.shared_margin  # A's shared feature crop of one window
    r0, c0 = si[0], sj[0]
    dtype = model.graph.dtype
    region = np.ascontiguousarray(padded[r0:si[-1] + win, c0:sj[-1] + win], dtype=dtype)
    full = _infer(model, {"x": region[None, None]}, [parts.shared, parts.b_features])
    feat, bfeat = full[parts.shared][0], full[parts.b_features][0]
    del full
    ramp = np.minimum(np.arange(1, L + 1), np.arange(L, 0, -1)).astype(np.float64)
    weight = np.outer(ramp, ramp)
    acc = np.zeros((si[-1] - r0 + L, sj[-1] - c0 + L))
    # The sum of the windows' weights is separable (exact: small integers in float64).
    cover_r, cover_c = np.zeros(acc.shape[0]), np.zeros(acc.shape[1])
    for i in si:
        cover_r[i - r0:i - r0 + L] += ramp
    for j in sj:
        cover_c[j - c0:j - c0 + L] += ramp
    ii_all = np.repeat(np.asarray(si) - r0, len(sj))
    jj_all = np.tile(np.asarray(sj) - c0, len(si))
    pooled = _box_means(bfeat, parts.b_pool_size, ii_all, jj_all).astype(dtype)
    del bfeat
    for b0 in range(0, len(ii_all), batch):
        ii, jj = ii_all[b0:b0 + batch], jj_all[b0:b0 + batch]
        feeds = model.feeds(_crops(region, win, ii, jj)[:, None], scale)
        feeds[parts.b_pool] = pooled[b0:b0 + batch]
        feeds[parts.shared] = _crops(feat, fa, ii, jj)
        y = _infer(model, feeds, [model.output])[model.output]
        for i, j, yt in zip(ii, jj, y[:, 0]):
            acc[i:i + L, j:j + L] += weight * yt
    return acc, np.outer(cover_r, cover_c)


def window_kernels(model, up, scale=None, batch=64):
    """The reconstruction kernels network B generates for an image, window by window.

    The windows are those :func:`predict` uses (:func:`window_grid`).

    Parameters
    ----------
    model : Model
        A dynamic model (``model.dynamic``).
    up : ndarray (H, W)
        The bicubic-upsampled channel in [0, 1].
    scale : float, optional
        Needed by ``variant="scale"`` models.

    Returns
    -------
    kernels : ndarray (N, n2, f3, f3)
        Per window, the kernel applied to A's n2 feature maps.
    bias : ndarray (N,)
    """
    if not model.dynamic:
        raise ValueError(f"{model.name} is not a dynamic model; it has no kernel-generating network")
    win, node = model.window, model.parts.b_kernels
    padded, rows, cols = window_grid(model, np.asarray(up, dtype=np.float64))
    pos = [(i, j) for i in rows for j in cols]
    flat = []
    for b0 in range(0, len(pos), batch):
        x = np.stack([padded[i:i + win, j:j + win] for i, j in pos[b0:b0 + batch]])[:, None]
        feeds = model.feeds(x.astype(model.graph.dtype), scale)
        flat.append(_infer(model, feeds, [node])[node].astype(np.float64))
    flat = np.concatenate(flat)
    n2, f3 = model.config["n2"], model.config["f3"]
    return flat[:, :n2 * f3 * f3].reshape(-1, n2, f3, f3), flat[:, n2 * f3 * f3]
