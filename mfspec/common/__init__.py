"""Helpers shared by every part of mfspec and depending on none of it: input validation, warnings,
SymPy → JAX, seed-wise products, interrupts, and the processes of a multi-process job."""
