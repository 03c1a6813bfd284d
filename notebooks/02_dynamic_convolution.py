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
# # 02 · Dynamic convolution: per-sample kernels (paper eqs 5–7)
#
# **What you will learn**
#
# * what changes when every sample $t$ brings its own kernel $k^t$ (eq 5): the dynamic layer is a
#   static layer per sample;
# * why the input gradient (eq 6) is eq 2 with the sample's kernel, and why the kernel gradient
#   (eq 7) is **one gradient per sample**: the paper's $\frac1T\sum_t$, copied from eq 3, is read
#   here as the chain rule's sum over the samples a kernel affects, which has only one non-zero
#   term; the other reading, a batch average handed to every sample, is rejected (§3);
# * how that gradient flows into the filter-generating network B, where the sum over the batch
#   reappears — checked by finite differences through a small network B.
#
# The notebook ends with exercises. (The periodicity statistics that the shipped multi-scale
# network B also sees are a project extension, beyond the paper: appendix notebook 07.)
#
# **Notation** as in the table at the top of notebook 01: sample $t$ of a batch of $N$ (the
# paper's $T$), input map $i$, output map $j$, taps $(u, v)$; $\bar x$ is the zero-padded input
# and $\tilde x$ a flipped one; $*$ is a true convolution and $\star$ a cross-correlation;
# $g = \partial l/\partial y$ is the upstream gradient, `dy` in code. New here: the dynamic kernels
# `k` are $(N, F, C, k_h, k_w)$ — one $(F, C, k_h, k_w)$ kernel per sample, $k^t_{ij}$ in the
# paper, `k[t, j, i]` in code. The layer is still a cross-correlation over $\bar x$ with stride 1
# (every output pixel, no skipping). Every check is an `assert`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from dynconv import kernels, reference
from dynconv.gradcheck import clear_of_kinks, dcnn_graph, gradcheck
from dynconv.layers import Conv2D, DynamicConv2D, GlobalAvgPool2D, Linear, MSELoss, ReLU

FAST = os.environ.get("DYNCONV_FAST") == "1"  # the test suite sets it: fewer finite differences
rng = np.random.default_rng(7)
plt.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "font.size": 9})

# %% [markdown]
# ## 1. Per-sample kernels (eq 5)
#
# In the DCNN, network A turns the image into feature maps $x^t$ and network B, fed the same image,
# outputs the kernels $k^t$ of the last layer. The layer computes $y_j^t = \sum_i k_{ij}^t * x_i^t$:
#
# $$
# y_{t,j}[r,c] \;=\; b_{t,j} + \sum_{i}\sum_{u,v} k_{t,j,i}[u,v]\;\bar x_{t,i}[r+u,\;c+v].
# \qquad\text{(5)}
# $$
#
# The only difference from eq 1 is the index $t$ on the kernel (and on the optional bias). So a
# dynamic layer is a loop over samples of static layers, each with its own kernel:

# %%
def dynamic_forward(x, k, b, pad):
    """Eq 5: sample t through the static layer of eq 1 with kernel k[t] and bias b[t]."""
    return np.concatenate([reference.conv2d_forward(x[[t]], k[t], b[t], pad=pad)[0]
                           for t in range(x.shape[0])])


N, C, F, H, W, kh, kw, pad = 3, 2, 2, 6, 7, 3, 2, 1
x = rng.standard_normal((N, C, H, W))
k = rng.standard_normal((N, F, C, kh, kw))
b = rng.standard_normal((N, F))

y = dynamic_forward(x, k, b, pad)
y_ref, cache_ref = reference.dynamic_conv2d_forward(x, k, b, pad=pad)
y_fast, cache_fast = kernels.dynamic_conv2d_forward(x, k, b, pad=pad)
assert np.allclose(y, y_ref, rtol=0, atol=1e-12)
assert np.allclose(y, y_fast, rtol=0, atol=1e-12)

# With the same kernel for every sample, eq 5 is eq 1.
w_shared = k[0]
y_same, _ = kernels.dynamic_conv2d_forward(x, np.broadcast_to(w_shared, k.shape).copy(), pad=pad)
assert np.allclose(y_same, reference.conv2d_forward(x, w_shared, pad=pad)[0])
print("y:", y.shape, "— eq 5 = eq 1 per sample, in the reference loops and in the numba kernels")

# %% [markdown]
# ## 2. The input gradient (eq 6)
#
# The derivation of eq 2 (notebook 01, §2) never summed over samples: $\bar x_{t,i}$ only feeds
# $y_{t,\cdot}$. Replacing $w_{j,i}$ by $k^t_{j,i}$ changes nothing else:
#
# $$
# \frac{\partial l}{\partial \bar x_{t,i}[m,n]} = \sum_j \sum_{u,v} k_{t,j,i}[u,v]\;
#     g_{t,j}[m-u,\;n-v] = \sum_j \big(g_{t,j} * k^t_{j,i}\big)[m,n],
# \qquad\text{(6)}
# $$
#
# a full convolution of the upstream gradient $g = \partial l/\partial y$ with the sample's own
# kernel, cropped by the padding. This gradient goes back to network A.

# %%
def dynamic_backward(dy, x, k, b, pad):
    """Eqs 6–7 by the loop over samples: each sample is a static layer with kernel k[t]."""
    dx, dk, db = np.zeros_like(x), np.zeros_like(k), np.zeros_like(b)
    for t in range(x.shape[0]):
        _, cache = reference.conv2d_forward(x[[t]], k[t], b[t], pad=pad)
        dx_t, dk[t], db[t] = reference.conv2d_backward(dy[[t]], cache)
        dx[t] = dx_t[0]
    return dx, dk, db


dy = rng.standard_normal(y.shape)
dx, dk, db = dynamic_backward(dy, x, k, b, pad)
dx_ref, dk_ref, db_ref = reference.dynamic_conv2d_backward(dy, cache_ref)
dx_fast, dk_fast, db_fast = kernels.dynamic_conv2d_backward(dy, cache_fast)
assert np.allclose(dx, dx_ref, rtol=1e-12, atol=1e-12) and np.allclose(dx, dx_fast, rtol=1e-10, atol=1e-10)
# Eq 6 as printed — a true full convolution with the sample's own kernel — is this gradient exactly.
assert np.allclose(dx, reference.eq6_input_gradient(dy, k, pad))

# %% [markdown]
# ## 3. The kernel gradient is per sample (eq 7)
#
# Differentiate with respect to one sample's kernel tap, summing over everything it could affect —
# every sample $t'$, every output pixel:
#
# $$
# \frac{\partial l}{\partial k_{t,j,i}[u,v]}
#   = \sum_{t'} \sum_{r,c} g_{t',j}[r,c]\;\frac{\partial y_{t',j}[r,c]}{\partial k_{t,j,i}[u,v]} .
# $$
#
# Sample $t'$ is computed from $k^{t'}$ alone, so $\partial y_{t'} / \partial k^{t} = 0$ for
# $t' \ne t$: the sum over samples has **exactly one non-zero term**,
#
# $$
# \frac{\partial l}{\partial k_{t,j,i}[u,v]} = \sum_{r,c} g_{t,j}[r,c]\;\bar x_{t,i}[r+u,\;c+v],
# \qquad
# \frac{\partial l}{\partial b_{t,j}} = \sum_{r,c} g_{t,j}[r,c] .
# \qquad\text{(7)}
# $$
#
# This is eq 3 without its sum over the batch: a correlation of sample $t$'s padded input with
# sample $t$'s output gradient. The paper prints eq 7 as $\frac1T\sum_t(\partial l/\partial y_j^t)*\tilde
# x_i^t$, the form of eq 3, and the printed sum has two readings. **The one taken here**: it is the
# sum over samples above, of which only the term of sample $t$ is non-zero, so eq 7 means the
# per-sample gradient (with the $\frac1T$ belonging to the loss, as for eq 3). **The one rejected**:
# a batch average handed to **every** sample, the same kernel gradient
# $\frac1T\sum_t \partial l/\partial k^t$ for all $t$. That is not the gradient of any one
# sample's kernel: it is $\frac1T$ times the gradient of a kernel *shared* by all samples (move
# every $k^t$ by the same small $\delta$ and, to first order, the loss changes by
# $\langle \sum_t \partial l/\partial k^t,\; \delta\rangle$), as the
# cells below show — the finite differences reject it, and with tied kernels the sum is eq 3's
# $\partial l/\partial w$. (When the loss is a batch mean, its $1/T$ is already inside $g$, as for eq 3.) And as for eq 3 (notebook 01, §3), the per-sample term as
# printed, $(\partial l/\partial y_j^t) * \tilde x_i^t$ — a true convolution with the flipped input — is
# this gradient rotated by 180°, the gradient of the kernel of a convolution-form layer.

# %%
# The library returns one kernel (and bias) gradient per sample, in both implementations:
assert dk_ref.shape == dk_fast.shape == k.shape and db_ref.shape == db_fast.shape == b.shape
assert np.allclose(reference.eq7_kernel_gradient(dy, x, pad)[..., ::-1, ::-1], dk)  # eq 7 as printed, rotated
assert np.allclose(dk, dk_ref, rtol=1e-12, atol=1e-12) and np.allclose(dk, dk_fast, rtol=1e-10, atol=1e-10)
assert np.allclose(db, db_ref) and np.allclose(db, db_fast)

# float32, the training dtype: same numbers to single precision.
f32 = [a.astype(np.float32) for a in (x, k, b, dy)]
y32, cache32 = kernels.dynamic_conv2d_forward(*f32[:3], pad=pad)
dx32, dk32, db32 = kernels.dynamic_conv2d_backward(f32[3], cache32)
assert dk32.dtype == np.float32
for mine, got in [(y, y32), (dx, dx32), (dk, dk32), (db, db32)]:
    assert np.allclose(got, mine, rtol=1e-4, atol=1e-4 * np.abs(mine).max())

# %% [markdown]
# **Finite differences decide.** With $f(x, k, b) = \langle g, y\rangle$, perturb single kernel taps
# of each sample. The per-sample gradient matches; the literal reading of the paper's eq 7 — the
# same batch-averaged gradient for every sample — does not.

# %%
def f(k_):
    return np.vdot(dy, kernels.dynamic_conv2d_forward(x, k_, b, pad=pad)[0])


h = 1e-6
n_taps = 6 if FAST else k.size
taps = rng.permutation(k.size)[:n_taps]
numeric = np.zeros(n_taps)
for n, idx in enumerate(taps):
    up, down = k.copy(), k.copy()
    up.flat[idx] += h
    down.flat[idx] -= h
    numeric[n] = (f(up) - f(down)) / (2 * h)

paper_literal = np.broadcast_to(dk.mean(axis=0), k.shape)  # (1/T) sum_t, given to every sample
err_per_sample = np.abs(numeric - dk.flat[taps]).max() / np.abs(numeric).max()
err_literal = np.abs(numeric - paper_literal.flat[taps]).max() / np.abs(numeric).max()
print(f"{n_taps} kernel taps: relative error of eq 7 per sample {err_per_sample:.1e}, "
      f"of the batch-averaged reading {err_literal:.1e}")
assert err_per_sample < 1e-7
assert err_literal > 0.1

# %% [markdown]
# Where does eq 3's batch sum go, then? Suppose every sample used the *same* kernel, $k^t = w$ — a
# network B that ignores its input. By the chain rule
# $\partial l/\partial w = \sum_t \partial l/\partial k^t$: the sum over samples reappears at the
# shared parameter, and it is exactly eq 3.

# %%
k_tied = np.broadcast_to(w_shared, k.shape).copy()
_, cache_tied = kernels.dynamic_conv2d_forward(x, k_tied, pad=pad)
_, dk_tied, _ = kernels.dynamic_conv2d_backward(dy, cache_tied)
_, cache_static = kernels.conv2d_forward(x, w_shared, pad=pad)
_, dw_static, _ = kernels.conv2d_backward(dy, cache_static)
assert np.allclose(dk_tied.sum(axis=0), dw_static)
# The literal reading of eq 7 gives every sample this shared-kernel gradient divided by T:
assert np.allclose(dk_tied.mean(axis=0), dw_static / len(x))

# %% [markdown]
# ## 4. The gradient flows into network B
#
# In the DCNN the kernels are an output of network B with parameters $\theta$, shared by all
# samples: $k^t = B(\text{image}^t;\,\theta)$. The chain rule through the kernels gives
#
# $$
# \frac{\partial l}{\partial \theta} \;=\; \sum_t \Big(\frac{\partial k^t}{\partial \theta}\Big)^{\!\top}
#   \frac{\partial l}{\partial k^t},
# $$
#
# so eq 7 hands B one kernel gradient per sample and **B's own backward pass does the sum over the
# batch** — in its last layer, a `Linear` emitting the flat kernels, it is the matrix product
# $\partial l/\partial M = (\partial l/\partial k_{\text{flat}})^\top \phi$ over the batch rows, for
# the layer's weight matrix $M$ and its input rows $\phi_t$ (B's features).
#
# **The flat kernel layout.** A `Linear` layer maps a vector to a vector, $k_{\text{flat}} = M \phi_t + b_M$
# per sample, so network B emits each sample's kernels as one row of $F \cdot C \cdot k_h \cdot k_w$
# numbers (plus $F$ biases). `DynamicConv2D` reads that row in NumPy's row-major order of the shape
# $(F, C, k_h, k_w)$ — the last index varies fastest — and takes the biases from the end:
#
# ```
# k_flat[t] = [ k[t,0,0,0,0] k[t,0,0,0,1] ... k[t,0,0,2,2] | k[t,0,1,0,0] ... | ... | b[t,0] ... b[t,F-1] ]
#               \____ j = 0, i = 0: the 3x3 taps, row by row ___/   \_ j=0, i=1 _/        \__ F biases __/
# ```
#
# i.e. `k = k_flat[:, :F*C*kh*kw].reshape(N, F, C, kh, kw)` and `b = k_flat[:, F*C*kh*kw:]`.
# The gradient it returns for `k_flat` has the same layout.
#
# A small DCNN built from dynconv layers and run by hand (notebook 03 lets the graph executor do
# the wiring):
#
# * A: `Conv2D(1→3, 3×3, same)` → `ReLU` — the feature maps $x^t$ ("same" padding keeps the
#   image size, notebook 01 §1);
# * B: `Conv2D(1→4, 3×3)` → `ReLU` → `GlobalAvgPool2D` (the mean of each map over its pixels: a
#   vector of 4 numbers per sample) → `Linear(4 → 3·3·3 + 1)` — per sample, a
#   flat $1 \times 3 \times 3 \times 3$ kernel and a bias;
# * `DynamicConv2D(3→1, 3×3, same, bias)` takes both; `MSELoss` (the mean of the squared errors
#   over all $N \cdot C \cdot H \cdot W$ elements) against a target.

# %%
N, H = 4, 8
init_args = dict(init="he", dtype=np.float64)  # He initialisation, notebook 08 §1
# need_input_grad=False: the image needs no gradient, so these layers skip eq 2 (notebook 03, §2).
layers = {
    "a_conv": Conv2D(1, 3, 3, pad="same", rng=rng, need_input_grad=False, **init_args),
    "a_relu": ReLU(),
    "b_conv": Conv2D(1, 4, 3, rng=rng, need_input_grad=False, **init_args),
    "b_relu": ReLU(),
    "b_pool": GlobalAvgPool2D(),
    "dyn": DynamicConv2D(3, 1, 3, pad="same", bias=True),
    "loss": MSELoss(),
}
layers["b_fc"] = Linear(4, layers["dyn"].flat_size, rng=rng, **init_args)
for layer in (layers["a_conv"], layers["b_conv"], layers["b_fc"]):
    layer.params["b"][...] = 0.1 * rng.standard_normal(layer.params["b"].shape)  # no ReLU ties at 0

# Four different images (horizontal and vertical stripes, a ramp, noise), so B has something to react to.
rows, cols = np.mgrid[0:H, 0:H] / (H - 1)
image = np.stack([np.cos(3 * np.pi * rows), np.cos(3 * np.pi * cols), 2 * rows + cols - 1.5,
                  rng.standard_normal((H, H))])[:, None] + 0.1 * rng.standard_normal((N, 1, H, H))
target = rng.standard_normal((N, 1, H, H))


def forward(L):
    """Network A and network B into the dynamic layer; returns the loss and the ReLU inputs."""
    a_pre = L["a_conv"].forward(image)
    b_pre = L["b_conv"].forward(image)
    features = L["a_relu"].forward(a_pre)
    k_flat = L["b_fc"].forward(L["b_pool"].forward(L["b_relu"].forward(b_pre)))
    pred = L["dyn"].forward(features, k_flat)
    return float(L["loss"].forward(pred, target)), (a_pre, b_pre), k_flat


def backward(L):
    """Reverse order; the dynamic layer sends dl/dx to A (eq 6) and dl/dk per sample to B (eq 7)."""
    dpred, _ = L["loss"].backward()
    d_features, dk_flat = L["dyn"].backward(dpred)
    L["a_conv"].backward(*L["a_relu"].backward(d_features))
    (d_phi,) = L["b_fc"].backward(dk_flat)  # B's parameters collect the sum over samples here
    L["b_conv"].backward(*L["b_relu"].backward(*L["b_pool"].backward(d_phi)))
    return dk_flat


loss0, relu_inputs, k_flat = forward(layers)
dk_flat = backward(layers)
margin = min(np.abs(v).min() for v in relu_inputs)
print(f"loss {loss0:.4f}; k_flat {k_flat.shape}, dl/dk_flat {dk_flat.shape}; "
      f"closest ReLU input to the kink: {margin:.1e}")
# Finite differences below move a pre-activation by ~1e-6: they must not cross a ReLU kink.
assert margin > 1e-4

# %% [markdown]
# **Finite-difference check through network B.** Perturb B's parameters — its convolution far from
# the dynamic layer, its `Linear` right before it — and A's, recompute the loss, compare with the
# gradients the layers stored. Each tensor is probed along random unit directions $\delta$ (`d`),
# with a step $h$: $\big(l(\theta + h\delta) - l(\theta - h\delta)\big)/2h$ against
# $\langle \nabla_\theta l, \delta\rangle$.

# %%
def directional_check(layer, name, n_dirs, h=1e-6):
    p, analytic = layer.params[name], layer.grads[name].copy()
    p0, worst, scale = p.copy(), 0.0, 0.0
    for _ in range(n_dirs):
        d = rng.standard_normal(p.shape)
        d /= np.linalg.norm(d)
        p[...] = p0 + h * d
        l_up = forward(layers)[0]
        p[...] = p0 - h * d
        l_down = forward(layers)[0]
        p[...] = p0
        numeric, exact = (l_up - l_down) / (2 * h), np.vdot(analytic, d)
        worst, scale = max(worst, abs(numeric - exact)), max(scale, abs(numeric), abs(exact))
    return worst / scale


n_dirs = 3 if FAST else 12
for node in ("b_conv", "b_fc", "a_conv"):
    for name in ("w", "b"):
        err = directional_check(layers[node], name, n_dirs)
        print(f"{node + '.' + name:8s} {str(layers[node].params[name].shape):14s} "
              f"{n_dirs} directions, max relative error {err:.1e}")
        assert err < 1e-6

# %% [markdown]
# `dynconv.gradcheck` automates this for any layer or graph. `dcnn_graph` is a DCNN of the same
# shape wired by the graph executor; `clear_of_kinks` draws one whose ReLU inputs keep away from 0.
# The dynamic layer alone, in its flat-kernel-with-bias form, is checked too.

# %%
graph, feeds = clear_of_kinks(lambda: (dcnn_graph(rng), {"x": rng.standard_normal((2, 1, 7, 7)),
                                                         "target": rng.standard_normal((2, 1, 7, 7))}))
report = gradcheck(graph, feeds, rng=1)
print(report)
assert report.ok

dyn = DynamicConv2D(2, 3, 3, pad=1, bias=True)
report = gradcheck(dyn, [rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, dyn.flat_size))], rng=2)
assert report.ok

# %% [markdown]
# ## 5. Pictures: one kernel per sample
#
# Each row is a sample: its image, then the three $3\times3$ kernels `k[t, 0, i]` that network B
# generated for it (one per feature map $i$ of A), then their gradients `dk[t, 0, i]` (eq 7); kernels
# and gradients each on one symmetric colour scale (white is 0). Different images, different
# kernels, different gradients.

# %%
dyn_layer = layers["dyn"]
n_k = int(np.prod(dyn_layer.kernel_shape))
k5 = k_flat[:, :n_k].reshape(N, *dyn_layer.kernel_shape)  # the flat layout: (F, C, kh, kw), then F biases
dk5 = dk_flat[:, :n_k].reshape(N, *dyn_layer.kernel_shape)
assert not np.allclose(k5[0], k5[1]) and not np.allclose(dk5[0], dk5[1])

fig, axes = plt.subplots(N, 7, figsize=(9, 1.3 * N), layout="constrained")
k_lim, dk_lim = np.abs(k5).max(), np.abs(dk5).max()
for t in range(N):
    axes[t, 0].imshow(image[t, 0], cmap="gray")
    axes[t, 0].set_ylabel(f"t = {t}")
    for i in range(3):
        im = axes[t, 1 + i].imshow(k5[t, 0, i], cmap="RdBu_r", vmin=-k_lim, vmax=k_lim)
        im_d = axes[t, 4 + i].imshow(dk5[t, 0, i], cmap="PuOr_r", vmin=-dk_lim, vmax=dk_lim)
for ax, title in zip(axes[0], ["image"] + [f"k[t, 0, {i}]" for i in range(3)] + [f"dk[t, 0, {i}]" for i in range(3)]):
    ax.set_title(title, fontsize=8)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(im, ax=axes[:, 1:4], shrink=0.8, label="kernel tap")
fig.colorbar(im_d, ax=axes[:, 4:], shrink=0.8, label="gradient of the tap")
plt.show()

# How much a gradient varies within its 3x3 patch, over every (sample, input map) patch:
patches = dk5[:, 0].reshape(N * dk5.shape[2], -1)
spread = patches.std(axis=1) / np.abs(patches.mean(axis=1))
amax, amin = np.abs(patches).max(axis=1), np.abs(patches).min(axis=1)
print(f"within a patch: std/|mean| from {spread.min():.2f} to {spread.max():.2f}; "
      f"max|dk|/min|dk| up to {(amax / amin).max():.1f}")

# %% [markdown]
# The gradients are not uniform patches: in the stored run (the line printed above), a patch's
# standard deviation is 0.21–0.62 of its mean's magnitude, and its largest tap is up to 6.6
# times its smallest (in magnitude). Plotted as the rows
# `dl/dk_flat[t]` (the flat layout of §4: 27 taps, then the bias), the samples differ clearly,
# and none of them is the batch mean that the literal reading of eq 7 would hand every sample.

# %%
fig, ax = plt.subplots(figsize=(8, 2.6))
for t in range(N):
    ax.plot(dk_flat[t], "o-", ms=3, lw=1, label=f"sample t = {t}")
ax.plot(dk_flat.mean(axis=0), "k--", lw=1.5, label="batch mean (eq 7 read literally)")
for i in range(1, 3):
    ax.axvline(9 * i - 0.5, c="gray", lw=0.5)
ax.axvline(n_k - 0.5, c="gray", lw=1)
ax.axhline(0, c="gray", lw=0.5)
ax.set_xticks([4, 13, 22, n_k], labels=["k[t, 0, 0]", "k[t, 0, 1]", "k[t, 0, 2]", "b[t, 0]"])
ax.set_ylabel("dl/dk_flat[t]")
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where this lives in dynconv
#
# * `dynconv.reference.dynamic_conv2d_forward` / `dynamic_conv2d_backward`: eqs 5–7 as loops, with
#   the note on eq 7's $\frac1T\sum_t$ in the docstring; `eq6_input_gradient` and
#   `eq7_kernel_gradient`: eqs 6 and 7 as printed;
# * `dynconv.kernels.dynamic_conv2d_*`: the numba version, sample by sample (no kernel is shared
#   by the batch): direct loops for few output channels, else notebook 06's kn2row GEMMs with
#   the sample's own kernel; in a training step, notebook 06's blocked loops, which load each
#   sample's kernel as its work starts (`kernels.DYNAMIC_ALGORITHMS`);
# * `dynconv.layers.DynamicConv2D`: takes `(x, k)` with `k` 5-D or flat (straight from a `Linear`),
#   and returns the kernel gradient in the form it received. Notebook 03 runs such layers through
#   the graph executor and trains them;
# * `dynconv.layers.PeriodicityPool` (beyond the paper): periodicity statistics for network B,
#   derived in the appendix notebook 07.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell under each exercise; `exercises.try_it` checks it (and says "not
# attempted yet" until you do). Worked solutions: `notebooks/solutions/s02.py`.
#
# ### Exercise 1 — a dynamic 1×1 layer
#
# A 1×1 dynamic layer mixes channels with a per-sample matrix: $y_{t,j} = \sum_i k_{t,j,i}\,x_{t,i}$,
# `k` of shape $(N, F, C)$. Implement `dynamic_1x1(x, k)` returning `(y, backward)` where
# `backward(dy)` gives `(dx, dk)` — eqs 6 and 7 for 1×1 kernels, one `np.einsum` each.

# %%
import exercises


def dynamic_1x1(x, k):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_dynamic_1x1, dynamic_1x1)

# %% [markdown]
# ### Exercise 2 — eq 7 as printed
#
# Implement `eq7_literal(dy, x, pad)`: for every sample, $(\partial l/\partial y_j^t) * \tilde x_i^t$ with
# a true convolution (no sum over $t$), shape $(N, F, C, k_h, k_w)$. Before running the check,
# predict how your result relates to the per-sample kernel gradient `dk` of eq 7 (the check
# compares them), and say why it must not be summed over $t$.

# %%
def eq7_literal(dy, x, pad):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_eq7_literal, eq7_literal)

# %% [markdown]
# ### Exercise 3 — the backward pass for every sample at once
#
# `dynamic_backward` in §2 loops over the samples. Write `dynamic_backward_batched(dy, x, k, pad)`
# returning `(dx, dk)` (5-D `k`, no bias) with no Python loop over samples or pixels. Hint:
# `numpy.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))` has shape
# $(N, C, H_o, W_o, k_h, k_w)$ — every window of $\bar x$ — and one `np.einsum` over it gives
# eq 7 with the sample index $t$ kept; for eq 6, take the windows of `dy` padded by $k_h - 1$ rows
# and $k_w - 1$ columns (full mode), with the kernel flipped and the channel axes swapped (notebook 01, §2).

# %%
def dynamic_backward_batched(dy, x, k, pad):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_dynamic_backward_batched, dynamic_backward_batched)

# %% [markdown]
# ### Exercise 4 — tied kernels give back eq 3
#
# Predict first: if every sample gets the same kernel $w$, how is the static layer's
# $\partial l/\partial w$ (eq 3) made from the per-sample gradients $\partial l/\partial k^t$ (eq 7)
# — their sum, or their mean? Then write `tied_kernels(dynamic_backward, dy, x, w, pad)` that
# computes $\partial l/\partial w$ using only `dynamic_backward(dy, x, k, pad) -> (dx, dk)` (the
# check hands you one; you may pass your exercise 3), and run the check.

# %%
def tied_kernels(dynamic_backward, dy, x, w, pad):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_tied_kernels, tied_kernels)
