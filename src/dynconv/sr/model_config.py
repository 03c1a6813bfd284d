"""What an SRCNN or a DCNN is, before any graph exists: its options, their defaults and their checks.

A :class:`SrcnnConfig` or :class:`DcnnConfig` is frozen and validated when made; the builders of
:mod:`dynconv.sr.models` turn one into a graph. :meth:`~DcnnConfig.to_dict` is the JSON a
checkpoint stores, and :func:`from_dict` reads it back::

    cfg = DcnnConfig(residual=True, mapping=(3,))
    cfg.radius                 # 7: the receptive-field radius
    cfg.to_dict()              # {"arch": "dcnn", "f1": 9, ..., "mapping": [3]}
    from_dict(cfg.to_dict())   # == cfg (dtype is not stored: float32)

A DCNN option added after the first checkpoints enters the stored dict only when it is set, so
every older checkpoint's config stays exactly what it was.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar

import numpy as np

__all__ = ["SrcnnConfig", "DcnnConfig", "CONFIGS", "from_dict"]


def _check_odd(name, f):
    """``f`` as a kernel size: an odd positive int (centred kernels)."""
    if not (isinstance(f, int) and f >= 1 and f % 2 == 1):
        raise ValueError(f"{name} must be an odd positive int (centred kernels), got {f!r}")
    return f


def _radius(*sizes):
    """The receptive-field radius of valid convolutions with these kernel sizes, one after another."""
    return sum((f - 1) // 2 for f in sizes)


@dataclass(frozen=True)
class SrcnnConfig:
    """SRCNN, eqs 8–10: conv f1 (1→n1) · ReLU · conv f2 (n1→n2) · ReLU · conv f3 (n2→1).

    ``init="gaussian"`` with ``std=0.001`` is the paper's initialisation; ``"he"`` trains
    faster with Adam. ``residual=True`` adds the input back (the network predicts the
    difference to bicubic) and starts the last layer at zero, so training starts from
    bicubic. Biases start at zero. ``seed`` seeds the initialisation; ``dtype`` (not stored)
    is the parameters' dtype; ``name`` names the model.
    """

    ARCH: ClassVar[str] = "srcnn"
    f1: int = 9
    f2: int = 1
    f3: int = 5
    n1: int = 64
    n2: int = 32
    _: KW_ONLY
    padding: str = "valid"
    residual: bool = False
    init: str = "he"
    std: float = 1e-3
    seed: int = 0
    dtype: Any = np.float32
    name: str | None = None

    def __post_init__(self):
        for k in ("f1", "f2", "f3"):
            _check_odd(k, getattr(self, k))
        if self.padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {self.padding!r}")

    @property
    def radius(self) -> int:
        """Receptive-field radius: a valid network's output is its input cropped by this much."""
        return _radius(self.f1, self.f2, self.f3)

    def to_dict(self) -> dict:
        """The JSON-serialisable config a checkpoint stores (:func:`from_dict` reads it)."""
        config = dict(arch=self.ARCH, f1=self.f1, f2=self.f2, f3=self.f3, n1=self.n1, n2=self.n2,
                      padding=self.padding, residual=bool(self.residual), init=self.init, std=self.std,
                      seed=self.seed)
        if self.name:
            config["name"] = self.name
        return config


@dataclass(frozen=True)
class DcnnConfig:
    """The dynamic network: A (SRCNN layers 1–2) + B (kernel generator) + eq 5.

    See :mod:`dynconv.sr.models` for B's design and the three properties it guarantees.

    Parameters
    ----------
    f1, f2, f3, n1, n2 : int
        As :class:`SrcnnConfig`; f3 and n2 shape the dynamic kernel (1, n2, f3, f3).
    b_kernel, b_channels, b_hidden : int
        B: conv b_kernel×b_kernel (1→b_channels), conv 1×1, pooling, Linear b_hidden.
    b_log : bool
        Pass B's pooled features through :class:`~dynconv.layers.Log1p` (``b_log_eps``) and
        start B's first filters zero-mean, so that B compares band energies (ratios become
        differences) rather than brightness — see :mod:`dynconv.sr.models`.
    b_periods : sequence of int
        Also give B's first ``Linear`` :class:`~dynconv.layers.PeriodicityPool` statistics of
        the input window for these periods (e.g. ``(2, 3, 4)``): how strongly its local
        sharpness repeats every p pixels, the fingerprint of upsampling by p.
    b_spectrum : sequence of float
        Periods for a second statistic (Laplacian and gradient energy, axes averaged), whose
        inputs to B's first ``Linear`` come after all others: the any-factor model's.
    dynamic_layers : sequence of {"conv2", "conv3"}
        The layers whose kernels B generates: the reconstruction layer (the paper's DCNN),
        and optionally A's non-linear mapping layer too, each with its own head
        ``k = W + ΔW(h)``, ΔW starting at zero.
    mapping : sequence of int
        Kernel sizes of extra static mapping layers (n2→n2, each with a ReLU) between A's layer 2
        and the reconstruction layer; each starts as the identity
        (:func:`~dynconv.sr.network_a.mapping_layers`), so a warm start keeps its source's function.
    window : int
        The input window B pools over; the training sub-image size.
    window_stride : int, optional
        Stride between inference windows (default: half the window's output size).
    variant : {"image", "scale"}
        ``"scale"`` also feeds B a one-hot of the upscaling factor (an ablation).
    padding, residual, init, std, seed, dtype, name
        As :class:`SrcnnConfig`; ``padding`` must be ``"valid"`` (B pools over a fixed window).
    """

    ARCH: ClassVar[str] = "dcnn"
    f1: int = 9
    f2: int = 1
    f3: int = 5
    n1: int = 64
    n2: int = 32
    _: KW_ONLY
    b_kernel: int = 5
    b_channels: int = 32
    b_hidden: int = 64
    b_log: bool = False
    b_log_eps: float = 1e-3
    b_periods: Any = ()
    b_spectrum: Any = ()
    dynamic_layers: tuple = ("conv3",)
    mapping: tuple = ()
    window: int = 33
    window_stride: int | None = None
    variant: str = "image"
    padding: str = "valid"
    residual: bool = False
    init: str = "he"
    std: float = 1e-3
    seed: int = 0
    dtype: Any = np.float32
    name: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "dynamic_layers", tuple(self.dynamic_layers))
        object.__setattr__(self, "mapping", tuple(self.mapping))
        for k in ("f1", "f2", "f3", "b_kernel"):
            _check_odd(k, getattr(self, k))
        for f in self.mapping:
            _check_odd("each of mapping", f)
        if self.padding != "valid":
            raise ValueError("dcnn supports padding='valid' only (B pools over a fixed window)")
        if self.variant not in ("image", "scale"):
            raise ValueError(f"variant must be 'image' or 'scale', got {self.variant!r}")
        if self.dynamic_layers not in (("conv3",), ("conv2", "conv3")):
            raise ValueError(f"dynamic_layers must be ['conv3'] or ['conv2', 'conv3'], "
                             f"got {list(self.dynamic_layers)!r}")
        if self.window - 2 * self.radius < 1 or self.window < self.b_kernel:
            raise ValueError(f"window {self.window} is too small for the receptive field (radius {self.radius})")

    @property
    def radius(self) -> int:
        """Receptive-field radius: the output is the input window cropped by this much."""
        return _radius(self.f1, self.f2, self.f3, *self.mapping)

    def to_dict(self) -> dict:
        """The JSON-serialisable config a checkpoint stores (:func:`from_dict` reads it)."""
        config = dict(arch=self.ARCH, f1=self.f1, f2=self.f2, f3=self.f3, n1=self.n1, n2=self.n2,
                      b_kernel=self.b_kernel, b_channels=self.b_channels, b_hidden=self.b_hidden,
                      window=self.window, variant=self.variant, padding=self.padding,
                      residual=bool(self.residual), init=self.init, std=self.std, seed=self.seed)
        # Options added later enter the dict only when set, so older checkpoints' configs stay valid.
        if self.b_log:
            config.update(b_log=True, b_log_eps=float(self.b_log_eps))
        if self.b_periods:
            config["b_periods"] = [int(p) for p in self.b_periods]
        if self.b_spectrum:
            config["b_spectrum"] = [float(p) for p in self.b_spectrum]
        if self.dynamic_layers != ("conv3",):
            config["dynamic_layers"] = list(self.dynamic_layers)
        if self.mapping:
            config["mapping"] = list(self.mapping)
        if self.window_stride is not None:
            config["window_stride"] = int(self.window_stride)
        if self.name:
            config["name"] = self.name
        return config


#: ``arch`` (as stored) -> its config class.
CONFIGS = {c.ARCH: c for c in (SrcnnConfig, DcnnConfig)}


def from_dict(config):
    """The config object of a stored config dict: ``arch`` names its class, ``meta`` is ignored.

    Raises
    ------
    ValueError
        For an unknown ``arch``, an unknown option or a value of the wrong kind (quoting the
        config), or an invalid value.
    """
    options = dict(config)
    arch = options.pop("arch", None)
    if arch not in CONFIGS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(CONFIGS)}")
    options.pop("meta", None)
    known = [f.name for f in dataclasses.fields(CONFIGS[arch])]
    unknown = sorted(set(options) - set(known))
    try:
        if unknown:
            raise TypeError(f"unknown option(s) {unknown}; known: {', '.join(known)}")
        return CONFIGS[arch](**options)
    except TypeError as exc:
        raise ValueError(f"bad {arch} config {json.dumps(options)}: {exc}") from None
