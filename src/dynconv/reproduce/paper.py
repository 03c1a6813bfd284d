"""The paper's published numbers (Bhujel & Pant, Tables 1–3), transcribed from its text."""
from __future__ import annotations

#: Metric keys in the order the paper's tables list them.
METRIC_KEYS = ("psnr", "wpsnr", "ssim", "msssim")


def _table1_rows():
    # Table 1 of the paper, row by row: image, scale, then (bicubic, CNN) for PSNR, WPSNR,
    # SSIM, MS-SSIM. "average" is the paper's mean row.
    return [
        ("baby", 2, 37.066, 38.537, 53.512, 61.812, 0.9514, 0.9651, 0.9958, 0.9979),
        ("bird", 2, 36.808, 40.915, 51.016, 61.142, 0.9720, 0.9859, 0.9974, 0.9991),
        ("butterfly", 2, 27.434, 32.753, 43.714, 54.744, 0.916, 0.9652, 0.9932, 0.9980),
        ("head", 2, 34.858, 35.723, 54.383, 61.597, 0.862, 0.8862, 0.9891, 0.9932),
        ("woman", 2, 32.145, 35.365, 48.002, 57.642, 0.9478, 0.9686, 0.9952, 0.9981),
        ("mean", 2, 33.662, 36.659, 50.125, 59.387, 0.9299, 0.9542, 0.9942, 0.9973),
        ("baby", 3, 33.911, 35.250, 44.975, 49.408, 0.9030, 0.9233, 0.9832, 0.9889),
        ("bird", 3, 32.576, 35.475, 42.509, 47.704, 0.9257, 0.9550, 0.9856, 0.9931),
        ("butterfly", 3, 24.038, 27.953, 35.252, 41.838, 0.8241, 0.9121, 0.9724, 0.9898),
        ("head", 3, 32.880, 33.712, 46.171, 50.192, 0.7991, 0.8267, 0.9709, 0.9786),
        ("woman", 3, 28.564, 31.371, 39.354, 45.603, 0.891, 0.9297, 0.9797, 0.9901),
        ("mean", 3, 30.394, 32.752, 41.652, 46.949, 0.8686, 0.9094, 0.9784, 0.9881),
        ("baby", 4, 31.777, 33.126, 40.253, 43.292, 0.8556, 0.8815, 0.9691, 0.9793),
        ("bird", 4, 30.180, 32.520, 38.032, 41.645, 0.8737, 0.9115, 0.9715, 0.9843),
        ("butterfly", 4, 22.099, 25.459, 30.921, 36.200, 0.7407, 0.8620, 0.9501, 0.9808),
        ("head", 4, 31.590, 32.444, 42.009, 44.641, 0.7513, 0.7784, 0.9559, 0.9666),
        ("woman", 4, 26.464, 28.895, 34.890, 39.124, 0.8350, 0.8868, 0.9623, 0.9798),
        ("mean", 4, 28.422, 30.489, 37.221, 40.981, 0.8113, 0.8641, 0.9618, 0.9782),
    ]


def _build_paper():
    t1 = {}
    for img, s, *v in _table1_rows():
        t1[(s, img)] = {
            "bicubic": dict(zip(METRIC_KEYS, v[0::2])),
            "cnn": dict(zip(METRIC_KEYS, v[1::2])),
        }
    # Table 2 (x3): (image, colour) -> method -> metric; None where the paper prints "-".
    # As published, butterfly/YCbCr/CNN PSNR is 32.753 — Table 1's x2 value; Table 1 has
    # 27.953 at x3 (and the row's other metrics match x3). Kept as printed.
    t2 = {
        ("butterfly", "ycbcr"): {"bicubic": (24.038, 35.252, 0.8241, 0.9724), "cnn": (32.753, 41.838, 0.9121, 0.9898)},
        ("butterfly", "hsv"): {"bicubic": (22.768, None, 0.8282, 0.9741), "cnn": (26.202, None, 0.9109, 0.9900)},
        ("butterfly", "rgb"): {"bicubic": (24.038, 34.153, 0.8282, None), "cnn": (28.330, 41.057, 0.9110, None)},
        ("woman", "ycbcr"): {"bicubic": (28.564, 39.354, 0.891, 0.9797), "cnn": (31.371, 45.603, 0.9297, 0.9901)},
        ("woman", "hsv"): {"bicubic": (27.216, None, 0.8748, 0.9765), "cnn": (30.077, None, 0.9158, 0.9880)},
        ("woman", "rgb"): {"bicubic": (28.563, 38.043, 0.8748, None), "cnn": (31.311, 44.110, 0.9158, None)},
    }
    t2 = {k: {m: dict(zip(METRIC_KEYS, v)) for m, v in d.items()} for k, d in t2.items()}
    # Table 3 ("Test/Train"): test scale -> model -> (PSNR, SSIM); the means equal Table 1's
    # Set5 averages, so it is Set5.
    t3 = {
        2: {"srcnn-x2": (36.659, 0.954), "srcnn-x3": (30.575, 0.874), "srcnn-x4": (28.442, 0.813), "dcnn": (36.344, 0.952)},
        3: {"srcnn-x2": (29.435, 0.884), "srcnn-x3": (32.752, 0.909), "srcnn-x4": (29.002, 0.830), "dcnn": (32.394, 0.904)},
        4: {"srcnn-x2": (25.267, 0.766), "srcnn-x3": (28.722, 0.847), "srcnn-x4": (30.489, 0.8641), "dcnn": (30.086, 0.854)},
    }
    t3 = {s: {m: {"psnr": v[0], "ssim": v[1]} for m, v in d.items()} for s, d in t3.items()}
    # Table 3 has no bicubic column; Table 1's Set5 bicubic means stand beside it.
    for s in t3:
        t3[s]["bicubic"] = {k: t1[(s, "mean")]["bicubic"][k] for k in ("psnr", "ssim")}
    return {"table1": {"Set5": t1}, "table2": t2, "table3": {"Set5": t3}}


#: The paper's published numbers (Bhujel & Pant, Tables 1–3), transcribed from the paper text:
#: ``PAPER["table1"]["Set5"][(scale, image)][method][metric]`` with method ``"bicubic"`` or
#: ``"cnn"`` (the static CNN of that scale) and image ``"mean"`` for the average row;
#: ``PAPER["table2"][(image, colour)][method][metric]`` (x3; ``None`` where the paper prints
#: "-"); ``PAPER["table3"]["Set5"][test_scale][model][metric]`` for PSNR and SSIM, with model
#: ``"srcnn-x2"``, ``"srcnn-x3"``, ``"srcnn-x4"``, ``"dcnn"`` (and ``"bicubic"`` from Table 1).
PAPER = _build_paper()
