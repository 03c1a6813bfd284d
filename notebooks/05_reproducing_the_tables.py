# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Reproducing the paper's tables
#
# **What you will learn**
#
# * which trained models ship with dynconv, and how to load one by name;
# * Table 1 — bicubic against the static CNN of each scale on Set5, four metrics, next to the
#   paper's numbers (a plot of ours − paper per image) — and why the bicubic column is the first
#   thing to check;
# * Table 3 — the cross-scale matrix: static networks trained at one scale tested at every scale,
#   against the dynamic network `dcnn` (trained at every factor from ×1.2 to ×4) and a static
#   network trained at x2, x3 and x4 together;
# * what the numbers look like: crops of bicubic, the static CNN and the DCNN;
# * whether the DCNN's network B recognises the upscaling factor from the image alone.
#
# Every number comes from `dynconv.reproduce`, which calls `dynconv.sr.evaluate` — the same
# code as `dynconv evaluate` and `dynconv reproduce`; the published values are in
# `reproduce.PAPER`. With `DYNCONV_FAST=1` (the test suite) Table 1 runs at ×3 only and Set14 is
# skipped. Every check is an `assert`. Symbols and names follow the notation table at the top of
# notebook 01.

# %%
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from dynconv import reproduce, sr
from dynconv.sr import datasets, image, metrics

FAST = os.environ.get("DYNCONV_FAST") == "1"  # the test suite sets it: fewer scales and data sets
plt.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "font.size": 9})

SCALES = (2, 3, 4)
DATASETS = ("Set5",) if FAST else ("Set5", "Set14")
TABLE1_SCALES = (3,) if FAST else SCALES
STATIC = {s: f"srcnn-x{s}" for s in SCALES}           # trained at one scale each
MULTI = ("dcnn", "srcnn-x234")  # one network for several factors: x1.2 to x4, and x2 + x3 + x4

# %% [markdown]
# ## 1. The shipped models
#
# `sr.load_model(name)` loads the name's weight file (`sr.SHIPPED`) from the package's weights folder: the parameters and,
# in the header, the config that rebuilds the architecture plus what the training run recorded.
# They were trained by `dynconv train --config configs/<name>.toml` — 9-1-5 networks with n1 = 64,
# n2 = 32 as in the paper, residual, Adam; `dcnn` adds network B (notebook 04 trains narrow
# versions of the same recipes). `dcnn` (the file `dcnn-any.npz`) starts from the weights of
# `dcnn-x234`, trained at x2, x3 and x4, and is then trained at every factor from ×1.2 to ×4: its
# steps and hours below are that second run's only.

# %%
print(f"{'name':12s} {'file':16s} {'arch':6s} {'params':>8s} {'steps':>7s} {'hours':>6s}  scales")
for name in (*STATIC.values(), *MULTI):
    m = sr.load_model(name)
    meta = m.meta
    wall = meta.get("training_wall_seconds", meta.get("run", {}).get("wall_seconds"))
    data_cfg = (meta.get("train_config") or {}).get("data", {})
    scales = data_cfg.get("scales", "?")
    if data_cfg.get("scale_range"):  # fractional factors too (dcnn)
        scales = f"{scales} and x{data_cfg['scale_range'][0]:g} to x{data_cfg['scale_range'][1]:g}"
    print(f"{name:12s} {sr.weights_path(name).name:16s} {m.config['arch']:6s} {m.num_params():8,d} "
          f"{m.step:7d} {'–' if wall is None else f'{wall / 3600:.2f}':>6s}  {scales}")
    expected = sr.SHIPPED[name].architecture
    assert all(m.config.get(k) == v for k, v in expected.items()), (name, m.config)
    assert m.dynamic == (m.config["arch"] == "dcnn")

# %% [markdown]
# ## 2. Table 1: bicubic vs the static CNN, per image
#
# `reproduce.table1` evaluates bicubic and `srcnn-x<s>` on every image at scale $s$, on the Y
# channel (notebook 04, §1), with four metrics, each higher for a better image:
#
# * **PSNR**, the peak signal-to-noise ratio $10 \log_{10}(255^2/\mathrm{MSE})$ in dB (exercise 1);
# * **WPSNR**, the PSNR of the error after a contrast-sensitivity filter, which weights each
#   spatial frequency by how visible it is to the eye (`metrics.csf_filter`);
# * **SSIM**, the structural similarity: local means, variances and covariance of the two images
#   (in an 11×11 Gaussian window) compared, averaged over the image; 1 for identical images;
# * **MS-SSIM**, SSIM at five scales, each a 2×2 mean of the previous one keeping every second
#   pixel: the contrast-and-structure part of SSIM at the four finer scales and the whole SSIM at
#   the coarsest, multiplied with fixed exponents.
#
# The bicubic column is the protocol check: it involves no training at all, only the colour
# conversion, the MATLAB-compatible bicubic resize, the rounding and the border shave. If those
# matched the paper's code, our bicubic PSNR must equal the published one to the printed precision.
# The full tables (`reproduce.to_markdown(t)` for each `t`, or `dynconv reproduce --table 1`) list
# every image; here, the means, then every Set5 image's ours − paper as a plot.

# %%
t0 = time.perf_counter()
table1 = reproduce.table1(datasets=DATASETS, scales=TABLE1_SCALES)
print(f"Table 1 in {time.perf_counter() - t0:.0f} s")
METRICS = {"psnr": "PSNR (dB)", "wpsnr": "WPSNR (dB)", "ssim": "SSIM", "msssim": "MS-SSIM"}
print(f"{'mean':10s} {'method':9s}" + "".join(f"{label:>20s}" for label in METRICS.values()))
for t in table1:
    for row in (r for r in t.rows if r["image"] == "mean"):
        for key, name in (("bicubic", "bicubic"), ("cnn", row["cnn"])):
            cells = []
            for k in METRICS:
                diff = row[f"{key}_{k}_diff"]
                cells.append(f"{row[f'{key}_{k}']:.4f}" + ("" if diff is None else f" ({diff:+.4f})"))
            print(f"{row['dataset'] + ' x' + str(row['scale']):10s} {name:9s}" + "".join(f"{c:>20s}" for c in cells))
print("(in brackets: ours − paper; the paper gives Set5 only)")

# %%
set5_rows = [row for row in table1[0].rows if row["dataset"] == "Set5"]
names = list(dict.fromkeys(row["image"] for row in set5_rows))
fig, axes = plt.subplots(1, 4, figsize=(11, 2.9), constrained_layout=True)
for ax, (k, label) in zip(axes, METRICS.items()):
    for n_s, s in enumerate(TABLE1_SCALES):
        rows = {row["image"]: row for row in set5_rows if row["scale"] == s}
        for key, marker in (("bicubic", "o"), ("cnn", "s")):
            offset = 0.12 * (n_s - (len(TABLE1_SCALES) - 1) / 2)
            ax.plot(np.arange(len(names)) + offset, [rows[n][f"{key}_{k}_diff"] for n in names], marker,
                    ms=4, c=f"C{n_s}", mfc="none" if key == "bicubic" else f"C{n_s}",
                    label=f"x{s} {'bicubic' if key == 'bicubic' else 'CNN'}")
    ax.axhline(0, c="gray", lw=0.5)
    ax.set_xticks(range(len(names)), names, rotation=45)
    ax.set_title(f"{label}: ours − paper", fontsize=9)
axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
plt.show()

assert len(set5_rows) == 6 * len(TABLE1_SCALES)          # five images and the mean, per scale
for row in set5_rows:
    assert abs(row["bicubic_psnr_diff"]) < 0.01, row   # the protocol is the paper's
for t in table1:
    for row in t.rows:
        assert row["cnn_psnr"] > row["bicubic_psnr"], (t.key, row["scale"], row["image"])
        if row["image"] == "mean":                      # ... and on average by every metric
            for k in ("wpsnr", "ssim", "msssim"):
                assert row[f"cnn_{k}"] > row[f"bicubic_{k}"], (t.key, row["scale"], k)

# %% [markdown]
# In the plot, bicubic (open circles) sits on 0 in PSNR (within 0.01 dB, asserted above): the
# protocol is the paper's. Our static CNNs (filled squares) are below the paper's: on the mean,
# at every scale and in every metric. They still beat bicubic on every image. How close the CNN
# gets to the paper's CNN column, in dB:

# %%
for row in set5_rows:
    if row["image"] == "mean":
        print(f"x{row['scale']}: CNN {row['cnn_psnr']:.3f} dB, paper {row['cnn_psnr_paper']:.3f} dB, "
              f"ours − paper {row['cnn_psnr_diff']:+.3f}; gain over bicubic "
              f"{row['cnn_psnr'] - row['bicubic_psnr']:+.3f} (paper {row['cnn_psnr_paper'] - row['bicubic_psnr_paper']:+.3f})")

# %% [markdown]
# ## 3. Table 3: static vs dynamic across scales
#
# The paper's argument for the DCNN: a static network trained at one scale is good at that scale
# only, while one dynamic network handles all three. `reproduce.table3` tests every model at every
# scale (rows: test scale and metric; columns: the model). `srcnn-x234` is not in the paper — it is
# the control that separates "trained on all scales" from "has a dynamic layer".

# %%
t0 = time.perf_counter()
table3 = reproduce.table3(datasets=DATASETS, scales=SCALES)
for t in table3:
    display(Markdown(reproduce.to_markdown(t)))
print(f"Table 3 in {time.perf_counter() - t0:.0f} s")

# %%
methods = ["bicubic", *STATIC.values(), *MULTI]
for t in table3:
    psnr = {row["scale"]: row for row in t.rows if row["metric"] == "psnr"}
    for s in SCALES:
        own = STATIC[s]
        # the diagonal: among the static networks, the one trained at s is the best at s ...
        assert max(STATIC.values(), key=lambda m: psnr[s][m]) == own, (t.key, s)
        # ... every model trained at s beats bicubic there ...
        for m in (own, *MULTI):
            assert psnr[s][m] > psnr[s]["bicubic"], (t.key, s, m)
        # ... and the one dynamic network beats every static network trained at another scale
        for m in STATIC.values():
            assert m == own or psnr[s]["dcnn"] > psnr[s][m], (t.key, s, m)
    # the same evaluation as Table 1 gives the same numbers
    for t1 in table1:
        for row in t1.rows:
            if row["image"] == "mean" and row["dataset"] == t.rows[0]["dataset"]:
                assert math.isclose(row["cnn_psnr"], psnr[row["scale"]][row["cnn"]], abs_tol=1e-9)

# %% [markdown]
# The matrix as a picture: PSNR gain over bicubic on Set5, ours beside the paper's (which has no
# `srcnn-x234`). The diagonal of the three static columns is where each was trained; off the
# diagonal a static network gains less, or falls *below* bicubic: it undoes the wrong blur.

# %%
set5_psnr = {row["scale"]: row for row in table3[0].rows if row["metric"] == "psnr"}
paper = reproduce.PAPER["table3"]["Set5"]
models_shown = methods[1:]
gain = np.array([[set5_psnr[s][m] - set5_psnr[s]["bicubic"] for m in models_shown] for s in SCALES])
gain_paper = np.array([[paper[s][m]["psnr"] - paper[s]["bicubic"]["psnr"] if m in paper[s] else np.nan
                        for m in models_shown] for s in SCALES])
vmax = np.nanmax(np.abs([gain, gain_paper]))
fig, axes = plt.subplots(1, 2, figsize=(10, 2.9), constrained_layout=True)
for ax, gain_map, title in zip(axes, (gain, gain_paper), ("ours", "paper")):
    im = ax.imshow(gain_map, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    for (r, c), v in np.ndenumerate(gain_map):
        ax.text(c, r, "–" if np.isnan(v) else f"{v:+.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(models_shown)), models_shown, rotation=20)
    ax.set_yticks(range(len(SCALES)), [f"test x{s}" for s in SCALES])
    ax.set_title(f"Set5 PSNR − bicubic (dB), {title}")
fig.colorbar(im, ax=list(axes), shrink=0.9)
plt.show()

# %% [markdown]
# ## 4. Crops: bicubic, static, dynamic
#
# `sr.super_resolve` is the per-image step of `evaluate`: it crops, degrades, runs the method
# on Y (Cb and Cr stay bicubic for the colour picture) and rounds. Below, ×3 crops (the regions
# `reproduce.CROPS` uses for the paper-style figures) with the whole-image Y-PSNR in the titles —
# the very numbers of Table 3.

# %%
shown = ["bicubic", STATIC[3], "dcnn"]
method = dict(reproduce.load_methods(shown))
images = ("butterfly",) if FAST else ("butterfly", "bird")
hr = dict(datasets.load_dataset("Set5"))
records = {(r["scale"], r["method"], r["image"]): r for r in table3[0].records}

fig, axes = plt.subplots(len(images), 4, figsize=(10, 2.8 * len(images)), squeeze=False)
for row, name in zip(axes, images):
    top, left, size = reproduce.CROPS[name]
    crop = (slice(top, top + size), slice(left, left + size))
    row[0].imshow(image.modcrop(hr[name], 3)[crop])
    row[0].set_title(f"{name}: reference", fontsize=8)
    for ax, m in zip(row[1:], shown):
        ref, est, rgb = sr.super_resolve(hr[name], 3, (m, method[m]), color="ycbcr", name=name)
        p = metrics.psnr(ref, est, shave=3)
        assert math.isclose(p, records[(3, m, name)]["psnr"], abs_tol=1e-9)  # = the table's cell
        ax.imshow(rgb[crop])
        ax.set_title(f"{m}: {p:.2f} dB", fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where this lives in dynconv
#
# * `dynconv.sr`: the registry (`names`, `SHIPPED`, `load_model`, `resolve`, `register`); every
#   shipped model is one `dynconv.sr.shipped.Shipped` entry (weights file, description, architecture);
# * `dynconv.reproduce.table1`, `table2` (colour models), `table3`, `beyond` (scales never trained),
#   `figures`, `to_markdown`, `PAPER`; `dynconv reproduce --table all` writes all of them, with the
#   figures, to `docs/results/`;
# * `dynconv.sr.evaluate` and `super_resolve`, the protocol behind every number
#   (`dynconv.sr.metrics`: the four formulas);
# * `dynconv.layers.PeriodicityPool`, and `dynconv.sr.models.dcnn` (`b_log`, `b_periods`,
#   `dynamic_layers`) for the network B probed in the next section.

# %% [markdown]
# ## Beyond the paper: does network B recognise the factor?
#
# *A project extension: the paper's DCNN has no such probe.*
#
# The shipped `dcnn` serves every factor from x1.2 to x4 and its B sees only the image, so B
# has to work out the factor from each 33×33 window. A *linear probe* asks how much of that its
# features carry: fit a multinomial logistic regression (the factor from a feature vector) on
# T91 windows and score it on Set14 windows the network never trained on, at the eight factors
# of the cross-scale table. Four feature vectors of `dcnn`: the log-pooled responses of B's
# learned convolutions (`b_log`), the periodicity statistics (appendix notebook 07) at periods
# 2, 3 and 4 it inherited from `dcnn-x234` (`b_period`), the periodicity spectrum at real periods from 6 to 2 pixels
# (`b_spectrum`; a factor s < 2 shows at its alias s/(s−1): x1.5 at period 3, like x3), and B's
# hidden layer (`b_relu3`), which combines them and drives every dynamic kernel. Windows differ
# in how much there is to restore (a flat sky needs no kernel at all), so the accuracy is also
# weighted by each window's bicubic error.

# %%
from dynconv.training.batches import Batches

dcnn = sr.load_model("dcnn")
FACTORS = (1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4)
PROBED = {"b_log": "B's pooled conv features (log)", "b_period": "periodicity at 2, 3, 4",
          "b_spectrum": "periodicity spectrum, 6 to 2 px", "b_relu3": "B's hidden layer"}


def b_features(dataset, batches):
    """B's features, factor and bicubic error of ``batches`` × 256 random windows of ``dataset``."""
    subimages = Batches.random(dataset, [], FACTORS, 0.0, 256, dcnn.window, dcnn.window - 2 * dcnn.radius,
                               seed=5, augment=False)
    values, factors, err = {n: [] for n in PROBED}, [], []
    rad = dcnn.radius  # the pixels an unpadded network loses per side
    for batch in range(batches):
        x, y, s = subimages(batch)
        out = dcnn.graph.forward({"x": x}, outputs=list(PROBED), keep_cache=False)
        for n in PROBED:
            values[n].append(out[n].astype(np.float64))
        factors.append(s)
        err.append(((x[:, :, rad:-rad, rad:-rad] - y) ** 2).mean(axis=(1, 2, 3)))
    return {n: np.concatenate(v) for n, v in values.items()}, np.concatenate(factors), np.concatenate(err)


def fit_probe(feats, labels, classes, steps=1500, lr=0.5):
    """Softmax regression by full-batch gradient descent on standardised features."""
    mean, sd = feats.mean(axis=0), feats.std(axis=0) + 1e-9
    design = np.c_[(feats - mean) / sd, np.ones(len(feats))]
    coef = np.zeros((design.shape[1], len(classes)))
    onehot = np.eye(len(classes))[np.searchsorted(classes, labels)]
    for _ in range(steps):
        logits = design @ coef
        prob = np.exp(logits - logits.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        coef -= lr * design.T @ (prob - onehot) / len(design)
    return lambda new: np.array(classes)[(np.c_[(new - mean) / sd, np.ones(len(new))] @ coef).argmax(axis=1)]


t0 = time.perf_counter()
f_train, y_train, _ = b_features("T91", 8 if FAST else 40)
f_test, y_test, e_test = b_features("Set14", 4 if FAST else 20)
print(f"probe fitted on {len(y_train)} T91 windows, scored on {len(y_test)} Set14 windows "
      f"({time.perf_counter() - t0:.1f} s)")
print(f"{'features':32s} {'accuracy':>9s} {'weighted':>9s}   weighted per factor "
      + " ".join(f"x{s:g}" for s in FACTORS))
weighted, per_factor = {}, {}
for node, label in PROBED.items():
    ok = fit_probe(f_train[node], y_train, FACTORS)(f_test[node]) == y_test
    weighted[node] = float((ok * e_test).sum() / e_test.sum())
    per_factor[node] = [float((ok * e_test)[y_test == s].sum() / e_test[y_test == s].sum()) for s in FACTORS]
    print(f"{label:32s} {ok.mean():9.3f} {weighted[node]:9.3f}   " + "  ".join(f"{v:.2f}" for v in per_factor[node]))
assert weighted["b_relu3"] > 0.6                         # B names the factor of unseen images ...
assert weighted["b_spectrum"] > weighted["b_period"]     # ... the spectrum sees the fractional ones
assert weighted["b_relu3"] > weighted["b_log"]           # ... and blur alone is not enough

# %% [markdown]
# Eight classes, some only 17 % apart (x1.5 and x1.75): chance is 1/8. Blur statistics alone
# (B's learned, log-pooled convolutions) tell the smallest and largest factors but little in
# between; the periodicity statistics at 2, 3 and 4 pixels cannot see most fractional factors;
# the spectrum names nearly every window that has detail to restore. B's hidden layer keeps
# less of the name than the spectrum alone (it confuses neighbours such as x1.75/x2 and
# x2.5/x3): B is not trained to name the factor, only to produce kernels that restore the window,
# and neighbouring factors need similar kernels. `docs/results.md` ("Beyond the paper")
# measures what this buys in dB at every factor.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell under each exercise; `exercises.try_it` checks it (and says "not
# attempted yet" until you do). Worked solutions: `notebooks/solutions/s05.py`.
#
# ### Exercise 1 — PSNR as the protocol scores it
#
# Implement `psnr_shaved(ref, est, scale)`: remove $\lceil s \rceil$ pixels from every side, then
# $10 \log_{10}(255^2/\mathrm{MSE})$. Why shave at all — what is wrong with the border pixels?

# %%
import exercises


def psnr_shaved(ref, est, scale):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_psnr_shaved, psnr_shaved)

# %% [markdown]
# ### Exercise 2 — a method of your own, by name
#
# Every command finds methods in one registry, `dynconv.sr`. Write `register_unsharp()` that
# registers `"unsharp"` — `exercises.unsharp` (unsharp masking of the bicubic image) — with
# `sr.register`. Afterwards `sr.evaluate(["Set5"], [3], ["bicubic", "unsharp"])` would score it
# beside bicubic, and `dynconv models` would list it. Mind what `register(name, factory, summary)`
# takes: a *factory*, a callable with no arguments that returns the method `f(up, scale) -> sr`
# (the registry builds a method only when it is asked for, so shipped models load lazily).

# %%
def register_unsharp():
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_register_unsharp, register_unsharp)
