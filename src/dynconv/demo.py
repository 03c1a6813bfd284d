"""``dynconv demo``: super-resolve matplotlib's bundled sample photo — no data download needed.

The photo (``grace_hopper.jpg``, 512×600) is the high-resolution reference. It goes through the
standard protocol (:func:`dynconv.sr.super_resolve`, colour mode ``ycbcr``): downscaled by
MATLAB's bicubic, upscaled by bicubic and by the model, scored on Y after shaving the border.
The figure shows the same crop of the reference and of each estimate.
"""
from __future__ import annotations

import numpy as np

from dynconv import image, metrics, sr

#: Crop shown in the figure, (top, left, size) in reference pixels: the face and the insignia.
CROP = (120, 150, 180)


def sample_image():
    """matplotlib's bundled ``grace_hopper.jpg`` as uint8 RGB."""
    from matplotlib import cbook

    return image.read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def run_demo(out="demo.png", model="dcnn", scale=3.0):
    """Write the demo figure to ``out``; yields one line per method with its scores.

    ``model`` is any method spec :func:`dynconv.sr.resolve` accepts (a name, a ``.npz`` path, ...),
    shown beside bicubic.
    """
    from dynconv import plotting

    hr = sample_image()
    shave = sr.shave_for(scale)
    panels = []
    for spec in ("bicubic", model):
        name, fn = sr.resolve(spec)
        ref, sr_y, rgb = sr.super_resolve(hr, scale, (name, fn), color="ycbcr", name="grace_hopper.jpg")
        p, s = metrics.psnr(ref, sr_y, shave=shave), metrics.ssim(ref, sr_y, shave=shave)
        panels.append((f"{name} x{scale:g}\nY-PSNR {p:.2f} dB, SSIM {s:.4f}", rgb))
        yield f"{name:>12s}  x{scale:g}  Y-PSNR {p:.3f} dB  SSIM {s:.4f}"
    ref_rgb = image.modcrop(hr, scale)
    top, left, size = CROP
    fig, axes = plotting.subplots(1, 3, figsize=(10.5, 4.1), dpi=100)
    for ax, (title, rgb) in zip(axes, [("reference (HR)", ref_rgb)] + panels):
        ax.imshow(np.asarray(rgb)[top:top + size, left:left + size], interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle("dynconv demo: matplotlib's grace_hopper.jpg, downscaled and super-resolved", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    plotting.save(fig, out)
    yield f"wrote {out}"
