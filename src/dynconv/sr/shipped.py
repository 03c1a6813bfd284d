"""What the project ships: the model names, their weight files and their architectures.

One table each, read by the registry (:mod:`dynconv.sr`), ``dynconv models`` and the tests that
check every shipped config trains the architecture listed here.
"""
from __future__ import annotations

__all__ = ["SHIPPED", "ARCHITECTURES"]

#: Shipped model names: ``name -> (weight file stem, one-line description)``. ``dynconv train
#: --config configs/<stem>.toml`` trains the file.
SHIPPED = {
    "dcnn": ("dcnn-any", "the dynamic network, one model for any factor from x1.2 to x4"),
    "dcnn-any": ("dcnn-any", "= dcnn"),
    "dcnn-x234": ("dcnn-x234", "the dynamic network for x2, x3 and x4 (the paper's setting)"),
    "srcnn-x2": ("srcnn-x2", "static SRCNN trained at x2"),
    "srcnn-x3": ("srcnn-x3", "static SRCNN trained at x3"),
    "srcnn-x4": ("srcnn-x4", "static SRCNN trained at x4"),
    "srcnn-x234": ("srcnn-x234", "static SRCNN trained at x2, x3 and x4 together"),
    "srcnn-any": ("srcnn-any", "static SRCNN trained like dcnn, at any factor from x1.2 to x4"),
    "dcnn-scale": ("dcnn-scale-x234", "ablation: network B is also told the scale"),
    "dcnn-scale-x234": ("dcnn-scale-x234", "= dcnn-scale"),
}


#: The architecture of each shipped model (what ``configs/<name>.toml`` trains), so that
#: ``dynconv models`` can describe weights that are not shipped in a build.
ARCHITECTURES = {
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
                 "dynamic_layers": ["conv2", "conv3"], "name": "dcnn-any"},
    "dcnn-scale-x234": {"arch": "dcnn", "residual": True, "variant": "scale", "name": "dcnn-scale-x234"},
}
