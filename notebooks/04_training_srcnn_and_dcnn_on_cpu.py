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
# # 04 · Training an SRCNN and a DCNN on a CPU
#
# **What you will learn**
#
# * how the training data is made: T91 (91 training images, Yang et al. 2010) cut into 33×33
#   bicubic-degraded sub-images, each with the 21×21 centre of its ground truth — the pixels that
#   SRCNN's unpadded "9-1-5" network (kernels 9×9, 1×1 and 5×5) predicts;
# * how a *residual* network starts as exactly bicubic interpolation, so bicubic is both the
#   starting point and the bar to clear;
# * how to train with the library's loop, `dynconv.training.train.train`, from a config dict: one model
#   for ×2, ×3 and ×4 at once, Adam (§3), a cosine schedule, the PSNR (§1) on Set5 (five test
#   images) logged along the way;
# * how to score the result on Set5 with `dynconv.sr.evaluate`, the code behind every table;
# * what network B actually does: the reconstruction kernels it generates, window by window and
#   scale by scale — checked against eq 5 by hand.
#
# The networks are narrower than the paper's (fewer channels) so that each trains in a few minutes on
# one CPU core; the shipped weights (notebook 05) use the full widths and train longer. With
# `DYNCONV_FAST=1` (the test suite) each run shrinks to a few seconds. Every check is an `assert`.
#
# **Notation** as in the table at the top of notebook 01 (sample $t$ of a batch of $N$, the
# paper's $T$; `w[j, i]` is the paper's $k_{ij}$; `dy` an upstream gradient). `STRIDE` below is
# the step between the sub-images cut from T91, not a convolution's stride: every layer has
# stride 1.

# %%
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dynconv import reference, reproduce, sr
from dynconv.graph_report import draw, summary
from dynconv.sr import datasets, image, inference, models
from dynconv.training import train
from dynconv.training.subimages import training_subimages, valid_label_size

FAST = os.environ.get("DYNCONV_FAST") == "1"  # the test suite sets it: seconds instead of minutes
plt.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "font.size": 9})

SCALES = (2, 3, 4)
STRIDE = 33 if FAST else 14                       # sub-image stride on T91 (the paper's is 14)
WIDTHS = dict(n1=16, n2=8) if FAST else dict(n1=32, n2=16)   # the paper's: n1=64, n2=32
B_WIDTHS = dict(b_channels=8, b_hidden=16) if FAST else dict(b_channels=16, b_hidden=32)
STEPS = 150 if FAST else 4000
EVAL_EVERY = 75 if FAST else 500
workdir = tempfile.TemporaryDirectory(prefix="dynconv-nb04-")  # run folders; removed at the end
runs = Path(workdir.name)

# %% [markdown]
# ## 1. T91 sub-images
#
# For every T91 image and scale $s$: the Y channel — the luma (brightness) of the YCbCr colour
# space, MATLAB's `rgb2ycbcr`; the networks see Y only — divided by 255, cropped to a multiple of $s$,
# down-scaled and up-scaled again with MATLAB's bicubic `imresize` — the network's input — then cut
# into 33×33 squares every `stride` pixels. The label is the centre 21×21 of the same window of the
# original: a 9-1-5 network without padding loses $(9-1)/2 + (1-1)/2 + (5-1)/2 = 6$ pixels per
# side. `training_subimages` caches the result on disk (keyed by the images' contents and every
# parameter), so only the first call pays for the resizing.

# %%
t0 = time.perf_counter()
subimages = training_subimages("T91", scales=SCALES, size=33, stride=STRIDE,
                               label_size=valid_label_size(33, (9, 1, 5)))
print(f"{time.perf_counter() - t0:.1f} s; per scale:",
      {s: int(np.sum(subimages.scales == s)) for s in SCALES})
n = len(subimages.inputs)
assert subimages.inputs.shape == (n, 1, 33, 33) and subimages.labels.shape == (n, 1, 21, 21)
assert set(np.unique(subimages.scales)) == set(SCALES)
# MATLAB's Y lives in [16, 235]; the bicubic inputs overshoot it a little near edges
assert 16 / 255 - 1e-6 <= subimages.labels.min() and subimages.labels.max() <= 235 / 255 + 1e-6

# %% [markdown]
# What a residual network sees at step 0 is bicubic itself, so its first loss is the mean squared
# error between the centre of each input and its label. That error grows with the scale — ×4
# throws away more detail than ×2. In decibels it is the **PSNR**, the peak signal-to-noise
# ratio $10 \log_{10}(1/\mathrm{MSE})$ for pixels in $[0, 1]$ (higher is better):

# %%
centre = subimages.inputs[:, :, 6:-6, 6:-6]
bicubic_mse = {s: float(np.mean((centre[subimages.scales == s] - subimages.labels[subimages.scales == s]) ** 2))
               for s in SCALES}
bicubic_mse_all = float(np.mean((centre - subimages.labels) ** 2))
for s in SCALES:
    print(f"x{s}: bicubic MSE {bicubic_mse[s]:.5f}  ({10 * np.log10(1 / bicubic_mse[s]):.2f} dB on sub-images)")
assert bicubic_mse[2] < bicubic_mse[3] < bicubic_mse[4]

# %%
rng = np.random.default_rng(0)
fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))
for col, s in enumerate(np.repeat(SCALES, 2)):
    pick = rng.choice(np.flatnonzero(subimages.scales == s))
    axes[0, col].imshow(subimages.inputs[pick, 0], cmap="gray", vmin=0, vmax=1)
    axes[0, col].add_patch(plt.Rectangle((5.5, 5.5), 21, 21, fill=False, ec="tab:orange", lw=1))
    axes[0, col].set_title(f"input x{s} (33x33)")
    axes[1, col].imshow(subimages.labels[pick, 0], cmap="gray", vmin=0, vmax=1)
    axes[1, col].set_title("label (21x21)")
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Two small networks
#
# `models.srcnn` builds eqs 8–10: conv 9×9 (1→n1) · ReLU · conv 1×1 (n1→n2) · ReLU · conv 5×5
# (n2→1). `models.dcnn` keeps the first layer as network A and replaces the convolutions after
# it by dynamic layers (eq 5), whose kernels come from network B (conv 5×5 · ReLU · conv 1×1 ·
# ReLU · global average pooling · Linear · ReLU · one Linear per dynamic layer), fed the same
# 33×33 window. The options are those of the shipped `dcnn-x234` (`DCNN_OPTIONS` below): B takes
# the log of its pooled features and also gets the window's periodicity statistics (appendix
# notebook 07) — what lets it recognise the upscaling factor — and it generates the kernels of the
# 1×1 mapping layer as well as the reconstruction layer's.
#
# With `residual=True` the output is `input + network` and the last layer starts at zero — for the
# DCNN, the `Linear` of B that emits the last layer's kernel starts with zero weights and a zero
# bias, so every window gets the same zero kernel (the one for the 1×1 layer starts with zero
# weights and a static kernel as its bias). A fresh network therefore *is* bicubic:

# %%
srcnn = models.srcnn(**WIDTHS, residual=True, name="small-srcnn")
DCNN_OPTIONS = dict(b_log=True, b_log_eps=0.01, b_periods=[2, 3, 4], dynamic_layers=["conv2", "conv3"])
dcnn = models.dcnn(**WIDTHS, **B_WIDTHS, **DCNN_OPTIONS, residual=True, name="small-dcnn")
for m in (srcnn, dcnn):
    print(f"{m.name}: {m.num_params():,} parameters, {m.macs_per_pixel():,.0f} MACs per output pixel")
summary(dcnn.graph, shapes={"x": (64, 1, 33, 33)});

x = subimages.inputs[:64]
for m in (srcnn, dcnn):
    pred = m.graph.forward({"x": x}, outputs=[m.output], keep_cache=False)[m.output]
    assert pred.shape == (64, 1, 21, 21) and np.array_equal(pred, x[:, :, 6:-6, 6:-6]), m.name

# %% [markdown]
# The two graphs drawn (`graph_report.draw`), network A down the left: follow the orange arrows into the
# DCNN's dynamic layers `conv2` and `dyn`, each fed a feature map from A (grey) and its kernels
# from one of B's two `Linear` heads, and the one from `skip` that adds the input back at the end.

# %%
fig, (ax_s, ax_d) = plt.subplots(1, 2, figsize=(10.4, 10.1), gridspec_kw={"width_ratios": [2, 4]})
draw(srcnn.graph, {"x": (64, 1, 33, 33)}, ax=ax_s)
draw(dcnn.graph, {"x": (64, 1, 33, 33)}, ax=ax_d)
ax_s.set_ylim(ax_d.get_ylim())  # the same height per row in both
ax_s.set_title(srcnn.name)
ax_d.set_title(dcnn.name)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Training with `dynconv.training.train.train`
#
# The library's loop takes a config — `train.DEFAULTS` with some keys overridden — and an output
# folder. Each step draws a batch of 64 sub-images (all scales mixed) with a random flip/rotation,
# runs the graph forward and backward, and lets Adam update the parameters (Adam moves each
# parameter by a running mean of its gradients divided by their running root-mean-square); every `eval.every`
# steps it scores Set5 at each training scale. The folder receives `checkpoint.npz`, `log.csv`,
# `curves.png` and, at the end, `model.npz` with the Set5 scores in its header.
#
# `"model": m.config` trains exactly the architecture built above (the loop rebuilds it from the
# config with the same seed). The DCNN needs smaller learning rates for B, as in the shipped recipe
# `configs/dcnn-x234.toml`: B's kernel corrections sum many hidden units, and with the base rate
# Adam moves them far faster than the kernels they correct.

# %%
B_GROUPS = {"b_fc2*.w": {"lr": 2e-5}, "b_conv*": {"lr": 1e-4}, "b_fc1.*": {"lr": 1e-4}}


def config_for(model, groups=None):
    return train.merge(train.DEFAULTS, {
        "model": model.config,
        "data": {"dataset": "T91", "scales": list(SCALES), "stride": STRIDE},
        "train": {"steps": STEPS, "batch_size": 64, "optimizer": "adam", "lr": 1e-3,
                  "schedule": "cosine", "groups": groups or {}},
        "eval": {"every": EVAL_EVERY, "dataset": "Set5", "final_datasets": ["Set5"]},
    })


configs = {"small-srcnn": config_for(srcnn), "small-dcnn": config_for(dcnn, B_GROUPS)}
print({k: configs["small-dcnn"][k] for k in ("data", "train")})

# %%
results, seconds = {}, {}
for name, config in configs.items():
    print(f"--- {name}")
    t0 = time.perf_counter()
    results[name] = train.train(config, runs / name, progress=False, log=sys.stdout)
    seconds[name] = time.perf_counter() - t0
    print(f"{name}: {results[name]['step']} steps, {results[name]['wall_seconds']:.0f} s of training, "
          f"{seconds[name]:.0f} s with the Set5 evaluations")
    assert results[name]["status"] == "done"
trained = {name: models.Model.load(runs / name / "model.npz") for name in configs}

# %% [markdown]
# The log has one row per evaluation: the mean training loss since the previous row and the Set5
# PSNR at each scale. The loss is the MSE on the [0, 1] scale, so bicubic's level (dotted) is the
# MSE every run started from.

# %%
def read_log(path):
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


logs = {name: read_log(runs / name / "log.csv") for name in configs}
bicubic_set5 = {r["scale"]: r["psnr"] for r in sr.evaluate(["Set5"], SCALES, ["bicubic"], ("psnr",))
                if r["image"] == "mean"}

fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(10, 3.4))
for (name, rows), style in zip(logs.items(), ("-", "--")):
    steps = [0] + [r["step"] for r in rows]          # step 0: the fresh network, i.e. bicubic
    ax_loss.plot(steps, [bicubic_mse_all] + [r["loss"] for r in rows], "o" + style, ms=3, label=name)
    for s, c in zip(SCALES, ("tab:blue", "tab:orange", "tab:green")):
        ax_psnr.plot(steps, [0] + [r[f"psnr_x{s}"] - bicubic_set5[s] for r in rows], "o" + style, ms=3,
                     c=c, label=f"{name} x{s}")
ax_loss.axhline(bicubic_mse_all, ls=":", c="gray", label="bicubic")
ax_loss.set(xlabel="step", ylabel="training MSE (mean over the log period)", title="loss")
ax_loss.legend(fontsize=7)
ax_psnr.axhline(0, ls=":", c="gray")
ax_psnr.set(xlabel="step", ylabel="Set5 PSNR − bicubic (dB)", title="validation")
ax_psnr.legend(fontsize=7, ncol=2)
fig.tight_layout()
plt.show()

for name, rows in logs.items():
    assert rows[-1]["loss"] < rows[0]["loss"], name   # the loss went down
    assert rows[-1]["loss"] < bicubic_mse_all, name   # and below where it started: bicubic's

# %% [markdown]
# ## 4. Set5 against bicubic
#
# `sr.evaluate` scores with PSNR and SSIM (the structural similarity, 1 for identical images;
# notebook 05, §2 defines it). It runs the standard protocol on every image (Y channel, MATLAB bicubic
# degradation, output rounded to 8 bits, `scale` pixels shaved) for every method; a model plugs in
# as it is, or named as a `(name, model)` pair (`sr.resolve`): its `Model.predict` runs on the
# whole image (the DCNN window by window, as it was trained).

# %%
methods = ["bicubic"] + [(name, m) for name, m in trained.items()]
records = sr.evaluate(["Set5"], SCALES, methods, ("psnr", "ssim"))
mean = {(r["scale"], r["method"]): r for r in records if r["image"] == "mean"}

print(f"{'Set5 mean':10s}" + "".join(f"{m:>22s}" for m in ("bicubic", *trained)))
for s in SCALES:
    cells = [f"{mean[(s, m)]['psnr']:.2f} dB / {mean[(s, m)]['ssim']:.4f}" for m in ("bicubic", *trained)]
    print(f"x{s:<9d}" + "".join(f"{c:>22s}" for c in cells))

for name in trained:
    for s in SCALES:
        gain = mean[(s, name)]["psnr"] - mean[(s, "bicubic")]["psnr"]
        assert gain > 0, (name, s, gain)
        assert mean[(s, name)]["ssim"] > mean[(s, "bicubic")]["ssim"], (name, s)
        # the scores the training loop stored are the same protocol, the same numbers
        assert abs(results[name]["scores"]["Set5"][f"x{s}"]["psnr"] - mean[(s, name)]["psnr"]) < 1e-3
    print(f"{name}: +{np.mean([mean[(s, name)]['psnr'] - mean[(s, 'bicubic')]['psnr'] for s in SCALES]):.2f} dB "
          "over bicubic on average")

# %% [markdown]
# Both beat bicubic at every scale with a single network. How far they get in a few minutes is far
# from the paper's numbers (notebook 05 has those, with the full-width, longer-trained models).
#
# ## 5. The kernels network B generates
#
# The DCNN's last layer has no kernel of its own: B computes one per 33×33 window from that window's
# pixels. `inference.window_kernels(model, up, scale)` returns them for the windows `Model.predict`
# uses on an image (`inference.window_grid`) — shape (windows, n2, 5, 5), plus one bias per window.
#
# First a check by hand, with notebook 02's literal eq 5: take one window, run the network up to
# the reconstruction layer's input (`relu2`, the feature maps after the dynamic 1×1 layer), apply
# the kernel B made for it with `reference.dynamic_conv2d_forward`, add the centre of the input
# back (the residual) — that must be the network's output on the window.

# %%
dyn = trained["small-dcnn"]
rad = dyn.radius                                                          # pixels lost per side: 6
butterfly = dict(datasets.load_dataset("Set5"))["butterfly"]                  # RGB, uint8
luma = image.rgb_to_y(image.modcrop(butterfly, 3)).astype(np.float64) / 255  # Y in [0, 1]
up = image.degrade(luma, 3)                                               # the network's input at x3

kern, bias = inference.window_kernels(dyn, up, 3)
padded, rows, cols = inference.window_grid(dyn, up)
n2, f3 = dyn.config["n2"], dyn.config["f3"]
print(f"x3: {len(rows)} x {len(cols)} windows, kernels {kern.shape}, biases {bias.shape}")
assert kern.shape == (len(rows) * len(cols), n2, f3, f3) and bias.shape == (len(kern),)

n_win = len(kern) // 2                                # a window in the middle of the image
top, left = rows[n_win // len(cols)], cols[n_win % len(cols)]
win = padded[top:top + 33, left:left + 33][None, None].astype(np.float32)
out = dyn.graph.forward({"x": win}, outputs=["relu2", dyn.output], keep_cache=False)
by_hand, _ = reference.dynamic_conv2d_forward(out["relu2"], kern[n_win][None, None], bias[n_win][None, None])
by_hand += win[:, :, rad:-rad, rad:-rad]
assert np.allclose(by_hand, out[dyn.output], atol=1e-5)
print("eq 5 by hand == the network's output on window", n_win)

# %% [markdown]
# Now the kernels themselves, for the same image at ×2, ×3 and ×4. `reproduce.kernel_stats`
# averages them over the windows into $k_{\text{mean}}$ and measures how much they vary *within*
# the image (the mean over windows of $\lVert k_{\text{win}} - k_{\text{mean}}\rVert / \lVert
# k_{\text{mean}}\rVert$, $k_{\text{win}}$ a window's kernel) and *between scales*
# ($\lVert k_{\text{mean}}(s) - k_{\text{mean}}(2)\rVert / \lVert k_{\text{mean}}(2)\rVert$). A static network
# would give exactly 0 for both; so does the fresh DCNN, whose B outputs the same (zero) kernel
# everywhere.

# %%
means, stats = reproduce.kernel_stats(dyn, butterfly, SCALES)
for row in stats:
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
fresh_means, fresh_stats = reproduce.kernel_stats(dcnn, butterfly, (3,))
assert fresh_stats[0]["spread_within_image"] == 0 and not fresh_means[3].any()
for row in stats:
    assert row["spread_within_image"] > 0          # B adapts the kernel to each window ...
assert stats[-1]["rel_diff_to_x2"] > 0              # ... and to the scale

summed = {s: means[s].sum(axis=0) for s in SCALES}  # (f3, f3): the kernel summed over A's channels
vmax = max(np.abs(k).max() for k in summed.values())
diff = summed[4] - summed[2]
fig, axes = plt.subplots(1, 4, figsize=(9, 2.6), constrained_layout=True)
for ax, s in zip(axes, SCALES):
    im = ax.imshow(summed[s], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_title(f"x{s}")
fig.colorbar(im, ax=list(axes[:3]), shrink=0.9)
im = axes[3].imshow(diff, cmap="PuOr_r", vmin=-np.abs(diff).max(), vmax=np.abs(diff).max())
axes[3].set_title("x4 − x2")
fig.colorbar(im, ax=axes[3], shrink=0.9)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("butterfly: B's kernel, mean over the windows, summed over A's channels", fontsize=9)
plt.show()

# %% [markdown]
# In a short run B's correction stays small (it trains with the smallest learning rates); the
# shipped `dcnn` of notebook 05 has had far longer, and `dynconv reproduce --table figures` draws
# the same picture for it, channel by channel.

# %%
workdir.cleanup()

# %% [markdown]
# ## Where this lives in dynconv
#
# * `dynconv.training.subimages.training_subimages` (sub-images, cached), `dynconv.training.subimages.random_dihedral`
#   (augmentation), `dynconv.training.batches.Batches` (the batches a run draws);
# * `dynconv.sr.models.srcnn`, `dcnn`, `Model.predict`, `Model.load`; `dynconv.sr.inference` (tiled and
#   windowed prediction, `window_grid`, `window_kernels`);
# * `dynconv.training.train.train`, `DEFAULTS`, `merge`, `load_config` — the same loop as
#   `dynconv train --config configs/<name>.toml`, which trains the shipped weights;
# * `dynconv.sr.evaluate`, the protocol behind every number (a model, a name or a `.npz` path is a
#   method: `dynconv.sr.resolve`);
# * `dynconv.reproduce.kernel_stats`.
#
# Notebook 05 loads the shipped, fully trained models and reproduces the paper's tables.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell under each exercise; `exercises.try_it` checks it (and says "not
# attempted yet" until you do). Worked solutions: `notebooks/solutions/s04.py`.
#
# ### Exercise 1 — balancing the scales
#
# `train.balance_scales` weights each scale's samples by $1/\mathrm{MSE}_s$, the mean squared error
# of bicubic (the centre of the input window) against the label at that scale, normalised so that
# the mean weight over the samples is 1. Implement `scale_weights(inputs, labels, scales)` returning
# `{scale: weight}`. Why does a *relative* error make every scale's decibels count alike?

# %%
import exercises


def scale_weights(inputs, labels, scales):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_scale_weights, scale_weights)

# %% [markdown]
# ### Exercise 2 — the cosine schedule
#
# The fast recipe decays the rate with `optim.CosineLR(total, min_factor)`: at step $\tau$ (`t`
# in code) the rate is the base rate times
#
# $$
# f(\tau) = m + (1 - m)\,\tfrac12\big(1 + \cos(\pi \min(\tau, \tau_{\max})/\tau_{\max})\big),
# \qquad \tau_{\max} = \texttt{total},\quad m = \texttt{min\_factor}:
# $$
#
# 1 at $\tau = 0$, $m$ from $\tau = \tau_{\max}$ on. Implement `cosine_lr(t, total, min_factor)`. At
# which step does $f$ fall fastest?

# %%
def cosine_lr(t, total, min_factor):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_cosine_lr, cosine_lr)
