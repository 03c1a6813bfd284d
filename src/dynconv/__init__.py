"""dynconv — dynamic convolutional networks for image super-resolution, from scratch.

NumPy + numba implementation of Bhujel & Pant, *Dynamic Convolutional Neural Network for
Image Super-Resolution*: the paper's equations 1–7 as literal references
(:mod:`dynconv.reference`) and fast kernels (:mod:`dynconv.kernels`).
"""

__version__ = "0.1.0"

__all__ = ["upscale", "__version__"]


def __getattr__(name):
    # Imported on first use, so that ``import dynconv`` (and the CLI's --threads) stays light.
    if name == "upscale":
        from dynconv.photo.api import upscale

        return upscale
    raise AttributeError(f"module 'dynconv' has no attribute {name!r}")
