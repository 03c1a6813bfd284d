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
# * training a tiny SRCNN-shaped model on a toy deblurring task, and plotting its loss.
#
# No autograd anywhere: each layer knows its own backward (notebooks 01–02), and the graph only
# wires them together. Every check is an `assert`.

# %%
import copy
import os

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter
from scipy import ndimage

from dynconv import kernels
from dynconv.gradcheck import clear_of_kinks, gradcheck
from dynconv.graph import Graph
from dynconv.layers import Add, CenterCrop, Conv2D, EuclideanLoss, MSELoss, ReLU
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
# $l = \frac{1}{2N}\sum_t \lVert \hat y_t - y_t \rVert^2$.

# %%
def build_model(rng, dtype=np.float64):
    g = Graph(inputs={"x": (None, 1, None, None), "target": (None, 1, None, None)}, outputs=["loss"])
    kw = dict(init="he", rng=rng, dtype=dtype)
    g.add("conv1", Conv2D(1, 8, 5, **kw), inputs=["x"])
    g.add("relu1", ReLU(), inputs=["conv1"])
    g.add("conv2", Conv2D(8, 4, 1, **kw), inputs=["relu1"])
    g.add("relu2", ReLU(), inputs=["conv2"])
    g.add("conv3", Conv2D(4, 1, 3, **kw), inputs=["relu2"])
    g.add("crop", CenterCrop(), inputs=["target", "conv3"])  # the target, cut to conv3's size
    g.add("loss", EuclideanLoss(), inputs=["conv3", "crop"])
    for name, p, _ in g.parameters():  # small random biases: no ReLU input sits exactly at 0
        if name.endswith(".b"):
            p[...] = 0.1 * rng.standard_normal(p.shape)
    return g


def draw():
    return build_model(rng), {"x": rng.standard_normal((2, 1, 12, 12)),
                              "target": rng.standard_normal((2, 1, 12, 12))}


g, feeds = clear_of_kinks(draw)  # a model and feeds whose ReLU inputs keep 1e-3 away from 0
g.summary(shapes={"x": (2, 1, 12, 12), "target": (2, 1, 12, 12)});

# %% [markdown]
# Nodes may be added in any order: the executor sorts them topologically at the first forward.
# The same layers added backwards compute the same loss.

# %%
shuffled = Graph(inputs=["x", "target"], outputs=["loss"])
for name, node in reversed(list(copy.deepcopy(g).nodes.items())):
    shuffled.add(name, node.layer, inputs=list(node.inputs))
assert np.allclose(shuffled.forward(feeds)["loss"], g.forward(feeds)["loss"])

# %% [markdown]
# ## 2. Forward and backward through the executor, and by hand
#
# `forward` runs every node in topological order and keeps each layer's cache; `backward` seeds
# the scalar output with $\partial l/\partial l = 1$ and visits the nodes in reverse, handing each
# layer the gradient of its output and routing the gradients it returns to its inputs. Parameter
# gradients land in each layer's `grads`. The executor also decides which gradients are needed
# at all: nothing asks for $\partial l/\partial x$ (the image is not a parameter), so `conv1` runs
# with `need_dx=False` — a third of its backward work saved.

# %%
loss = g.forward(feeds)["loss"]
g.backward()
from_graph = {name: grad.copy() for name, _, grad in g.parameters()}
print("loss", float(loss), "| conv1.need_input_grad =", g["conv1"].need_input_grad)
assert g["conv1"].need_input_grad == (False,)

# %% [markdown]
# The same computation by hand with the graph's own layers — this is all the executor does:

# %%
L = {name: g[name] for name in g.nodes}
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
assert d_x is None                              # need_dx=False: the image gets no gradient
for name, _, grad in g.parameters():
    assert np.allclose(grad, from_graph[name]), name
print("by hand == executor for", ", ".join(from_graph))

# %% [markdown]
# And the executor's gradients are right: `gradcheck` compares them with central differences for
# every parameter and both inputs (it asks for the inputs' gradients too).

# %%
report = gradcheck(g, feeds, rng=0)
print(report)
assert report.ok

# %% [markdown]
# ## 3. Fan-out: a value used twice gets the sum of the gradients
#
# If a value $v$ feeds two nodes, $l$ depends on it through both, and the multivariable chain rule
# adds the two paths:
#
# $$
# \frac{\partial l}{\partial v} = \frac{\partial l}{\partial a}\frac{\partial a}{\partial v}
#   + \frac{\partial l}{\partial b}\frac{\partial b}{\partial v}
# \qquad\text{for } a = A(v),\; b = B(v).
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
a, b = left.forward(fan_feeds["x"]), right.forward(fan_feeds["x"])
mse.forward(add.forward(a, b), fan_feeds["target"])
d_sum, _ = mse.backward()
d_a, d_b = add.backward(d_sum)
assert d_a is d_b                                     # the aliasing the executor guards against
left.need_input_grad = right.need_input_grad = True
dx_left, dx_right = left.backward(d_a)[0], right.backward(d_b)[0]

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

# %%
opt = SGD(g, lr=1e-4, groups={"conv3.*": {"lr": 1e-5}})
for name, lr in opt.lrs().items():
    print(f"{name:8s} lr = {lr:.0e}")
assert opt.lrs() == {"conv1.w": 1e-4, "conv1.b": 1e-4, "conv2.w": 1e-4, "conv2.b": 1e-4,
                     "conv3.w": 1e-5, "conv3.b": 1e-5}

g.forward(feeds)
g.backward()
expected = {}
for name, p, grad in g.parameters():
    lr = 1e-5 if name.startswith("conv3.") else 1e-4
    expected[name] = kernels.sgd_update(p.copy(), grad, lr)  # eq 4 on a copy
opt.step()
for name, p, _ in g.parameters():
    assert np.array_equal(p, expected[name]), name

# %% [markdown]
# ## 5. Training a tiny model
#
# A toy version of the paper's task: "images" are smoothed noise, the network sees them blurred
# (σ = 1.5) and must predict the sharp centre. Mini-batches of 16 random 16×16 patches, float32 as
# in real training, Euclidean loss.
#
# The paper's rates assume its 0.001-std initialisation and ~10⁸ back-propagations; to train in a
# few seconds we keep its **ratio** — the last layer ten times slower — at 3·10⁻³ / 3·10⁻⁴, with
# momentum 0.9 and He initialisation. The yardstick is the loss of the blurred input itself (doing
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
    ax.imshow(img, cmap="gray", vmin=-vmax, vmax=vmax)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where this lives in dynconv
#
# * `dynconv.graph.Graph`: `add`, `forward`, `backward`, `parameters`, `summary`; the rules on which
#   gradients are computed and on fan-out accumulation are in its module docstring;
# * `dynconv.optim.SGD` (eq 4, with Caffe's momentum and weight decay), `Adam`, parameter groups and
#   schedules; `dynconv.kernels.sgd_update` is eq 4 in place;
# * `dynconv.gradcheck.gradcheck`: finite differences for any layer or graph.
#
# Notebook 04 trains the real SRCNN and DCNN on T91 the same way.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell under each exercise; `exercises.try_it` checks it (and says "not
# attempted yet" until you do). Worked solutions: `notebooks/solutions/s03.py`.
#
# ### Exercise 1 — momentum, with a changing learning rate
#
# `optim.SGD` uses Caffe's momentum: $v \leftarrow \mu v + \alpha_t g_t$, $w \leftarrow w - v$ (the
# rate inside the velocity; eq 4 when $\mu = 0$). Implement `sgd_momentum(w0, grads, lrs, mu)`,
# returning the weights after each step. The check changes the rate with a `StepLR` schedule: it
# tells Caffe's form from PyTorch's ($v \leftarrow \mu v + g_t$, $w \leftarrow w - \alpha_t v$), which
# agree only while the rate is constant.

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
