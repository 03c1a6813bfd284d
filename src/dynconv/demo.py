"""``dynconv demo``: super-resolve matplotlib's bundled sample photo — no data download needed.

The photo (``grace_hopper.jpg``, 512×600) is the high-resolution reference. It is cropped to a
multiple of the scale and downscaled with MATLAB's bicubic (:func:`dynconv.sr.image.bicubic`), then
rounded to 8 bits: a low-resolution photo. That photo goes through the public API a user calls,
:func:`dynconv.upscale` (colour mode ``ycbcr``: the model runs on Y, Cb and Cr are bicubic), once
with bicubic and once with the model. Each result is scored on Y (MATLAB ``rgb2ycbcr``, rounded)
against the reference after shaving ``ceil(scale)`` pixels. The figure shows the same crop of
the reference and of each estimate.
"""
from __future__ import annotations

import numpy as np

from dynconv import sr
from dynconv.photo.api import resolve_method, upscale
from dynconv.sr import image, metrics

#: Crop shown in the figure, (top, left, size) in reference pixels: the face and the insignia.
CROP = (120, 150, 180)


def sample_image():
    """matplotlib's bundled ``grace_hopper.jpg`` as uint8 RGB."""
    from matplotlib import cbook

    return image.read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def low_resolution(hr, scale):
    """The 8-bit low-resolution photo of ``hr`` (sides multiples of the scale): MATLAB bicubic
    down by ``scale``, rounded as MATLAB's ``uint8`` does."""
    _, lr = image.bicubic(np.asarray(hr, dtype=np.float64) / 255.0, scale, return_lr=True)
    return image.to_uint8(lr * 255.0)


def run_demo(out="demo.png", model="dcnn", scale=3.0):
    """Write the demo figure to ``out``; yields one line per method with its scores.

    ``model`` is any spec :func:`dynconv.upscale` accepts (a shipped name, a ``.npz`` path, ...),
    shown beside bicubic.
    """
    from dynconv.fileio import check_writable
    from dynconv.sr import plotting

    check_writable(out)  # before the work, not after it
    ref_rgb = image.modcrop(sample_image(), scale)
    lr = low_resolution(ref_rgb, scale)
    ref_y = image.rgb_to_y(ref_rgb)
    shave = sr.shave_for(scale)
    panels = []
    for spec in ("bicubic", model):
        name, method = resolve_method(spec, scale)
        rgb = upscale(lr, scale, model="bicubic" if method is None else method)
        rgb = rgb[:ref_rgb.shape[0], :ref_rgb.shape[1]]  # ceil(h / s * s) can exceed h by a pixel
        sr_y = image.rgb_to_y(rgb)
        p, s = metrics.psnr(ref_y, sr_y, shave=shave), metrics.ssim(ref_y, sr_y, shave=shave)
        panels.append((f"{name} x{scale:g}\nY-PSNR {p:.2f} dB, SSIM {s:.4f}", rgb))
        yield f"{name:>12s}  x{scale:g}  Y-PSNR {p:.3f} dB  SSIM {s:.4f}"
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
