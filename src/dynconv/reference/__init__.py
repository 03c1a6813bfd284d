r"""The paper's equations 1–7, literally: float64 NumPy with explicit loops.

This module is the oracle. It is slow on purpose: every function is a direct transcription of
one equation of Bhujel & Pant, with loops over samples ``t``, channels ``i``/``j`` and kernel
taps, so that a reader can put the code and the equation side by side. :mod:`dynconv.kernels`
implements the same functions fast and is tested against this module; this module is tested
against finite differences (``tests/test_reference.py``).

Conventions
-----------
Layout is NCHW: ``x`` has shape ``(N, C, H, W)`` — N samples (the paper's ``t``), C input
channels (the paper's ``i``). A static kernel ``w`` has shape ``(F, C, kh, kw)`` (F output
channels, the paper's ``j``); a dynamic kernel ``k`` has one kernel per sample,
``(N, F, C, kh, kw)``.

**What the paper's ``*`` means here.** The paper writes the layer as a convolution,
:math:`y_j = \sum_i k_{ij} * x_i`. Like every deep-learning framework, dynconv implements the
forward pass as a *cross-correlation* (the kernel is not flipped):

.. math::

    y_{n,f}[r, c] = b_f + \sum_{i} \sum_{u=0}^{k_h-1} \sum_{v=0}^{k_w-1}
                    w_{f,i}[u, v]\; x^{\mathrm{pad}}_{n,i}[r+u,\, c+v]

where :math:`x^{\mathrm{pad}}` is ``x`` zero-padded by ``pad`` on every side. A true
convolution with ``w`` is a cross-correlation with the flipped kernel, so the two only differ
by how the learned kernel is stored: a network trained with either learns the same function.
With the forward pass a correlation, read the paper's ``*`` in equations 2 and 3 as a true
convolution (:func:`convolve2d`: the second operand flipped in both axes) and compare:

* eq 2, :math:`\partial l/\partial x_i = \sum_j \partial l/\partial y_j * k_{ij}`, holds
  literally: the input gradient *is* the full convolution of :math:`\partial l/\partial y`
  with the kernel (:func:`eq2_input_gradient`); so does eq 6, its per-sample form
  (:func:`eq6_input_gradient`).
* eq 3, :math:`\partial l/\partial k_{ij} = \partial l/\partial y_j * \tilde x_i` with
  :math:`\tilde x` the input flipped in both axes, is **not** the same thing as our kernel
  gradient: taken literally (:func:`eq3_kernel_gradient`) it gives ``dw`` rotated by 180°.
  It is the exact gradient of the kernel of a *convolution* forward pass,
  :math:`k = \operatorname{rot}_{180} w`; for the correlation forward pass the kernel
  gradient is the *correlation* of the padded input with :math:`\partial l/\partial y`
  (:func:`conv2d_backward`), and ``dw = rot180(eq 3 literal)``. Eq 7 and the dynamic kernel
  gradient relate the same way (:func:`eq7_kernel_gradient`).

The two conventions learn the same function (the stored kernel is flipped); what matters is that
forward and backward use the same one. Notebook ``notebooks/01_convolution_forward_backward.py``
derives these relations by index algebra; ``tests/test_reference.py`` checks them.

Stride is 1 throughout (the paper's networks use no stride). ``pad`` is an int in
``[0, min(kh, kw) - 1]``.

The module is three files: :mod:`~dynconv.reference.loops` (eqs 1–7 as loops),
:mod:`~dynconv.reference.printed` (eqs 2, 3, 6, 7 as printed) and
:mod:`~dynconv.reference.activation` (the ReLU every network applies between its layers).
"""
from __future__ import annotations

from dynconv.reference.activation import ReLUCache, relu_backward, relu_forward
from dynconv.reference.loops import (Conv2DCache, DynamicConv2DCache, conv2d_forward, conv2d_backward,
                                     sgd_update, dynamic_conv2d_forward, dynamic_conv2d_backward)
from dynconv.reference.printed import (convolve2d, flip, eq2_input_gradient, eq3_kernel_gradient,
                                       eq6_input_gradient, eq7_kernel_gradient)

__all__ = [
    "Conv2DCache",
    "DynamicConv2DCache",
    "conv2d_forward",
    "conv2d_backward",
    "sgd_update",
    "dynamic_conv2d_forward",
    "dynamic_conv2d_backward",
    "convolve2d",
    "flip",
    "eq2_input_gradient",
    "eq3_kernel_gradient",
    "eq6_input_gradient",
    "eq7_kernel_gradient",
    "ReLUCache",
    "relu_forward",
    "relu_backward",
]
