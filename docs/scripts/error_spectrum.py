"""Where in frequency each method's error lies on Set5 (issue 23: WPSNR at small factors).

Prints, per factor and method, WPSNR and the error power (gray levels / 255, squared, per pixel) in
radial frequency bands, and the gain of WPSNR's contrast-sensitivity filter in the same bands.
The standard protocol (``dynconv.sr.super_resolve``, border shave), on the Y channel.

    python docs/scripts/error_spectrum.py [--set Set5] [--scales 1.25 1.5 2] [--methods bicubic dcnn ...]
"""
import argparse

import numpy as np

from dynconv import sr
from dynconv.sr import datasets as D
from dynconv.sr import image as im
from dynconv.sr import metrics as M

BANDS = [(0.0, 0.05), (0.05, 0.2), (0.2, 0.35), (0.35, 0.5), (0.5, 0.75)]  # cycles/pixel


def band_power(e):
    """Error power in each of BANDS: sum over the band of |FFT(e)|^2 / size^2 (Parseval)."""
    power = np.abs(np.fft.fft2(e)) ** 2 / e.size ** 2
    fy, fx = np.fft.fftfreq(e.shape[0]), np.fft.fftfreq(e.shape[1])
    radius = np.hypot(*np.meshgrid(fy, fx, indexing="ij"))
    return np.array([power[(radius >= lo) & (radius < hi)].sum() for lo, hi in BANDS])


def csf_gain(n=256):
    """Mean |H| of WPSNR's CSF filter in each band."""
    h = np.abs(np.fft.fft2(M.csf_filter(), (n, n)))
    f = np.fft.fftfreq(n)
    radius = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    return np.array([h[(radius >= lo) & (radius < hi)].mean() for lo, hi in BANDS])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", default="Set5")
    p.add_argument("--scales", type=float, nargs="+", default=[1.25, 1.5, 2])
    p.add_argument("--methods", nargs="+", default=["bicubic", "dcnn", "srcnn-any", "dcnn-x234"])
    a = p.parse_args(argv)
    heads = " | ".join(f"{lo:g}–{hi:g}" for lo, hi in BANDS)
    print(f"| factor | method | WPSNR | {heads} |\n|---|---|---:|" + "---:|" * len(BANDS))
    print("| | CSF gain | | " + " | ".join(f"{g:.4f}" for g in csf_gain()) + " |")
    files = D.list_images(a.set)
    for s in a.scales:
        for method in a.methods:
            power, w = np.zeros(len(BANDS)), []
            for f in files:
                ref, out, _ = sr.super_resolve(im.read_image(f), s, method)
                b = sr.shave_for(s)
                power += band_power((out.astype(float) - ref.astype(float))[b:-b, b:-b] / 255.0)
                w.append(M.wpsnr(ref, out, b))
            cells = " | ".join(f"{v:.2e}" for v in power / len(files))
            print(f"| ×{s:g} | {method} | {np.mean(w):.2f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
