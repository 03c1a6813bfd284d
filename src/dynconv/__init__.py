"""dynconv — dynamic convolutional networks for image super-resolution, from scratch.

NumPy + numba implementation of Bhujel & Pant, *Dynamic Convolutional Neural Network for
Image Super-Resolution*: the paper's equations 1–7 as literal references
(:mod:`dynconv.reference`) and fast kernels (:mod:`dynconv.kernels`).
"""

__version__ = "0.1.0"
