"""Figures without pyplot: nothing here changes matplotlib's global backend or state.

Library code (training curves, the demo, the reproduced figures) draws on a bare
:class:`matplotlib.figure.Figure`, so a notebook that calls it keeps its inline plots.
"""
from __future__ import annotations

from pathlib import Path


def subplots(nrows=1, ncols=1, **fig_kw):
    """``(fig, axes)`` like ``plt.subplots``, on a figure pyplot does not know about."""
    from matplotlib.figure import Figure

    squeeze = fig_kw.pop("squeeze", True)
    fig = Figure(**fig_kw)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


def save(fig, path):
    """Write ``fig`` as PNG atomically (:func:`dynconv.fileio.atomic_path`); returns the path."""
    from dynconv.fileio import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
