"""What the project ships, in one table: each model's name, weights file, architecture and description.

:data:`SHIPPED` is read by the registry (:mod:`dynconv.sr.registry`: every name becomes a method),
``dynconv models``, ``dynconv retrain``, warm starts (``train.init``), ``--model auto``
(:mod:`dynconv.photo.auto`, whose measured table ``weights/set14_psnr.json`` uses these names) and
the tests that check every shipped config trains the architecture listed here.
"""
from __future__ import annotations

from typing import NamedTuple

__all__ = ["Shipped", "SHIPPED"]


class Shipped(NamedTuple):
    """One shipped model."""

    stem: str  #: ``weights/<stem>.npz`` holds it; ``dynconv train --config configs/<stem>.toml`` trains it
    summary: str  #: one line for ``dynconv models`` and the CLI help
    architecture: dict  #: the model config ``configs/<stem>.toml`` builds (:func:`dynconv.sr.models.build`)


# The architectures, by weights file (two names may share a file).
_ARCH = {
    "dcnn-x234": {"arch": "dcnn", "residual": True, "b_log": True, "b_log_eps": 0.01,
                  "b_periods": [2, 3, 4], "dynamic_layers": ["conv2", "conv3"], "name": "dcnn-x234"},
    "srcnn-x2": {"arch": "srcnn", "residual": True, "name": "srcnn-x2"},
    "srcnn-x3": {"arch": "srcnn", "residual": True, "name": "srcnn-x3"},
    "srcnn-x4": {"arch": "srcnn", "residual": True, "name": "srcnn-x4"},
    "srcnn-x234": {"arch": "srcnn", "residual": True, "name": "srcnn-x234"},
    "srcnn-any": {"arch": "srcnn", "residual": True, "name": "srcnn-any"},
    "dcnn-any": {"arch": "dcnn", "residual": True, "b_log": True, "b_log_eps": 0.01, "b_periods": [2, 3, 4],
                 "b_spectrum": [6.0, 5.2941, 4.7368, 4.2857, 3.913, 3.6, 3.3333, 3.1034, 2.9032, 2.7273, 2.5714,
                                2.4324, 2.3077, 2.1951, 2.093, 2.0],
                 "dynamic_layers": ["conv2", "conv3"], "mapping": [3, 3], "name": "dcnn-any"},
    "dcnn-scale-x234": {"arch": "dcnn", "residual": True, "variant": "scale", "name": "dcnn-scale-x234"},
}

#: ``name -> Shipped``; a second name for the same file is an alias ("= dcnn").
SHIPPED = {
    "dcnn": Shipped("dcnn-any", "the dynamic network, one model for any factor from x1.2 to x4", _ARCH["dcnn-any"]),
    "dcnn-any": Shipped("dcnn-any", "= dcnn", _ARCH["dcnn-any"]),
    "dcnn-x234": Shipped("dcnn-x234", "the dynamic network for x2, x3 and x4 (the paper's setting)", _ARCH["dcnn-x234"]),
    "srcnn-x2": Shipped("srcnn-x2", "static SRCNN trained at x2", _ARCH["srcnn-x2"]),
    "srcnn-x3": Shipped("srcnn-x3", "static SRCNN trained at x3", _ARCH["srcnn-x3"]),
    "srcnn-x4": Shipped("srcnn-x4", "static SRCNN trained at x4", _ARCH["srcnn-x4"]),
    "srcnn-x234": Shipped("srcnn-x234", "static SRCNN trained at x2, x3 and x4 together", _ARCH["srcnn-x234"]),
    "srcnn-any": Shipped("srcnn-any", "static SRCNN trained like dcnn, at any factor from x1.2 to x4", _ARCH["srcnn-any"]),
    "dcnn-scale": Shipped("dcnn-scale-x234", "ablation: network B is also told the scale", _ARCH["dcnn-scale-x234"]),
    "dcnn-scale-x234": Shipped("dcnn-scale-x234", "= dcnn-scale", _ARCH["dcnn-scale-x234"]),
}
