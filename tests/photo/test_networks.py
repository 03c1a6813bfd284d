"""The networks the strip engine runs, behind one interface (dynconv.photo.networks)."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv.photo import networks, strips
from dynconv.sr import image, models


def _perturbed(model, rng):
    """B's kernels differ per window and the mapping layers leave the identity: a band read with
    the wrong rows or columns shows."""
    for name, p, _ in model.graph.parameters():
        if name in ("b_fc2.w", "b_fc2_conv2.w"):
            p[...] = rng.standard_normal(p.shape) * 0.05
        if name.startswith("map"):
            p += 0.1 * rng.standard_normal(p.shape).astype(p.dtype)
    return model


def _kinds(rng):
    small = dict(n1=8, n2=4, f1=5, f3=3, residual=True, init="he")
    return {
        "static": models.srcnn(**small, seed=1, name="s"),
        "dynamic": _perturbed(models.dcnn(**small, b_channels=4, b_hidden=8, window=21, seed=2, name="d"), rng),
        "dynamic+mapping": _perturbed(models.dcnn(**small, b_channels=4, b_hidden=8, window=21, mapping=[3],
                                                  seed=3, name="dm"), rng),
        "same": models.srcnn(**small, padding="same", seed=4, name="z"),
    }


@pytest.mark.parametrize("which, kind", [("static", networks.StaticTiles), ("dynamic", networks.DynamicWindows),
                                         ("dynamic+mapping", networks.DynamicWindows),
                                         ("same", networks.WholeChannel)])
def test_every_band_is_the_rows_of_the_whole_image_estimate(rng, which, kind):
    """Band by band, each kind gives exactly the rows of the model on the whole upsampled channel
    (tiled on the same grid), so the engine's loop needs no other knowledge of it."""
    model = _kinds(rng)[which]
    x = (rng.random((29, 17)) * 255).astype(np.uint8)
    scale, tile = 2.5, 16
    H, W = image.output_size(29, scale), image.output_size(17, scale)
    taps = strips.resize_taps(x.shape, (H, W), scale)
    channels = strips.Channels(x, "ycbcr", "u8", taps)
    net = networks.network(model, H, W, scale, tile=tile)
    assert type(net) is kind
    up = image.imresize(x / 255.0, scale) * 255.0
    want = model.predict(up / 255.0, scale, tile=None if which == "same" else tile) * 255.0
    bands = [(o0, min(H, o0 + net.strip)) for o0 in range(0, H, net.strip)]
    assert len(bands) > 1 or which == "same"
    got = np.concatenate([net.estimate(channels, 0, o0, o1) for o0, o1 in bands])
    assert np.array_equal(got, want)


def test_bicubic_and_callables(rng):
    x = (rng.random((40, 30)) * 255).astype(np.uint8)
    H, W = 80, 60
    channels = strips.Channels(x, "ycbcr", "u8", strips.resize_taps(x.shape, (H, W), 2))
    up = image.imresize(x / 255.0, 2) * 255.0
    bic = networks.network(None, H, W, 2.0)
    assert type(bic) is networks.Bicubic and np.array_equal(bic.estimate(channels, 0, 5, 30), up[5:30])
    calls = []

    def f(u, s):
        calls.append((u.shape, s))
        return u * 1.1 - 10

    net = networks.network(f, H, W, 2.0)
    bands = [net.estimate(channels, 0, o0, min(H, o0 + 16)) for o0 in range(0, H, 16)]
    assert calls == [((H, W), 2.0)]  # the whole channel, once, however many bands
    assert np.array_equal(np.concatenate(bands), up * 1.1 - 10)
    broken = networks.network(lambda u, s: u * np.nan, H, W, 2.0)
    with pytest.raises(ValueError, match="'<lambda>' produced 4800 NaN"):
        broken.estimate(channels, 0, 0, 16)
