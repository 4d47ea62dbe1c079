"""The last layer's neurons and the readout together: ŷ and the start of eq. 39's backward.

The limit's rates (``mfspec._formal``) need, at the head, ŷ (B, k) and — given the per-sample
direction e (B, k), s_b ∂_2L for the rates — Σ_b ⟨e, Δ_{θ,L}⟩ (M, q) and ⟨e, Δ_{H,L}⟩ (B, M),
scaled as in ``mfspec.layers._base`` (the readout's π is not applied).

**Heads linear in their output weights.** When σ_L(θ, h) = β φ(θ', h) with β ∈ R^k a part of θ
(``Activation.output_weights``; ``mf.head``'s β φ(h + b)), all of it is matrix products:

    ŷ = (φ ⊙ π) β + b_out,    Σ_b ⟨e, Δ_β⟩ = φᵀ e,    c = e βᵀ,
    ⟨e, Δ_{H,L}⟩ = c ⊙ ∂_hφ,   Σ_b ⟨e, Δ_θ'⟩ = Σ_b c ⊙ ∇_θ'φ        (one VJP of the scalar φ).

The generic path pulls σ's k outputs back as k separate (B, M) arrays; for the digits spec's
10-output head that was 2/3 of the rates call (bench/bench_rates_peak.py). The two paths agree to
roundoff (tests/test_head.py). The finite network's forward keeps the generic readout, so trained
curves are unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mfspec.layers._base import summed_pullback


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
