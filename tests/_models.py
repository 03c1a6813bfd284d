"""Small model settings shared by the model, inference and registry tests."""
from __future__ import annotations

#: A narrow network A: fast enough for every geometry the tests try.
SMALL = dict(n1=8, n2=4)
#: The shipped DCNN's options: log-energy pooling in B, B generating conv2's kernels too.
REACH = dict(b_log=True, b_log_eps=0.01, b_periods=[2, 3, 4], dynamic_layers=["conv2", "conv3"])


def randomise_b(model, rng, scale=0.05):
    """Give B's last layer non-zero weights so that kernels differ per window."""
    for name, p, _ in model.graph.parameters():
        if name in ("b_fc2.w", "b_fc2_conv2.w"):
            p[...] = rng.standard_normal(p.shape) * scale
