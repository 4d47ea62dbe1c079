"""Checks of the generated systems on a user's spec (``mfspec verify``).

check_e1(spec)          E1: the JAX formal system on a finite network's empirical measure
                        reproduces ŷ, the scaled gradients and the full-batch step (float64)
check_eulerian(spec)    the Eulerian G_ℓ's D_2 f term by finite differences (smooth σ, L ≥ 3)
verify(spec)            every check, E2 / JAX-vs-SymPy / MF scaling included → ``Report``
"""

from mfspec.checks.e1 import check_e1, e1_residuals
from mfspec.checks.eulerian import check_eulerian, eulerian_residuals
from mfspec.checks.verify import verify

__all__ = ["check_e1", "check_eulerian", "e1_residuals", "eulerian_residuals", "verify"]
