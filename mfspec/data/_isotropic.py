"""Isotropic Gaussians (Sec. 4.2.1, from MMN18): y ~ Unif{±1}, x | y ~ N(0, (1 + yΔ)² I_d)."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from mfspec.data._base import Batch, Dataset


class IsotropicGaussians(Dataset):
    """The two-class isotropic Gaussian task; no linear classifier beats chance on it.

    Arguments:
        dim: d, the input dimension (paper: 32).
        delta: Δ ∈ (0, 1) (paper: 0.4).
    """

    dim: int = eqx.field(static=True)
    delta: float = eqx.field(static=True)

    def __check_init__(self):
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"IsotropicGaussians.dim must be a positive int, got {self.dim!r}")
        if not (isinstance(self.delta, (int, float)) and math.isfinite(self.delta) and 0 < self.delta < 1):
            raise ValueError(f"IsotropicGaussians.delta must lie in (0, 1), got {self.delta!r}")

    @property
    def input_dim(self) -> int:
        return self.dim

    @property
    def outputs(self) -> int:
        return 1

    def minibatch(self, key: PRNGKeyArray, size: int, dtype=jnp.float32) -> Batch:
        ky, kx = jax.random.split(key)
        y = jnp.where(jax.random.bernoulli(ky, 0.5, (size, 1)), 1.0, -1.0).astype(dtype)
        x = (1.0 + self.delta * y) * jax.random.normal(kx, (size, self.dim), dtype)
        return x, y

    def radial_law(self):
        """The law of (y, |x|) as a mixture: [(y, scale, probability)] with |x| = scale · χ_d.

        Its presence tells the limit solver that x | y is rotation invariant (docs/formal_system.md sec. 3).
        """
        return [((1.0,), 1.0 + self.delta, 0.5), ((-1.0,), 1.0 - self.delta, 0.5)]

    def eval_sets(self, key: PRNGKeyArray, size: int, dtype=jnp.float32) -> dict[str, Batch]:
        return {"test": self.minibatch(key, size, dtype)}
