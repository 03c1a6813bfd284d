"""Worked solutions of the notebooks' exercises, one module per notebook (``s01``, ``s02``, ...)."""
