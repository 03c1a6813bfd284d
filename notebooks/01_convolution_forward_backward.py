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
#   every algorithm of `dynconv.kernels` (the fast numba code) and finite differences;
# * what the flip looks like, and what one gradient-descent step (eq 4) does.
#
# The notebook ends with exercises, each checked by `notebooks/exercises.py`.
#
# Notation: `x` has shape $(N, C, H, W)$ — sample $t$ (the paper's $t$), input channel $i$, rows,
# columns; a kernel `w` has shape $(F, C, k_h, k_w)$ — output channel $j$, input channel $i$, taps
# $(u, v)$. Every check below is an `assert`: if a derivation were wrong, this notebook would fail
# in the test suite.

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
# y_{t,j}[r,c] \;=\; b_j + \sum_{i=1}^{C} \sum_{u=0}^{k_h-1} \sum_{v=0}^{k_w-1}
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
y_ref, cache_ref = reference.conv2d_forward(x, w, b, pad=pad)
y_fast, cache_fast = kernels.conv2d_forward(x, w, b, pad=pad)
print("y:", y.shape, " max |naive - reference| =", np.abs(y - y_ref).max(),
      " max |naive - kernels| =", np.abs(y - y_fast).max())
assert y.shape == (N, F, H + 2 * pad - kh + 1, W + 2 * pad - kw + 1)
assert np.allclose(y, y_ref, rtol=0, atol=1e-12)
assert np.allclose(y, y_fast, rtol=0, atol=1e-12)

# %% [markdown]
# The same statement with SciPy's 2-D routines, for one output and one input channel: the layer is
# `correlate2d` with $w$, which is `convolve2d` with the flipped $\tilde w$.

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
# kernel flipped in both axes and its two channel axes swapped ($j$ is now the input channel). So the
# backward pass of a correlation layer is a correlation layer, and we can reuse `conv_forward`:

# %%
def conv_input_grad(g, w, pad):
    """Eq 2: dl/dx = full convolution of g with w = correlation of g (padded by k-1) with w flipped."""
    F, C, kh, kw = w.shape
    w_flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, F, kh, kw): j becomes the input
    dxp = conv_forward(g, w_flipped, np.zeros(C), pad=(kh - 1, kw - 1))  # dl/d(padded x)
    H, W = dxp.shape[2] - 2 * pad, dxp.shape[3] - 2 * pad
    return dxp[:, :, pad:pad + H, pad:pad + W]


g = rng.standard_normal(y.shape)  # an arbitrary upstream gradient dl/dy
dx = conv_input_grad(g, w, pad)
assert dx.shape == x.shape

# The same thing written as eq 2 literally: sum_j of SciPy's full convolution g_tj * w_ji, cropped,
# and dynconv.reference's transcription of eq 2 as printed (a true convolution, the kernel flipped).
dxp_scipy = np.array([[sum(signal.convolve2d(g[t, j], w[j, i], mode="full") for j in range(F))
                       for i in range(C)] for t in range(N)])
assert np.allclose(dx, dxp_scipy[:, :, pad:pad + H, pad:pad + W])
assert np.allclose(dx, reference.eq2_input_gradient(g, w, pad))

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
# ($H_p = H + 2p$). Written out, with $H_p - H_o = k_h - 1$,
#
# $$
# \big(\tilde{\bar x}_{t,i} * g_{t,j}\big)[u,v]
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
# gradient of the batch-mean loss $\frac1T\sum_t l_t$. dynconv puts that mean in the loss
# (`MSELoss`, `EuclideanLoss` divide by $N$), and the layer returns the plain sum above — the exact
# derivative of whatever loss produced $g$. Same number, one place for the $1/T$ (checked at the
# end of this section).

# %%
def conv_kernel_grad(g, x, kernel_shape, pad):
    """Eq 3: dl/dw[j, i, u, v] = sum over t, r, c of g[t, j, r, c] * padded x[t, i, r + u, c + v]."""
    F, C, kh, kw = kernel_shape
    xp = pad2d(x, pad)
    Ho, Wo = g.shape[2:]
    dw = np.zeros(kernel_shape)
    for j in range(F):
        for i in range(C):
            for u in range(kh):
                for v in range(kw):
                    dw[j, i, u, v] = np.sum(g[:, j] * xp[:, i, u:u + Ho, v:v + Wo])
    return dw, g.sum(axis=(0, 2, 3))


dw, db = conv_kernel_grad(g, x, w.shape, pad)

# Eq 3 is also eq 1: correlate the padded input (samples as channels) with g (samples as channels).
# The sum over the batch is then the layer's sum over input channels.
dw_as_layer = conv_forward(pad2d(x, pad).transpose(1, 0, 2, 3), g.transpose(1, 0, 2, 3),
                           np.zeros(F)).transpose(1, 0, 2, 3)
assert np.allclose(dw, dw_as_layer)

# %%
# Eq 3 as printed: a true convolution of g with the flipped input, summed over the batch.
eq3_as_printed = reference.eq3_kernel_gradient(g, x, pad)
assert not np.allclose(eq3_as_printed, dw)                  # not our kernel gradient ...
assert np.allclose(eq3_as_printed[:, :, ::-1, ::-1], dw)    # ... but it rotated by 180 degrees
xp_t = pad2d(x, pad)[0, 0]                                  # one term with SciPy, to see the flip
assert np.allclose(signal.convolve2d(xp_t[::-1, ::-1], g[0, 0], mode="valid"),
                   conv_kernel_grad(g[[0]], x[[0]], w.shape, pad)[0][0, 0, ::-1, ::-1])


# It is the exact gradient for the convolution convention, y = x * k with k = rot180(w):
def loss_conv_convention(k_flat):
    k_ = k_flat.reshape(w.shape)
    return np.vdot(g, conv_forward(x, k_[:, :, ::-1, ::-1], b, pad))


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
# The library's implementations — the literal loops of `dynconv.reference` and every algorithm of
# `dynconv.kernels` (float64 and float32) — must return the same three gradients. The kernels pick
# an algorithm from the layer's shape (`choose_algorithm`: few output channels take direct loops,
# many a BLAS-based one); below, each algorithm runs on this notebook's data — chosen explicitly
# where the kernels accept `algorithm=`, otherwise by giving the layer a number of output
# channels that selects it.

# %%
import inspect

from dynconv.kernels import conv2d as conv2d_kernels

ALGORITHMS = getattr(conv2d_kernels, "ALGORITHMS", ("gemm", "direct"))
EXPLICIT = "algorithm" in inspect.signature(kernels.conv2d_forward).parameters


def run_algorithm(algorithm, x_, w_, b_, g_):
    """Forward and backward with one algorithm; returns (y, dx, dw, db, the cache's algorithm)."""
    if EXPLICIT:
        y_, cache = kernels.conv2d_forward(x_, w_, b_, pad=pad, algorithm=algorithm)
    else:
        y_, cache = kernels.conv2d_forward(x_, w_, b_, pad=pad)
    return (y_, *kernels.conv2d_backward(g_, cache), cache.algorithm)


dx_ref, dw_ref, db_ref = reference.conv2d_backward(g, cache_ref)
for name, mine, ref in [("dx", dx, dx_ref), ("dw", dw, dw_ref), ("db", db, db_ref)]:
    assert np.allclose(mine, ref, rtol=1e-12, atol=1e-12), name
for algorithm in ALGORITHMS:
    # Output channels that make the kernels choose this algorithm (any, if it can be asked for).
    F_a = F if EXPLICIT else next(f for f in range(1, 65) if conv2d_kernels.choose_algorithm(f, C, kh, kw) == algorithm)
    w_a, b_a = rng.standard_normal((F_a, C, kh, kw)), rng.standard_normal(F_a)
    y_a = conv_forward(x, w_a, b_a, pad)
    g_a = rng.standard_normal(y_a.shape)
    naive = [y_a, conv_input_grad(g_a, w_a, pad), *conv_kernel_grad(g_a, x, w_a.shape, pad)]
    *fast, used = run_algorithm(algorithm, x, w_a, b_a, g_a)
    assert used == algorithm, (used, algorithm)
    err = max(np.abs(a - b_).max() for a, b_ in zip(naive, fast))
    print(f"{algorithm:>7s} (F = {F_a}): y, dx, dw, db match the naive functions, max |difference| {err:.1e}")
    assert err < 1e-10

# float32: the fast kernels' training dtype, to single precision.
f32 = [a.astype(np.float32) for a in (x, w, b, g)]
y32, cache32 = kernels.conv2d_forward(*f32[:3], pad=pad)
dx32, dw32, db32 = kernels.conv2d_backward(f32[3], cache32)
assert y32.dtype == dx32.dtype == dw32.dtype == np.float32
for mine, got in [(y, y32), (dx, dx32), (dw, dw32), (db, db32)]:
    assert np.allclose(got, mine, rtol=1e-4, atol=1e-4 * np.abs(mine).max())

# %% [markdown]
# **Finite differences.** Take the scalar $f(x, w, b) = \langle g, y(x, w, b)\rangle = \sum g \odot y$.
# Its gradient with respect to $x$, $w$ and $b$ is exactly what eqs 2–3 compute for the upstream
# gradient $g$. Central differences $\big(f(\theta + h e_k) - f(\theta - h e_k)\big)/2h$ estimate each
# component; since $y$ is linear in each argument they are exact up to rounding.
# (With `DYNCONV_FAST=1` a random subset of the entries is checked.)

# %%
def f(x_, w_, b_):
    return np.vdot(g, conv_forward(x_, w_, b_, pad))


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
# `Conv2D` layer around the fast kernels, with this notebook's geometry.

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
    p = int(rng.integers(0, min(k_h, k_w)))
    h_in, w_in = k_h + int(rng.integers(0, 5)), k_w + int(rng.integers(0, 5))
    xs, ws, bs = (rng.standard_normal(s) for s in ((n, c_in, h_in, w_in), (f_out, c_in, k_h, k_w), (f_out,)))
    ys, cache = kernels.conv2d_forward(xs, ws, bs, pad=p)
    gs = rng.standard_normal(ys.shape)
    dxs, dws, dbs = kernels.conv2d_backward(gs, cache)
    assert np.allclose(ys, conv_forward(xs, ws, bs, p))
    assert np.allclose(dxs, conv_input_grad(gs, ws, p))
    assert np.allclose(dws, conv_kernel_grad(gs, xs, ws.shape, p)[0])
print(f"{case + 1} random geometries agree")

# %% [markdown]
# ## 5. Pictures of the kernel flip
#
# Feed an impulse (a single 1) through the layer. The forward pass, a correlation, *gathers*
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
fig, axes = plt.subplots(1, 4, figsize=(9, 2.6))
for ax, (title, img) in zip(axes, panels):
    ax.imshow(img, cmap="viridis", vmin=0, vmax=9)
    for (r, c), v in np.ndenumerate(img):
        if v:
            ax.text(c, r, f"{v:g}", ha="center", va="center", color="w" if v < 6 else "k")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. One gradient-descent step (eq 4)
#
# $k_{ij} \leftarrow k_{ij} - \alpha\, \partial l / \partial k_{ij}$. To first order the loss drops by
# $\alpha \lVert \nabla_w l \rVert^2$, so for a small enough rate the step must lower the loss, and
# the measured decrease divided by $\alpha\lVert\nabla_w l\rVert^2$ must tend to 1 as
# $\alpha \to 0$. `kernels.sgd_update` does the step in place (where training keeps its weights),
# `reference.sgd_update` returns a new array.

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

# %% [markdown]
# ## Where this lives in dynconv
#
# * `dynconv.reference.conv2d_forward` / `conv2d_backward` / `sgd_update`: eqs 1–4 as literal loops;
#   `convolve2d`, `eq2_input_gradient`, `eq3_kernel_gradient`: eqs 2 and 3 as printed, with the
#   relations of §2–3 checked in `tests/test_reference.py`;
# * `dynconv.kernels.conv2d_forward` / `conv2d_backward`: the same in numba, with the algorithms of
#   §4 — direct loops for few output channels, BLAS matrix products otherwise (where eq 3's batch
#   sum falls out of one product);
# * `dynconv.layers.Conv2D`: the layer a graph uses. Notebook 02 gives every sample its own kernel
#   (eqs 5–7); notebook 03 wires layers into a graph and trains it with eq 4.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell under each exercise; `exercises.try_it` checks it (and says "not
# attempted yet" until you do). Worked solutions: `notebooks/solutions/s01.py`.
#
# ### Exercise 1 — eq 3 as printed, and the flip
#
# Implement eq 3 literally: `eq3_literal(g, x, pad)` returns
# $\sum_t g_{t,j} * \tilde{\bar x}_{t,i}$ for every $(j, i)$ — a *true* valid convolution
# (`scipy.signal.convolve2d`) of the flipped padded input with $g$, shape $(F, C, k_h, k_w)$. The
# check wants it to be `dw` rotated by 180°. Explain the rotation in one line of index algebra.

# %%
import exercises


def eq3_literal(g, x, pad):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_eq3_literal, eq3_literal)

# %% [markdown]
# ### Exercise 2 — the input gradient of a stride-2 layer
#
# `exercises.stride2_forward(x, w)` is eq 1 (no padding) keeping every second output row and
# column. Derive its input gradient and implement `stride2_input_grad(g, w, x_shape)`.
# Hint: which stride-1 output pixels does the stride-2 layer keep, and what gradient do the
# others receive?

# %%
def stride2_input_grad(g, w, x_shape):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_stride2_input_grad, stride2_input_grad)

# %% [markdown]
# ### Exercise 3 — a kernel that hides a wrong backward
#
# `exercises.no_flip_input_grad` makes the classic mistake of §2: eq 2 as a correlation, without
# the flip. `dynconv.gradcheck` catches it with random kernels — but not with every kernel. Write
# `flip_blind_kernel(kh, kw)`, a non-zero kernel for which the wrong backward gives the right
# answer. What does that say about testing a backward pass with hand-made kernels?

# %%
def flip_blind_kernel(kh, kw):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_flip_blind_kernel, flip_blind_kernel)
