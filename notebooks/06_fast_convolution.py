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
# # 06 · A fast convolution from eq 1 by index algebra ("kn2row")
#
# **What you will learn**
#
# * what the textbook *im2col + GEMM* convolution does, and how long its unfolding takes next to
#   its matrix product (timed separately in §0);
# * how three lines of index algebra turn eq 1 into a **sum of $k_h k_w$ matrix products on
#   shifted views of the input** — views a BLAS routine (§0) reads in place, so nothing is unfolded;
# * that the same identity gives eq 2 (the input gradient) and eq 3 (the kernel gradient);
# * how `dynconv.kernels` exposes the choice (`ALGORITHMS`, `choose_algorithm`, `algorithm=`)
#   and where the measured speeds live (`benchmarks/README.md`).
#
# The notebook ends with six exercises, each checked by `notebooks/exercises.py`: two on kn2row,
# and four on eqs 2 and 3 of notebook 01.
#
# Notation as in the table at the top of notebook 01: `x` is $(N, C, H, W)$, `w` is $(F, C, k_h, k_w)$; sample $t$, input
# channel $i$, output channel $j$, kernel taps $(u, v)$. Every check is an `assert`.

# %%
import json
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from dynconv import kernels, reference
from dynconv.kernels import im2col as im2col_kernels

FAST = os.environ.get("DYNCONV_FAST") == "1"
rng = np.random.default_rng(6)
plt.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "font.size": 9})

# %% [markdown]
# ## 0. The textbook way: im2col + GEMM
#
# **im2col** ("image to columns") copies every $C \times k_h \times k_w$ window of $\bar x$ into
# one column of a matrix of shape $(C k_h k_w,\; H_o W_o)$; eq 1 for all output pixels is then a
# single matrix product with the kernel reshaped to $(F,\; C k_h k_w)$. A matrix product is the
# one operation CPUs run near their peak speed, through **BLAS** (Basic Linear Algebra
# Subprograms, the tuned library NumPy's `@` calls) and its **GEMM** ("general matrix–matrix
# multiply"; `sgemm` and `dgemm` are its float32 and float64 versions) — at the price of a copy
# $k_h k_w$ times the size of the input. The next cell builds the matrix for one small sample
# and checks the single product against `dynconv.reference`.

# %%
def im2col(xp_t, kh, kw):
    """Columns of every (C, kh, kw) window of one padded sample xp_t (C, Hp, Wp): (C*kh*kw, Ho*Wo)."""
    C_, Hp, Wp = xp_t.shape
    Ho, Wo = Hp - kh + 1, Wp - kw + 1
    return np.stack([xp_t[:, r:r + kh, c:c + kw].ravel() for r in range(Ho) for c in range(Wo)], axis=1)


x0, w0, b0, pad0 = rng.standard_normal((1, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4), 1
y0, _ = reference.conv2d_forward(x0, w0, b0, pad=pad0)
cols = im2col(np.pad(x0[0], ((0, 0), (pad0, pad0), (pad0, pad0))), 3, 2)
assert cols.shape == (3 * 3 * 2, y0.shape[2] * y0.shape[3])
assert np.allclose((w0.reshape(4, -1) @ cols).reshape(y0.shape[1:]) + b0[:, None, None], y0[0])

fig, ax = plt.subplots(figsize=(8, 2.4))
lim = np.abs(cols).max()
im = ax.imshow(cols, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
ax.set_xlabel(f"output pixel (row-major)  ({cols.shape[1]} columns)")
ax.set_ylabel(f"(i, u, v)  ({cols.shape[0]} rows)")
ax.set_title("im2col: one column per window of the padded input")
fig.colorbar(im, ax=ax, label="value of $\\bar x$")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Unfolding against multiplying, timed apart.** For the 64→32 5×5 mapping layer of SRCNN's
# 9-5-5 variant (kernels 9×9, 5×5, 5×5; the DCNN has no such layer) on 25×25 inputs
# (8 samples, float32), the cell times `dynconv.kernels.im2col.unfold` (the numba unfolding the
# kernels use) and the GEMM on its result separately, best of 7 runs each. On this shared 2-core
# machine, earlier runs of this code gave unfold / GEMM = 0.30, 0.78 and 1.75 (unfold 8–21 ms,
# GEMM 5–41 ms): the ratio moves with the load, but the unfolding is always the same order as
# the product, not a negligible copy. The stored output below is another run. Timing belongs in
# `benchmarks/`; this is one run to show the split, nothing is asserted about it.

# %%
xu = rng.standard_normal((8, 64, 25, 25)).astype(np.float32)
wu = rng.standard_normal((32, 64, 5, 5)).astype(np.float32).reshape(32, -1)
im2col_kernels.unfold(xu[:1], 5, 5, 0, 0)  # compile / warm up
t_unfold, t_gemm = [], []
for _ in range(7):
    t0 = time.perf_counter()
    cols_u = im2col_kernels.unfold(xu, 5, 5, 0, 0)
    t1 = time.perf_counter()
    wu @ cols_u
    t_unfold.append(t1 - t0)
    t_gemm.append(time.perf_counter() - t1)
print(f"cols {cols_u.shape}: unfold {min(t_unfold) * 1e3:.1f} ms, GEMM {min(t_gemm) * 1e3:.1f} ms, "
      f"unfold / GEMM = {min(t_unfold) / min(t_gemm):.2f}")

# %% [markdown]
# ## 1. Eq 1 as a sum of shifted 1×1 convolutions
#
# Eq 1, with $\bar x$ the input zero-padded by $p$ (height $H_p$, width $W_p$):
#
# $$
# y_{t,j}[r,c] = b_j + \sum_{u,v} \sum_i w_{j,i}[u,v]\;\bar x_{t,i}[r+u,\,c+v].
# $$
#
# **Step 1 — swap the sums.** The sum over taps $(u,v)$ can go outside: for a fixed tap,
# $\sum_i w_{j,i}[u,v]\,\bar x_{t,i}[\cdot]$ is a *1×1 convolution* — a matrix product of the
# $(F, C)$ tap matrix $K_{uv} = w[:, :, u, v]$ with the channels of the input.
#
# **Step 2 — flatten.** Store each padded channel row after row: $\bar x_{t,i}[m, n] = X_{t}[i,\, m W_p + n]$,
# and put output pixel $(r, c)$ at the *wide* position $\nu = r W_p + c$. Then
#
# $$
# \bar x_{t,i}[r+u,\,c+v] = X_t[i,\; \nu + o_{uv}], \qquad o_{uv} = u W_p + v,
# $$
#
# a *constant shift* of the flat index. So, with $Y_t[j, \nu] = y_{t,j}[r, c]$,
#
# $$
# Y_t \;=\; \sum_{u,v} K_{uv}\; X_t[:,\; o_{uv} : o_{uv} + L] \;+\; b,
# \qquad L = (H_o - 1) W_p + W_o .
# $$
#
# **Step 3 — read it as BLAS sees it.** $X_t[:, o : o + L]$ is a $(C, L)$ matrix whose rows are
# $H_p W_p$ elements apart: a plain strided matrix, no copy. Each term is one GEMM accumulating
# into $Y_t$: BLAS's GEMM computes $Z \leftarrow \alpha A B + \beta Z$ for matrices $A$, $B$, $Z$
# and scalars $\alpha$, $\beta$ (BLAS's names, unrelated to eq 4's rate); `beta = 1` makes it
# add to what $Y_t$ (its $Z$) already holds instead of overwriting it. The wide positions with $c \ge W_o$
# wrap into the next row; they are computed and cropped — the price is $L / (H_o W_o)$ times the
# multiply-adds (about $W_p / W_o$, 1.2 for SRCNN's 5×5 layer), against the $k_h k_w$-fold copy
# of im2col.
#
# Here it is in NumPy: a plain slice `X[:, o:o + L]` of the flattened channels is the shifted
# view (NumPy returns a strided view, no copy), `@` is the GEMM.

# %%
def kn2row_forward(x, w, b, pad):
    """Eq 1 as a sum of k_h·k_w GEMMs on shifted views of the flattened padded input."""
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Hp, Wp = xp.shape[2:]
    Ho, Wo = Hp - kh + 1, Wp - kw + 1
    L = (Ho - 1) * Wp + Wo
    y = np.empty((N, F, Ho, Wo))
    for t in range(N):
        X = xp[t].reshape(C, Hp * Wp)
        Y = np.zeros((F, L))
        for u in range(kh):
            for v in range(kw):
                o = u * Wp + v
                Y += w[:, :, u, v] @ X[:, o:o + L]  # a (C, L) strided view: nothing unfolded
        Yfull = np.zeros((F, Ho * Wp))
        Yfull[:, :L] = Y
        y[t] = Yfull.reshape(F, Ho, Wp)[:, :, :Wo] + b[:, None, None]  # crop the wrapped columns
    return y


x = rng.standard_normal((2, 3, 7, 6))
w = rng.standard_normal((4, 3, 3, 2))
b = rng.standard_normal(4)
y_ref, _ = reference.conv2d_forward(x, w, b, pad=1)
err = np.abs(kn2row_forward(x, w, b, 1) - y_ref).max()
print(f"max |kn2row - reference| = {err:.2e}")
assert err < 1e-12

# %% [markdown]
# The picture of the wide grid for this example ($H_p = 9$, $W_p = 8$, a 3×2 kernel, so
# $H_o = 7$, $W_o = 7$, $L = 6 \cdot 8 + 7 = 55$). Left: the $H_o \times W_p$ wide positions
# $\nu = r W_p + c$; the last column ($c \ge W_o$) is computed but belongs to no output pixel —
# its window wraps from the end of one row of $\bar x$ into the start of the next — and is cropped.
# Right: the slice `X[:, o:o + L]` of tap $(u, v) = (1, 1)$ drawn on the padded input: it starts at
# $o = W_p + 1$ and runs through $L$ consecutive pixels, wrapping at every row end.

# %%
Hp, Wp, kh_, kw_ = 9, 8, 3, 2
Ho, Wo = Hp - kh_ + 1, Wp - kw_ + 1
L = (Ho - 1) * Wp + Wo
wide = np.arange(Ho * Wp).reshape(Ho, Wp)
kind = np.where(wide >= L, 0, np.where(wide % Wp >= Wo, 1, 2))  # 0 never computed, 1 wrapped, 2 kept
u, v = 1, 1
o = u * Wp + v
covered = np.zeros(Hp * Wp, dtype=int)
covered[o:o + L] = 2
covered[o:o + L][(np.arange(L) % Wp) >= Wo] = 1  # the slice entries that feed wrapped positions
fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
cmap = plt.matplotlib.colors.ListedColormap(["white", "tab:red", "tab:blue"])
for ax, img, title in [(axes[0], kind, f"wide grid Y: {L} computed, {Ho * Wo} kept"),
                       (axes[1], covered.reshape(Hp, Wp), f"tap (1, 1): X[:, {o}:{o + L}] on the padded input")]:
    ax.imshow(img, cmap=cmap, vmin=0, vmax=2)
    ax.set_xticks(range(img.shape[1]))
    ax.set_yticks(range(img.shape[0]))
    ax.set_title(title)
axes[0].set_xlabel("c (blue: output pixel, red: wrapped, cropped; white: beyond L)")
axes[1].set_xlabel("column of $\\bar x$ (red: read only for wrapped positions)")
fig.tight_layout()
plt.show()
assert (kind == 2).sum() == Ho * Wo and (kind > 0).sum() == L

# %% [markdown]
# ## 2. The same identity for eqs 2 and 3
#
# **Eq 3 (kernel gradient).** Differentiate $Y_t = \sum_{uv} K_{uv} X_t[:, o_{uv}:o_{uv}+L]$ with
# respect to $K_{uv}$: with $\partial l / \partial Y_t = D_t$ (the output gradient on the wide grid,
# **zero** at the wrapped positions, which fed nothing),
#
# $$
# \frac{\partial l}{\partial K_{uv}} = \sum_t D_t \; X_t[:,\; o_{uv}:o_{uv}+L]^\top ,
# $$
#
# one GEMM per tap with the long dimension $L$ as its depth.
#
# **Eq 2 (input gradient)** is a full convolution of $\partial l/\partial y$ with the kernel —
# notebook 01 showed it equals a *valid correlation* of $\partial l/\partial y$ zero-padded by
# $k_h - 1 - p$ rows and $k_w - 1 - p$ columns with the kernel **flipped** and its channel axes swapped. That is eq 1 again, so
# the forward loop above serves it unchanged.

# %%
def kn2row_backward(dy, x, w, pad):
    """(dx, dw) by the same shifted views: dw per tap as one GEMM, dx as eq 1 on the padded dy."""
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Hp, Wp = xp.shape[2:]
    Ho, Wo = dy.shape[2:]
    L = (Ho - 1) * Wp + Wo
    dw = np.zeros_like(w)
    for t in range(N):
        X = xp[t].reshape(C, Hp * Wp)
        D = np.zeros((F, Ho, Wp))
        D[:, :, :Wo] = dy[t]  # the wrapped columns stay zero
        D = D.reshape(F, -1)[:, :L]
        for u in range(kh):
            for v in range(kw):
                o = u * Wp + v
                dw[:, :, u, v] += D @ X[:, o:o + L].T
    flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    dyp = np.pad(dy, ((0, 0), (0, 0), (kh - 1 - pad, kh - 1 - pad), (kw - 1 - pad, kw - 1 - pad)))
    dx = kn2row_forward(dyp, flipped, np.zeros(C), 0)
    return dx, dw


dy = rng.standard_normal(y_ref.shape)
_, rcache = reference.conv2d_forward(x, w, b, pad=1)
rdx, rdw, _ = reference.conv2d_backward(dy, rcache)
dx, dw = kn2row_backward(dy, x, w, 1)
print(f"eq 2: {np.abs(dx - rdx).max():.2e}   eq 3: {np.abs(dw - rdw).max():.2e}")
assert np.allclose(dx, rdx, atol=1e-12) and np.allclose(dw, rdw, atol=1e-12)

# %% [markdown]
# **Eq 3 is eq 1 too**, with other arrays in the roles of input and kernel, so a library can
# compute it with its forward code (and its fast algorithm). Eq 1 computes
# `out[t', j', u, v]` $= \sum_{i'} \sum_{r, c}$ `kern[j', i', r, c] * inp[t', i', u + r, v + c]`.
# Eq 3, $\partial l/\partial w_{j,i}[u,v] = \sum_t \sum_{r,c} g_{t,j}[r,c]\,\bar x_{t,i}[r+u,\,c+v]$,
# has that form if the input channels $i$ play the samples $t'$, the samples $t$ play the
# channels $i'$ that are summed over, and $g$ plays the kernel:
#
# | eq 1 slot | `inp` $(N', C', \cdot, \cdot)$ | `kern` $(F', C', \cdot, \cdot)$ | `out` $(N', F', \cdot, \cdot)$ |
# |---|---|---|---|
# | eq 3 | $\bar x$ transposed: $(C, N, H_p, W_p)$ | $g$ transposed: $(F, N, H_o, W_o)$ | $(C, F, k_h, k_w)$ |
#
# The "kernel" $g$ is as large as the output, so the valid output is $H_p - H_o + 1 = k_h$ by
# $k_w$: one tap each, and the batch sum of eq 3 is the channel sum of eq 1. Transposing `out`
# back gives $\partial l/\partial w$, $(F, C, k_h, k_w)$:

# %%
inp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))).transpose(1, 0, 2, 3)  # (C, N, Hp, Wp)
kern = dy.transpose(1, 0, 2, 3)                                            # (F, N, Ho, Wo)
out = kn2row_forward(inp, kern, np.zeros(kern.shape[0]), 0)
assert out.shape == (3, 4, 3, 2) and np.allclose(out.transpose(1, 0, 2, 3), rdw, atol=1e-12)

# %% [markdown]
# ## 3. In `dynconv.kernels`
#
# The fast version (`dynconv/kernels/_kn2row.py`) is these loops in numba, with each `@` a call
# to the BLAS `sgemm`/`dgemm` that ships with scipy, made from inside the compiled loop (no
# Python per call); samples — or, for one large image, blocks of output rows — run in parallel,
# each thread calling BLAS serially: **one level of parallelism at a time**
# (`kernels.set_threads(n)` sets it). For a 1-channel input (SRCNN's first layer) a GEMM of depth
# $C = 1$ would be a rank-1 update (an $(F, 1)$ column times a $(1, L)$ row: one multiply-add
# per output element read, too little work per byte for BLAS to reach speed), so there a few taps are stacked into one deeper GEMM — a
# cache-sized im2col of one row block.
#
# The same wide grid serves `algorithm="blocked"` (`dynconv/kernels/_blocked.py`) without BLAS:
# $Y[f, p] \mathrel{+}= \sum_k w[f, k]\, X[p + o_k]$ with $k$ running over all $C k_h k_w$ taps
# (offset $o_k = c H_p W_p + u W_p + v$), written as a loop over $p$ that numba vectorises: one
# pass updates 2 output channels with 8 taps, the 16 weights held in registers, consecutive
# output pixels in one SIMD vector (8 float32 with AVX2, 16 with AVX-512). AVX2 has 16 vector registers, so there a pass
# takes 4 taps: 16 broadcast weights would not fit beside the accumulators and inputs. No GEMM call, no transposed output to copy back; in a training
# step it is the fastest algorithm on every SRCNN layer but the 1×1 one, and it runs the dynamic
# layers' eqs 5–7 too, with each sample's own kernel. Its input gradient needs no padding on the
# left of a row: on a grid of rows $W + p$ long, a read left of a row wraps into the $k - 1 - p$
# zeros that close the row above.
#
# Every static algorithm is listed in `kernels.ALGORITHMS`, every dynamic one in
# `kernels.DYNAMIC_ALGORITHMS`; `choose_algorithm` picks one per layer shape, `algorithm=`
# overrides it. All agree with the reference, in float64 and float32:

# %%
print("static:", kernels.ALGORITHMS, " dynamic:", kernels.DYNAMIC_ALGORITHMS)
for F, C, k in [(64, 1, 9), (32, 64, 5), (32, 64, 1), (1, 32, 5)]:
    print(f"w ({F}, {C}, {k}, {k}) -> choose_algorithm: {kernels.choose_algorithm(F, C, k, k)}, "
          f"for training: {kernels.choose_algorithm(F, C, k, k, training=True)}; dynamic: "
          f"{kernels.choose_dynamic_algorithm(F, C, k, k)}, for training: "
          f"{kernels.choose_dynamic_algorithm(F, C, k, k, training=True)}")

xs = rng.standard_normal((3, 5, 9, 8))
ws = rng.standard_normal((6, 5, 3, 3))
bs = rng.standard_normal(6)
dys = rng.standard_normal((3, 6, 9, 8))
ry, rc = reference.conv2d_forward(xs, ws, bs, pad=1)
rgrads = reference.conv2d_backward(dys, rc)
for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-4)):
    for algo in kernels.ALGORITHMS:
        y, cache = kernels.conv2d_forward(xs.astype(dtype), ws.astype(dtype), bs.astype(dtype),
                                          pad=1, algorithm=algo)
        grads = kernels.conv2d_backward(dys.astype(dtype), cache)
        errs = [np.abs(a - r).max() / np.abs(r).max() for a, r in zip((y, *grads), (ry, *rgrads))]
        print(f"{np.dtype(dtype).name:8s} {algo:7s} max rel. error (y, dx, dw, db): {max(errs):.1e}")
        assert max(errs) < tol

# %% [markdown]
# ## 4. How fast, and against what
#
# Speed is measured in `benchmarks/`, never asserted in tests: `make bench` times every
# algorithm on every SRCNN and DCNN layer against PyTorch in the same process and writes
# `benchmarks/results/kernels.json`; `benchmarks/README.md` holds the tables and the machine
# load of each run; speeds are in GFLOP/s, $10^9$ floating-point operations per second, a
# multiply-add counting as two. The table below is read from that file when it exists; a small timing on
# this machine follows (one run, not a benchmark — other processes share the cores).
#
# **Why im2col is the slowest here.** The stored table was measured at load 10.9 on 2 cores (its
# first line), where im2col took 9× kn2row's time forward and 8× backward, and more than the
# direct loops. Splitting im2col's forward on this layer (64 samples, float32, chunks of 5
# samples; `im2col.unfold`, the GEMM and the copy back to batch-major order timed apart, one run
# on a less loaded machine) gave: kn2row 45 ms, im2col 98 ms, of which unfold 64 ms, GEMM 31 ms
# (93 GFLOP/s) and the copy 1 ms. So the GEMM itself is fast; two thirds of im2col's time is
# writing the unfolded matrix, 17.6 times the size of the input ($25 \cdot 21^2 = 11025$ values
# per channel against the input's $25^2 = 625$), work kn2row never does. How large the gap is depends on the load: the
# small timing below, on this machine at the time it ran, shows today's ratio.

# %%
result_file = Path("../benchmarks/results/kernels.json")
if result_file.exists():
    res = json.loads(result_file.read_text())
    print(f"{res['meta']['date']}, load {res['meta'].get('loadavg_start')}, "
          f"sgemm {res['sgemm']['gflops']:.0f} GFLOP/s")
    print(f"{'layer':34s} {'dir':4s} {'algorithm':9s} {'ms':>8s} {'GFLOP/s':>8s} {'x torch':>8s}")
    for r in res["kernels"]:
        if r["direction"] in ("fwd", "bwd") and r["kernel"].startswith("conv2_5x5") \
                and "algorithm" in r and isinstance(r["ms"], float):
            ratio = "n/a" if r["ratio_vs_torch"] is None else f"{r['ratio_vs_torch']:.2f}"
            print(f"{r['label']:34s} {r['direction']:4s} {r['algorithm']:9s} {r['ms']:8.1f} "
                  f"{r['gflops']:8.1f} {ratio:>8s}")

N = 8 if FAST else 64
xb = rng.standard_normal((N, 64, 25, 25)).astype(np.float32)
wb = rng.standard_normal((32, 64, 5, 5)).astype(np.float32)
for algo in kernels.ALGORITHMS:
    kernels.conv2d_forward(xb[:1], wb, algorithm=algo)  # compile / warm up
    t0 = time.perf_counter()
    kernels.conv2d_forward(xb, wb, algorithm=algo)
    dt = time.perf_counter() - t0
    gflop = 2 * N * 32 * 64 * 25 * 21 * 21 / 1e9
    print(f"64->32 5x5, N={N}, {algo:7s}: {dt * 1e3:7.1f} ms  ({gflop / dt:5.1f} GFLOP/s)")

# %% [markdown]
# One more check of §1's identity: with $k_h = k_w = 1$ and $p = 0$ the kn2row sum has one term,
# $o = 0$, $W_p = W_o$ and $L = H_o W_o$ — no waste: the convolution *is* one GEMM,
# $Y = K_{00} X$.

# %%
x1, w1 = rng.standard_normal((1, 4, 5, 6)), rng.standard_normal((3, 4, 1, 1))
assert np.allclose(kn2row_forward(x1, w1, np.zeros(3), 0)[0].reshape(3, -1),
                   w1[:, :, 0, 0] @ x1[0].reshape(4, -1))

# %% [markdown]
# ## Exercises
#
# Each exercise is checked by `notebooks/exercises.py`; the solutions are in
# `notebooks/solutions/s06.py`. Exercises 1–2 are about kn2row; exercises 3–6 derive eqs 2 and 3
# of notebook 01 once more, by you — try them before rereading notebook 01, §2–3.

# %%
import exercises

# %% [markdown]
# ### Exercise 1 — what the wide grid costs
#
# The wide grid of §1 computes $L$ positions for the $H_o W_o$ output pixels. Write
# `wide_grid_cost(Hp, Wp, kh, kw)` returning `(ratio, waste)`: the ratio of computed positions
# to kept ones, and the fraction of the computed work that is cropped. For SRCNN's 9×9 first
# layer on 33×33 patches, compare the two numbers.

# %%
def wide_grid_cost(Hp, Wp, kh, kw):
    raise NotImplementedError  # (ratio, waste)


exercises.try_it(exercises.check_wide_grid_cost, wide_grid_cost)

# %% [markdown]
# ### Exercise 2 — kn2row's kernel gradient for the dynamic layer
#
# The dynamic layer of notebook 02 gives every sample $t$ its own kernel $k_t$ (eq 5); its kernel
# gradient (eq 7) is one $(F, C, k_h, k_w)$ array per sample. Write
# `kn2row_dynamic_dk(dy, x, pad, kh, kw)` returning `dk` of shape $(N, F, C, k_h, k_w)$ with the
# shifted slices of §2 — one matrix product per sample and tap, no unfolded matrix.

# %%
def kn2row_dynamic_dk(dy, x, pad, kh, kw):
    raise NotImplementedError  # dk, (N, F, C, kh, kw)


exercises.try_it(exercises.check_kn2row_dynamic_dk, kn2row_dynamic_dk)

# %% [markdown]
# ### Exercise 3 — eq 2, the input gradient, in 1-D
#
# `exercises.conv1d_forward(x, w, pad)` is eq 1 in 1-D with one channel:
# $y[r] = \sum_u w[u]\, \bar x[r+u]$ ("valid" on $x$ padded by `pad`). Write
# `conv1d_input_grad(dy, w, pad)`, the gradient with respect to $x$ (length `len(dy) + len(w) - 1 -
# 2 * pad`). Start from one output $y[r]$: which inputs does it read, with which taps? Is the answer
# `np.convolve` or `np.correlate` — and with which mode?

# %%
def conv1d_input_grad(dy, w, pad):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_conv1d_input_grad, conv1d_input_grad)

# %% [markdown]
# ### Exercise 4 — eq 3, the kernel gradient, in 1-D
#
# Same layer: write `conv1d_kernel_grad(dy, x, taps, pad)`, the gradient with respect to the `taps`
# of $w$. Each tap $w[u]$ is used at every output; which input does it multiply there?

# %%
def conv1d_kernel_grad(dy, x, taps, pad):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_conv1d_kernel_grad, conv1d_kernel_grad)

# %% [markdown]
# ### Exercise 5 — both gradients in 2-D, many channels, no loop over pixels
#
# Write `conv2d_grads(dy, x, w, pad)` returning `(dx, dw)` (eqs 2 and 3; `x` $(N, C, H, W)$, `w`
# $(F, C, k_h, k_w)$, `dw` summed over the batch) without a Python loop over pixels or taps.
# Hint: `numpy.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))` has shape
# $(N, C, H_o, W_o, k_h, k_w)$ — every window of $\bar x$ — and one `np.einsum` then gives eq 3.
# For eq 2, take the windows of `dy` padded by $k_h - 1$ rows and $k_w - 1$ columns (full mode) and mind the flip and the swap
# of the channel axes (notebook 01, §2).

# %%
def conv2d_grads(dy, x, w, pad):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_conv2d_grads, conv2d_grads)

# %% [markdown]
# ### Exercise 6 — predict, then run
#
# One sample, one input and one output map: `dy` $(H_o, W_o)$, the padded input `xp`
# $(H + 2p, W + 2p)$ and the kernel gradient `dw` $(k_h, k_w)$ of eq 3. **Before running
# anything** (and without rereading notebook 01, §3), predict what
# `scipy.signal.convolve2d(dy, xp[::-1, ::-1], mode="valid")` returns, and write the prediction as
# `predict_eq3(dw)`. The check then runs `convolve2d` and compares.

# %%
def predict_eq3(dw):
    raise NotImplementedError  # your prediction, in terms of dw


exercises.try_it(exercises.check_predict_eq3, predict_eq3)
