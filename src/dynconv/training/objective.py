r"""What a training step minimises: the loss, each factor's weight, and the optional CSF term.

* **The loss** (``train.loss``): :class:`~dynconv.layers.MSELoss` or Caffe's
  :class:`~dynconv.layers.EuclideanLoss`. Its value is what the log and the divergence checks see.
* **Factor weights** (``train.balance_scales``): each sample's gradient is multiplied by
  1 / its factor's bicubic MSE, so that every factor's dB counts alike.
* **The CSF term** (``train.csf_weight`` = :math:`\lambda > 0`): the error as WPSNR sees it,
  :math:`(h \star e)^2` with :math:`h` WPSNR's contrast-sensitivity filter
  (:func:`dynconv.sr.metrics.csf_filter`), averaged per sample by
  :class:`~dynconv.layers.FilteredMSELoss`, weighted per factor by 1 / the bicubic value of that
  same term on the training batches. The gradient of a sample at factor :math:`s` is then

  .. math:: w_s \, \partial L / \partial \hat y + \lambda\, c_s \, \partial L_h / \partial \hat y,
     \qquad w_s = \frac{1}{\mathrm{MSE}_s^{\rm bicubic}}, \quad
     c_s = \frac{1}{L_{h,s}^{\rm bicubic}},

  both normalised to mean 1 over the batches. A plain MSE lets a network trade error in the
  mid frequencies, where the eye is most sensitive and which bicubic keeps at small factors,
  for error above them; with :math:`\lambda = 1` a dB of WPSNR lost costs as much as a dB of
  PSNR won (issue 23, ``docs/discussion.md``).
"""
from __future__ import annotations

import numpy as np

from dynconv.layers import FilteredMSELoss

__all__ = ["Objective", "csf_scale_weights"]


class Objective:
    """The training objective of one run.

    Parameters
    ----------
    loss : Layer
        The logged loss (pred, target) -> scalar.
    weights : dict {float: float}, optional
        Per-factor gradient weights of ``loss`` (``train.balance_scales``).
    csf_weight : float
        :math:`\\lambda`; 0 leaves the CSF term out.
    csf_weights : dict {float: float}, optional
        Per-factor weights :math:`c_s` of the CSF term (:func:`csf_scale_weights`).
    """

    def __init__(self, loss, weights=None, csf_weight=0.0, csf_weights=None):
        from dynconv.sr.metrics import csf_filter

        self.loss, self.weights = loss, weights or None
        self.csf_weight = float(csf_weight)
        self.csf = FilteredMSELoss(csf_filter()) if self.csf_weight > 0 else None
        if self.csf is not None and not csf_weights:
            raise ValueError("csf_weight > 0 needs csf_weights (see csf_scale_weights)")
        self.csf_weights = csf_weights
        self._scales = None

    def forward(self, pred, target, scales):
        """The plain loss of ``pred`` (N, 1, H, W) against ``target``; keeps what
        :meth:`backward` needs."""
        self._scales = scales
        value = float(self.loss.forward(pred, target))
        if self.csf is not None:
            self.csf.forward(pred, target)
        return value

    def backward(self):
        """``dpred``, shape of pred: the weighted gradient of the last :meth:`forward`."""
        (dpred, _) = self.loss.backward()
        if self.weights:
            dpred = dpred * _per_sample(self.weights, self._scales, dpred.dtype)
        if self.csf is not None:
            (dcsf, _) = self.csf.backward()
            dpred = dpred + dcsf * _per_sample(self.csf_weights, self._scales, dcsf.dtype, self.csf_weight)
        return dpred


def _per_sample(weights, scales, dtype, factor=1.0):
    # Both losses are batch means, so per-sample factors weight each sample's own mean.
    return np.array([factor * weights[float(v)] for v in scales], dtype)[:, None, None, None]


def csf_scale_weights(batches, n_batches=200):
    """``{factor: c_s}``: 1 / the mean CSF term of bicubic (the centre of each input) per factor,
    over the first ``n_batches`` training batches, normalised to mean 1 over those samples.

    Raises
    ------
    ValueError
        A factor of the batches drew no sample in ``n_batches`` batches.
    """
    from dynconv.sr.metrics import csf_filter

    term = FilteredMSELoss(csf_filter())
    values, factors = [], []
    for t in range(int(n_batches)):
        x, y, s = batches(t)
        b = (x.shape[-1] - y.shape[-1]) // 2
        centre = x[:, :, b:x.shape[-2] - b, b:x.shape[-1] - b]
        values.append(term.per_sample(centre, y))
        factors.append(np.asarray(s, dtype=np.float64))
    values, factors = np.concatenate(values), np.concatenate(factors)
    known = _factors(batches)
    missing = sorted(set(known) - {float(np.float32(f)) for f in factors}) if known else []
    if missing:
        raise ValueError(f"csf_scale_weights: no sample at factors {missing} in {n_batches} batches")
    inv = {float(np.float32(f)): 1.0 / float(np.mean(values[factors == f])) for f in np.unique(factors)}
    mean = float(np.mean([inv[float(np.float32(f))] for f in factors]))
    return {f: w / mean for f, w in inv.items()}


def _factors(batches):
    """The factors a batch source can draw (:meth:`~dynconv.training.batches.Batches.factors`; a bare
    callable: unknown)."""
    return batches.factors() if hasattr(batches, "factors") else []
