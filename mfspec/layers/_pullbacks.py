"""The neuron half of eq. 39's backward, shared by every layer kind (``mfspec.layers.base``).

The limit's rates (``mfspec.limit.formal``) need, at the head, ŷ (B, k) and — given the per-sample
direction e (B, k), s_b ∂_2L for the rates — Σ_b ⟨e, Δ_{θ,L}⟩ (M, q) and ⟨e, Δ_{H,L}⟩ (B, M),
scaled as in ``mfspec.layers.base`` (the readout's π is not applied).

**Heads linear in their output weights.** When σ_L(θ, h) = β φ(θ', h) with β ∈ R^k a part of θ
(``Activation.output_weights``; ``mf.head``'s β φ(h + b)), all of it is matrix products:

    ŷ = (φ ⊙ π) β + b_out,    Σ_b ⟨e, Δ_β⟩ = φᵀ e,    c = e βᵀ,
    ⟨e, Δ_{H,L}⟩ = c ⊙ ∂_hφ,   Σ_b ⟨e, Δ_θ'⟩ = Σ_b c ⊙ ∇_θ'φ        (one VJP of the scalar φ).

The generic path pulls σ's k outputs back as k separate (B, M) arrays, which is slow for a head with
many outputs (bench/README.md, "Why the code is written so"). The two paths agree to roundoff
(tests/test_head.py). The finite network's forward keeps the generic readout, so trained curves are
unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def summed_pullback(act, theta, h, cotangents):
    """σ(θ, h), Σ_b ⟨cot, ∇_θσ⟩ and ⟨cot, ∂_hσ⟩ per sample: one vector-Jacobian product.

    The neuron half of the backward step of eq. 39 at any layer: with B_ℓ as cotangent it gives
    Σ_b Δ_{θ,ℓ} and the per-sample Δ_{H,ℓ} without forming ∇_θσ per sample; at the last layer,
    with s_b ∂_2L, those of Δ_{θ,L} and Δ_{H,L}.

    Arguments:
        act: σ (an ``mf.Activation``); theta: (M, q); h: (B, M).
        cotangents: one array per output of σ (k of them), each broadcastable to (B, M).

    Returns:
        σ's outputs (a k-tuple of (B, M)), Σ_b cot ∇_θσ (M, q) and cot ∂_hσ (B, M).
    """
    # The last layer's k outputs stay separate (B, M) arrays: its pullback to θ is then k fused
    # multiply-reductions; through the stacked (B, M, k) output it was 10× slower on XLA:CPU.
    out, pull = jax.vjp(act.components, theta, h)
    g_theta, g_h = pull(tuple(jnp.broadcast_to(c, h.shape) for c in cotangents))
    return out, g_theta, g_h


def batch_contraction(d_h, a):
    """Σ_b d_h[b, j] a[b, i], shape (M, M'): a weight rate Σ_b Δ_{H}(x_b) a(x_b)ᵀ (eq. 39).

    Computed as (aᵀ d_h)ᵀ with a barrier before the small final transpose: d_h and a are batch-major
    (B, ·), and XLA:CPU's dot that contracts them over b and writes (M, M') directly is slower
    (bench/README.md, "Why the code is written so").
    """
    return jax.lax.optimization_barrier(a.T @ d_h).T


def head_pullback(kind, state, h, readout, out_bias):
    """ŷ (B, k) and ``pull``: e (B, k) ↦ (Σ_b ⟨e, Δ_{θ,L}⟩ (M, q), ⟨e, Δ_{H,L}⟩ (B, M)).

    Arguments:
        kind: the last layer's kind (its ``act`` is σ_L); state: its ``LayerState``; h: H_L (B, M).
        readout: the spec's ``Readout``; out_bias: b_out (k,).
    """
    split = kind.act.output_weights
    if split is None:
        out = kind.activate(state, h)

        def pull(e):
            _, g_theta, d_h = summed_pullback(kind.act, state.theta, h, readout.cotangents(e))
            return g_theta, d_h

        return readout.forward(out, state.mix, out_bias), pull
    beta_idx, phi_act = split
    q = state.theta.shape[-1]
    rest_idx = [i for i in range(q) if i not in beta_idx]
    beta, rest = state.theta[:, list(beta_idx)], state.theta[:, rest_idx]
    phi, phi_pull = jax.vjp(lambda th, hh: phi_act.components(th, hh)[0], rest, h)
    yhat = (phi * jnp.asarray(state.mix, phi.dtype)) @ beta + out_bias

    def pull(e):
        c = e @ beta.T
        g_rest, d_h = phi_pull(c)
        g_theta = jnp.zeros_like(state.theta)
        g_theta = g_theta.at[:, list(beta_idx)].set(phi.T @ e)
        return g_theta.at[:, rest_idx].set(g_rest), d_h

    return yhat, pull
