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
#   (eq 7) is **one gradient per sample** — the paper's $\frac1T\sum_t$, copied from eq 3, has only
#   one non-zero term;
# * how that gradient flows into the filter-generating network B, where the sum over the batch
#   reappears — checked by finite differences through a small network B.
#
# After the paper's material, a project extension (beyond the paper): the periodicity statistics
# that let network B recognise the upscaling factor. The notebook ends with exercises.
#
# Notation as in notebook 01: `x` is $(N, C, H, W)$; the dynamic kernels `k` are
# $(N, F, C, k_h, k_w)$ — one $(F, C, k_h, k_w)$ kernel per sample. The layer is still a
# cross-correlation over the zero-padded input $\bar x$. Every check is an `assert`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from dynconv import kernels, reference
from dynconv.data import resolve_data_dir, training_patches
from dynconv.gradcheck import clear_of_kinks, dcnn_graph, gradcheck
from dynconv.image import imresize
from dynconv.layers import (Conv2D, DynamicConv2D, GlobalAvgPool2D, Linear, MSELoss,
                            PeriodicityPool, ReLU)

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
def dynamic_backward(g, x, k, b, pad):
    """Eqs 6–7 by the loop over samples: each sample is a static layer with kernel k[t]."""
    dx, dk, db = np.zeros_like(x), np.zeros_like(k), np.zeros_like(b)
    for t in range(x.shape[0]):
        _, cache = reference.conv2d_forward(x[[t]], k[t], b[t], pad=pad)
        dx_t, dk[t], db[t] = reference.conv2d_backward(g[[t]], cache)
        dx[t] = dx_t[0]
    return dx, dk, db


g = rng.standard_normal(y.shape)
dx, dk, db = dynamic_backward(g, x, k, b, pad)
dx_ref, dk_ref, db_ref = reference.dynamic_conv2d_backward(g, cache_ref)
dx_fast, dk_fast, db_fast = kernels.dynamic_conv2d_backward(g, cache_fast)
assert np.allclose(dx, dx_ref, rtol=1e-12, atol=1e-12) and np.allclose(dx, dx_fast, rtol=1e-10, atol=1e-10)
# Eq 6 as printed — a true full convolution with the sample's own kernel — is this gradient exactly.
assert np.allclose(dx, reference.eq6_input_gradient(g, k, pad))

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
# x_i^t$, the form of eq 3; read literally it would hand **every** sample the same kernel gradient,
# the batch average, which is the derivative of nothing. (When the loss is a batch mean, its $1/T$
# is already inside $g$, as for eq 3.) And as for eq 3 (notebook 01, §3), the per-sample term as
# printed, $(\partial l/\partial y_j^t) * \tilde x_i^t$ — a true convolution with the flipped input — is
# this gradient rotated by 180°, the gradient of the kernel of a convolution-form layer.

# %%
# The library returns one kernel (and bias) gradient per sample, in both implementations:
assert dk_ref.shape == dk_fast.shape == k.shape and db_ref.shape == db_fast.shape == b.shape
assert np.allclose(reference.eq7_kernel_gradient(g, x, pad)[..., ::-1, ::-1], dk)  # eq 7 as printed, rotated
assert np.allclose(dk, dk_ref, rtol=1e-12, atol=1e-12) and np.allclose(dk, dk_fast, rtol=1e-10, atol=1e-10)
assert np.allclose(db, db_ref) and np.allclose(db, db_fast)

# float32, the training dtype: same numbers to single precision.
f32 = [a.astype(np.float32) for a in (x, k, b, g)]
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
    return np.vdot(g, kernels.dynamic_conv2d_forward(x, k_, b, pad=pad)[0])


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
_, dk_tied, _ = kernels.dynamic_conv2d_backward(g, cache_tied)
_, cache_static = kernels.conv2d_forward(x, w_shared, pad=pad)
_, dw_static, _ = kernels.conv2d_backward(g, cache_static)
assert np.allclose(dk_tied.sum(axis=0), dw_static)

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
# $\partial l/\partial W = (\partial l/\partial k_{\text{flat}})^\top h$ over the batch rows.
#
# A small DCNN built from dynconv layers and run by hand (notebook 03 lets the graph executor do
# the wiring):
#
# * A: `Conv2D(1→3, 3×3, same)` → `ReLU` — the feature maps $x^t$;
# * B: `Conv2D(1→4, 3×3)` → `ReLU` → `GlobalAvgPool2D` → `Linear(4 → 3·3·3 + 1)` — per sample, a
#   flat $1 \times 3 \times 3 \times 3$ kernel and a bias;
# * `DynamicConv2D(3→1, 3×3, same, bias)` takes both; `MSELoss` against a target.

# %%
N, H = 4, 8
kw_ = dict(init="he", dtype=np.float64)
layers = {
    "a_conv": Conv2D(1, 3, 3, pad="same", rng=rng, need_input_grad=False, **kw_),
    "a_relu": ReLU(),
    "b_conv": Conv2D(1, 4, 3, rng=rng, need_input_grad=False, **kw_),
    "b_relu": ReLU(),
    "b_pool": GlobalAvgPool2D(),
    "dyn": DynamicConv2D(3, 1, 3, pad="same", bias=True),
    "loss": MSELoss(),
}
layers["b_fc"] = Linear(4, layers["dyn"].flat_size, rng=rng, **kw_)
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
    (dh,) = L["b_fc"].backward(dk_flat)  # B's parameters collect the sum over samples here
    L["b_conv"].backward(*L["b_relu"].backward(*L["b_pool"].backward(dh)))
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
# gradients the layers stored. Each tensor is probed along random unit directions $u$:
# $\big(l(\theta + hu) - l(\theta - hu)\big)/2h$ against $\langle \nabla_\theta l, u\rangle$.

# %%
def directional_check(layer, name, n_dirs, h=1e-6):
    p, analytic = layer.params[name], layer.grads[name].copy()
    p0, worst, scale = p.copy(), 0.0, 0.0
    for _ in range(n_dirs):
        u = rng.standard_normal(p.shape)
        u /= np.linalg.norm(u)
        p[...] = p0 + h * u
        l_up = forward(layers)[0]
        p[...] = p0 - h * u
        l_down = forward(layers)[0]
        p[...] = p0
        numeric, exact = (l_up - l_down) / (2 * h), np.vdot(analytic, u)
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
# Each row is a sample. Left: its image; then the three $3\times3$ kernels $k^t_{1,i}$ that network B
# generated for it (one per feature map of A); right: their gradients $\partial l/\partial k^t$ from
# eq 7. Different images, different kernels, different gradients — nothing is averaged over the
# batch.

# %%
dyn_layer = layers["dyn"]
n_k = int(np.prod(dyn_layer.kernel_shape))
k5 = k_flat[:, :n_k].reshape(N, *dyn_layer.kernel_shape)  # the flat layout is (F, C, kh, kw), then F biases
dk5 = dk_flat[:, :n_k].reshape(N, *dyn_layer.kernel_shape)
assert not np.allclose(k5[0], k5[1]) and not np.allclose(dk5[0], dk5[1])

fig, axes = plt.subplots(N, 7, figsize=(8, 1.25 * N))
for t in range(N):
    axes[t, 0].imshow(image[t, 0], cmap="gray")
    for i in range(3):
        axes[t, 1 + i].imshow(k5[t, 0, i], cmap="RdBu_r", vmin=-np.abs(k5).max(), vmax=np.abs(k5).max())
        axes[t, 4 + i].imshow(dk5[t, 0, i], cmap="PuOr_r", vmin=-np.abs(dk5).max(), vmax=np.abs(dk5).max())
    axes[t, 0].set_ylabel(f"t = {t}")
titles = ["image"] + [f"$k^t_{{1,{i + 1}}}$" for i in range(3)] + [f"$\\partial l/\\partial k^t_{{1,{i + 1}}}$" for i in range(3)]
for ax, title in zip(axes[0], titles):
    ax.set_title(title)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where this lives in dynconv
#
# * `dynconv.reference.dynamic_conv2d_forward` / `dynamic_conv2d_backward`: eqs 5–7 as loops, with
#   the note on eq 7's $\frac1T\sum_t$ in the docstring; `eq6_input_gradient` and
#   `eq7_kernel_gradient`: eqs 6 and 7 as printed;
# * `dynconv.kernels.dynamic_conv2d_*`: the numba version (direct loops — there is no shared
#   kernel matrix to hand to BLAS);
# * `dynconv.layers.DynamicConv2D`: takes `(x, k)` with `k` 5-D or flat (straight from a `Linear`),
#   and returns the kernel gradient in the form it received. Notebook 03 runs such layers through
#   the graph executor and trains them;
# * `dynconv.layers.PeriodicityPool` (beyond the paper, next section): periodicity statistics,
#   forward and backward as derived there; `dcnn(b_periods=...)` feeds them to network B beside its
#   pooled features.

# %% [markdown]
# ## Beyond the paper: what network B needs to see — the upscaling factor's fingerprint
#
# *A project extension, not the paper's method: the shipped `dcnn-x234` uses it (`docs/discussion.md`
# measures what it buys).*
#
#
# One DCNN is trained on x2, x3 and x4 at once, and network B sees only the bicubic-upsampled
# image: it must infer the factor from the content. The spectral energy of the window — how
# blurred it looks — is not enough: natural images differ in sharpness, and a sharp x4 window
# looks like a soft x3 one. The upsampling leaves a better fingerprint. An image upsampled by an
# integer factor $s$ is an interpolation of a grid with period $s$: output pixels near
# low-resolution samples stay sharp, those between them are smoothed, so the local
# high-frequency energy is **cyclostationary with period $s$**. The Fourier coefficient of the
# energy profile at frequency $1/s$ measures it; shifting the window by $k$ pixels multiplies
# that coefficient by $e^{-2\pi \mathrm{i}\,k/s}$, so its **magnitude** does not depend on where
# the window starts.
#
# `PeriodicityPool` computes, per sample and channel of $x$ $(N, C, H, W)$, with the valid
# 5-point Laplacian ($n_r \times n_c = (H-2)\times(W-2)$ values):
#
# $$
# \Delta x_{ij} = 4x_{i+1,j+1} - x_{i,j+1} - x_{i+2,j+1} - x_{i+1,j} - x_{i+1,j+2},
# \qquad e_{ij} = (\Delta x)_{ij}^2,
# $$
#
# $$
# r_i = \frac{1}{n_c}\sum_j e_{ij}, \qquad
# A_p = \frac{1}{n_r}\sum_{i=0}^{n_r-1} r_i\, e^{-2\pi \mathrm{i}\, i/p}, \qquad
# \bar e = \frac{1}{n_r n_c}\sum_{ij} e_{ij},
# $$
#
# $$
# \rho_p = \frac{|A_p|}{\bar e + \delta}, \qquad y_p = \log\!\big(1 + \rho_p/\varepsilon\big),
# $$
#
# and the same along columns with the column profile $c_j = \frac{1}{n_r}\sum_i e_{ij}$. Dividing
# by the mean energy $\bar e$ makes $\rho_p$ blind to contrast ($x \to ax$ scales $e$, $A_p$ and
# $\bar e$ by $a^2$): it is the *relative* modulation of sharpness at period $p$. $\delta = 10^{-8}$
# keeps a flat window finite; $\varepsilon$ sets where periodicity counts as absent
# ($y_p \approx \rho_p/\varepsilon$ below it), and the log compresses the rest. The output is
# $(N, C\cdot 2\cdot P)$, ordered (channel, axis [rows, cols], period).
#
# **The backward pass**, one step at a time. Write $g_v = \partial l/\partial v$ for the gradient
# of the loss with respect to any quantity $v$; the upstream gradient is $g_{y_{a,p}}$ (axis $a$,
# period $p$). Per sample and channel:
#
# 1. The log: $\dfrac{\partial y}{\partial \rho} = \dfrac{1/\varepsilon}{1+\rho/\varepsilon} =
#    \dfrac{1}{\varepsilon + \rho}$, so $g_{\rho_{a,p}} = g_{y_{a,p}}/(\varepsilon + \rho_{a,p})$.
# 2. The ratio: $\dfrac{\partial \rho}{\partial |A|} = \dfrac{1}{\bar e + \delta}$ and
#    $\dfrac{\partial \rho}{\partial \bar e} = -\dfrac{|A|}{(\bar e + \delta)^2} =
#    -\dfrac{\rho}{\bar e + \delta}$. The mean energy $\bar e$ feeds all $2P$ ratios, so
#    $$
#    g_{|A_{a,p}|} = \frac{g_{\rho_{a,p}}}{\bar e + \delta}, \qquad
#    g_{\bar e} = -\sum_{a,p} \frac{g_{\rho_{a,p}}\,\rho_{a,p}}{\bar e + \delta}.
#    $$
# 3. The magnitude: $A_p = \sum_i r_i w_i$ with $w_i = e^{-2\pi \mathrm{i}\, i/p}/n$ and $r_i$ real,
#    so $\partial |A|^2/\partial r_i = \partial (A A^{*})/\partial r_i = w_i A^{*} + A w_i^{*} =
#    2\operatorname{Re}(A^{*} w_i)$, and with $\partial |A|^2 = 2|A|\,\partial|A|$:
#    $$
#    \frac{\partial |A|}{\partial r_i} = \frac{\operatorname{Re}(A^{*} w_i)}{|A|},
#    \qquad
#    g_{r_i} = \operatorname{Re}\sum_p z_p\, w_{p,i}, \quad z_p = g_{|A_p|}\,\frac{A_p^{*}}{|A_p|}
#    $$
#    — the same waves as the forward pass, one matrix product per axis (likewise $g_{c_j}$).
#    ($|A| = 0$ is a kink, like ReLU's at 0; the layer guards the division.)
# 4. The means: $r_i$ averages row $i$, $c_j$ column $j$, $\bar e$ everything:
#    $\dfrac{\partial r_i}{\partial e_{ij}} = \dfrac{1}{n_c}$,
#    $\dfrac{\partial c_j}{\partial e_{ij}} = \dfrac{1}{n_r}$,
#    $\dfrac{\partial \bar e}{\partial e_{ij}} = \dfrac{1}{n_r n_c}$, so
#    $$
#    g_{e_{ij}} = \frac{g_{r_i}}{n_c} + \frac{g_{c_j}}{n_r} + \frac{g_{\bar e}}{n_r n_c}.
#    $$
# 5. The square: $\partial e/\partial(\Delta x) = 2\Delta x$, so $g_{\Delta x_{ij}} =
#    2\,\Delta x_{ij}\, g_{e_{ij}}$.
# 6. The Laplacian is linear, and its transpose **scatters** each $g_{\Delta x_{ij}}$ back with
#    the 5-point stencil: $+4\,g_{\Delta x_{ij}}$ to $g_{x_{i+1,j+1}}$ and $-g_{\Delta x_{ij}}$ to
#    each of its four neighbours — the forward pass's five slices, accumulated with `+=` (a
#    border pixel only receives from its inner neighbours).
#
# `gradcheck` compares this with central finite differences (the input has 360 elements, so along
# random directions); and the forward equations, written out in a few lines of NumPy, give the
# layer's output.

# %%
def periodicity_numpy(x, periods, eps, delta=1e-8):
    """The forward equations above, directly: (N, C, H, W) -> (N, C·2·P)."""
    lap = (4 * x[:, :, 1:-1, 1:-1] - x[:, :, :-2, 1:-1] - x[:, :, 2:, 1:-1]
           - x[:, :, 1:-1, :-2] - x[:, :, 1:-1, 2:])
    e = lap**2
    e_mean = e.mean(axis=(2, 3))
    features = []
    for profile in (e.mean(axis=3), e.mean(axis=2)):  # r_i (rows), c_j (columns)
        i = np.arange(profile.shape[-1])
        for p in periods:
            A_p = (profile * np.exp(-2j * np.pi * i / p)).mean(axis=-1)
            features.append(np.log1p(np.abs(A_p) / (e_mean + delta) / eps))
    return np.stack(features, axis=-1).reshape(x.shape[0], -1)  # (channel, axis, period)


x_p = rng.standard_normal((2, 2, 9, 10))
pool = PeriodicityPool((2, 3), eps=0.1)
y_p = pool.forward(x_p)
assert y_p.shape == (2, 2 * 2 * 2)
assert np.allclose(y_p, periodicity_numpy(x_p, (2, 3), 0.1), rtol=1e-12, atol=1e-12)

report = gradcheck(PeriodicityPool((2, 3), eps=0.1), [rng.standard_normal((2, 2, 9, 10))], rng=3)
print(report)
assert report.ok

# %% [markdown]
# **On real data.** The training sub-images of T91 at x2, x3 and x4 (cached on disk, so this is
# fast) through `PeriodicityPool((2, 3, 4))`: the mean feature per scale, per axis and period. If
# the data set is not on this machine, the same on windows of a synthetic image with a natural
# $1/f$ spectrum, down- and upsampled with `imresize` by each factor.

# %%
SCALES, PERIODS, WINDOW = (2, 3, 4), (2, 3, 4), 33
try:
    resolve_data_dir()
    patches = training_patches(scales=SCALES, verbose=False)
    step = 100 if FAST else 20
    windows, window_scales = patches.inputs[::step], patches.scales[::step]
    source = f"T91 training sub-images, every {step}th"
except (FileNotFoundError, ValueError) as exc:  # no data folder, or no T91 in it
    print(f"no training data ({exc}); a synthetic image instead")
    side = 240  # a multiple of 2, 3 and 4
    f_radial = np.hypot(*np.meshgrid(np.fft.fftfreq(side), np.fft.fftfreq(side), indexing="ij"))
    hr = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((side, side)))
                              / np.maximum(f_radial, 1 / side)))  # amplitude ~ 1/f, like photographs
    hr = (hr - hr.min()) / np.ptp(hr)
    windows, window_scales = [], []
    for s in SCALES:
        up = imresize(imresize(hr, 1 / s), s)
        assert up.shape == hr.shape
        w_s = np.lib.stride_tricks.sliding_window_view(up, (WINDOW, WINDOW))[::14, ::14]
        windows.append(w_s.reshape(-1, 1, WINDOW, WINDOW))
        window_scales += [s] * len(windows[-1])
    windows, window_scales = np.concatenate(windows), np.array(window_scales)
    source = "windows of a synthetic 1/f image"

feats = PeriodicityPool(PERIODS).forward(windows).reshape(len(windows), 2, len(PERIODS))
means = np.array([feats[window_scales == s].mean(axis=0) for s in SCALES])  # (scale, axis, period)
print(f"{source}: {len(windows)} windows of {WINDOW}x{WINDOW}; mean feature y_p")
print(" " * 9 + "".join(f"{ax + ' p=' + str(p):>10s}" for ax in ("rows", "cols") for p in PERIODS))
for s, m in zip(SCALES, means):
    print(f"x{s} ({(window_scales == s).sum():4d})" + "".join(f"{v:10.3f}" for v in m.ravel()))

by_period = means.mean(axis=1)  # (scale, period), averaged over the two axes
for s in (3, 4):  # period s is strongest in the x s windows
    others = [by_period[SCALES.index(t), PERIODS.index(s)] for t in SCALES if t != s]
    assert by_period[SCALES.index(s), PERIODS.index(s)] > max(others)

fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
for ax, p in zip(axes, (3, 4)):
    both_axes = feats[:, :, PERIODS.index(p)].mean(axis=1)
    bins = np.linspace(both_axes.min(), both_axes.max(), 40)
    for s, colour in zip(SCALES, ("tab:blue", "tab:orange", "tab:green")):
        ax.hist(both_axes[window_scales == s], bins=bins, color=colour, alpha=0.5, label=f"x{s}")
    ax.set_title(f"period {p}: $y_{p}$, mean of rows and columns")
    ax.set_xlabel("feature")
axes[0].set_ylabel("windows")
axes[1].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Period 3 singles out the x3 windows and period 4 the x4 ones, whatever their sharpness. Period 2
# does *not* single out x2: with MATLAB's pixel-centre alignment an even factor puts no output
# pixel on a low-resolution sample — at x2 the offsets are $\pm\frac14$, mirror images equally
# smoothed, so there is no period-2 modulation; at x4 they are $\pm\frac18, \pm\frac38$, a
# profile $a, b, b, a$ with period 4 and no period-2 component. B recognises x2 by the *absence*
# of the other two. `dcnn(b_periods=(2, 3, 4))` concatenates these 6 numbers (2 axes × 3 periods
# of the one input channel) to B's pooled features before its first `Linear` layer;
# `docs/discussion.md` reports what it buys.

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
# a true convolution (no sum over $t$), shape $(N, F, C, k_h, k_w)$. The check wants the per-sample
# kernel gradient rotated by 180°; why is it rotated, and why must it not be summed over $t$?

# %%
def eq7_literal(dy, x, pad):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_eq7_literal, eq7_literal)
