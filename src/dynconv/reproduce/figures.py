"""Figures like the paper's Figs 3–5, and the kernels network B generates."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from dynconv import sr
from dynconv.reproduce.tables import PAPER_SCALES, Table, as_number, load_methods
from dynconv.sr import image as _im
from dynconv.sr import inference
from dynconv.sr import metrics
from dynconv.sr import plotting


_COLOR_LABEL = {"rgb": "RGB", "hsv": "HSV", "ycbcr": "YCbCr"}

#: Crops shown in the figures, (top, left, size) in reference pixels.
CROPS = {"butterfly": (40, 90, 128), "bird": (10, 110, 128), "woman": (40, 60, 128)}


def _save(fig, path: Path):
    return plotting.save(fig, path)


def _load_image(dataset, name, data_dir):
    from dynconv.sr import datasets as data

    files = {f.stem: f for f in data.list_images(dataset, data_dir)}
    if name not in files:
        raise ValueError(f"data set {dataset!r} lacks {name} (has {', '.join(files)})")
    return _im.read_image(files[name])


def _sr_panel(hr, scale, method, color="ycbcr", name="image"):
    """(displayed image, PSNR, SSIM) through :func:`~dynconv.sr.super_resolve` — the
    per-image step of :func:`~dynconv.sr.evaluate` — scored as it scores."""
    ref, est, rgb = sr.super_resolve(hr, scale, method, color=color, name=name)
    shave = sr.shave_for(scale)
    shown = rgb if rgb is not None else est
    return shown, metrics.psnr(ref, est, shave=shave), metrics.ssim(ref, est, shave=shave)


def _crop(img, name):
    top, left, size = CROPS.get(name, (0, 0, 128))
    return np.asarray(img)[top:top + size, left:left + size]


def _panels(path, panels, suptitle, ncols=None):
    n = len(panels)
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plotting.subplots(nrows, ncols, figsize=(2.6 * ncols, 3.1 * nrows), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, img) in zip(axes.ravel(), panels):
        if img is not None:
            ax.imshow(img, cmap="gray" if np.ndim(img) == 2 else None, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _degraded_y(hr, scale):
    """The network input of the protocol for ``hr``: bicubic-upsampled Y in [0, 1]."""
    y = _im.rgb_to_y(_im.modcrop(np.asarray(hr), scale))
    return _im.bicubic(np.asarray(y, dtype=np.float64) / 255.0, scale)


def kernel_stats(model, hr, scales=PAPER_SCALES):
    """The kernels B generates for one image at each scale, summarised.

    Returns
    -------
    means : dict
        ``scale -> (n2, f3, f3)`` mean kernel over the image's windows.
    rows : list of dict
        Per scale: windows, the norm of the mean kernel, the spread within the image (mean
        over windows of ‖k_w − k̄‖ / ‖k̄‖), the mean bias, and ‖k̄(s) − k̄(2)‖ / ‖k̄(2)‖.
    """
    means, rows = {}, []
    for s in scales:
        k, b = inference.window_kernels(model, _degraded_y(hr, s), s)
        kbar = k.mean(axis=0)
        means[s] = kbar
        nk = float(np.linalg.norm(kbar))
        spread = float(np.mean(np.linalg.norm((k - kbar).reshape(len(k), -1), axis=1))) / max(nk, 1e-300)
        rows.append({"scale": as_number(s), "windows": len(k), "kernel_norm": nk, "spread_within_image": spread,
                     "mean_bias": float(b.mean())})
    k0 = means[scales[0]]
    for row, s in zip(rows, scales):
        row[f"rel_diff_to_x{as_number(scales[0])}"] = float(np.linalg.norm(means[s] - k0)) / max(float(np.linalg.norm(k0)), 1e-300)
    return means, rows


def _mosaic(k):
    """(C, f, f) kernels → one 2-D image, tiles separated by NaN gaps."""
    C, f, _ = k.shape
    nc = int(math.ceil(math.sqrt(C)))
    nr = -(-C // nc)
    out = np.full((nr * (f + 1) - 1, nc * (f + 1) - 1), np.nan)
    for i in range(C):
        r, c = divmod(i, nc)
        out[r * (f + 1):r * (f + 1) + f, c * (f + 1):c * (f + 1) + f] = k[i]
    return out


def _kernel_figure(path, means, rows, image_name, model_name):
    scales = list(means)
    diffs = [(scales[i], scales[j]) for i in range(len(scales)) for j in range(i + 1, len(scales))]
    ncols = max(len(scales), len(diffs))
    fig, axes = plotting.subplots(3, ncols, figsize=(3.2 * ncols, 9.4), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    vk = max(float(np.nanmax(np.abs(means[s]))) for s in scales) or 1.0
    vs = max(float(np.abs(means[s].sum(0)).max()) for s in scales) or 1.0
    vd = max([float(np.abs(means[b] - means[a]).max()) for a, b in diffs] or [0.0]) or 1.0
    for i, (s, row) in enumerate(zip(scales, rows)):
        im0 = axes[0, i].imshow(_mosaic(means[s]), cmap="RdBu_r", vmin=-vk, vmax=vk, interpolation="nearest")
        axes[0, i].set_title(f"x{as_number(s)}: mean kernel per channel\nspread in image {row['spread_within_image']:.2f}, "
                             f"bias {row['mean_bias']:+.4f}", fontsize=8)
        im1 = axes[1, i].imshow(means[s].sum(0), cmap="RdBu_r", vmin=-vs, vmax=vs, interpolation="nearest")
        axes[1, i].set_title(f"x{as_number(s)}: summed over channels", fontsize=8)
    for i, (a, b) in enumerate(diffs):
        d = means[b] - means[a]
        rel = float(np.linalg.norm(d)) / max(float(np.linalg.norm(means[a])), 1e-300)
        im2 = axes[2, i].imshow(_mosaic(d), cmap="PuOr_r", vmin=-vd, vmax=vd, interpolation="nearest")
        axes[2, i].set_title(f"x{as_number(b)} − x{as_number(a)} (‖Δ‖/‖k(x{as_number(a)})‖ = {rel:.3f})", fontsize=8)
    for r, im in ((0, im0), (1, im1)):
        fig.colorbar(im, ax=list(axes[r]), shrink=0.8)
    if diffs:
        fig.colorbar(im2, ax=list(axes[2]), shrink=0.8)
    fig.suptitle(f"Kernels network B of {model_name} generates for {image_name} "
                 "(means over the inference windows)", fontsize=10)
    return _save(fig, path)


def figures(out, dataset="Set5", data_dir=None, models_dir=None, static="srcnn-x3",
            dynamic="dcnn", scale=3, images=("butterfly", "bird")) -> tuple[list[tuple[Path, str]], Table]:
    """The figures (PNG, written into ``out``) and the kernel statistics behind the last one.

    * ``fig3_colour.png`` — like the paper's Figs 3.1/3.2: ``images[0]`` at ``scale``
      through ``static`` in the RGB, HSV and YCbCr colour models.
    * ``fig4_<image>.png`` — like Fig 3.3/4: bicubic, ``static`` and ``dynamic`` crops.
    * ``fig5_crossscale.png`` — like Fig 5: ``images[0]`` at x2, x3, x4 through bicubic,
      ``srcnn-x2/3/4`` and ``dynamic``.
    * ``fig_kernels.png`` — the kernels B generates for ``images[0]`` at x2, x3, x4: per
      channel and summed over channels (means over the windows), and their differences.

    Titles give PSNR (and SSIM) as the tables score them: on Y for YCbCr, V for HSV, the RGB
    image for RGB, after shaving ``ceil(scale)`` pixels.

    Returns
    -------
    figures : list of (Path, caption)
    kernels : Table
        ``kernel_stats`` rows (key ``kernels``).
    """
    out = Path(out)
    t0 = time.perf_counter()
    static_models = [f"srcnn-x{s}" for s in PAPER_SCALES]
    names = list(dict.fromkeys(["bicubic", static, dynamic, *static_models]))
    sr.require_weights(names, models_dir)
    method = dict(load_methods(names, models_dir))
    hrs = {n: _load_image(dataset, n, data_dir) for n in images}
    first = images[0]
    figs = []

    def meth(n):
        return (n, method[n])

    # Fig 3: colour models.
    hr = hrs[first]
    panels = [("reference (HR)", _crop(_im.modcrop(hr, scale), first))]
    for color in ("rgb", "hsv", "ycbcr"):
        shown, p, s = _sr_panel(hr, scale, meth(static), color=color, name=first)
        scored = {"rgb": "RGB", "hsv": "V", "ycbcr": "Y"}[color]  # what the protocol scores
        panels.append((f"{static}, {_COLOR_LABEL[color]} model\n{scored}-PSNR {p:.2f} dB, SSIM {s:.4f}", _crop(shown, first)))
    path = _panels(out / "fig3_colour.png", panels, f"{first} x{as_number(scale)}: the network in three colour models")
    figs.append((path, f"{first} x{as_number(scale)} through {static} in the RGB, HSV and YCbCr colour models "
                       "(paper Figs 3.1/3.2)."))

    # Fig 4: bicubic vs static vs dynamic.
    for n in images:
        hr = hrs[n]
        panels = [("reference (HR)", _crop(_im.modcrop(hr, scale), n))]
        for m in ("bicubic", static, dynamic):
            shown, p, s = _sr_panel(hr, scale, meth(m), name=n)
            panels.append((f"{m}\nY-PSNR {p:.2f} dB, SSIM {s:.4f}", _crop(shown, n)))
        path = _panels(out / f"fig4_{n}.png", panels, f"{n} x{as_number(scale)}")
        figs.append((path, f"{n} x{as_number(scale)}: bicubic, the static CNN and the DCNN (paper Fig 3.3)."))

    # Fig 5: the cross-scale matrix on one image.
    hr = hrs[first]
    panels = []
    cols = ["bicubic", *static_models, dynamic]
    for s in PAPER_SCALES:
        for m in cols:
            shown, p, _ = _sr_panel(hr, s, meth(m), name=first)
            panels.append((f"test x{s}: {m}\nY-PSNR {p:.2f} dB", _crop(shown, first)))
    path = _panels(out / "fig5_crossscale.png", panels, f"{first}: models (columns) tested at x2, x3, x4 (rows)",
                   ncols=len(cols))
    figs.append((path, f"{first}: every static CNN and the DCNN at every test scale (paper Fig 5 / Table 3)."))

    # The kernels B generates.
    model = sr.load_model(dynamic, models_dir)
    means, rows = kernel_stats(model, hrs[first], PAPER_SCALES)
    path = _kernel_figure(out / "fig_kernels.png", means, rows, first, dynamic)
    figs.append((path, f"The reconstruction kernels network B of {dynamic} generates for {first} at x2, x3, x4 "
                       "(means over the inference windows) and their differences."))
    cols = list(rows[0])
    table = Table(key="kernels", title=f"Kernels B generates for {first}", columns=cols, rows=rows,
                  notes=["kernel_norm: ‖k̄‖ of the mean kernel over the image's windows; spread_within_image: "
                         "mean over windows of ‖k_w − k̄‖/‖k̄‖ (how much B adapts inside one image); "
                         f"rel_diff_to_x{PAPER_SCALES[0]}: ‖k̄(s) − k̄(x{PAPER_SCALES[0]})‖/‖k̄(x{PAPER_SCALES[0]})‖ (how much it "
                         "adapts to the scale)."],
                  seconds=time.perf_counter() - t0)
    return figs, table


def gain_figure(out, table: Table):
    """The "beyond" table as a plot: PSNR gain over bicubic against the factor, one panel per
    data set. Returns ``[(path, caption)]``."""
    methods = [c[:-5] for c in table.columns if c.endswith("_gain")]
    sets = list(dict.fromkeys(r["dataset"] for r in table.rows))
    fig, axes = plotting.subplots(1, len(sets), figsize=(5 * len(sets), 3.6), dpi=100, squeeze=False)
    for ax, ds in zip(axes[0], sets):
        rows = [r for r in table.rows if r["dataset"] == ds and r["metric"] == "psnr"]
        for m in methods:
            ax.plot([r["scale"] for r in rows], [r[f"{m}_gain"] for r in rows], marker="o", ms=4, label=m)
        ax.axhline(0, color="gray", lw=0.8)
        ax.set(xlabel="upscaling factor", ylabel="PSNR gain over bicubic (dB)", title=ds)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = _save(fig, Path(out) / "beyond_gain.png")
    return [(path, "Y-PSNR gain over bicubic against the upscaling factor (the table above)")]
