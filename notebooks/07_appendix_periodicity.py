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
# # 07 · Appendix, beyond the paper: the upscaling factor's fingerprint (`PeriodicityPool`)
#
# *A project extension, not the paper's method: the shipped `dcnn-x234` uses it
# (`docs/discussion.md` measures what it buys). Read notebooks 01–02 first.*
#
# **What you will learn**
#
# * why an image upsampled by an integer factor $s$ carries a period-$s$ pattern in its local
#   sharpness, and how a Fourier coefficient of an "energy profile" measures it;
# * the forward equations of `dynconv.layers.PeriodicityPool` and its backward pass, one chain-rule
#   step at a time, checked by `gradcheck`;
# * when the measure does not depend on where the window starts, and by how much it does otherwise;
# * that on real training windows period 3 singles out x3 and period 4 singles out x4.
#
# **Notation.** As in notebook 01's table, with the symbols of this appendix:
#
# | symbol | meaning | code |
# |---|---|---|
# | $q$ | a period in pixels (2, 3 or 4); $n_q$ periods in all | `periods` |
# | $r,\ c$ | row index $0 \le r < n_r$, column index $0 \le c < n_c$ | `r`, `c` |
# | $\mathrm{i}$ | the imaginary unit $\sqrt{-1}$ (upright; no channel index in this notebook) | `1j` |
# | $\omega_{q,r}$ | the complex wave $\exp(-2\pi \mathrm{i}\, r/q)/n_r$ the profile is multiplied by | |
# | $e_{rc}$, $E$ | the local energy at $(r, c)$; its mean over the window | `e`, `e_mean` |
# | $\partial l/\partial v$ | the gradient of the loss with respect to any quantity $v$ (as in 01–02) | `dv` |
#
# (In notebooks 01–02, $p$ is the padding and $w$ a kernel; neither appears here. The overbar
# keeps its meaning of notebook 01, a padded input, and is not used here.)

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from dynconv.gradcheck import gradcheck
from dynconv.layers import PeriodicityPool
from dynconv.sr.datasets import resolve_data_dir
from dynconv.sr.image import imresize
from dynconv.training.subimages import training_subimages

FAST = os.environ.get("DYNCONV_FAST") == "1"  # the test suite sets it: fewer windows
rng = np.random.default_rng(7)
plt.rcParams.update({"figure.dpi": 72, "savefig.dpi": 72, "font.size": 9})

# %% [markdown]
# ## 1. What network B needs to see
#
# One DCNN is trained on x2, x3 and x4 at once, and network B sees only the bicubic-upsampled
# image: it must infer the factor from the content. The spectral energy of the window — how
# blurred it looks — is not enough: natural images differ in sharpness, and a sharp x4 window
# looks like a soft x3 one. The upsampling leaves a better fingerprint. An image upsampled by an
# integer factor $s$ is an interpolation of a grid with period $s$: output pixels near
# low-resolution samples stay sharp, those between them are smoothed.
#
# A random signal whose *statistics* (here: its expected local energy) repeat with a period,
# while the signal itself does not, is called **cyclostationary** with that period. The local
# high-frequency energy of an upsampled image is cyclostationary with period $s$. Averaged along
# the rows, it becomes a profile that rises and falls with period $s$; the Fourier coefficient of
# that profile at frequency $1/s$ measures how strongly.
#
# ## 2. The forward pass
#
# `PeriodicityPool` computes, per sample and channel of $x$ $(N, C, H, W)$, with the valid
# 5-point Laplacian ($n_r \times n_c = (H-2)\times(W-2)$ values):
#
# $$
# \Delta x_{rc} = 4x_{r+1,c+1} - x_{r,c+1} - x_{r+2,c+1} - x_{r+1,c} - x_{r+1,c+2},
# \qquad e_{rc} = (\Delta x)_{rc}^2,
# $$
#
# $$
# \text{row profile } \pi_r = \frac{1}{n_c}\sum_c e_{rc}, \qquad
# A_q = \sum_{r=0}^{n_r-1} \pi_r\, \omega_{q,r} = \frac{1}{n_r}\sum_{r} \pi_r\, \exp(-2\pi \mathrm{i}\, r/q), \qquad
# E = \frac{1}{n_r n_c}\sum_{rc} e_{rc},
# $$
#
# $$
# \rho_q = \frac{|A_q|}{E + \eta}, \qquad y_q = \log\!\big(1 + \rho_q/\varepsilon\big),
# $$
#
# and the same along columns with the column profile $\gamma_c = \frac{1}{n_r}\sum_r e_{rc}$.
# Dividing by the mean energy $E$ makes $\rho_q$ blind to contrast ($x \to \lambda x$ scales $e$,
# $A_q$ and $E$ by $\lambda^2$): it is the *relative* modulation of sharpness at period $q$.
# $\eta = 10^{-8}$ keeps a flat window finite; $\varepsilon$ sets where periodicity counts as
# absent ($y_q \approx \rho_q/\varepsilon$ below it), and the log compresses the rest. The output
# is $(N, C\cdot 2\cdot n_q)$, ordered (channel, axis [rows, cols], period).
#
# ## 3. The backward pass, one step at a time
#
# The upstream gradient is $\partial l/\partial y_{a,q}$ (axis $a$, period $q$). Per sample and channel:
#
# 1. The log: $\dfrac{\partial y}{\partial \rho} = \dfrac{1/\varepsilon}{1+\rho/\varepsilon} =
#    \dfrac{1}{\varepsilon + \rho}$, so $\dfrac{\partial l}{\partial \rho_{a,q}} =
#    \dfrac{\partial l/\partial y_{a,q}}{\varepsilon + \rho_{a,q}}$.
# 2. The ratio: $\dfrac{\partial \rho}{\partial |A|} = \dfrac{1}{E + \eta}$ and
#    $\dfrac{\partial \rho}{\partial E} = -\dfrac{|A|}{(E + \eta)^2} =
#    -\dfrac{\rho}{E + \eta}$. The mean energy $E$ feeds all $2 n_q$ ratios, so
#    $$
#    \frac{\partial l}{\partial |A_{a,q}|} = \frac{\partial l/\partial \rho_{a,q}}{E + \eta}, \qquad
#    \frac{\partial l}{\partial E} = -\sum_{a,q} \frac{\rho_{a,q}}{E + \eta}\,\frac{\partial l}{\partial \rho_{a,q}}.
#    $$
# 3. The magnitude: $A_q = \sum_r \pi_r\, \omega_{q,r}$ with $\pi_r$ real, so
#    $\partial |A|^2/\partial \pi_r = \partial (A A^{*})/\partial \pi_r = \omega_r A^{*} + A\,
#    \omega_r^{*} = 2\operatorname{Re}(A^{*} \omega_r)$, and with $\partial |A|^2 = 2|A|\,\partial|A|$:
#    $$
#    \frac{\partial |A|}{\partial \pi_r} = \frac{\operatorname{Re}(A^{*} \omega_r)}{|A|},
#    \qquad
#    \frac{\partial l}{\partial \pi_r} = \operatorname{Re}\sum_q \zeta_q\, \omega_{q,r}, \quad
#    \zeta_q = \frac{\partial l}{\partial |A_q|}\,\frac{A_q^{*}}{|A_q|}
#    $$
#    — the same waves as the forward pass, one matrix product per axis (likewise
#    $\partial l/\partial \gamma_c$). ($|A| = 0$ is a kink, like ReLU's at 0; the layer guards the division.)
# 4. The means: $\pi_r$ averages row $r$, $\gamma_c$ column $c$, $E$ everything:
#    $\dfrac{\partial \pi_r}{\partial e_{rc}} = \dfrac{1}{n_c}$,
#    $\dfrac{\partial \gamma_c}{\partial e_{rc}} = \dfrac{1}{n_r}$,
#    $\dfrac{\partial E}{\partial e_{rc}} = \dfrac{1}{n_r n_c}$, so
#    $$
#    \frac{\partial l}{\partial e_{rc}} = \frac{1}{n_c}\frac{\partial l}{\partial \pi_r}
#      + \frac{1}{n_r}\frac{\partial l}{\partial \gamma_c} + \frac{1}{n_r n_c}\frac{\partial l}{\partial E}.
#    $$
# 5. The square: $\partial e/\partial(\Delta x) = 2\Delta x$, so
#    $\dfrac{\partial l}{\partial (\Delta x)_{rc}} = 2\,(\Delta x)_{rc}\, \dfrac{\partial l}{\partial e_{rc}}$.
# 6. The Laplacian is linear, and its transpose **scatters** each $\partial l/\partial (\Delta x)_{rc}$
#    back with the 5-point stencil: $+4$ times it to $\partial l/\partial x_{r+1,c+1}$ and $-1$ times
#    it to the gradient of each of the four neighbours of $x_{r+1,c+1}$ — the forward pass's five slices,
#    accumulated with `+=` (a border pixel only receives from its inner neighbours), just as eq 2
#    scatters (notebook 01, §5).
#
# `gradcheck` compares this with central finite differences (the input has 360 elements, so along
# random directions); and the forward equations, written out in a few lines of NumPy, give the
# layer's output.

# %%
PERIODS = (2, 3, 4)


def periodicity_numpy(x, periods, eps, eta=1e-8):
    """The forward equations above, directly: (N, C, H, W) -> (N, C·2·n_q)."""
    lap = (4 * x[:, :, 1:-1, 1:-1] - x[:, :, :-2, 1:-1] - x[:, :, 2:, 1:-1]
           - x[:, :, 1:-1, :-2] - x[:, :, 1:-1, 2:])
    e = lap**2
    e_mean = e.mean(axis=(2, 3))
    features = []
    for profile in (e.mean(axis=3), e.mean(axis=2)):  # pi_r (rows), gamma_c (columns)
        r = np.arange(profile.shape[-1])
        for q in periods:
            A_q = (profile * np.exp(-2j * np.pi * r / q)).mean(axis=-1)
            features.append(np.log1p(np.abs(A_q) / (e_mean + eta) / eps))
    return np.stack(features, axis=-1).reshape(x.shape[0], -1)  # (channel, axis, period)


x_p = rng.standard_normal((2, 2, 9, 10))
pool = PeriodicityPool(PERIODS)
y_p = pool.forward(x_p)
assert y_p.shape == (2, 2 * 2 * len(PERIODS))
assert np.allclose(y_p, periodicity_numpy(x_p, PERIODS, pool.eps), rtol=1e-12, atol=1e-12)

report = gradcheck(PeriodicityPool(PERIODS), [rng.standard_normal((2, 2, 9, 10))], rng=3)
print(report)
assert report.ok

# %% [markdown]
# ## 4. Where the window starts
#
# Shift a profile by $d$ pixels, $\pi'_r = \pi_{r+d}$. Then
# $A'_q = \frac{1}{n_r}\sum_{r=0}^{n_r-1} \pi_{r+d}\, \exp(-2\pi \mathrm{i}\, r/q)
#       = \exp(2\pi \mathrm{i}\, d/q)\,\frac{1}{n_r}\sum_{r=d}^{n_r-1+d} \pi_{r}\, \exp(-2\pi \mathrm{i}\, r/q)$:
# a phase factor times the sum over a window moved by $d$. For a profile that repeats exactly
# with period $q$, the moved window sums the same values **only when $n_r$ is a multiple of
# $q$** (whole cycles); then only the phase changes and $|A_q|$ does not depend on where the
# window starts. Otherwise the window holds an incomplete last cycle, and $|A_q|$ wobbles with
# the shift by up to about one cycle's share, $q/n_r$. The training windows here are 33×33, so
# $n_r = 31$, a multiple of none of 2, 3 and 4: the magnitude is *nearly* shift invariant. The
# cell measures the wobble on an ideal period-3 profile.

# %%
def wobble(n, q=3, length=200):
    """Relative spread of |A_q| over every start d of an n-long window on an exact period-q profile."""
    profile = (np.arange(length) % q == 0).astype(float)  # one sharp pixel per period
    waves = np.exp(-2j * np.pi * np.arange(n) / q) / n
    mags = np.array([abs(profile[d:d + n] @ waves) for d in range(q * 4)])
    return np.ptp(mags) / mags.mean()


for n in (30, 31):
    print(f"n_r = {n}: |A_3| varies by {wobble(n):.1%} with the window's start")
assert wobble(30) < 1e-12          # a multiple of 3: only the phase moves
assert 0 < wobble(31) < 3 / 31 * 2  # otherwise a wobble of the order of q / n_r

# %% [markdown]
# ## 5. On real data
#
# The training sub-images of T91 at x2, x3 and x4 (cached on disk, so this is fast) through
# `PeriodicityPool((2, 3, 4))`: the mean feature per scale, per axis and period. If the data set
# is not on this machine, the same on windows of a synthetic image with a natural $1/f$ spectrum
# (amplitude falling as one over the spatial frequency, like photographs), down- and upsampled
# with `imresize` by each factor.

# %%
SCALES, WINDOW = (2, 3, 4), 33
try:
    resolve_data_dir()
    subimages = training_subimages(scales=SCALES, verbose=False)
    step = 100 if FAST else 20
    windows, window_scales = subimages.inputs[::step], subimages.scales[::step]
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
print(f"{source}: {len(windows)} windows of {WINDOW}x{WINDOW}; mean feature y_q")
print(" " * 9 + "".join(f"{ax + ' q=' + str(q):>10s}" for ax in ("rows", "cols") for q in PERIODS))
for s, m in zip(SCALES, means):
    print(f"x{s} ({(window_scales == s).sum():4d})" + "".join(f"{v:10.3f}" for v in m.ravel()))

by_period = means.mean(axis=1)  # (scale, period), averaged over the two axes
for s in (3, 4):  # period s is strongest in the x s windows
    others = [by_period[SCALES.index(t), PERIODS.index(s)] for t in SCALES if t != s]
    assert by_period[SCALES.index(s), PERIODS.index(s)] > max(others)

fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
for ax, q in zip(axes, (3, 4)):
    both_axes = feats[:, :, PERIODS.index(q)].mean(axis=1)
    bins = np.linspace(both_axes.min(), both_axes.max(), 40)
    for s, colour in zip(SCALES, ("tab:blue", "tab:orange", "tab:green")):
        ax.hist(both_axes[window_scales == s], bins=bins, color=colour, alpha=0.5, label=f"x{s}")
    ax.set_title(f"period {q}: $y_{q}$, mean of rows and columns")
    ax.set_xlabel("feature $y_q$")
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
# `docs/discussion.md` reports what it buys, and notebook 05 (last section) whether B recognises
# the scale.
#
# ## Where this lives in dynconv
#
# * `dynconv.layers.PeriodicityPool`: the forward and backward passes derived here;
# * `dynconv.sr.models.dcnn(b_periods=...)`: feeds them to network B beside its pooled features.

# %% [markdown]
# ## Exercises
#
# Write your answer in the cell under each exercise; `exercises.try_it` checks it (and says "not
# attempted yet" until you do). Worked solutions: `notebooks/solutions/s07.py`. Gradients are
# written $\partial l/\partial v$ here.
#
# ### Exercise 1 — step 3 in code: the gradient of the magnitudes
#
# Write `magnitude_backward(profile, periods, d_mag)`. Its inputs are a real row profile $\pi$ of
# length $n_r$ (`profile`), periods $q$ (`periods`, not necessarily integers) and the upstream
# gradients $\partial l/\partial |A_q|$ (`d_mag`, one per period), where
# $A_q = \frac{1}{n_r}\sum_{r} \pi_r\, e^{-2\pi \mathrm{i}\, r/q}$. Return the real
# $\partial l/\partial \pi_r$ for every $r$, with one matrix of waves for all the periods, as
# the forward pass does. The check compares your answer with central finite differences.

# %%
import exercises


def magnitude_backward(profile, periods, d_mag):
    raise NotImplementedError  # your code: dl/dpi, shape (n_r,)


exercises.try_it(exercises.check_magnitude_backward, magnitude_backward)

# %% [markdown]
# ### Exercise 2 — step 6 in code: the Laplacian, transposed
#
# Write `laplacian_transpose(g)` with no loop over pixels. It takes
# $g = \partial l/\partial(\Delta x)$ of shape $(N, C, H-2, W-2)$ and returns
# $\partial l/\partial x$ of shape $(N, C, H, W)$, for §2's valid 5-point Laplacian
# $\Delta x_{rc} = 4x_{r+1,c+1} - x_{r,c+1} - x_{r+2,c+1} - x_{r+1,c} - x_{r+1,c+2}$.

# %%
def laplacian_transpose(g):
    raise NotImplementedError  # your code: dl/dx, shape (N, C, H, W)


exercises.try_it(exercises.check_laplacian_transpose, laplacian_transpose)

# %% [markdown]
# ### Exercise 3 — a factor under 2
#
# A factor $s$ leaves a fingerprint of frequency $1/s$ cycles per pixel (period $s$), which $A_q$
# measures at $q = s$. For $1 < s < 2$ that frequency is above $\frac12$, more than integer pixels
# can show. On integer pixels $r$, frequencies $f$ and $1 - f$ take the same values,
# $\cos(2\pi f r) = \cos(2\pi (1 - f)\, r)$ for every integer $r$, so the fingerprint shows up at
# a lower frequency. Write `alias_period(s)` for any $s > 1$: the period $q \ge 2$ at which $A_q$
# sees the factor $s$ on integer pixels.

# %%
def alias_period(s):
    raise NotImplementedError  # your code: a period >= 2


exercises.try_it(exercises.check_alias_period, alias_period)
