"""A dynamic model with network B on the whole image instead of per window (issue 23, a measurement).

Every window's input to B's dense part (the node ``b_cat``: pooled features and periodicity
statistics) is replaced by its mean over all of the image's windows, so every window gets the kernels
of one image-level factor estimate; A and the dynamic layers run as usual. Scores both variants with
the standard protocol (``dynconv.sr.evaluate``) on Set5 and Set14.

    python docs/scripts/image_level_b.py [--models dcnn ...] [--scales 1.25 1.5 2 3 4]
"""
import argparse

import numpy as np

from dynconv import sr
from dynconv.sr import inference


def b_input_mean(model, img):
    """B's input ``b_cat`` (n,) averaged over the windows :func:`dynconv.sr.inference.predict` uses."""
    padded, rows, cols = inference.window_grid(model, img)
    win, pos = model.window, [(i, j) for i in rows for j in cols]
    parts = []
    for b0 in range(0, len(pos), 64):
        x = np.stack([padded[i:i + win, j:j + win] for i, j in pos[b0:b0 + 64]])[:, None]
        parts.append(model.graph.forward(model.feeds(x.astype(model.graph.dtype)), outputs=["b_cat"], keep_cache=False)["b_cat"])
    return np.concatenate(parts).mean(0)


def image_level(model, name):
    """``(name, f(up, scale))``: ``model`` with B's input fixed to the image's mean."""
    base_feeds = model.feeds

    def run(up, scale):
        img = np.asarray(up, dtype=np.float64) / 255.0
        with inference.serial_numpy_blas():
            mean = b_input_mean(model, img)

        def feeds(x, scale=None):  # the graph runs from a given node, so b_cat overrides B's pooling
            f = base_feeds(x, scale)
            f["b_cat"] = np.broadcast_to(mean.astype(x.dtype), (x.shape[0], mean.size)).copy()
            return f

        model.feeds = feeds
        try:
            return model.predict(img, scale, tile=256) * 255.0
        finally:
            model.feeds = base_feeds

    return name, run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["dcnn"])
    ap.add_argument("--scales", nargs="+", type=float, default=[1.25, 1.5, 2, 3, 4])
    args = ap.parse_args()
    methods = ["bicubic"]
    for spec in args.models:
        methods += [sr.model_method(sr.load_model(spec), name=spec),
                    image_level(sr.load_model(spec), f"{spec}+image-level B")]
    for r in sr.evaluate(datasets=("Set5", "Set14"), scales=args.scales, methods=methods,
                         metrics=("psnr", "wpsnr", "ssim")):
        if r["image"] == "mean":
            print(f"{r['dataset']:6s} x{r['scale']:<5g} {r['method']:24s} "
                  f"{r['psnr']:.3f} {r['wpsnr']:.3f} {r['ssim']:.4f}")


if __name__ == "__main__":
    main()
