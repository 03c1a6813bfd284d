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
# # 01 · The convolution layer, forward and backward (paper eqs 1–4)
#
# **What you will learn**
#
# * what the paper's $y_j^t = \sum_i k_{ij} * x_i^t$ (eq 1) means index by index, and why dynconv
#   (like every deep-learning framework) computes it as a *cross-correlation*;
# * how the chain rule turns eq 1 into eq 2 — the input gradient is a **full convolution** with the
#   kernel, i.e. a correlation with the kernel **flipped** — and into eq 3 — the kernel gradient is a
#   **correlation with the input**; why eq 3 *as printed* (a convolution with the flipped input)
#   is that gradient rotated by 180°; where the paper's $1/T$ goes;
# * that a dozen-line implementation of both agrees with `dynconv.reference` (the literal loops),
#   `dynconv.kernels` (the fast code, Python loops compiled to machine code by
#   numba) and finite differences (the gradient estimated from the change of the loss, §4);
# * what the flip looks like, and what one gradient-descent step (eq 4) does.
#
# Every check below is an `assert`: if a derivation were wrong, this notebook would fail in the
# test suite. The exercises on eqs 2 and 3 come later, once the fast algorithms have derived them a
# second time: notebook 06 (exercises 3–6) and notebook 08 (exercises 3–4).
#
# **Notation**, used in every notebook (02–07 refer back to this table). The paper writes maps as
# $x_i^t$ and kernels as $k_{ij}$; the code stores arrays with the sample first and, for a kernel,
# the *output* map first — so the paper's $k_{ij}$ is `w[j, i]`.
#
# | paper | here (maths) | code | meaning |
# |---|---|---|---|
# | $t = 1 \dots T$ | $t$, batch of $N$ | `t`, `N` | a sample of the mini-batch; the paper's $T$ is our $N$ |
# | $i$, $j$ | $i < C$, $j < F$ | `i`, `C`; `j`, `F` | input map (channel), output map |
# | $x_i^t$, $y_j^t$ | $x_{t,i}$, $y_{t,j}$ | `x[t, i]`, `y[t, j]` | maps; `x` is $(N, C, H, W)$, `y` is $(N, F, H_o, W_o)$ |
# | $k_{ij}$ | $w_{j,i}$ | `w[j, i]` | static kernel from map $i$ to map $j$; `w` is $(F, C, k_h, k_w)$ |
# | $k_{ij}^t$ (eq 5) | $k_{t,j,i}$ | `k[t, j, i]` | dynamic kernel: one per sample (notebook 02) |
# | — | $b_j$ | `b[j]` | bias |
# | — | $(u, v)$, $(r, c)$ | `u, v`, `r, c` | a kernel tap; an output pixel (row, column) |
# | — | $k_h, k_w$; $p$ | `kh, kw`; `pad` | kernel height and width; zero padding on every side |
# | — | $\bar x$ | `xp` | $x$ zero-padded by $p$: $(H + 2p) \times (W + 2p)$ |
# | $\tilde x$ | $\tilde x$, $\tilde w$ | `x[..., ::-1, ::-1]` | flipped in both spatial axes (rotated by 180°) |
# | $*$ | $*$ | `scipy.signal.convolve2d` | true convolution, $(a * w)[m] = \sum_u w[u]\, a[m-u]$ (the `"full"` result, $m \ge 0$) |
# | — | valid, full | `mode="valid"`, `"full"` | for $g$ of length $n$ inside $a$: $\mathrm{valid}[u] = \mathrm{full}[u + n - 1]$, the $u$ where $g$ lies wholly inside $a$; in §3 $n = H_o$ |
# | (also $*$) | $\star$ | `correlate2d`, `conv2d_forward` | cross-correlation, $(w \star a)[r] = \sum_u w[u]\, a[r+u]$: what the layers compute |
# | $\partial l/\partial y_j^t$ | $g_{t,j}$ | `dy[t, j]` | upstream gradient: of the loss $l$ with respect to the layer's output |
# | $\partial l/\partial k_{ij}$ | $\partial l/\partial w_{j,i}$ | `dw[j, i]` | kernel gradient (likewise `dx`, `db`, `dk`) |
# | $\alpha$ | $\alpha$; $\mu$, $z$ | `lr`; `momentum` | learning rate (eq 4); momentum and velocity (§6) |
#
# Code names never change meaning between notebooks: `dy` is always an upstream gradient, `b` a
# bias, `kw` a kernel width, and a `Graph` (notebook 03) is `net`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from scipy import signal

from dynconv import kernels, reference
from dynconv.gradcheck import gradcheck
from dynconv.layers import Conv2D, EuclideanLoss

FAST = os.environ.get("DYNCONV_FAST") == "1"  # the test suite sets it: fewer finite differences
rng = np.random.default_rng(2024)
plt.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "font.size": 9})

# %% [markdown]
# ## 1. The layer (eq 1)
#
# The paper writes the layer as $y_j^t = \sum_i k_{ij} * x_i^t$. dynconv reads the $*$ as a
# cross-correlation over the input zero-padded by $p$ (written $\bar x$), plus a bias:
#
# $$
# y_{t,j}[r,c] \;=\; b_j + \sum_{i=0}^{C-1} \sum_{u=0}^{k_h-1} \sum_{v=0}^{k_w-1}
#   w_{j,i}[u,v]\; \bar x_{t,i}[r+u,\; c+v],
# \qquad 0 \le r < H_o = H + 2p - k_h + 1 .
# \qquad\text{(1)}
# $$
#
# A true convolution would read $\bar x[r-u,\,c-v]$ instead. Correlating with $w$ is convolving
# with the flipped kernel $\tilde w[u,v] = w[k_h-1-u,\;k_w-1-v]$, so the two conventions only
# differ in how a learned kernel is stored — a network learns the same function either way.
#
# The naive implementation mirrors the formula: for every output pixel, the sum over $i, u, v$ is a
# sum over a $C \times k_h \times k_w$ window. It accepts a different padding per axis, which §2
# will need.

# %%
def pad2d(x, pad):
    """Zero-pad the two spatial axes of x (N, C, H, W) by pad = p or (p_h, p_w)."""
    ph, pw = (pad, pad) if np.isscalar(pad) else pad
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv_forward(x, w, b, pad=0):
    """Eq 1 as a cross-correlation, float64, one output pixel at a time."""
    xp = pad2d(x, pad)
    N, F, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    Ho, Wo = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    y = np.zeros((N, F, Ho, Wo))
    for t in range(N):
        for j in range(F):
            for r in range(Ho):
                for c in range(Wo):
                    y[t, j, r, c] = b[j] + np.sum(w[j] * xp[t, :, r:r + kh, c:c + kw])
    return y


# A non-square kernel and padding catch any mix-up of rows and columns, or of i and j.
N, C, F, H, W, kh, kw, pad = 2, 3, 4, 7, 6, 3, 2, 1
x = rng.standard_normal((N, C, H, W))
w = rng.standard_normal((F, C, kh, kw))
b = rng.standard_normal(F)

y = conv_forward(x, w, b, pad)
# The library's forward passes return (y, cache): the cache keeps what backward will need (§2-3).
y_ref, cache_ref = reference.conv2d_forward(x, w, b, pad=pad)
y_fast, cache_fast = kernels.conv2d_forward(x, w, b, pad=pad)
print("y:", y.shape, " max |naive - reference| =", np.abs(y - y_ref).max(),
      " max |naive - kernels| =", np.abs(y - y_fast).max())
assert y.shape == (N, F, H + 2 * pad - kh + 1, W + 2 * pad - kw + 1)
assert np.allclose(y, y_ref, rtol=0, atol=1e-12)
assert np.allclose(y, y_fast, rtol=0, atol=1e-12)

# %% [markdown]
# **Stride.** Eq 1 computes the window sum at *every* output position $r$: the window moves one
# pixel at a time, stride 1. A layer with stride $S$ reads $\bar x[S\,r + u]$ instead, keeping
# every $S$-th output: $\lfloor (H + 2p - k_h)/S \rfloor + 1$ rows. The paper's layers, and
# every layer in dynconv, have stride 1; stride 2 would halve the output, and its backward pass
# must first spread $g$ back onto the positions the forward pass kept (notebook 08, exercise 3).
#
# **Valid, same, full.** How far the window may hang over the edge sets the output size. In 1-D,
# with $n$ inputs and a kernel of $k$ taps: *valid* keeps only windows fully inside the input,
# $n - k + 1$ outputs (no padding); *same* pads $(k-1)/2$ zeros on each side so that there are
# $n$ outputs; *full* pads $k - 1$ zeros on each side, $n + k - 1$ outputs — every position where
# window and input overlap at all. SciPy's `mode=` takes these names. Eq 1 with padding $p$ is
# "valid" on $\bar x$; $p = (k-1)/2$ makes it "same".
#
# The picture: $n = 6$ inputs (blue; zero padding grey), $k = 3$ taps; each orange bar is the
# window of one output $y_r$.

# %%
from matplotlib.patches import Rectangle


def draw_windows(ax, n, k, starts, title):
    """Input cells 0..n-1 (padding outside them) and one bar per output, over the cells it reads."""
    lo, hi = min(starts[0], 0), max(starts[-1] + k, n)
    for m in range(lo, hi):
        inside = 0 <= m < n
        ax.add_patch(Rectangle((m, 0), 1, 1, fc="tab:blue" if inside else "0.85", ec="k", alpha=0.6))
        ax.text(m + 0.5, 0.5, f"$x_{m}$" if inside else "0", ha="center", va="center", fontsize=7)
    for r, start in enumerate(starts):
        ax.add_patch(Rectangle((start + 0.1, -0.9 - 0.7 * r), k - 0.2, 0.5, fc="tab:orange", ec="k"))
        ax.text(start - 0.2, -0.65 - 0.7 * r, f"$y_{r}$", ha="right", va="center", fontsize=7)
    ax.set_xlim(lo - 1.3, hi + 0.2)
    ax.set_ylim(-1.1 - 0.7 * len(starts), 1.1)
    ax.axis("off")
    ax.set_title(title)


n1, k1 = 6, 3
modes = {"valid": range(0, n1 - k1 + 1), "same": range(-(k1 // 2), n1 - k1 // 2),
         "full": range(-(k1 - 1), n1)}
x1, w1 = rng.standard_normal(n1), rng.standard_normal(k1)
for mode, starts in modes.items():  # SciPy's modes give exactly these numbers of outputs
    assert len(signal.correlate(x1, w1, mode=mode)) == len(starts)
stride2 = range(0, n1 - k1 + 1, 2)  # "valid", stride 2: every second window
assert np.allclose(signal.correlate(x1, w1, mode="valid")[::2],
                   [w1 @ x1[start:start + k1] for start in stride2])

fig, axes = plt.subplots(1, 4, figsize=(11, 2.8), gridspec_kw={"width_ratios": [8, 8, 10, 8]})
for ax, (mode, starts) in zip(axes, modes.items()):
    draw_windows(ax, n1, k1, list(starts), f"{mode}: {len(starts)} outputs")
draw_windows(axes[3], n1, k1, list(stride2), f"valid, stride 2: {len(stride2)} outputs")
fig.tight_layout()
plt.show()

# %% [markdown]
# Back to 2-D. The same statement with SciPy's 2-D routines, for one output and one input channel:
# the layer is `correlate2d` with $w$, which is `convolve2d` with the flipped $\tilde w$.

# %%
xp = pad2d(x, pad)
t, j, i = 1, 2, 0
one_pair = conv_forward(x[:, [i]], w[:, [i]], np.zeros(F), pad)[t, j]  # only channel i contributes
assert np.allclose(one_pair, signal.correlate2d(xp[t, i], w[j, i], mode="valid"))
assert np.allclose(one_pair, signal.convolve2d(xp[t, i], w[j, i, ::-1, ::-1], mode="valid"))
assert not np.allclose(one_pair, signal.convolve2d(xp[t, i], w[j, i], mode="valid"))

# %% [markdown]
# ## 2. The input gradient (eq 2)
#
# Let $g_{t,j}[r,c] = \partial l / \partial y_{t,j}[r,c]$ be the gradient arriving from the layers
# above, for any scalar loss $l$. The chain rule over every output pixel that $\bar x_{t,i}[m,n]$
# influences gives
#
# $$
# \frac{\partial l}{\partial \bar x_{t,i}[m,n]}
#   = \sum_{j}\sum_{r,c} g_{t,j}[r,c]\; \frac{\partial y_{t,j}[r,c]}{\partial \bar x_{t,i}[m,n]},
# \qquad
# \frac{\partial y_{t,j}[r,c]}{\partial \bar x_{t,i}[m,n]}
#   = \sum_{u,v} w_{j,i}[u,v]\,[r+u=m]\,[c+v=n]
# $$
#
# (Iverson brackets: 1 when the condition holds). There is no sum over samples — sample $t$ only
# feeds its own outputs. The brackets pick $r = m-u$, $c = n-v$:
#
# $$
# \frac{\partial l}{\partial \bar x_{t,i}[m,n]}
#   = \sum_j \sum_{u,v} w_{j,i}[u,v]\; g_{t,j}[m-u,\;n-v]
#   = \sum_j \big(g_{t,j} * w_{j,i}\big)[m,n]
# \qquad\text{(2)}
# $$
#
# with $g = 0$ outside its $H_o \times W_o$ support. $\sum_u w[u]\, g[m-u]$ is the textbook
# definition of a **convolution**, and $m$ runs over the whole padded input,
# $H + 2p = H_o + k_h - 1$ rows: a **full** convolution (every overlap of $g$ and $w$). This is the
# paper's eq 2, with its $*$ now a true convolution. The gradient of $x$ itself is the interior of
# $\partial l/\partial \bar x$: crop $p$ on every side.
#
# **Why the flipped kernel.** Substitute $u' = k_h-1-u$, $v' = k_w-1-v$:
#
# $$
# \frac{\partial l}{\partial \bar x_{t,i}[m,n]}
#   = \sum_j \sum_{u',v'} \tilde w_{j,i}[u',v']\; g_{t,j}\big[m-(k_h-1)+u',\; n-(k_w-1)+v'\big],
# $$
#
# which is eq 1 again — a cross-correlation — applied to $g$ zero-padded by $(k_h-1, k_w-1)$, with the
# kernel flipped in both axes. One more change: **the two channel axes swap**. In eq 1 the layer
# reads $C$ maps and writes $F$, and `conv_forward` wants a kernel of shape (maps written, maps
# read, $k_h$, $k_w$) — it sums over axis 1. Here the roles are reversed: the correlation reads
# the $F$ maps of $g$ (index $j$, summed over) and writes the $C$ maps of
# $\partial l/\partial \bar x$ (index $i$). So it needs the kernel
# `w_flipped[i, j] = w[j, i, ::-1, ::-1]`, shape $(C, F, k_h, k_w)$: `w[:, :, ::-1, ::-1]`
# followed by `.transpose(1, 0, 2, 3)`. The backward pass of a correlation layer is a correlation
# layer, and we can reuse `conv_forward`:

# %%
def conv_input_grad(dy, w, pad):
    """Eq 2: dl/dx = full convolution of dy with w = correlation of dy (padded by k-1) with w flipped."""
    F, C, kh, kw = w.shape
    w_flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, F, kh, kw): j is now the map read
    dxp = conv_forward(dy, w_flipped, np.zeros(C), pad=(kh - 1, kw - 1))  # dl/d(padded x)
    H, W = dxp.shape[2] - 2 * pad, dxp.shape[3] - 2 * pad
    return dxp[:, :, pad:pad + H, pad:pad + W]


dy = rng.standard_normal(y.shape)  # an arbitrary upstream gradient dl/dy
dx = conv_input_grad(dy, w, pad)
assert dy.shape == (N, F, H + 2 * pad - kh + 1, W + 2 * pad - kw + 1) and dx.shape == x.shape

# The same thing written as eq 2 literally: sum_j of SciPy's full convolution g_tj * w_ji, cropped,
# and dynconv.reference's transcription of eq 2 as printed (a true convolution, the kernel flipped).
dxp_scipy = np.array([[sum(signal.convolve2d(dy[t, j], w[j, i], mode="full") for j in range(F))
                       for i in range(C)] for t in range(N)])
assert np.allclose(dx, dxp_scipy[:, :, pad:pad + H, pad:pad + W])
assert np.allclose(dx, reference.eq2_input_gradient(dy, w, pad))

# %% [markdown]
# ## 3. The kernel gradient (eq 3)
#
# A kernel tap $w_{j,i}[u,v]$ is used at every output pixel of every sample, so its gradient sums
# over all of them:
#
# $$
# \frac{\partial l}{\partial w_{j,i}[u,v]}
#   = \sum_t \sum_{r,c} g_{t,j}[r,c]\; \frac{\partial y_{t,j}[r,c]}{\partial w_{j,i}[u,v]}
#   = \sum_t \sum_{r,c} g_{t,j}[r,c]\; \bar x_{t,i}[r+u,\; c+v],
# \qquad
# \frac{\partial l}{\partial b_j} = \sum_t \sum_{r,c} g_{t,j}[r,c].
# \qquad\text{(3)}
# $$
#
# For a fixed tap $(u,v)$ this multiplies $g$ with the window of $\bar x$ shifted by $(u,v)$: a
# **valid correlation of the padded input with $g$**, whose size is $(H + 2p - H_o + 1) = k_h$ by
# $k_w$ — exactly a kernel.
#
# **Eq 3 as printed is not this.** The paper writes $(\partial l/\partial y_j^t) * \tilde x_i^t$: a
# true convolution of $g$ with the flipped input $\tilde{\bar x}[m,n] = \bar x[H_p-1-m,\,W_p-1-n]$
# ($H_p = H + 2p$). Its `"valid"` part (the kernel-sized one) is the full convolution read from
# index $H_o - 1$ on (notation table): $\mathrm{valid}[u,v] = \mathrm{full}[u + H_o - 1,\; v + W_o - 1]$,
# and $\mathrm{full}[m,n] = \sum_{r,c} g[r,c]\,\tilde{\bar x}[m - r,\, n - c]$. Put $m = u + H_o - 1$,
# then use $\tilde{\bar x}[a] = \bar x[H_p - 1 - a]$ and $H_p - H_o = k_h - 1$:
# $H_p - 1 - (u + H_o - 1 - r) = (k_h - 1 - u) + r$, and likewise for columns. So
#
# $$
# \big(\tilde{\bar x}_{t,i} * g_{t,j}\big)_{\mathrm{valid}}[u,v]
#   = \sum_{r,c} g_{t,j}[r,c]\;\tilde{\bar x}_{t,i}[u + H_o - 1 - r,\; v + W_o - 1 - c]
#   = \sum_{r,c} g_{t,j}[r,c]\;\bar x_{t,i}[(k_h-1-u) + r,\; (k_w-1-v) + c]
#   = \frac{\partial l}{\partial w_{j,i}[k_h-1-u,\; k_w-1-v]} :
# $$
#
# our kernel gradient **rotated by 180°**. Flipping one operand of a convolution does not turn it
# into a correlation of the same two signals; it turns it into a correlation *read backwards*.
# Eq 3 as printed is exact for the other convention: if the forward pass is a true convolution
# $y = x * k$, then $k = \tilde w$ and $\partial l/\partial k = \widetilde{\partial l/\partial w}$. (Eq 2 holds
# literally in our convention, §2; in the convolution convention it would be a correlation.) Both
# conventions learn the same function; what matters is that forward and backward agree. The cell
# after the next one checks all of this with `reference.eq3_kernel_gradient`, eq 3 transcribed.
#
# **Where the paper's $1/T$ goes.** Eq 3 averages over the $T$ samples of a mini-batch: it is the
# gradient of the batch-mean loss $\frac1T\sum_t l_t$ ($T$ is our batch size $N$). dynconv puts
# that mean in the loss — `EuclideanLoss` $=\frac{1}{2N}\sum_t \lVert \hat y_t - y_t\rVert^2$ divides
# by $N$; `MSELoss` divides by every element, $N \cdot C \cdot H \cdot W$, so it also averages
# over pixels — and the layer returns the plain sum above, the exact derivative of whatever loss
# produced $g$. Same number, one place for the $1/T$ (checked at the end of this section).
#
# (Eq 3 can also be computed by the forward code of eq 1, with other arrays in the roles of input
# and kernel: notebook 06, §2.)

# %%
def conv_kernel_grad(dy, x, kernel_shape, pad):
    """Eq 3: dl/dw[j, i, u, v] = sum over t, r, c of dy[t, j, r, c] * padded x[t, i, r + u, c + v]."""
    F, C, kh, kw = kernel_shape
    xp = pad2d(x, pad)
    Ho, Wo = dy.shape[2:]
    dw = np.zeros(kernel_shape)
    for j in range(F):
        for i in range(C):
            for u in range(kh):
                for v in range(kw):
                    dw[j, i, u, v] = np.sum(dy[:, j] * xp[:, i, u:u + Ho, v:v + Wo])
    return dw, dy.sum(axis=(0, 2, 3))


dw, db = conv_kernel_grad(dy, x, w.shape, pad)


# %%
# Eq 3 as printed: a true convolution of g with the flipped input, summed over the batch.
eq3_as_printed = reference.eq3_kernel_gradient(dy, x, pad)
assert not np.allclose(eq3_as_printed, dw)                  # not our kernel gradient ...
assert np.allclose(eq3_as_printed[:, :, ::-1, ::-1], dw)    # ... but it rotated by 180 degrees
xp_t = pad2d(x, pad)[0, 0]                                  # one term with SciPy, to see the flip
assert np.allclose(signal.convolve2d(xp_t[::-1, ::-1], dy[0, 0], mode="valid"),
                   conv_kernel_grad(dy[[0]], x[[0]], w.shape, pad)[0][0, 0, ::-1, ::-1])


# It is the exact gradient for the convolution convention, y = x * k with k = rot180(w):
def loss_conv_convention(k_flat):
    k_ = k_flat.reshape(w.shape)
    return np.vdot(dy, conv_forward(x, k_[:, :, ::-1, ::-1], b, pad))


k0, h = w[:, :, ::-1, ::-1].ravel(), 1e-6
idx = rng.permutation(k0.size)[:8]
numeric = [(loss_conv_convention(k0 + h * np.eye(k0.size)[n]) - loss_conv_convention(k0 - h * np.eye(k0.size)[n]))
           / (2 * h) for n in idx]
assert np.allclose(numeric, eq3_as_printed.ravel()[idx], rtol=1e-6, atol=1e-8)

# %% [markdown]
# The $1/T$: with `EuclideanLoss` $= \frac{1}{2T}\sum_t \lVert \hat y_t - y_t\rVert^2$, the batch
# gradient equals the average of the $T$ single-sample gradients — eq 3's $\frac1T\sum_t$.

# %%
target = rng.standard_normal(y.shape)


def euclidean_kernel_grad(xs, targets):
    """dl/dw for l = EuclideanLoss(conv(xs), targets), through the naive functions above."""
    loss = EuclideanLoss()
    loss.forward(conv_forward(xs, w, b, pad), targets)
    dpred, _ = loss.backward()
    return conv_kernel_grad(dpred, xs, w.shape, pad)[0]


batch = euclidean_kernel_grad(x, target)
per_sample = [euclidean_kernel_grad(x[[t]], target[[t]]) for t in range(N)]
assert np.allclose(batch, np.mean(per_sample, axis=0))

# %% [markdown]
# ## 4. Checking against `dynconv.reference`, `dynconv.kernels` and finite differences
#
# The library's implementations — the literal loops of `dynconv.reference` and the fast
# `dynconv.kernels` — must return the same three gradients. The fast kernels have several
# algorithms (im2col, kn2row, …); notebook 06 derives them and checks every one against the
# reference, in float64 and in float32 (the training dtype). Here, float64 and the algorithm the
# kernels choose for this shape.

# %%
dx_ref, dw_ref, db_ref = reference.conv2d_backward(dy, cache_ref)
for name, mine, ref in [("dx", dx, dx_ref), ("dw", dw, dw_ref), ("db", db, db_ref)]:
    assert np.allclose(mine, ref, rtol=1e-12, atol=1e-12), name
y64, cache64 = kernels.conv2d_forward(x, w, b, pad=pad)
for name, mine, got in zip(("y", "dx", "dw", "db"), (y, dx, dw, db),
                           (y64, *kernels.conv2d_backward(dy, cache64))):
    assert np.allclose(got, mine, rtol=1e-10, atol=1e-10), name
print(f"reference and kernels ({cache64.algorithm}) agree with the naive functions")

# %% [markdown]
# **Finite differences.** Take the scalar $f(x, w, b) = \langle g, y(x, w, b)\rangle = \sum g \odot y$.
# Its gradient with respect to $x$, $w$ and $b$ is exactly what eqs 2–3 compute for the upstream
# gradient $g$. Central differences $\big(f(\theta + h e_k) - f(\theta - h e_k)\big)/2h$ estimate each
# component; since $y$ is linear in each argument they are exact up to rounding.
# (With `DYNCONV_FAST=1` a random subset of the entries is checked.)

# %%
def f(x_, w_, b_):
    return np.vdot(dy, conv_forward(x_, w_, b_, pad))


def central_differences(args, which, n_max, h=1e-6):
    """Numerical d f / d args[which] at n_max random entries (all of them if there are fewer)."""
    a = args[which]
    flat = rng.permutation(a.size)[:n_max]
    num = np.zeros(len(flat))
    for k, idx in enumerate(flat):
        up, down = [arr.copy() for arr in args], [arr.copy() for arr in args]
        up[which].flat[idx] += h
        down[which].flat[idx] -= h
        num[k] = (f(*up) - f(*down)) / (2 * h)
    return flat, num


n_max = 12 if FAST else 10**6
for which, (name, analytic) in enumerate([("x", dx), ("w", dw), ("b", db)]):
    idx, num = central_differences([x, w, b], which, n_max)
    err = np.abs(num - analytic.flat[idx]).max() / np.abs(analytic).max()
    print(f"d f/d{name}: {len(idx):3d} entries, max relative error {err:.1e}")
    assert err < 1e-7

# %% [markdown]
# `dynconv.gradcheck` does the same for any layer or graph, in float64 on a copy; here the
# `Conv2D` layer around the fast kernels, with this notebook's geometry. (`init="he"` draws the
# layer's initial kernel with He initialisation, explained in notebook 08, §1; notebook 08 also
# checks the other layers' backward passes this way.)

# %%
layer = Conv2D(C, F, (kh, kw), pad=pad, init="he", rng=rng, dtype=np.float64)
report = gradcheck(layer, [x], rng=0)
print(report)
assert report.ok

# %% [markdown]
# Finally, a sweep over random geometries (batch, channels, kernel shape, padding): the naive
# functions of this notebook against the fast kernels, with whichever algorithm they choose
# (3 geometries with `DYNCONV_FAST=1`).

# %%
for case in range(3 if FAST else 15):
    n, c_in = rng.integers(1, 4, size=2)
    f_out = int(rng.integers(1, 9))  # up to 8 output channels: both kinds of algorithm
    k_h, k_w = rng.integers(1, 6, size=2)
    pad_s = int(rng.integers(0, min(k_h, k_w)))
    h_in, w_in = k_h + int(rng.integers(0, 5)), k_w + int(rng.integers(0, 5))
    xs, ws, bs = (rng.standard_normal(s) for s in ((n, c_in, h_in, w_in), (f_out, c_in, k_h, k_w), (f_out,)))
    ys, cache = kernels.conv2d_forward(xs, ws, bs, pad=pad_s)
    dys = rng.standard_normal(ys.shape)
    dxs, dws, dbs = kernels.conv2d_backward(dys, cache)
    assert np.allclose(ys, conv_forward(xs, ws, bs, pad_s))
    assert np.allclose(dxs, conv_input_grad(dys, ws, pad_s))
    assert np.allclose(dws, conv_kernel_grad(dys, xs, ws.shape, pad_s)[0])
print(f"{case + 1} random geometries agree")

# %% [markdown]
# ## 5. Pictures of the kernel flip
#
# Feed an impulse (a single 1, at row $r_0$ and column $c_0$ of the padded input $\bar x$) through
# the layer. The forward pass, a correlation, *gathers*
# $\sum_{u,v} w[u,v]\,\bar x[r+u, c+v]$: the output pixel $(r,c)$ sees the impulse through the tap
# $(u,v) = (r_0 - r, c_0 - c)$, so the response draws the kernel **flipped**. The backward pass of
# eq 2 *scatters*: every $g[r,c]$ adds $g[r,c]\,w$ onto $\bar x$ at offset $(r,c)$, so an impulse
# gradient draws the kernel **as stored**. A true convolution (SciPy's) of the impulse draws it
# as stored too — that is why eq 2 is a convolution.

# %%
w_pic = np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])  # 3x3, every tap distinguishable
impulse = np.zeros((7, 7))
impulse[3, 3] = 1.0

fwd, cache_pic = kernels.conv2d_forward(impulse[None, None], w_pic[None, None], pad=1)
back, _, _ = kernels.conv2d_backward(impulse[None, None], cache_pic)
true_conv = signal.convolve2d(impulse, w_pic, mode="same")

assert np.allclose(fwd[0, 0, 2:5, 2:5], w_pic[::-1, ::-1])  # correlation: flipped
assert np.allclose(back[0, 0, 2:5, 2:5], w_pic)              # its gradient: as stored
assert np.allclose(true_conv[2:5, 2:5], w_pic)               # a true convolution: as stored

panels = [("kernel w (as stored)", w_pic), ("forward: correlation\nof an impulse = flipped w", fwd[0, 0]),
          ("backward: dl/dx of an\nimpulse dl/dy = w", back[0, 0]),
          ("true convolution\nof an impulse = w", true_conv)]
fig, axes = plt.subplots(1, 4, figsize=(10, 2.8), layout="constrained")
for ax, (title, img) in zip(axes, panels):
    im = ax.imshow(img, cmap="viridis", vmin=0, vmax=9)
    for (r, c), v in np.ndenumerate(img):
        if v:
            ax.text(c, r, f"{v:g}", ha="center", va="center", color="w" if v < 6 else "k")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(im, ax=axes, shrink=0.8, label="value (0 off the kernel)")
plt.show()

# %% [markdown]
# ## 6. One gradient-descent step (eq 4)
#
# $k_{ij} \leftarrow k_{ij} - \alpha\, \partial l / \partial k_{ij}$. To first order the loss drops by
# $\alpha \lVert \nabla_w l \rVert^2$, so for a small enough rate the step must lower the loss, and
# the measured decrease divided by $\alpha\lVert\nabla_w l\rVert^2$ must tend to 1 as
# $\alpha \to 0$. `kernels.sgd_update` does the step in place (where training keeps its weights),
# `reference.sgd_update` returns a new array.
#
# **With momentum.** Training (notebook 03) adds a velocity $z$ (often written $v$, which here is
# a tap column), started at 0, that remembers past steps:
#
# $$
# z \leftarrow \mu\, z + \alpha\, \frac{\partial l}{\partial k_{ij}}, \qquad
# k_{ij} \leftarrow k_{ij} - z
# \qquad\text{(eq 4 with momentum } \mu\text{)}
# $$
#
# With $\mu = 0$ it is eq 4. With $\mu = 0.9$ a gradient that keeps its direction builds steps up
# to $1/(1-\mu) = 10$ times larger, while gradients that flip sign from step to step cancel. This
# form, with $\alpha$ inside the velocity, is Caffe's (the framework SRCNN was trained with) and
# `dynconv.optim.SGD`'s; PyTorch keeps $\alpha$ outside, $z \leftarrow \mu z + \partial l/\partial
# k$, $k \leftarrow k - \alpha z$ — the two agree while $\alpha$ is constant (notebook 03,
# exercise 1).

# %%
def euclidean_loss_and_grad(w_):
    loss = EuclideanLoss()
    value = float(loss.forward(conv_forward(x, w_, b, pad), target))
    dpred, _ = loss.backward()
    return value, conv_kernel_grad(dpred, x, w_.shape, pad)[0]


l0, grad = euclidean_loss_and_grad(w)
for alpha in [1e-2, 1e-3, 1e-4]:
    w_new = reference.sgd_update(w, grad, alpha)
    in_place = w.copy()
    assert kernels.sgd_update(in_place, grad, alpha) is in_place and np.allclose(in_place, w_new)
    l1, _ = euclidean_loss_and_grad(w_new)
    ratio = (l0 - l1) / (alpha * np.vdot(grad, grad))
    print(f"alpha = {alpha:.0e}: loss {l0:.4f} -> {l1:.4f}, decrease / (alpha |grad|^2) = {ratio:.4f}")
    assert l1 < l0
assert abs(ratio - 1) < 1e-2

# Momentum: three steps of dynconv.optim.SGD against the equation, with a fixed gradient.
from dynconv.optim import SGD

alpha, mu = 1e-3, 0.9
w_opt, dw_opt = w.copy(), grad.copy()
opt = SGD([("w", w_opt, dw_opt)], lr=alpha, momentum=mu)
w_eq, z = w.copy(), np.zeros_like(w)  # z: the velocity
for _ in range(3):
    opt.step()
    z = mu * z + alpha * grad
    w_eq = w_eq - z
assert np.allclose(w_opt, w_eq)
assert np.allclose(w - w_eq, alpha * (1 + (1 + mu) + (1 + mu + mu**2)) * grad)  # steps grow

# %% [markdown]
# ## Where this lives in dynconv
#
# * `dynconv.reference.conv2d_forward` / `conv2d_backward` / `sgd_update`: eqs 1–4 as literal loops;
#   `convolve2d`, `eq2_input_gradient`, `eq3_kernel_gradient`: eqs 2 and 3 as printed, with the
#   relations of §2–3 checked in `tests/test_reference.py`;
# * `dynconv.kernels.conv2d_forward` / `conv2d_backward`: the same in numba, with the algorithms
#   notebook 06 derives — direct loops for few output channels, matrix products otherwise
#   (through BLAS, the tuned linear-algebra library NumPy's `@` calls; eq 3's batch sum falls
#   out of one product);
# * `dynconv.layers.Conv2D`: the layer a graph uses. Notebook 02 gives every sample its own kernel
#   (eqs 5–7); notebook 03 wires layers into a graph and trains it with eq 4.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell under each exercise; `exercises.try_it` checks it (and says "not
# attempted yet" until you do). Worked solutions: `notebooks/solutions/s01.py`. The exercises on
# eqs 2 and 3 are notebook 06's 3–6, after the fast convolution.
#
# ### Exercise 1 — eq 1 by hand
#
# Work out, with pencil and paper, the output of eq 1 for one channel, no padding and no bias,
# for the input and kernel below, and return it from `eq1_by_hand()` as a 2×2 nested list.
#
# $$
# x = \begin{pmatrix} 1 & 2 & 0 \\ 0 & 1 & 3 \\ 2 & 0 & 1 \end{pmatrix}, \qquad
# w = \begin{pmatrix} 1 & -1 \\ 2 & 0 \end{pmatrix}
# $$

# %%
import exercises


def eq1_by_hand():
    raise NotImplementedError  # your code: [[y00, y01], [y10, y11]]


exercises.try_it(exercises.check_eq1_by_hand, eq1_by_hand)

# %% [markdown]
# ### Exercise 2 — how large may the rate of eq 4 be?
#
# Take one weight $k$ and the loss $l(k) = \tfrac{1}{2} a k^2$ with $a > 0$. Write
# `stable_rate(a)`: the supremum of the rates $\alpha$ for which repeated steps of eq 4 bring $k$
# to 0 from any start. The check runs eq 4 just below and just above your answer.

# %%
def stable_rate(a):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_stable_rate, stable_rate)
