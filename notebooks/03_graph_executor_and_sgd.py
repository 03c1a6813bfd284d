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
# # 03 · The graph executor and SGD (paper eq 4)
#
# **What you will learn**
#
# * how to build a network node by node with `dynconv.graph.Graph`, and what its forward and
#   backward passes do — by redoing them by hand, layer by layer;
# * why a value consumed by several nodes (fan-out) receives the **sum** of their gradients;
# * eq 4 with a learning rate per layer, as the paper trains (α = 10⁻⁴ for the first two layers,
#   10⁻⁵ for the last), through `dynconv.optim.SGD` parameter groups;
# * training a tiny SRCNN-shaped model on a toy deblurring task, and plotting its loss;
# * building and training a tiny **DCNN** in the graph: network B's `Linear` emits flat kernels that
#   a `DynamicConv2D` node — a node with two inputs — applies to network A's features; on a toy
#   task with two blur levels, B learns to generate different kernels for each.
#
# No autograd anywhere: each layer knows its own backward (notebooks 01–02), and the graph only
# wires them together. Every check is an `assert`.
#
# **Notation** as in the table at the top of notebook 01: batch of $N$ samples (the paper's $T$),
# `dy` an upstream gradient, $\alpha$ the learning rate, $\mu$ the momentum. A graph is `net`;
# `init_args` holds the keyword arguments shared by several layers.

# %%
import copy
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
from scipy import ndimage

from dynconv import kernels
from dynconv.gradcheck import clear_of_kinks, gradcheck
from dynconv.graph import Graph
from dynconv.graph_report import draw, summary
from dynconv.layers import (Add, CenterCrop, Conv2D, DynamicConv2D, EuclideanLoss, GlobalAvgPool2D,
                            Linear, MSELoss, ReLU)
from dynconv.optim import SGD

FAST = os.environ.get("DYNCONV_FAST") == "1"  # the test suite sets it: a much shorter training run
rng = np.random.default_rng(3)
plt.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "font.size": 9})

# %% [markdown]
# ## 1. Building a graph node by node
#
# A graph declares its inputs and outputs; each `add(name, layer, inputs)` creates a node whose
# output is named after it. This is the SRCNN shape (the paper's baseline, and network A of the
# DCNN) shrunk: 5×5 → ReLU → 1×1 → ReLU → 3×3, unpadded, so the prediction is smaller than the
# image and the target is centre-cropped to it before the Euclidean loss
# $l = \frac{1}{2N}\sum_t \lVert \hat y_t - y_t \rVert^2$. (`init="he"` is He initialisation,
# notebook 08 §1.) `summary` lists every node's output shape, its parameters and its MACs, the
# multiply–accumulates ($a \leftarrow a + b\,c$) of its forward pass: the usual measure of a network's cost.

# %%
def build_model(rng, dtype=np.float64):
    net = Graph(inputs={"x": (None, 1, None, None), "target": (None, 1, None, None)}, outputs=["loss"])
    init_args = dict(init="he", rng=rng, dtype=dtype)
    net.add("conv1", Conv2D(1, 8, 5, **init_args), inputs=["x"])
    net.add("relu1", ReLU(), inputs=["conv1"])
    net.add("conv2", Conv2D(8, 4, 1, **init_args), inputs=["relu1"])
    net.add("relu2", ReLU(), inputs=["conv2"])
    net.add("conv3", Conv2D(4, 1, 3, **init_args), inputs=["relu2"])
    net.add("crop", CenterCrop(), inputs=["target", "conv3"])  # the target, cut to conv3's size
    net.add("loss", EuclideanLoss(), inputs=["conv3", "crop"])
    for name, p, _ in net.parameters():  # small random biases: no ReLU input sits exactly at 0
        if name.endswith(".b"):
            p[...] = 0.1 * rng.standard_normal(p.shape)
    return net


def sample():
    return build_model(rng), {"x": rng.standard_normal((2, 1, 12, 12)),
                              "target": rng.standard_normal((2, 1, 12, 12))}


net, feeds = clear_of_kinks(sample)  # a model and feeds whose ReLU inputs keep 1e-3 away from 0
summary(net, shapes={"x": (2, 1, 12, 12), "target": (2, 1, 12, 12)});

# %% [markdown]
# `graph_report.draw` shows the same table as a picture: one box per value (its name, the layer that
# computes it and its shape) and one arrow per edge — look at `crop`, whose first input (grey
# arrow) is the target and whose second (orange) is `conv3`, read only for its size.

# %%
fig, ax = plt.subplots(figsize=(3.6, 4.6))
draw(net, {"x": (2, 1, 12, 12), "target": (2, 1, 12, 12)}, ax=ax)
plt.show()

# %% [markdown]
# Nodes may be added in any order: at the first forward the executor sorts them topologically —
# into an order where every node comes after the nodes whose outputs it reads.
# The same layers added backwards compute the same loss.

# %%
shuffled = Graph(inputs=["x", "target"], outputs=["loss"])
for name, node in reversed(list(copy.deepcopy(net).nodes.items())):
    shuffled.add(name, node.layer, inputs=list(node.inputs))
assert np.allclose(shuffled.forward(feeds)["loss"], net.forward(feeds)["loss"])

# %% [markdown]
# ## 2. Forward and backward through the executor, and by hand
#
# `forward` runs every node in topological order and keeps each layer's cache; `backward` seeds
# the scalar output with $\partial l/\partial l = 1$ and visits the nodes in reverse, handing each
# layer the gradient of its output and routing the gradients it returns to its inputs. Parameter
# gradients land in each layer's `grads`. The executor also decides which gradients are needed
# at all: nothing asks for $\partial l/\partial x$ (the image is not a parameter), so `conv1` runs
# with `need_input_grad=False`. That saves about **half** of its backward arithmetic: every product
# $g_{t,j}[r,c]\, w_{j,i}[u,v]$ of eq 2 has a twin $g_{t,j}[r,c]\, \bar x_{t,i}[r+u,c+v]$ in eq 3, so
# the two cost the same number of multiply–adds ($N F C k_h k_w H_o W_o$ each), and the bias
# gradient is negligible. The cell after next measures the time saved on the first layer of the
# paper's SRCNN; it depends on how efficiently the algorithm runs each pass, and is often more.

# %%
loss = net.forward(feeds)["loss"]
net.backward()
from_graph = {name: grad.copy() for name, _, grad in net.parameters()}
print("loss", float(loss), "| conv1.need_input_grad =", net["conv1"].need_input_grad)
assert net["conv1"].need_input_grad == (False,)

# %%
# Wall time of the backward pass of SRCNN's first layer (1 -> 64 maps, 9x9), with and without dx.
x_big = rng.standard_normal((8 if FAST else 16, 1, 33, 33)).astype(np.float32)
_, cache_big = kernels.conv2d_forward(x_big, rng.standard_normal((64, 1, 9, 9)).astype(np.float32))
dy_big = rng.standard_normal((len(x_big), 64, 25, 25)).astype(np.float32)
seconds = {}
for need_input_grad in (True, False, True, False):  # the first pair compiles and warms up
    t0 = time.perf_counter()
    for _ in range(3):
        kernels.conv2d_backward(dy_big, cache_big, need_input_grad=need_input_grad)
    seconds[need_input_grad] = (time.perf_counter() - t0) / 3
print(f"backward with dx {1e3 * seconds[True]:.1f} ms, without {1e3 * seconds[False]:.1f} ms: "
      f"{1 - seconds[False] / seconds[True]:.0%} of the time saved, half of the multiply-adds")

# %% [markdown]
# The same computation by hand with the graph's own layers — this is all the executor does:

# %%
L = {name: net[name] for name in net.nodes}
c1 = L["conv1"].forward(feeds["x"])
c2 = L["conv2"].forward(L["relu1"].forward(c1))
c3 = L["conv3"].forward(L["relu2"].forward(c2))
loss_by_hand = L["loss"].forward(c3, L["crop"].forward(feeds["target"], c3))
assert np.allclose(loss_by_hand, loss)

d_c3, _ = L["loss"].backward(1.0)              # the seed dl/dl = 1; the target's gradient is unused
(d_r2,) = L["conv3"].backward(d_c3)            # eqs 2–3: conv3.grads filled, dl/d(relu2) returned
(d_r1,) = L["conv2"].backward(L["relu2"].backward(d_r2)[0])
(d_x,) = L["conv1"].backward(L["relu1"].backward(d_r1)[0])
L["crop"].clear_cache()
assert d_x is None                              # need_input_grad=False: the image gets no gradient
for name, _, grad in net.parameters():
    assert np.allclose(grad, from_graph[name]), name
print("by hand == executor for", ", ".join(from_graph))

# %% [markdown]
# And the executor's gradients are right: `gradcheck` compares them with central differences for
# every parameter and both inputs (it asks for the inputs' gradients too).

# %%
report = gradcheck(net, feeds, rng=0)
print(report)
assert report.ok

# %% [markdown]
# ## 3. Fan-out: a value used twice gets the sum of the gradients
#
# If a value $x$ feeds two nodes, with outputs $y_1 = f_1(x)$ and $y_2 = f_2(x)$, $l$ depends on
# $x$ through both, and the multivariable chain rule adds the two paths:
#
# $$
# \frac{\partial l}{\partial x} = \frac{\partial l}{\partial y_1}\frac{\partial y_1}{\partial x}
#   + \frac{\partial l}{\partial y_2}\frac{\partial y_2}{\partial x} .
# $$
#
# In the DCNN the image fans out to networks A and B. Here the input $x$ feeds two convolutions whose
# outputs are added; we ask for $\partial l/\partial x$ (`requires_grad`). The executor accumulates
# with `+=` — after copying once, because `Add` hands the *same* array to both of its inputs.

# %%
fan = Graph(inputs=["x", "target"], outputs=["loss"], requires_grad=["x"])
fan.add("left", Conv2D(1, 1, 3, pad="same", init="he", rng=rng, dtype=np.float64), inputs=["x"])
fan.add("right", Conv2D(1, 1, 5, pad="same", init="he", rng=rng, dtype=np.float64), inputs=["x"])
fan.add("sum", Add(), inputs=["left", "right"])
fan.add("loss", MSELoss(), inputs=["sum", "target"])

fan_feeds = {"x": rng.standard_normal((2, 1, 6, 6)), "target": rng.standard_normal((2, 1, 6, 6))}
fan.forward(fan_feeds)
dx_graph = fan.backward()["x"]

# By hand: each consumer's contribution separately.
left, right, add, mse = (copy.deepcopy(fan[n]) for n in ("left", "right", "sum", "loss"))
out_left, out_right = left.forward(fan_feeds["x"]), right.forward(fan_feeds["x"])
mse.forward(add.forward(out_left, out_right), fan_feeds["target"])
d_sum, _ = mse.backward()
d_left, d_right = add.backward(d_sum)
assert d_left is d_right                              # the aliasing the executor guards against
left.need_input_grad = right.need_input_grad = True
dx_left, dx_right = left.backward(d_left)[0], right.backward(d_right)[0]

assert np.allclose(dx_graph, dx_left + dx_right)
assert not np.allclose(dx_graph, dx_left) and not np.allclose(dx_graph, dx_right)
assert gradcheck(fan, fan_feeds, rng=1).ok          # and finite differences agree
print("dl/dx = left path + right path; max |dl/dx| =", np.abs(dx_graph).max())

# %% [markdown]
# ## 4. Eq 4 with per-layer learning rates
#
# Eq 4 is the plain step $k \leftarrow k - \alpha\,\partial l/\partial k$ for every parameter. The paper
# uses α = 10⁻⁴ for the first two layers and 10⁻⁵ for the last: "the smaller learning rate in the last
# layer helps the network to converge". `SGD` takes a default rate and parameter groups — shell
# patterns over the qualified names `node.param` — that override it. With `momentum=0` a step is
# exactly eq 4, which the fast kernel `kernels.sgd_update` also does in place.
#
# Training below uses momentum $\mu = 0.9$ (notebook 01, §6): a velocity $z$ per parameter,
# started at 0, with the learning rate inside it — the form of Caffe, the framework SRCNN was
# trained with, and of `SGD(momentum=...)`:
#
# $$
# k \leftarrow k - \alpha\,\frac{\partial l}{\partial k} \quad\text{(eq 4)}
# \qquad\longrightarrow\qquad
# z \leftarrow \mu z + \alpha\,\frac{\partial l}{\partial k}, \quad k \leftarrow k - z .
# $$

# %%
opt = SGD(net, lr=1e-4, groups={"conv3.*": {"lr": 1e-5}})
for name, lr in opt.lrs().items():
    print(f"{name:8s} lr = {lr:.0e}")
assert opt.lrs() == {"conv1.w": 1e-4, "conv1.b": 1e-4, "conv2.w": 1e-4, "conv2.b": 1e-4,
                     "conv3.w": 1e-5, "conv3.b": 1e-5}

net.forward(feeds)
net.backward()
expected = {}
for name, p, grad in net.parameters():
    lr = 1e-5 if name.startswith("conv3.") else 1e-4
    expected[name] = kernels.sgd_update(p.copy(), grad, lr)  # eq 4 on a copy
opt.step()
for name, p, _ in net.parameters():
    assert np.array_equal(p, expected[name]), name

# %% [markdown]
# ## 5. Training a tiny model
#
# A toy version of the paper's task: "images" are smoothed noise, the network sees them blurred
# (σ = 1.5) and must predict the sharp centre. Mini-batches of 16 random 16×16 patches, float32 as
# in real training, Euclidean loss.
#
# The paper's rates assume its 0.001-std initialisation and a training run far longer than a
# notebook cell; to train in a few seconds we keep its **ratio** — the last layer ten times
# slower — at 3·10⁻³ / 3·10⁻⁴, with momentum 0.9 and He initialisation. The yardstick is the loss of the blurred input itself (doing
# nothing): the trained model must beat it clearly on held-out patches.

# %%
def make_patches(n, size=16, margin=4):
    sharp = ndimage.gaussian_filter(rng.standard_normal((n, 1, size + 2 * margin, size + 2 * margin)),
                                    sigma=(0, 0, 1.0, 1.0))
    sharp /= sharp.std()
    blurred = ndimage.gaussian_filter(sharp, sigma=(0, 0, 1.5, 1.5))
    crop = (slice(None), slice(None), slice(margin, -margin), slice(margin, -margin))
    return blurred[crop].astype(np.float32), sharp[crop].astype(np.float32)


x_train, t_train = make_patches(256)
x_val, t_val = make_patches(64)
border = 3  # conv1 5x5 and conv3 3x3 trim (5 - 1) / 2 + (3 - 1) / 2 = 3 pixels per side
do_nothing = 0.5 * np.sum((x_val - t_val)[:, :, border:-border, border:-border] ** 2) / len(x_val)

model = build_model(np.random.default_rng(0), dtype=np.float32)
opt = SGD(model, lr=3e-3, momentum=0.9, groups={"conv3.*": {"lr": 3e-4}})
steps = 150 if FAST else 1000
val_every = max(1, steps // 10)
train_loss, val_steps, val_loss = [], [], []
for step in range(steps):
    idx = rng.integers(0, len(x_train), 16)
    out = model.forward({"x": x_train[idx], "target": t_train[idx]})
    model.backward()
    opt.step()
    train_loss.append(float(out["loss"]))
    if (step + 1) % val_every == 0:
        val_steps.append(step + 1)
        # keep_cache=False: no backward follows, so the layers keep nothing for it
        val_loss.append(float(model.forward({"x": x_val, "target": t_val}, keep_cache=False)["loss"]))

print(f"{steps} steps: train loss {np.mean(train_loss[:10]):.2f} -> {np.mean(train_loss[-10:]):.2f}; "
      f"held-out loss {val_loss[-1]:.2f} vs {do_nothing:.2f} for the blurred input")
assert np.mean(train_loss[-10:]) < 0.25 * np.mean(train_loss[:10])
assert val_loss[-1] < 0.5 * do_nothing

# %%
# The model is fully convolutional: show it a larger held-out picture than it was trained on.
x_pic, t_pic = make_patches(1, size=40)
pred = model.forward({"x": x_pic, "target": t_pic}, keep_cache=False, outputs=["conv3"])["conv3"]
crop = (0, 0, slice(border, -border), slice(border, -border))
vmax = np.abs(t_pic[crop]).max()
fig, axes = plt.subplots(1, 4, figsize=(10, 2.6), gridspec_kw={"width_ratios": [2.2, 1, 1, 1]})
axes[0].semilogy(np.arange(1, steps + 1), train_loss, lw=0.8, label="training mini-batch")
axes[0].semilogy(val_steps, val_loss, "o-", ms=3, label="held-out")
axes[0].axhline(do_nothing, ls="--", c="gray", label="blurred input")
axes[0].set_xlabel("SGD step")
axes[0].set_ylabel("Euclidean loss")
axes[0].set_yticks([2, 5, 10, 20, 50], labels=["2", "5", "10", "20", "50"])
axes[0].yaxis.set_minor_formatter(NullFormatter())
axes[0].legend(fontsize=7)
for ax, (title, img) in zip(axes[1:], [("input (blurred)", x_pic[crop]), ("prediction", pred[0, 0]),
                                        ("target (sharp)", t_pic[crop])]):
    im = ax.imshow(img, cmap="gray", vmin=-vmax, vmax=vmax)  # one symmetric scale for all three
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
fig.colorbar(im, ax=axes[1:], shrink=0.8, label="pixel value")
plt.show()

# %% [markdown]
# ## 6. A tiny DCNN in the graph
#
# The DCNN of the paper (notebook 02) is two networks and a dynamic layer. In a `Graph`:
#
# * network A: `a1` `Conv2D(1→4, 3×3, same)` → `ReLU` — the feature maps $x^t$;
# * network B: `b1` `Conv2D(1→4, 3×3)` → `ReLU` → `GlobalAvgPool2D` (each map's mean: 4 numbers
#   per image) → `b_fc` `Linear(4 → 37)` — per sample, the **flat kernel** of notebook 02 §4: the
#   $1 \times 4 \times 3 \times 3 = 36$ taps in the order (output map, input map, row, column),
#   then 1 bias;
# * `dyn` `DynamicConv2D(4→1, 3×3, same, bias)`: a node with **two inputs**,
#   `inputs=["a1_relu", "b_fc"]` — the features from A and the kernels from B. Like `Add` in §3,
#   but its two inputs get different gradients: its backward pass returns eq 6 for A and eq 7 (one
#   per sample) for B, and the executor routes each to its input. The image `x` fans out to both
#   networks (§3).
#
# `b_fc` starts with tiny weights ($\mathcal N(0, 0.01^2)$): its bias is then the kernel shared by
# every sample, and its weights are what makes the kernel depend on the image.

# %%
def build_dcnn(rng, dtype=np.float64, features=4):
    """Network A (features) and network B (flat kernels) into a DynamicConv2D; Euclidean loss."""
    net = Graph(inputs={"x": (None, 1, None, None), "target": (None, 1, None, None)}, outputs=["loss"])
    init_args = dict(init="he", rng=rng, dtype=dtype)
    net.add("a1", Conv2D(1, features, 3, pad="same", **init_args), inputs=["x"])
    net.add("a1_relu", ReLU(), inputs=["a1"])
    net.add("b1", Conv2D(1, 4, 3, **init_args), inputs=["x"])
    net.add("b1_relu", ReLU(), inputs=["b1"])
    net.add("b_pool", GlobalAvgPool2D(), inputs=["b1_relu"])
    dyn = DynamicConv2D(features, 1, 3, pad="same", bias=True)
    net.add("b_fc", Linear(4, dyn.flat_size, init="gaussian", std=0.01, rng=rng, dtype=dtype),
            inputs=["b_pool"])
    net.add("dyn", dyn, inputs=["a1_relu", "b_fc"])  # two inputs: features and kernels
    net.add("loss", EuclideanLoss(), inputs=["dyn", "target"])
    for name, p, _ in net.parameters():  # small random biases: no ReLU input sits exactly at 0
        if name.endswith(".b"):
            p[...] = 0.1 * rng.standard_normal(p.shape)
    return net


dcnn, dcnn_feeds = clear_of_kinks(lambda: (build_dcnn(rng), {"x": rng.standard_normal((2, 1, 8, 8)),
                                                             "target": rng.standard_normal((2, 1, 8, 8))}))
summary(dcnn, shapes={"x": (2, 1, 8, 8), "target": (2, 1, 8, 8)})
print("dyn's inputs:", dcnn.nodes["dyn"].inputs)

# The two-input node by itself: forward takes (features, flat kernels), backward returns both gradients.
values = dcnn.forward(dcnn_feeds, keep_cache=False, outputs=["a1_relu", "b_fc"])
features, k_flat = values["a1_relu"], values["b_fc"]
dyn = copy.deepcopy(dcnn["dyn"])
dy = rng.standard_normal(dyn.forward(features, k_flat).shape)
d_features, dk_flat = dyn.backward(dy)
print("features", features.shape, "-> d_features", d_features.shape,
      "| k_flat", k_flat.shape, "-> dk_flat", dk_flat.shape)
assert d_features.shape == features.shape and dk_flat.shape == k_flat.shape == (2, 37)

report = gradcheck(dcnn["dyn"], [features, k_flat], rng=4)  # the node, both of its inputs
print(report)
assert report.ok
report = gradcheck(dcnn, dcnn_feeds, rng=5)  # and the whole DCNN, through A, B and the node
assert report.ok, report

# %% [markdown]
# **Training it.** §5's toy task, with two blur levels: each patch is blurred with σ = 1 or
# σ = 2, at random, and the model must recover the sharp patch. A static network must compromise
# between the two; the DCNN can let B see how blurred the image is and hand A's features a kernel
# to match. Momentum SGD as in §5, plus `clip_norm=10`: when the gradient of all parameters
# together has a norm above 10, the step is scaled down to that norm — a guard against the large
# first steps of a model whose kernels are the product of two learned layers.

# %%
BLURS = (1.0, 2.0)


def make_two_level_patches(n, size=16, margin=6):
    """Smoothed-noise patches blurred at a random level of BLURS; returns (blurred, sharp, level)."""
    sharp = ndimage.gaussian_filter(rng.standard_normal((n, 1, size + 2 * margin, size + 2 * margin)),
                                    sigma=(0, 0, 1.0, 1.0))
    sharp /= sharp.std()
    level = rng.integers(0, len(BLURS), n)
    blurred = np.stack([ndimage.gaussian_filter(patch, sigma=(0, BLURS[lv], BLURS[lv]))
                        for patch, lv in zip(sharp, level)])
    crop = (slice(None), slice(None), slice(margin, -margin), slice(margin, -margin))
    return blurred[crop].astype(np.float32), sharp[crop].astype(np.float32), level


x_train2, t_train2, _ = make_two_level_patches(512)
x_val2, t_val2, level_val = make_two_level_patches(128)
do_nothing2 = 0.5 * np.sum((x_val2 - t_val2) ** 2) / len(x_val2)

dcnn = build_dcnn(np.random.default_rng(0), dtype=np.float32)
opt = SGD(dcnn, lr=3e-3, momentum=0.9, clip_norm=10)
steps2 = 400 if FAST else 2000
dcnn_loss = []
for step in range(steps2):
    idx = rng.integers(0, len(x_train2), 16)
    out = dcnn.forward({"x": x_train2[idx], "target": t_train2[idx]})
    dcnn.backward()
    opt.step()
    dcnn_loss.append(float(out["loss"]))

held_out = dcnn.forward({"x": x_val2, "target": t_val2}, keep_cache=False, outputs=["loss", "b_fc"])
print(f"{steps2} steps: train loss {np.mean(dcnn_loss[:10]):.1f} -> {np.mean(dcnn_loss[-10:]):.1f}; "
      f"held-out loss {float(held_out['loss']):.1f} vs {do_nothing2:.1f} for the blurred input")
assert float(held_out["loss"]) < 0.8 * do_nothing2

# %% [markdown]
# **The generated kernels.** For every held-out patch, B's `Linear` output is a kernel. Averaged
# over the patches of each blur level (one symmetric colour scale, white is 0), and their
# difference (its own scale, magnified: it is small next to the kernels). If B had learned nothing about the blur, the two averages would be equal, up to the
# spread of the kernels within a level.

# %%
n_taps = 4 * 3 * 3
kernels_val = held_out["b_fc"][:, :n_taps].reshape(-1, 4, 3, 3)  # (N, input map i, 3, 3): F = 1
mean_k = np.array([kernels_val[level_val == lv].mean(axis=0) for lv in range(len(BLURS))])
between = np.linalg.norm(mean_k[1] - mean_k[0])
within = np.mean([np.linalg.norm(k - mean_k[lv]) for k, lv in zip(kernels_val, level_val)])
print(f"distance between the two levels' mean kernels {between:.3f}; "
      f"mean distance of a kernel to its level's mean {within:.3f}")
assert between > 2 * within

rows = [(f"σ = {BLURS[0]:g}", mean_k[0]), (f"σ = {BLURS[1]:g}", mean_k[1]),
        (f"σ = {BLURS[1]:g} minus σ = {BLURS[0]:g}", mean_k[1] - mean_k[0])]
fig, axes = plt.subplots(3, 4, figsize=(6.4, 4.6), layout="constrained")
for r, (label, ks) in enumerate(rows):
    lim = np.abs(mean_k).max() if r < 2 else np.abs(ks).max()
    for i in range(4):
        im = axes[r, i].imshow(ks[i], cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[r, i].set_xticks([])
        axes[r, i].set_yticks([])
    axes[r, 0].set_ylabel(label, fontsize=8)
    if r >= 1:
        fig.colorbar(im, ax=axes[:2] if r == 1 else axes[2], shrink=0.9,
                     label="mean generated tap" if r == 1 else "difference")
for i in range(4):
    axes[0, i].set_title(f"k[t, 0, {i}]")
plt.show()

# %% [markdown]
# ## Where this lives in dynconv
#
# * `dynconv.graph.Graph`: `add`, `forward` (also partial runs), `backward`, `parameters`; the rules on which
#   gradients are computed and on fan-out accumulation are in its module docstring; `dynconv.graph_report`
#   sizes and draws a graph without running it (`output_shapes`, `macs`, `summary`, `draw`);
# * `dynconv.optim.SGD` (eq 4, with Caffe's momentum and weight decay), `Adam`, parameter groups,
#   gradient clipping and schedules; `dynconv.kernels.sgd_update` is eq 4 in place;
# * `dynconv.gradcheck.gradcheck`: finite differences for any layer or graph.
#
# Notebook 04 trains the real SRCNN and DCNN on T91 the same way, with `dynconv.sr.models` building
# the graphs.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell under each exercise; `exercises.try_it` checks it (and says "not
# attempted yet" until you do). Worked solutions: `notebooks/solutions/s03.py`.
#
# ### Exercise 1 — momentum, with a changing learning rate
#
# `optim.SGD` uses Caffe's momentum (§4): $z \leftarrow \mu z + \alpha_\tau\, \partial l/\partial w_\tau$,
# $w \leftarrow w - z$ (the rate inside the velocity; eq 4 when $\mu = 0$). Implement
# `sgd_momentum(w0, grads, lrs, mu)`, returning the weights after each step $\tau$ ($\alpha_\tau$ is
# `lrs[τ]`, $\partial l/\partial w_\tau$ is `grads[τ]`). The check changes the rate with a `StepLR`
# schedule (the rate times 0.5 every 2 steps): it tells Caffe's form from PyTorch's
# ($z \leftarrow \mu z + \partial l/\partial w_\tau$, $w \leftarrow w - \alpha_\tau z$), which agree only
# while the rate is constant.

# %%
import exercises


def sgd_momentum(w0, grads, lrs, mu):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_sgd_momentum, sgd_momentum)

# %% [markdown]
# ### Exercise 2 — why a wrong backward fails gradcheck
#
# The check wraps your `square_backward(x, dy)` in a layer computing $y = x^2$ and runs
# `dynconv.gradcheck` on it. First try `return dy * x` and read the report: by how much is it off,
# and in which direction? Then fix it.

# %%
def square_backward(x, dy):
    raise NotImplementedError  # your code


exercises.try_it(exercises.check_square_backward, square_backward)
