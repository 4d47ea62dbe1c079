"""The forward pass shared by the finite network and the limit's particle system.

One rule serves both (MATH.md sec. 1 and 3): layer ℓ ≥ 2 sums over the previous layer with
mixing weights π_{ℓ-1},

    H_1 = X W_1ᵀ,    H_ℓ = (π_{ℓ-1} ⊙ σ_{ℓ-1}(Θ_{ℓ-1}, H_{ℓ-1})) W_ℓᵀ,    ŷ = Σ_j π_{L,j} σ_L(θ_{L,j}, H_{L,j}) + b_out.

The finite network (eq. 38) takes π_ℓ = 1/n_ℓ (a scalar); the limit (eq. 39, particle form) takes
the particle weights π_{ℓ,j} and F_ℓ in place of W_ℓ, where ``F_ℓ[j, i] = f_{ℓ,j}(θ_{ℓ-1,i}, f_{ℓ-1,i})``.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from mfspec.act import Activation


def forward(
    acts: Sequence[Activation],
    w1,
    thetas: Sequence,
    kernels: Sequence,
    out_bias,
    mix: Sequence,
    x,
    *,
    with_preactivations: bool = False,
):
    """ŷ(x) for a batch.

    Arguments:
        acts: σ_1..σ_L.
        w1: (n_1, d); thetas[ℓ-1]: (n_ℓ, q_ℓ); kernels[ℓ-2]: (n_ℓ, n_{ℓ-1}) for ℓ = 2..L.
        out_bias: (k,).
        mix: π_1..π_L, each a scalar (1/n_ℓ) or a weight vector (n_ℓ,).
        x: (B, d).

    Returns:
        ŷ of shape (B, k); with ``with_preactivations`` also [H_1..H_L], each (B, n_ℓ).
    """
    h = x @ w1.T
    hs = [h]
    for ell in range(1, len(acts)):
        a = acts[ell - 1](thetas[ell - 1], h)
        h = _mix_matmul(a, mix[ell - 1], kernels[ell - 1])
        hs.append(h)
    out = acts[-1](thetas[-1], h)  # (B, n_L) or (B, n_L, k)
    if out.ndim == 2:
        out = out[..., None]
    yhat = jnp.einsum("bnk,n->bk", out, _as_vector(mix[-1], out.shape[1], out.dtype)) + out_bias
    return (yhat, hs) if with_preactivations else yhat


def _mix_matmul(a, pi, kernel):
    # A scalar π is applied after the matmul: one multiply of a (B, n_ℓ) block, not of the input.
    # Written feature-major (W aᵀ)ᵀ: XLA:CPU picks faster dot layouts for it, forward and backward
    # (bench/bench_train.py on the default spec: +28 % steps/s at n = 400, +6 % at n = 800).
    if jnp.ndim(pi) == 0:
        return (kernel @ a.T).T * pi
    return (a * pi) @ kernel.T


def _as_vector(pi, n, dtype):
    return jnp.broadcast_to(jnp.asarray(pi, dtype), (n,))
