"""Checks for the notebooks' exercises: each ``check_*`` takes your function and raises
``AssertionError`` (saying what is wrong) unless it is right.

In a notebook, ``try_it(check, your_function)`` runs a check and prints the verdict instead of
raising, so that an exercise you have not tried yet does not stop the notebook. The worked
solutions are in ``solutions/s<NN>.py``; ``tests/test_notebook_exercises.py`` runs every
check on its solution (it must pass) and on a wrong answer (it must fail).
"""
from __future__ import annotations

import math

import numpy as np

from dynconv import optim, reference, sr
from dynconv.gradcheck import gradcheck
from dynconv.layers import Layer
from dynconv.sr import metrics
from exercise_tools import _close, _vjp_fd, try_it  # noqa: F401 (notebooks call exercises.try_it)


# --------------------------------------------------------------------------- eqs 2-3 (notebooks 06, 08)
def conv1d_forward(x, w, pad=0):
    """Eq 1 in 1-D, one channel: y[r] = sum_u w[u] * xp[r + u], xp = x zero-padded by ``pad``."""
    xp = np.pad(np.asarray(x, dtype=np.float64), pad)
    k = len(w)
    return np.array([np.dot(w, xp[r:r + k]) for r in range(len(xp) - k + 1)])


def check_conv1d_input_grad(fn):
    """``fn(dy, w, pad)``: dl/dx of :func:`conv1d_forward` for the upstream gradient ``dy``."""
    rng = np.random.default_rng(11)
    for n, k, pad in [(7, 3, 1), (6, 4, 0), (5, 2, 1)]:
        x, w = rng.standard_normal(n), rng.standard_normal(k)
        dy = rng.standard_normal(len(conv1d_forward(x, w, pad)))
        want = _vjp_fd(lambda x_: conv1d_forward(x_, w, pad), x, dy)
        _close(fn(dy, w, pad), want, f"dx for n={n}, k={k}, pad={pad}", tol=1e-7)


def check_conv1d_kernel_grad(fn):
    """``fn(dy, x, taps, pad)``: dl/dw of :func:`conv1d_forward` (a kernel of ``taps`` taps)."""
    rng = np.random.default_rng(12)
    for n, taps, pad in [(7, 3, 1), (6, 4, 0), (5, 2, 1)]:
        x, w = rng.standard_normal(n), rng.standard_normal(taps)
        dy = rng.standard_normal(len(conv1d_forward(x, w, pad)))
        want = _vjp_fd(lambda w_: conv1d_forward(x, w_, pad), w, dy)
        _close(fn(dy, x, taps, pad), want, f"dw for n={n}, taps={taps}, pad={pad}", tol=1e-7)


def check_conv2d_grads(fn):
    """``fn(dy, x, w, pad)`` -> ``(dx, dw)``: eqs 2 and 3, multi-channel, every sample summed into dw."""
    rng = np.random.default_rng(13)
    for N, C, F, H, W, kh, kw, pad in [(2, 3, 2, 6, 5, 3, 2, 1), (1, 1, 4, 5, 5, 3, 3, 0)]:
        x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, kh, kw))
        y, cache = reference.conv2d_forward(x, w, pad=pad)
        dy = rng.standard_normal(y.shape)
        dx_ref, dw_ref, _ = reference.conv2d_backward(dy, cache)
        dx, dw = fn(dy, x, w, pad)
        _close(dx, dx_ref, f"dx (eq 2), x {x.shape}, w {w.shape}")
        _close(dw, dw_ref, f"dw (eq 3), x {x.shape}, w {w.shape}")


def check_predict_eq3(fn):
    """``fn(dw)``: your prediction, written in terms of ``dw`` = dl/dw of one (j, i) pair and one
    sample, of what ``scipy.signal.convolve2d(dy, xp[::-1, ::-1], mode="valid")`` returns."""
    from scipy import signal

    rng = np.random.default_rng(14)
    for H, W, kh, kw, pad in [(6, 5, 3, 2, 1), (5, 7, 2, 3, 0)]:
        x, w = rng.standard_normal((1, 1, H, W)), rng.standard_normal((1, 1, kh, kw))
        y, cache = reference.conv2d_forward(x, w, pad=pad)
        dy = rng.standard_normal(y.shape)
        dw = reference.conv2d_backward(dy, cache)[1][0, 0]
        xp = np.pad(x[0, 0], pad)
        ran = signal.convolve2d(dy[0, 0], xp[::-1, ::-1], mode="valid")
        _close(fn(dw.copy()), ran, "your prediction against what convolve2d returned")


def stride2_forward(x, w):
    """The layer of exercise 08.3: eq 1 (pad 0) keeping every second row and column."""
    return reference.conv2d_forward(x, w)[0][:, :, ::2, ::2]


def check_stride2_input_grad(fn):
    """``fn(dy, w, x_shape)``: dl/dx of :func:`stride2_forward` for upstream gradient ``dy``."""
    rng = np.random.default_rng(2)
    for N, C, F, H, W, kh, kw in [(1, 2, 2, 7, 6, 3, 3), (2, 1, 3, 8, 9, 2, 3)]:
        x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, kh, kw))
        dy = rng.standard_normal(stride2_forward(x, w).shape)
        want = _vjp_fd(lambda x_: stride2_forward(x_, w), x, dy)
        _close(fn(dy, w, x.shape), want, f"dx for x {x.shape}, w {w.shape}", tol=1e-7)


def no_flip_input_grad(dy, w):
    """A classic mistake: eq 2 as a full *correlation* with the kernel (no flip), pad 0."""
    F, C = w.shape[:2]
    N, _, Ho, Wo = dy.shape
    kh, kw = w.shape[2:]
    dx = np.zeros((N, C, Ho + kh - 1, Wo + kw - 1))
    for t in range(N):
        for i in range(C):
            for j in range(F):
                dx[t, i] += reference.convolve2d(dy[t, j], w[j, i, ::-1, ::-1])
    return dx


def check_flip_blind_kernel(fn):
    """``fn(kh, kw)``: a non-zero (kh, kw) kernel for which :func:`no_flip_input_grad` is right."""
    rng = np.random.default_rng(3)
    for kh, kw in [(3, 3), (2, 4)]:
        k = np.asarray(fn(kh, kw), dtype=np.float64)
        assert k.shape == (kh, kw), f"shape {k.shape}, expected ({kh}, {kw})"
        assert np.abs(k).max() > 0, "the zero kernel is too easy: find a non-zero one"
        x = rng.standard_normal((1, 1, 6, 7))
        y, cache = reference.conv2d_forward(x, k[None, None])
        dy = rng.standard_normal(y.shape)
        _close(no_flip_input_grad(dy, k[None, None]), reference.conv2d_backward(dy, cache)[0],
               "the no-flip backward with your kernel")


# --------------------------------------------------------------------------- notebook 02
def check_dynamic_1x1(fn):
    """``fn(x, k)`` -> ``(y, backward)`` for a dynamic 1x1 layer, ``k`` (N, F, C), where
    ``backward(dy)`` returns ``(dx, dk)``."""
    rng = np.random.default_rng(4)
    x, k = rng.standard_normal((3, 4, 5, 6)), rng.standard_normal((3, 2, 4))
    y, backward = fn(x, k)
    y_ref, cache = reference.dynamic_conv2d_forward(x, k[..., None, None])
    _close(y, y_ref, "y")
    dy = rng.standard_normal(y_ref.shape)
    dx, dk = backward(dy)
    dx_ref, dk_ref, _ = reference.dynamic_conv2d_backward(dy, cache)
    _close(dx, dx_ref, "dx (eq 6)")
    _close(dk, dk_ref[..., 0, 0], "dk (eq 7, one per sample)")


def check_eq7_literal(fn):
    """``fn(dy, x, pad)``: eq 7 as written for every sample, dy_tj * x~_ti, shape (N, F, C, kh, kw)."""
    rng = np.random.default_rng(5)
    N, C, F, H, W, kh, kw, pad = 3, 2, 2, 6, 5, 3, 2, 1
    x, k = rng.standard_normal((N, C, H, W)), rng.standard_normal((N, F, C, kh, kw))
    y, cache = reference.dynamic_conv2d_forward(x, k, pad=pad)
    dy = rng.standard_normal(y.shape)
    dk = reference.dynamic_conv2d_backward(dy, cache)[1]
    got = np.asarray(fn(dy, x, pad), dtype=np.float64)
    assert got.shape == dk.shape, f"shape {got.shape}, expected one kernel per sample {dk.shape}"
    assert not np.allclose(got, dk), "this is dk itself: eq 7 as written gives it rotated by 180 degrees"
    _close(got[..., ::-1, ::-1], dk, "rot180 of your eq 7 against dk")


def check_dynamic_backward_batched(fn):
    """``fn(dy, x, k, pad)`` -> ``(dx, dk)``: eqs 6 and 7 for every sample at once, ``k`` of shape
    (N, F, C, kh, kw) and no bias; ``dk`` has one gradient per sample."""
    rng = np.random.default_rng(15)
    for N, C, F, H, W, kh, kw, pad in [(3, 2, 2, 6, 5, 3, 2, 1), (4, 1, 3, 5, 5, 3, 3, 0)]:
        x, k = rng.standard_normal((N, C, H, W)), rng.standard_normal((N, F, C, kh, kw))
        y, cache = reference.dynamic_conv2d_forward(x, k, pad=pad)
        dy = rng.standard_normal(y.shape)
        dx_ref, dk_ref, _ = reference.dynamic_conv2d_backward(dy, cache)
        dx, dk = fn(dy, x, k, pad)
        _close(dx, dx_ref, f"dx (eq 6), k {k.shape}")
        _close(dk, dk_ref, f"dk (eq 7, one per sample), k {k.shape}")


def check_tied_kernels(fn):
    """``fn(dynamic_backward, dy, x, w, pad)``: the static layer's dl/dw, computed only through
    ``dynamic_backward(dy, x, k, pad) -> (dx, dk)`` called with the same kernel ``w`` for every sample."""
    rng = np.random.default_rng(16)
    N, C, F, H, W, kh, kw, pad = 3, 2, 2, 6, 5, 3, 2, 1
    x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, kh, kw))
    y, cache = reference.conv2d_forward(x, w, pad=pad)
    dy = rng.standard_normal(y.shape)
    calls = []

    def dynamic_backward(dy_, x_, k_, pad_):
        k_ = np.asarray(k_, dtype=np.float64)
        calls.append(k_.copy())
        return reference.dynamic_conv2d_backward(dy_, reference.dynamic_conv2d_forward(x_, k_, pad=pad_)[1])[:2]

    got = fn(dynamic_backward, dy.copy(), x.copy(), w.copy(), pad)
    assert calls, "call dynamic_backward: the point is to get dw from the dynamic layer"
    assert all(k_.shape == (N, *w.shape) and np.allclose(k_, w) for k_ in calls), \
        "give every sample the same kernel w, shape (N, F, C, kh, kw)"
    _close(got, reference.conv2d_backward(dy, cache)[1], "dw from the tied dynamic layer")


# --------------------------------------------------------------------------- notebook 03
def check_sgd_momentum(fn):
    """``fn(w0, grads, lrs, mu)``: the weights after each step of Caffe's momentum SGD
    (z <- mu z + lr_t g_t, w <- w - z), as a list."""
    rng = np.random.default_rng(6)
    w0 = rng.standard_normal((3, 2))
    grads = [rng.standard_normal(w0.shape) for _ in range(5)]
    schedule = optim.StepLR(2, gamma=0.5)
    lrs = [0.1 * schedule(t) for t in range(len(grads))]
    p, g = w0.copy(), np.zeros_like(w0)
    opt = optim.SGD([("w", p, g)], lr=0.1, momentum=0.9, schedule=schedule)
    got = list(fn(w0.copy(), [x.copy() for x in grads], list(lrs), 0.9))
    assert len(got) == len(grads), f"{len(got)} weights for {len(grads)} steps"
    for t, gt in enumerate(grads):
        g[...] = gt
        opt.step()
        _close(got[t], p, f"step {t + 1} (lr {lrs[t]:g})", tol=1e-12)


class _Square(Layer):
    """y = x ** 2 with a backward you provide."""

    def __init__(self, backward):
        super().__init__()
        self._backward = backward

    def output_shape(self, *shapes):
        return shapes[0]

    def forward(self, x):
        self._save(x)
        return x * x

    def backward(self, dy):
        return (self._backward(self._pop_cache(), dy),)


def check_square_backward(fn):
    """``fn(x, dy)``: dl/dx of y = x ** 2; ``dynconv.gradcheck`` must accept it."""
    rng = np.random.default_rng(7)
    report = gradcheck(_Square(fn), [rng.standard_normal((2, 3))], rng=rng)
    assert report.ok, "gradcheck rejects it:\n" + str(report)


# --------------------------------------------------------------------------- notebook 04
def check_scale_weights(fn):
    """``fn(inputs, labels, scales)``: ``{scale: weight}``, weight proportional to 1 / the scale's
    bicubic MSE (centre of the input against the label), the mean weight over samples 1."""
    from dynconv.training.batches import Batches
    from dynconv.training.subimages import SubImages

    rng = np.random.default_rng(8)
    scales = np.repeat([2.0, 3.0, 4.0], [5, 3, 4]).astype(np.float32)
    labels = rng.random((len(scales), 1, 5, 5)).astype(np.float32)
    inputs = rng.random((len(scales), 1, 9, 9)).astype(np.float32)
    inputs[:, :, 2:7, 2:7] = labels + rng.normal(0, 0.05, labels.shape) * scales[:, None, None, None]
    want = Batches.strided(SubImages(inputs, labels, scales), 1, seed=0, augment=False).scale_weights()
    got = fn(inputs, labels, scales)
    assert set(map(float, got)) == set(want), f"scales {sorted(got)}, expected {sorted(want)}"
    for s, v in want.items():
        assert math.isclose(got[s], v, rel_tol=1e-6), f"x{s:g}: {got[s]:.6f}, expected {v:.6f}"


def check_cosine_lr(fn):
    """``fn(t, total, min_factor)``: the cosine schedule's factor at step ``t``."""
    for total, m in [(10, 0.0), (7, 0.1)]:
        schedule = optim.CosineLR(total, m)
        for t in range(total + 3):
            got = fn(t, total, m)
            assert math.isclose(got, schedule(t), rel_tol=1e-12, abs_tol=1e-15), \
                f"t={t}, total={total}, min_factor={m}: {got}, expected {schedule(t)}"


# --------------------------------------------------------------------------- notebook 05
def check_psnr_shaved(fn):
    """``fn(ref, est, scale)``: PSNR after shaving ceil(scale) pixels, as the protocol scores."""
    rng = np.random.default_rng(9)
    for scale in (2, 3, 2.5):
        ref = rng.integers(0, 256, (40, 44)).astype(np.uint8)
        est = np.clip(ref + rng.normal(0, 5, ref.shape), 0, 255).astype(np.uint8)
        want = metrics.psnr(ref, est, shave=sr.shave_for(scale))
        assert math.isclose(fn(ref, est, scale), want, rel_tol=1e-12), f"x{scale}: expected {want:.4f} dB"


def unsharp(up, amount=0.5, sigma=1.0):
    """Unsharp masking: ``up + amount * (up - gaussian_filter(up, sigma))`` (reflecting borders)."""
    from scipy import ndimage

    return up + amount * (up - ndimage.gaussian_filter(up, sigma, mode="reflect"))


def check_register_unsharp(fn):
    """``fn()`` registers the method ``"unsharp"`` (:func:`unsharp` with the defaults) in
    :mod:`dynconv.sr`, so that every command can use it by name. A method is ``f(up, scale)``."""
    try:
        fn()
        assert "unsharp" in sr.names(), "'unsharp' is not a registered name"
        up = np.random.default_rng(10).random((20, 24)) * 255
        name, f = sr.resolve("unsharp")
        _close(f(up, 3), unsharp(up), "the registered method's output")
    finally:
        sr.unregister("unsharp")


#: Every exercise: check -> (notebook number, name of the solution in solutions/s<NN>.py).
EXERCISES = {
    check_conv1d_input_grad: ("06", "conv1d_input_grad"),
    check_conv1d_kernel_grad: ("06", "conv1d_kernel_grad"),
    check_conv2d_grads: ("06", "conv2d_grads"),
    check_predict_eq3: ("06", "predict_eq3"),
    check_dynamic_1x1: ("02", "dynamic_1x1"),
    check_eq7_literal: ("02", "eq7_literal"),
    check_dynamic_backward_batched: ("02", "dynamic_backward_batched"),
    check_tied_kernels: ("02", "tied_kernels"),
    check_sgd_momentum: ("03", "sgd_momentum"),
    check_square_backward: ("03", "square_backward"),
    check_scale_weights: ("04", "scale_weights"),
    check_cosine_lr: ("04", "cosine_lr"),
    check_psnr_shaved: ("05", "psnr_shaved"),
    check_register_unsharp: ("05", "register_unsharp"),
}


# --------------------------------------------------------------------------- notebook 06
# (kept apart from the other notebooks' checks so that additions elsewhere merge cleanly)
def check_wide_grid_cost(fn):
    """``fn(Hp, Wp, kh, kw)`` -> ``(ratio, waste)`` for kn2row's wide grid on a padded
    ``Hp x Wp`` input: ``ratio`` = positions computed / outputs kept, ``L / (Ho Wo)``, and
    ``waste`` = the fraction of the computed positions that is cropped."""
    for Hp, Wp, kh, kw in [(33, 33, 9, 9), (25, 25, 5, 5), (9, 8, 3, 2), (6, 6, 1, 1)]:
        Ho, Wo = Hp - kh + 1, Wp - kw + 1
        L = (Ho - 1) * Wp + Wo
        ratio, waste = fn(Hp, Wp, kh, kw)
        where = f"Hp, Wp, kh, kw = {Hp}, {Wp}, {kh}, {kw}"
        assert math.isclose(ratio, L / (Ho * Wo), rel_tol=1e-12), f"{where}: ratio {ratio}, expected L/(Ho Wo)"
        assert math.isclose(waste, 1 - Ho * Wo / L, rel_tol=1e-12, abs_tol=1e-15), \
            f"{where}: waste {waste}; the waste is a fraction of the L computed positions"


def check_kn2row_dynamic_dk(fn):
    """``fn(dy, x, pad, kh, kw)`` -> ``dk`` (N, F, C, kh, kw): eq 7, the kernel gradient of the
    dynamic layer (one kernel per sample), by kn2row's shifted slices of the flattened input."""
    rng = np.random.default_rng(11)
    N, C, F, H, W, kh, kw, pad = 3, 2, 4, 6, 5, 3, 2, 1
    x, k = rng.standard_normal((N, C, H, W)), rng.standard_normal((N, F, C, kh, kw))
    y, cache = reference.dynamic_conv2d_forward(x, k, pad=pad)
    dy = rng.standard_normal(y.shape)
    dk_ref = reference.dynamic_conv2d_backward(dy, cache)[1]
    _close(fn(dy, x, pad, kh, kw), dk_ref, "dk (eq 7, one kernel per sample)")


EXERCISES.update({
    check_wide_grid_cost: ("06", "wide_grid_cost"),
    check_kn2row_dynamic_dk: ("06", "kn2row_dynamic_dk"),
})


# --------------------------------------------------------------------------- notebook 08
def check_euclidean_grads(fn):
    """``fn(pred, target)`` -> ``(dpred, dtarget)``: the gradients of ``EuclideanLoss`` with
    upstream gradient 1."""
    from dynconv.layers import EuclideanLoss

    rng = np.random.default_rng(17)
    for shape in [(2, 1, 3, 4), (5, 2, 2, 3)]:
        pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
        loss = EuclideanLoss()
        loss.forward(pred, target)
        want = loss.backward()
        got = fn(pred.copy(), target.copy())
        assert len(got) == 2, "return (dpred, dtarget)"
        _close(got[0], want[0], f"dpred, batch of {shape[0]}")
        _close(got[1], want[1], f"dtarget, batch of {shape[0]}")


def check_center_crop_backward(fn):
    """``fn(dy, x_shape)``: dl/dx of ``CenterCrop()`` cropping ``x_shape`` to ``dy``'s size."""
    from dynconv.layers import CenterCrop

    rng = np.random.default_rng(18)
    for x_shape, hw in [((2, 1, 7, 6), (4, 3)), ((1, 2, 5, 5), (3, 3)), ((1, 1, 6, 4), (3, 4))]:
        x, like = rng.standard_normal(x_shape), np.zeros((x_shape[0], 1, *hw))
        crop = CenterCrop()
        dy = rng.standard_normal(crop.forward(x, like).shape)
        want = crop.backward(dy)[0]
        _close(fn(dy.copy(), x_shape), want, f"dx for x {x_shape} cropped to {hw}")


EXERCISES.update({
    check_euclidean_grads: ("08", "euclidean_grads"),
    check_center_crop_backward: ("08", "center_crop_backward"),
    check_stride2_input_grad: ("08", "stride2_input_grad"),
    check_flip_blind_kernel: ("08", "flip_blind_kernel"),
})


# --------------------------------------------------------------------------- notebook 07
# Its checks live in exercises07.py (this file's length limit); the notebook calls them from here.
from exercises07 import (EXERCISES_07, check_alias_period, check_laplacian_transpose,  # noqa: E402,F401
                         check_magnitude_backward)

EXERCISES.update(EXERCISES_07)

# --------------------------------------------------------------------------- notebook 01
from exercises01 import EXERCISES_01, check_eq1_by_hand, check_stable_rate  # noqa: E402,F401

EXERCISES.update(EXERCISES_01)
