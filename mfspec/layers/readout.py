"""The head's readout: ŷ = Σ_j π_{L,j} σ_L(θ_{L,j}, h_{L,j}) + b_out (paper eq. 38 and 39).

| system    | rule                                                                                  |
|-----------|---------------------------------------------------------------------------------------|
| finite    | ŷ = (1/n_L) Σ_j σ_L(θ_j, h_{L,j}) + b_out; b_out takes its plain gradient (factor 1)   |
| limit     | ŷ(x; ρ) = ∫ σ_L(θ, H_L(f; x)) ρ_L(dθ, df) + b_out; G_b = −ξ_out E_P[∂_2L]             |
| particles | b_out starts at its law's mean: a random b_out is one global number that never         |
|           | averages out, so such a network has no deterministic limit (use ``tau_out=0``)         |
| symbolic  | ŷ_c = π Σ_j σ_{L,c}(θ_j, h_j) + b_out,c                                                 |

The last layer's σ_L may have k outputs (β φ(h + b) with β ∈ R^k: ``mf.head``): the readout
averages each of them over the layer's neurons.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import sympy as sp

from mfspec.common.seedwise import seedwise
from mfspec.init import Atom, Law, Normal

__all__ = ["Readout"]


@seedwise
def _weighted_sum(out, pi):
    """Σ_n out[b, n, k] π_n, rounded as for one seed when seeds are batched (``mfspec.common.seedwise``)."""
    return jnp.einsum("bnk,n->bk", out, pi)


class Readout(eqx.Module):
    """ŷ = mean over the last layer's neurons of σ_L, plus an optional global bias b_out.

    Arguments:
        bias: whether ŷ has the trained bias b_out (Sec. 4.2.1's b_{L+1}); without it b_out is 0
            and frozen (its MF factor is 0).
        law: the law of each entry of b_out (bound by ``Spec`` from its ``init``).
    """

    bias: bool = True
    law: Law = Atom(0.0)

    @property
    def factor(self) -> float:
        """b_out's SGD factor: its plain gradient (1), or 0 when it is frozen."""
        return 1.0 if self.bias else 0.0

    def init(self, key, k: int, dtype):
        """b_out drawn from its law (zeros without a bias)."""
        if not self.bias:
            return jnp.zeros((k,), dtype)
        return self.law.sample(key, k, 1).reshape(k).astype(dtype)

    def forward(self, out, mix, b):
        """ŷ (B, k) from the last layer's outputs ``out`` (B, M) or (B, M, k) and its weights π."""
        if out.ndim == 2:
            out = out[..., None]
        pi = jnp.broadcast_to(jnp.asarray(mix, out.dtype), (out.shape[1],))
        return _weighted_sum(out, pi) + b

    def cotangents(self, e):
        """The last layer's output cotangents from ⟨cot, ·⟩ at ŷ, e (B, k): one (B, 1) per output,
        shared by all neurons (scaled: the readout's π is not applied)."""
        return tuple(e[:, c, None] for c in range(e.shape[1]))

    def bias_rate(self, e):
        """Σ_b e_b: the (unscaled) gradient of b_out; 0 when it is frozen."""
        g = jnp.sum(e, axis=0)
        return g if self.bias else jnp.zeros_like(g)

    def particles(self, k: int, key, dtype):
        """b_out at t = 0 in the limit: its law's mean (a Normal), or one draw of a user sampler."""
        if not self.bias:
            return jnp.zeros((k,), dtype)
        if isinstance(self.law, Normal):
            return jnp.broadcast_to(jnp.asarray(self.law.mean[0], dtype), (k,))
        return jnp.asarray(self.law.sample(key(), k, 1), dtype).reshape(k)

    @property
    def random(self) -> bool:
        """Whether b_out has a non-atomic law (then the network has no deterministic limit)."""
        return self.bias and not self.law.is_atom

    # ---- symbolic --------------------------------------------------------------------------

    def sym_bias(self, k: int):
        return tuple(sp.Symbol(f"bout_{o}", real=True) for o in range(k)) if self.bias else (sp.S.Zero,) * k

    def sym_forward(self, outs, pi, b):
        """ŷ_c = π Σ_j σ_{L,c}(θ_j, h_j) + b_c for k-tuples ``outs`` (one per neuron)."""
        return tuple(pi * sum((o[c] for o in outs), sp.S.Zero) + b[c] for c in range(len(b)))
