"""Layers: thin classes over the kernel pairs, composed by :class:`dynconv.graph.Graph`.

Every layer has ``forward(*inputs) -> y``, ``backward(dy) -> (dx_0, ...)``, named ``params`` and
``grads``, ``output_shape(*shapes)``, ``macs(*shapes)`` and ``astype(dtype)``; see
:mod:`dynconv.layers.base`.
"""
from .activation import Log1p, ReLU
from .base import Layer
from .conv import Conv2D, DynamicConv2D
from .dense import Linear
from .loss import EuclideanLoss, FilteredMSELoss, MSELoss
from .shape import Add, CenterCrop, ConcatChannels, GlobalAvgPool2D, Reshape
from .spectral import PeriodicityPool

__all__ = [
    "Layer",
    "Conv2D",
    "DynamicConv2D",
    "ReLU",
    "Log1p",
    "Linear",
    "GlobalAvgPool2D",
    "PeriodicityPool",
    "Reshape",
    "Add",
    "ConcatChannels",
    "CenterCrop",
    "MSELoss",
    "EuclideanLoss",
    "FilteredMSELoss",
]
