"""The finite network's loss and scaled gradients (paper Sec. 3.1, eq. 13-15).

The network itself is ``mfspec._state.Particles`` with uniform weights (``mf.MFNetwork``); any
network with the trainer's protocol (``mfspec._trainable``), e.g. the CNN, works here too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mfspec._state import MFNetwork, init_network

__all__ = ["MFNetwork", "batch_loss", "init_network", "params", "scaled_gradients", "with_params"]


def params(net):
    """The trainable arrays of a network (``net.params()``)."""
    return net.params()


def with_params(net, p):
    """``net`` with the trainable arrays ``p`` (``net.with_params(p)``)."""
    return net.with_params(p)


def batch_loss(net, loss, x, y):
    """Minibatch-mean loss (the quantity plain SGD differentiates, eq. 13-15), for any network."""
    return jnp.mean(loss(y, net(x)))


def scaled_gradients(net, loss, x, y):
    """∇̃ of the minibatch-mean loss (Sec. 3.1): each array's gradient times its MF factor.

    In the structure of ``net.params()``: for an ``MFNetwork`` ((n_1 ∇_W1, n_1 ∇_Θ1), ...,
    (n_ℓ n_{ℓ-1} ∇_Wℓ, n_ℓ ∇_Θℓ), ...), ∇_bout.
    """
    grads = jax.grad(lambda p: batch_loss(with_params(net, p), loss, x, y))(params(net))
    return jax.tree.map(lambda g, s: g * s, grads, net.mf_scales())
