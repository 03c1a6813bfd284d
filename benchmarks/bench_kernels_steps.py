"""SRCNN training steps for ``bench_kernels.py``: dynconv kernels, plain NumPy, PyTorch."""
from __future__ import annotations

import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bench_common import interleaved, med, relerr

DTYPE = np.float32
NETS = {"9-1-5": (9, 1, 5), "9-5-5": (9, 5, 5)}


# Plain NumPy baseline (sliding_window_view + einsum)

def _padded(a, pad):
    return a if pad == 0 else np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def np_conv_forward(x, w, b, pad=0):
    """Eq 1: y[n,f] = b[f] + sum_c corr(x[n,c], w[f,c])."""
    kh, kw = w.shape[2:]
    win = sliding_window_view(_padded(x, pad), (kh, kw), axis=(2, 3))  # (N,C,Ho,Wo,kh,kw)
    y = np.einsum("nchwuv,fcuv->nfhw", win, w, optimize=True)
    if b is not None:
        y = y + b[None, :, None, None]
    return y, (x, w, pad)


def _full_conv_dx(dy, w_nf, pad, H, W, dynamic):
    """Eq 2/6: dx_pad = full convolution of dy with the kernel (= corr with the flipped kernel)."""
    kh, kw = w_nf.shape[-2:]
    dyp = np.pad(dy, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    win = sliding_window_view(dyp, (kh, kw), axis=(2, 3))  # (N,F,Hp,Wp,kh,kw)
    flipped = w_nf[..., ::-1, ::-1]
    if dynamic:
        dxp = np.einsum("nfhwuv,nfcuv->nchw", win, flipped, optimize=True)
    else:
        dxp = np.einsum("nfhwuv,fcuv->nchw", win, flipped, optimize=True)
    return dxp[:, :, pad:pad + H, pad:pad + W]


def np_conv_backward(dy, cache, need_input_grad=True):
    """Eqs 2, 3: (dx, dw, db)."""
    x, w, pad = cache
    kh, kw = w.shape[2:]
    win = sliding_window_view(_padded(x, pad), (kh, kw), axis=(2, 3))
    dw = np.einsum("nchwuv,nfhw->fcuv", win, dy, optimize=True)
    db = dy.sum(axis=(0, 2, 3))
    dx = _full_conv_dx(dy, w, pad, x.shape[2], x.shape[3], False) if need_input_grad else None
    return dx, dw, db



# The training step

def net_shapes(ks):
    """[(C, F, k)] for SRCNN f1-f2-f3 with n1 = 64, n2 = 32."""
    return [(1, 64, ks[0]), (64, 32, ks[1]), (32, 1, ks[2])]


def step_flops(ks, B, size=33):
    """FLOPs of one SRCNN step on B sub-images (issue 22): per layer forward 2·B·F·C·k²·Ho²,
    dw the same, dx the same except for layer 1 (fed by the image, no dx)."""
    total, H = 0, size
    for i, (C, F, k) in enumerate(net_shapes(ks)):
        H -= k - 1
        flop = 2 * B * F * C * k * k * H * H
        total += flop * (2 if i == 0 else 3)
    return total


def make_net(rng, ks):
    params = []
    for C, F, k in net_shapes(ks):
        w = (rng.standard_normal((F, C, k, k), dtype=np.float32) / np.sqrt(C * k * k)).astype(DTYPE)
        params.append((w, np.full((F,), 0.01, dtype=DTYPE)))
    return params


def kernel_step(K, params, x, t, marks=None):
    """Forward + MSE gradient + backward with dynconv kernels; returns the parameter grads."""
    mark = (lambda label: marks.append((label, time.perf_counter()))) if marks is not None \
        else (lambda label: None)
    (w1, b1), (w2, b2), (w3, b3) = params
    mark("start")
    a1, c1 = K.conv2d_forward(x, w1, b1, pad=0)
    mark("conv1 fwd")
    np.maximum(a1, 0, out=a1)
    a2, c2 = K.conv2d_forward(a1, w2, b2, pad=0)
    mark("conv2 fwd")
    np.maximum(a2, 0, out=a2)
    y, c3 = K.conv2d_forward(a2, w3, b3, pad=0)
    mark("conv3 fwd")
    g = (y - t) * np.float32(2.0 / y.size)
    mark("loss+relu")
    g2, dw3, db3 = K.conv2d_backward(g, c3)
    mark("conv3 bwd")
    g2 *= a2 > 0
    g1, dw2, db2 = K.conv2d_backward(g2, c2)
    mark("conv2 bwd")
    g1 *= a1 > 0
    _, dw1, db1 = K.conv2d_backward(g1, c1, need_input_grad=False)
    mark("conv1 bwd (no dx)")
    return [dw1, db1, dw2, db2, dw3, db3]


def numpy_step(params, x, t):
    (w1, b1), (w2, b2), (w3, b3) = params
    a1, c1 = np_conv_forward(x, w1, b1)
    a1 = np.maximum(a1, 0)
    a2, c2 = np_conv_forward(a1, w2, b2)
    a2 = np.maximum(a2, 0)
    y, c3 = np_conv_forward(a2, w3, b3)
    g = (y - t) * np.float32(2.0 / y.size)
    g2, dw3, db3 = np_conv_backward(g, c3)
    g2 = g2 * (a2 > 0)
    g1, dw2, db2 = np_conv_backward(g2, c2)
    g1 = g1 * (a1 > 0)
    _, dw1, db1 = np_conv_backward(g1, c1, need_input_grad=False)
    return [dw1, db1, dw2, db2, dw3, db3]


def make_torch_step(torch, params, x, t):
    nn = torch.nn
    layers = []
    for i, (w, b) in enumerate(params):
        F, C, k, _ = w.shape
        conv = nn.Conv2d(C, F, k)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.copy_(torch.from_numpy(b))
        layers.append(conv)
        if i < len(params) - 1:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers)
    tx, tt = torch.from_numpy(x), torch.from_numpy(t)

    def step():
        net.zero_grad()
        loss = torch.nn.functional.mse_loss(net(tx), tt)
        loss.backward()

    def grads():
        step()
        convs = [m for m in net if isinstance(m, nn.Conv2d)]
        return [a for c in convs for a in (c.weight.grad.numpy(), c.bias.grad.numpy())]

    return net, step, grads


def torch_profile(torch, net, step, n_steps):
    """ms per call of each conv's forward/backward op, from torch.profiler (inclusive CPU time)."""
    from torch.profiler import ProfilerActivity, profile
    step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(n_steps):
            step()
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    wshape = {tuple(c.weight.shape): f"conv{i + 1}" for i, c in enumerate(convs)}
    out = {}
    for ev in prof.key_averages(group_by_input_shape=True):
        shapes = [tuple(s) for s in (ev.input_shapes or [])]
        if ev.key == "aten::convolution" and len(shapes) > 1 and shapes[1] in wshape:
            key = wshape[shapes[1]] + " fwd"
        elif ev.key == "aten::convolution_backward" and len(shapes) > 2 and shapes[2] in wshape:
            key = wshape[shapes[2]] + " bwd"
        else:
            continue
        out[key] = out.get(key, 0.0) + ev.cpu_time_total / 1e3 / n_steps
    return dict(sorted(out.items()))


def bench_steps(K, torch, cfg, rng):
    results, problems = {}, []
    for net_name, ks in NETS.items():
        params = make_net(rng, ks)
        x = rng.random((cfg.B, 1, 33, 33), dtype=np.float32)
        Ho = 33 - sum(k - 1 for k in ks)
        t = rng.random((cfg.B, 1, Ho, Ho), dtype=np.float32)
        ref = kernel_step(K, params, x, t)
        errs = {"numpy": max(relerr(g, r) for g, r in zip(numpy_step(params, x, t), ref))}
        all_marks = []

        def dyn_step():
            all_marks.append([])
            kernel_step(K, params, x, t, all_marks[-1])
        peers = {"dynconv": dyn_step, "numpy": lambda: numpy_step(params, x, t)}
        tnet = None
        if torch is not None:
            tnet, tstep, tgrads = make_torch_step(torch, params, x, t)
            errs["torch"] = max(relerr(g, r) for g, r in zip(tgrads(), ref))
            peers["torch"] = tstep
        for peer, e in errs.items():
            if not e <= 1e-3:
                problems.append(f"step {net_name}: gradients differ from {peer} by {e:.2e}")
        times = interleaved(peers, rounds=cfg.step_rounds, warmup=cfg.warmup,
                            budget_s=cfg.step_budget, min_reps=cfg.min_reps)
        ms = {p: med(v) * 1e3 for p, v in times.items()}
        ms_min = {p: min(v) * 1e3 for p, v in times.items()}
        pps = {p: cfg.B / (v * 1e-3) for p, v in ms.items()}
        flop = step_flops(ks, cfg.B)
        res = {
            "layers": [{"C": C, "F": F, "k": k} for C, F, k in net_shapes(ks)],
            "step_gflop": flop / 1e9, "gflops": flop / (ms["dynconv"] * 1e-3) / 1e9,
            "ms": ms, "ms_min": ms_min, "patches_per_s": pps,
            "repeats": {p: len(v) for p, v in times.items()},
            "ratio_vs_numpy": pps["dynconv"] / pps["numpy"],
            "ratio_vs_torch": pps["dynconv"] / pps["torch"] if "torch" in pps else None,
            "max_rel_err_grads": errs,
        }
        # Profile: where the dynconv step spends its time (timestamps inside the timed steps,
        # warm-up excluded).
        segs = {}
        for marks in all_marks[cfg.warmup:]:
            for (_, t0), (label, t1) in zip(marks, marks[1:]):
                segs.setdefault(label, []).append((t1 - t0) * 1e3)
        res["profile_dynconv_ms"] = {k: med(v) for k, v in segs.items()}
        if torch is not None:
            try:
                res["profile_torch_ms"] = torch_profile(torch, tnet, tstep, cfg.profile_reps)
            except Exception as exc:  # the profiler is a nicety
                res["profile_torch_ms"] = {"error": repr(exc)}
        results[net_name] = res
        print(f"  step {net_name}: " + "  ".join(f"{p} {v:8.1f} patches/s" for p, v in pps.items()),
              flush=True)
    return results, problems


