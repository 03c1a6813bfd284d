"""Network B of the DCNN up to its hidden layer: convolution features of the input window, pooled,
with the optional log energies and periodicity statistics (see :mod:`dynconv.sr.models`)."""
from __future__ import annotations

from dynconv.layers import ConcatChannels, Conv2D, GlobalAvgPool2D, Linear, Log1p, PeriodicityPool, Reshape, ReLU

__all__ = ["network_b", "B_FEATURES", "B_POOL", "SCALES_ONE_HOT"]

#: The scales a ``variant="scale"`` DCNN knows, in one-hot order.
SCALES_ONE_HOT = (2, 3, 4)
B_FEATURES = "b_relu2"  # B's feature maps before global pooling
B_POOL = "b_pool"  # B's pooled features


def network_b(g, cfg, rng):
    """Add network B up to its hidden layer to ``g``, shaped by ``cfg`` (a
    :class:`~dynconv.sr.model_config.DcnnConfig`); returns that node's name."""
    c, dtype = cfg.b_channels, cfg.dtype
    conv_b1 = Conv2D(1, c, cfg.b_kernel, init="he", rng=rng, dtype=dtype)
    if cfg.b_log:
        # Zero-mean filters: B's pooled responses start as texture energies, not brightness.
        conv_b1.params["w"] -= conv_b1.params["w"].mean(axis=(1, 2, 3), keepdims=True)
    g.add("b_conv1", conv_b1, ["x"])
    g.add("b_relu1", ReLU(), ["b_conv1"])
    g.add("b_conv2", Conv2D(c, c, 1, init="he", rng=rng, dtype=dtype), ["b_relu1"])
    g.add(B_FEATURES, ReLU(), ["b_conv2"])
    g.add(B_POOL, GlobalAvgPool2D(), [B_FEATURES])
    features = [B_POOL]
    if cfg.b_log:
        g.add("b_log", Log1p(cfg.b_log_eps), [B_POOL])
        features = ["b_log"]
    n_in = c
    if cfg.b_periods:
        g.add("b_period", PeriodicityPool(cfg.b_periods), ["x"])
        features.append("b_period")
        n_in += 2 * len(cfg.b_periods)
    if cfg.b_spectrum:
        g.add("b_spectrum", PeriodicityPool(cfg.b_spectrum, energies=("laplacian", "gradient"), axes="mean"), ["x"])
        features.append("b_spectrum")
        n_in += 2 * len(cfg.b_spectrum)
    if cfg.variant == "scale":
        features.append("scale")
        n_in += len(SCALES_ONE_HOT)
    pooled = features[0]
    if len(features) > 1:  # concatenate (N, k) vectors as (N, k, 1, 1) channels
        for f in features:
            g.add(f"{f}4", Reshape((-1, 1, 1)), [f])
        g.add("b_cat4", ConcatChannels(), [f"{f}4" for f in features])
        g.add("b_cat", Reshape((n_in,)), ["b_cat4"])
        pooled = "b_cat"
    g.add("b_fc1", Linear(n_in, cfg.b_hidden, init="he", rng=rng, dtype=dtype), [pooled])
    g.add("b_relu3", ReLU(), ["b_fc1"])
    return "b_relu3"
