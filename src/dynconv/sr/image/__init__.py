r"""Images for super-resolution: I/O, MATLAB-compatible bicubic resizing, colour spaces, degradations.

Published SR numbers come from MATLAB code, so every step here reproduces MATLAB's behaviour:
``imresize`` (bicubic, antialiased when shrinking, symmetric borders), ``rgb2ycbcr`` (BT.601, Y in
16–235), ``rgb2hsv``, and ``uint8()`` rounding (half away from zero).

Modules: :mod:`~dynconv.sr.image.io`, :mod:`~dynconv.sr.image.resize`, :mod:`~dynconv.sr.image.color`,
:mod:`~dynconv.sr.image.degrade`; everything is importable from :mod:`dynconv.sr.image`.

Conventions
-----------
* Pixel arrays are ``(H, W)`` (grey) or ``(H, W, C)`` (colour, C = 3), values on the 0–255 scale.
  :func:`read_image` returns ``uint8``; every computation returns ``float64``.
* Colour conversions take and return values on the 0–255 scale (H and S of HSV are in [0, 1]).
"""
from __future__ import annotations

from .color import hsv_to_rgb, rgb_to_hsv, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from .degrade import DEGRADATIONS, bicubic, check_size, degrade, gaussian, modcrop, scale_multiple, shave
from .io import output_format, read_image, to_uint8, write_image
from .resize import cubic, imresize, output_size, resize_weights

__all__ = [
    "read_image",
    "write_image",
    "output_format",
    "to_uint8",
    "cubic",
    "resize_weights",
    "output_size",
    "imresize",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "rgb_to_y",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "scale_multiple",
    "modcrop",
    "shave",
    "check_size",
    "bicubic",
    "gaussian",
    "degrade",
    "DEGRADATIONS",
]
