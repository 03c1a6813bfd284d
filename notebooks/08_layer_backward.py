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
# # 08 · The other layers' backward passes: ReLU, Linear, pooling, the losses, Add, CenterCrop
#
# **What you will learn**
#
# * the backward pass of every layer the SRCNN and DCNN graphs use besides the convolutions: for
#   each, the forward as an equation, the backward derived by the chain rule, the code of
#   `dynconv.layers` that implements it, and a numerical check;
# * why a layer used twice (a residual connection) receives the **sum** of its gradients;
# * why He initialisation has the factor 2 (the ReLU halves the signal).
#
# The notebook ends with checked exercises (`notebooks/exercises.py`).
#
# **What it assumes.** Notebook 01: the notation table, and the check of its §4 — for a layer
# $y = f(x)$ and any upstream gradient $g = \partial l/\partial y$, backward returns
# $\partial l/\partial x = J^\top g$ (a *vector–Jacobian product*), which is the gradient of the
# scalar $\langle g, f(x)\rangle$, so central differences of that scalar check it.
# `dynconv.gradcheck` does exactly this in float64, element by element for small tensors and
# along random unit directions for larger ones. Notebook 03: a layer's
# `forward(*inputs) -> y` and `backward(dy) -> (dx_0, dx_1, ...)`, one gradient per input, and
# parameter gradients stored in `layer.grads`. The convolutions (eqs 1–7) are derived in 01–02;
# `PeriodicityPool` in the appendix notebook 07. Every check is an `assert`.

# %%
import inspect

import numpy as np

from dynconv.gradcheck import gradcheck
from dynconv.layers import Add, CenterCrop, Conv2D, EuclideanLoss, GlobalAvgPool2D, Linear, MSELoss, ReLU

rng = np.random.default_rng(8)


def show(method):
    """Print the source of a layer's method: the code these derivations check."""
    print(inspect.getsource(method))


def check(layer, inputs):
    """gradcheck the layer on ``inputs`` (float64 copy) and assert that it passes."""
    report = gradcheck(layer, inputs, rng=0)
    print(report)
    assert report.ok


# %% [markdown]
# ## 1. ReLU
#
# $y = \max(x, 0)$ element by element. Each $y_m$ depends on $x_m$ alone, so the Jacobian is
# diagonal, with $\partial y_m/\partial x_m = [x_m > 0]$ (1 where the input was positive, else 0;
# at exactly 0 the derivative does not exist and dynconv takes 0):
#
# $$
# \frac{\partial l}{\partial x_m} = \sum_{m'} g_{m'} \frac{\partial y_{m'}}{\partial x_m}
#   = g_m\,[x_m > 0].
# $$
#
# The forward pass keeps the mask $[x > 0]$ for the backward. In the layers' code,
# `self._take(dy)` returns what forward saved (with `self._save`) and checks `dy`'s shape. Central differences are wrong
# within $h$ of the kink at 0, so the check draws inputs away from it.

# %%
show(ReLU.backward)
x = rng.standard_normal((2, 3, 4, 4))
x += np.sign(x) * 0.1  # |x| >= 0.1: no kink within a finite-difference step
relu = ReLU()
y = relu.forward(x)
g = rng.standard_normal(y.shape)
(dx,) = relu.backward(g)
assert np.array_equal(dx, g * (x > 0))
check(ReLU(), [x])

# %% [markdown]
# **Why He initialisation has a 2.** `Conv2D(..., init="he")` and `Linear(..., init="he")` draw
# every weight from $\mathcal N(0,\, 2/n_{\text{in}})$ (He et al., 2015), with $n_{\text{in}}$ the
# number of inputs one output sums ($C k_h k_w$ for a convolution). For inputs of unit mean square,
# a pre-activation then has variance $n_{\text{in}} \cdot 2/n_{\text{in}} = 2$; it is symmetric
# about 0, and the ReLU zeroes its negative half, so the activations' mean square is back to 1
# and keeps its scale through many layers (on average over the random draws: one draw
# of 32 filters scales it by a random factor near 1). Without the 2, each layer halves it. The paper instead draws $\mathcal N(0,\, 0.001^2)$
# (`init="gaussian"`, dynconv's default), SRCNN's choice.

# %%
def mean_square_after(n_layers, gain):
    """Mean square of the activations after n_layers conv + ReLU, weights N(0, gain / n_in)."""
    a = rng.standard_normal((8, 32, 16, 16))  # unit mean square
    for _ in range(n_layers):
        conv = Conv2D(32, 32, 3, pad=1, init="he", rng=rng, dtype=np.float64)
        conv.params["w"] *= np.sqrt(gain / 2)  # "he" draws with gain 2
        a = ReLU().forward(conv.forward(a))
    return float(np.mean(a[:, :, 4:-4, 4:-4] ** 2))  # the centre: zero padding darkens the border


he, without_2 = mean_square_after(5, 2.0), mean_square_after(5, 1.0)
print(f"mean square after 5 conv + ReLU layers: He (2 / n_in) {he:.2f}, 1 / n_in {without_2:.3f} "
      f"(halved by each ReLU: 2^-5 = {2 ** -5:.3f})")
assert 0.3 < he < 3 and without_2 < 0.1

# %% [markdown]
# ## 2. Linear
#
# Network B's last layer emits the flat kernels. For a batch of row vectors $x_t$
# ($N \times n_{\text{in}}$), weights $M$ ($n_{\text{out}} \times n_{\text{in}}$) and bias $b$, with
# $i$ an input and $j$ an output (as for a convolution's maps):
#
# $$
# y_{t,j} = \sum_{i} M_{j,i}\, x_{t,i} + b_j, \qquad y = x M^\top + b .
# $$
#
# $\partial y_{t,j}/\partial x_{t,i} = M_{j,i}$, $\partial y_{t,j}/\partial M_{j,i} = x_{t,i}$
# and $\partial y_{t,j}/\partial b_j = 1$, so the chain rule gives
#
# $$
# \frac{\partial l}{\partial x_{t,i}} = \sum_j g_{t,j} M_{j,i}, \qquad
# \frac{\partial l}{\partial M_{j,i}} = \sum_t g_{t,j}\, x_{t,i}, \qquad
# \frac{\partial l}{\partial b_j} = \sum_t g_{t,j},
# $$
#
# i.e. $g M$, $g^\top x$ and the column sums of $g$. $M$ and $b$ are shared by the samples, so
# their gradients sum over the batch (as for eq 3), while each $x_t$ gets its own. In code the
# weight matrix is `params["w"]`.

# %%
show(Linear.backward)
lin = Linear(5, 3, init="he", rng=rng, dtype=np.float64)
lin.params["b"][...] = rng.standard_normal(3)
xl = rng.standard_normal((4, 5))
gl = rng.standard_normal((4, 3))
lin.forward(xl)
(dxl,) = lin.backward(gl)
M = lin.params["w"]
assert np.allclose(dxl, gl @ M)
assert np.allclose(lin.grads["w"], np.einsum("tj,ti->ji", gl, xl))
assert np.allclose(lin.grads["b"], gl.sum(axis=0))
check(lin, [xl])

# %% [markdown]
# ## 3. GlobalAvgPool2D
#
# The mean of each map over its $H \times W$ pixels, $(N, C, H, W) \to (N, C)$:
#
# $$
# y_{t,i} = \frac{1}{HW} \sum_{r,c} x_{t,i}[r,c], \qquad
# \frac{\partial y_{t,i}}{\partial x_{t,i}[r,c]} = \frac{1}{HW}, \qquad
# \frac{\partial l}{\partial x_{t,i}[r,c]} = \frac{g_{t,i}}{HW} :
# $$
#
# every pixel of a map receives the same share of its map's gradient.

# %%
show(GlobalAvgPool2D.backward)
xp_ = rng.standard_normal((2, 3, 4, 5))
pool = GlobalAvgPool2D()
gp = rng.standard_normal(pool.forward(xp_).shape)
(dxp,) = pool.backward(gp)
assert np.allclose(dxp, np.broadcast_to(gp[:, :, None, None] / 20, xp_.shape))
check(GlobalAvgPool2D(), [xp_])

# %% [markdown]
# ## 4. The losses: Euclidean and MSE
#
# Both are a scaled sum of squared errors of the prediction $\hat y$ against the target $y$, over
# every element $m$:
#
# $$
# \mathcal L = \kappa \sum_m (\hat y_m - y_m)^2, \qquad
# \kappa = \frac{1}{2N} \ \text{(EuclideanLoss, Caffe's; } N \text{ the batch)}, \qquad
# \kappa = \frac{1}{n_{\text{el}}} \ \text{(MSELoss; } n_{\text{el}} \text{ the number of elements)} .
# $$
#
# The loss is the last node, so its upstream gradient is a scalar $g = \partial l/\partial \mathcal L$
# (1 when $l = \mathcal L$). From $\partial \mathcal L/\partial \hat y_m = 2 \kappa\, (\hat y_m - y_m)$ and
# $\partial \mathcal L/\partial y_m = -2 \kappa\, (\hat y_m - y_m)$:
#
# $$
# \frac{\partial l}{\partial \hat y} = 2 \kappa\, g\, (\hat y - y), \qquad
# \frac{\partial l}{\partial y} = -2 \kappa\, g\, (\hat y - y) .
# $$
#
# For EuclideanLoss $2\kappa = 1/N$: the $\frac12$ cancels the 2 of the square, and the $1/N$ is the
# paper's $1/T$ of eq 3 (notebook 01, §3). The target's gradient is returned too (a target is
# usually data, and the graph drops it).

# %%
show(EuclideanLoss.backward)  # EuclideanLoss and MSELoss share it; only the factor kappa differs
pred, target = rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((2, 1, 3, 4))
for loss, kappa in [(EuclideanLoss(), 1 / (2 * 2)), (MSELoss(), 1 / pred.size)]:
    value = loss.forward(pred, target)
    assert np.isclose(value, kappa * np.sum((pred - target) ** 2))
    dpred, dtarget = loss.backward(np.float64(3.0))  # an upstream g = 3
    assert np.allclose(dpred, 2 * kappa * 3.0 * (pred - target)) and np.allclose(dtarget, -dpred)
    check(loss, [pred, target])

# %% [markdown]
# ## 5. Add, and the residual connection
#
# $y = x_0 + x_1 + \dots$ element by element, inputs of one shape. The derivative of $y$ with
# respect to each input is the identity, so **every input receives $g$ unchanged**.
#
# A residual connection, $y = x + R(x)$, uses $x$ twice: once into `Add` directly, once
# through the branch $R$. The chain rule sums over every path by which $x$ reaches the loss,
#
# $$
# \frac{\partial l}{\partial x} = g + J_R^\top g ,
# $$
#
# which is why the graph executor **adds** (`+=`) the gradients arriving at a node's output from
# each of its consumers (notebook 03) instead of keeping the last. Below, $R$ is a ReLU; the
# check is done by hand, with central differences of $\langle g, y \rangle$.

# %%
show(Add.backward)
xa, xb = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))
check(Add(), [xa, xb])

add, branch = Add(), ReLU()
xr = rng.standard_normal((1, 2, 3, 3))
xr += np.sign(xr) * 0.1  # away from the ReLU kink
gr = rng.standard_normal(xr.shape)
add.forward(xr, branch.forward(xr))
d_direct, d_branch = add.backward(gr)
dxr = d_direct + branch.backward(d_branch)[0]  # the two paths summed


def residual(x_):
    return x_ + np.maximum(x_, 0)


h = 1e-6
numeric = np.zeros_like(xr)
for idx in np.ndindex(xr.shape):
    e = np.zeros_like(xr)
    e[idx] = h
    numeric[idx] = (np.vdot(gr, residual(xr + e)) - np.vdot(gr, residual(xr - e))) / (2 * h)
assert np.allclose(dxr, numeric, atol=1e-8)
assert not np.allclose(d_direct, numeric)  # keeping only one path is wrong
print("residual: dl/dx = g + ReLU's backward of g, as finite differences say")

# %% [markdown]
# ## 6. CenterCrop
#
# `CenterCrop(border)` keeps the centre of each map, removing `border` pixels on every side
# (top = left = `border`); `CenterCrop()` crops $x$ to the size of a second input
# `like`, with offsets `top`, `left`. Either way the output is a window of the input,
#
# $$
# y_{t,i}[r,c] = x_{t,i}[r + \text{top},\; c + \text{left}],
# $$
#
# so each $y$ pixel depends on one $x$ pixel with derivative 1, and the pixels outside the window
# feed nothing: $\partial l/\partial x$ is $g$ **placed back at the window, zeros elsewhere**.
# `like` only supplies a shape, so its gradient is `None` (gradcheck sees 0).

# %%
show(CenterCrop.backward)
xc = rng.standard_normal((2, 1, 7, 6))
crop = CenterCrop(2)
gc = rng.standard_normal(crop.forward(xc).shape)
(dxc,) = crop.backward(gc)
assert dxc.shape == xc.shape and np.array_equal(dxc[:, :, 2:-2, 2:-2], gc)
assert dxc.sum() == gc.sum()  # zeros outside the window
check(CenterCrop(2), [xc])
check(CenterCrop(), [xc, rng.standard_normal((2, 1, 4, 3))])

# %% [markdown]
# ## Where this lives in dynconv
#
# * `dynconv.layers.activation.ReLU`, `dense.Linear`, `shape.GlobalAvgPool2D`, `shape.Add`,
#   `shape.CenterCrop` and `loss.EuclideanLoss` / `loss.MSELoss`: the code shown above;
# * `dynconv.gradcheck.gradcheck`: the check; `run_suite` (the command `dynconv gradcheck`) runs
#   it on every layer type and on small SRCNN- and DCNN-shaped graphs;
# * `dynconv.graph.Graph.backward`: the sum over consumers of §5.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell under each exercise; `exercises.try_it` checks it (and says "not
# attempted yet" until you do). Worked solutions: `notebooks/solutions/s08.py`.
#
# ### Exercise 1 — the Euclidean loss's two gradients
#
# Write `euclidean_grads(pred, target)` returning `(dpred, dtarget)` for
# $\mathcal L = \frac{1}{2N}\sum_t \lVert \hat y_t - y_t \rVert^2$ with $l = \mathcal L$ (upstream gradient 1),
# from §4's derivation, without calling the layer.

# %%
import exercises


def euclidean_grads(pred, target):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_euclidean_grads, euclidean_grads)

# %% [markdown]
# ### Exercise 2 — CenterCrop's backward
#
# Write `center_crop_backward(dy, x_shape)`: the gradient of `CenterCrop()` cropping an input of
# shape `x_shape` $(N, C, H, W)$ to the size of `dy` $(N, C, H_o, W_o)$, centred, the extra row or
# column of an odd difference taken from the bottom or right (as the layer's docstring says).

# %%
def center_crop_backward(dy, x_shape):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_center_crop_backward, center_crop_backward)

# %% [markdown]
# ### Exercise 3 — the input gradient of a stride-2 layer
#
# A layer with stride $S$ reads $\bar x[S\,r + u,\; S\,c + v]$ instead of eq 1's
# $\bar x[r+u,\; c+v]$: it keeps every $S$-th output row and column of the stride-1 layer,
# $\lfloor (H + 2p - k_h)/S \rfloor + 1$ rows (notebook 01, §1 draws the windows). The paper's
# layers, and dynconv's, have stride 1. `exercises.stride2_forward(x, w)` is eq 1 (no padding)
# with stride 2. Derive its input gradient and implement `stride2_input_grad(dy, w, x_shape)`.
# Hint: which stride-1 output pixels does the stride-2 layer keep, and what gradient do the
# others receive?

# %%
def stride2_input_grad(dy, w, x_shape):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_stride2_input_grad, stride2_input_grad)

# %% [markdown]
# ### Exercise 4 — a kernel that hides a wrong backward
#
# `exercises.no_flip_input_grad` makes the classic mistake of notebook 01 §2: eq 2 as a
# correlation, without the flip. `dynconv.gradcheck` catches it with random kernels — but not
# with every kernel. Write `flip_blind_kernel(kh, kw)`, a non-zero kernel for which the wrong
# backward gives the right answer. What does that say about testing a backward pass with
# hand-made kernels?

# %%
def flip_blind_kernel(kh, kw):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_flip_blind_kernel, flip_blind_kernel)
