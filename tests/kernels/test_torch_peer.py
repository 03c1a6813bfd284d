"""Optional peer check: forward and every gradient agree with PyTorch autograd (skipped without torch)."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv import kernels as K
from _checks import assert_close

pytestmark = pytest.mark.peer
torch = pytest.importorskip("torch", reason="torch not installed (optional peer: pip install torch==2.13.0)")
F_ = torch.nn.functional

GEOMETRIES = [(2, 3, 7, 6, 2, 3, 3, 1), (2, 3, 8, 8, 6, 5, 5, 2), (3, 4, 6, 6, 8, 1, 1, 0), (2, 1, 12, 12, 7, 9, 9, 4)]


@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
def test_static_matches_torch(rng, geom):
    N, C, H, W, F, kh, kw, pad = geom
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, kh, kw)), rng.standard_normal(F)
    y, cache = K.conv2d_forward(x, w, b, pad=pad)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = K.conv2d_backward(dy, cache)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = F_.conv2d(tx, tw, tb, padding=pad)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty.detach().numpy(), 1e-10, "y")
    assert_close(dx, tx.grad.numpy(), 1e-10, "dx")
    assert_close(dw, tw.grad.numpy(), 1e-10, "dw")
    assert_close(db, tb.grad.numpy(), 1e-10, "db")


@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
def test_dynamic_matches_torch_grouped_conv(rng, geom):
    """Per-sample kernels = one grouped convolution with groups = N over the batch folded into channels."""
    N, C, H, W, F, kh, kw, pad = geom
    x, k, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((N, F, C, kh, kw)), rng.standard_normal((N, F))
    y, cache = K.dynamic_conv2d_forward(x, k, b, pad=pad)
    dy = rng.standard_normal(y.shape)
    dx, dk, db = K.dynamic_conv2d_backward(dy, cache)
    tx, tk, tb = (torch.tensor(a, requires_grad=True) for a in (x, k, b))
    ty = F_.conv2d(tx.reshape(1, N * C, H, W), tk.reshape(N * F, C, kh, kw), tb.reshape(N * F), padding=pad, groups=N)
    ty = ty.reshape(y.shape)
    ty.backward(torch.tensor(dy))
    assert_close(y, ty.detach().numpy(), 1e-10, "y")
    assert_close(dx, tx.grad.numpy(), 1e-10, "dx")
    assert_close(dk, tk.grad.numpy(), 1e-10, "dk")
    assert_close(db, tb.grad.numpy(), 1e-10, "db")
