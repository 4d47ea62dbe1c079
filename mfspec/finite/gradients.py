"""The finite network's loss and scaled gradients (paper Sec. 3.1, eq. 13-15).

The network itself is ``mfspec.network.Particles`` with uniform weights (``mf.MFNetwork``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

__all__ = ["batch_loss", "scaled_gradients"]


def batch_loss(net, loss, x: Real[ArrayLike, "batch d"], y: Real[ArrayLike, "batch k"]) -> Float[Array, ""]:
    """Minibatch-mean loss (the quantity plain SGD differentiates, eq. 13-15), for any network:
    inputs x (B, d), labels y (B, k)."""
    return jnp.mean(loss(y, net(x)))


def scaled_gradients(net, loss, x: Real[ArrayLike, "batch d"], y: Real[ArrayLike, "batch k"]):
    """∇̃ of the minibatch-mean loss (Sec. 3.1): each array's gradient times its MF factor.

    In the structure of ``net.params()``: for an ``MFNetwork`` ((n_1 ∇_W1, n_1 ∇_Θ1), ...,
    (n_ℓ n_{ℓ-1} ∇_Wℓ, n_ℓ ∇_Θℓ), ...), ∇_bout.
    """
    grads = jax.grad(lambda p: batch_loss(net.with_params(p), loss, x, y))(net.params())
    return jax.tree.map(lambda g, s: g * s, grads, net.mf_scales())
