r"""Super-resolution methods by name, and the one protocol every command scores them with.

**The registry.** A *method* is ``f(up, scale) -> sr``: ``up`` is the bicubic-upsampled
low-resolution channel, float64 ``(H, W)`` on the 0–255 scale, and ``sr`` the super-resolved
channel of the same shape. :func:`resolve` turns any *method spec* into ``(name, f)``:

* a registered name — ``bicubic``, every shipped model (:data:`SHIPPED`: ``dcnn``,
  ``srcnn-x3``, ...) and anything added with :func:`register`;
* the path of a ``.npz`` checkpoint (the user's own weights);
* a :class:`~dynconv.sr.models.Model`, a callable, or a ``(name, callable or Model)`` pair.

``dynconv evaluate``, ``upscale``, ``demo``, ``models`` and ``reproduce``, their help texts, the
training loop and the notebooks all go through :func:`resolve` and :func:`names`.

**The protocol.** :func:`super_resolve` (degrade → super-resolve → the pair to score),
:func:`evaluate` (over data sets, scales and methods, with :mod:`dynconv.sr.metrics`) and
:func:`super_resolve_lr` (a real low-resolution input, the whole image) share the colour
handling of the paper's Table 2.

**Words.** *Method* is the library's word for what a name stands for: anything :func:`resolve`
accepts (``bicubic``, a shipped name, a ``.npz``, a callable, a model) and the ``(name, f)`` it
returns; ``evaluate(methods=...)``, ``super_resolve(method=...)`` and the ``method`` column of
every CSV say it. *Model* means only a trained network, :class:`~dynconv.sr.models.Model`, and
its weights (:func:`load_model`, :func:`is_model`, :func:`model_method` makes a method of one).
The words a user types keep their names: :func:`dynconv.upscale`'s ``model=`` and the
``--model`` of ``dynconv upscale`` and ``dynconv demo`` take any method spec (plus ``auto``),
and ``dynconv models`` lists the registry.

The package is the super-resolution task, above the framework and below training and the photo
tool: :mod:`~dynconv.sr.image` (I/O, MATLAB resize, colour, degradations),
:mod:`~dynconv.sr.metrics`, :mod:`~dynconv.sr.models`, :mod:`~dynconv.sr.inference`,
:mod:`~dynconv.sr.registry` and :mod:`~dynconv.sr.shipped` (names and weights),
:mod:`~dynconv.sr.protocol` (``super_resolve``, ``evaluate``) and :mod:`~dynconv.sr.datasets`
(where the data are, list, verify). The registry and the protocol are importable from here.
"""
from __future__ import annotations

from dynconv.sr.protocol import COLORS, evaluate, mean_records, shave_for, super_resolve, super_resolve_lr
from dynconv.sr.registry import (SHIPPED, WEIGHTS_DIR, Entry, bicubic_method, entries, factor_warning, is_model,
                                 load_model, model_method, names, register, require_weights, resolve, unregister,
                                 weights_path)

__all__ = ["SHIPPED", "WEIGHTS_DIR", "Entry", "bicubic_method", "register", "unregister", "names", "entries", "is_model",
           "weights_path", "require_weights", "load_model", "resolve", "model_method", "factor_warning",
           "COLORS", "super_resolve", "super_resolve_lr", "evaluate", "mean_records", "shave_for"]
