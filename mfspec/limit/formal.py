"""The formal limit system of paper eq. 39 (Sec. 3.2) in particle form, with its Lagrangian rates.

State: ``Particles`` (``mfspec.network``): per layer its weights w (F_ℓ for a dense layer), θ and
particle weights π (docs/formal_system.md sec. 3). For a batch of inputs x the forward pass is the
forward fold of ``mfspec.network.fold``; the backward (eq. 39, the Δ quantities) is its reverse
fold, each step contracted with one direction per sample (s_b ∂_2L for the rates):

    readout:  ⟨e, Δ_{•,L}⟩ starts from e = s_b ∂_2L(y_b, ŷ_b) (``LayerKind.head_pullback``: matrix
              products for a head β φ(θ', h), one (B, 1) cotangent per output of any other σ_L);
    layer ℓ:  its neurons (``LayerKind.neuron_pullback``: one vector-Jacobian product of σ_ℓ) give
              Σ_b ⟨e, Δ_{θ,ℓ}⟩ and ⟨e, Δ_{H,ℓ}⟩ per sample (plus a skip connection's share);
              its connection (``LayerKind.weight_pullback``) gives the weight rate Σ_b ⟨e, Δ_{W,ℓ}⟩
              and B_{ℓ−1}.

Rates (App. A eq. 48-52, Lagrangian form): ``G_• = −ξ_•(t) E_P⟨∂_2 L(y, ŷ(x)), Δ_•(x)⟩`` for
every moving coordinate (w, θ, b_out); π and the noise weights ϖ do not move.

On the empirical measure of a width-n network (π = 1/n, F = W) the Δ's are exactly its scaled
gradients ∇̃ŷ and the G's its full-batch scaled gradient step per unit time (E1, checked by
``mfspec.checks.e1`` for every layer kind): the backward is reverse-mode differentiation of the
forward divided by the particle weights, written per kind so that each paper quantity can be
inspected and no weight is ever divided by.

The expectation over P is a weighted sum over a ``WeightedBatch``; a different representation of P
(e.g. a symmetry-reduced quadrature) plugs in by passing a different batch.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from mfspec.finite.curves import evaluate
from mfspec.loss import Loss
from mfspec.lr import Schedule
from mfspec.network.particles import Particles


class WeightedBatch(eqx.Module):
    """A discrete representation of the data law P: E_P[φ] ≈ Σ_b weights[b] φ(x_b, y_b).

    Fields:
        x: (B, d); y: (B, k); weights: (B,), summing to 1.
    """

    x: jax.Array
    y: jax.Array
    weights: jax.Array

    @classmethod
    def uniform(cls, x, y, dtype=None) -> WeightedBatch:
        dtype = dtype or jnp.result_type(x)
        x, y = jnp.asarray(x, dtype), jnp.asarray(y, dtype)
        if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
            raise ValueError(f"WeightedBatch: need x (B, d) and y (B, k), got {x.shape} and {y.shape}")
        return cls(x, y, jnp.full((x.shape[0],), 1.0 / x.shape[0], dtype))


class FormalSystem(eqx.Module):
    """The formal system of eq. 39 for one architecture: its Lagrangian rates and metrics.

    The layer kinds travel with the state (``Particles.kinds``); the system adds what the
    dynamics needs besides: the loss, and the schedules ξ_ℓ(t) (``LearningRate.for_layers``),
    where ξ_ℓ multiplies the rates of θ_ℓ and of layer ℓ's incoming weights, as in SGD (eq. 13-15),
    and ξ_out that of b_out.
    """

    loss: Loss
    schedules: tuple[Schedule, ...]
    out_schedule: Schedule

    @classmethod
    def from_spec(cls, spec) -> FormalSystem:
        return cls(
            loss=spec.loss,
            schedules=spec.lr.for_layers(spec.num_layers),
            out_schedule=spec.lr.for_output_bias(),
        )

    def forward(self, p: Particles, x, *, with_preactivations: bool = False):
        """ŷ(x; ρ) (eq. 39) for x of shape (B, d): (B, k) (and [H_1..H_L], each (B, M_ℓ))."""
        return p(x, with_preactivations=with_preactivations)

    def loss_grad(self, y, yhat):
        """∂_2 L(y, ŷ) per sample, (B, k)."""
        return jax.grad(lambda yh: jnp.sum(self.loss(y, yh)))(yhat)

    def pullback(self, p: Particles, x, cotangent) -> Particles:
        """Σ_b ⟨cot_b, Δ_•(x_b)⟩ for every moving coordinate, as a ``Particles``-shaped pytree.

        ``cotangent`` maps ŷ (B, k) to the per-sample direction (B, k) (s_b ∂_2L for the rates; e_c
        at one sample for the Δ's themselves). The reverse fold of the module docstring; the rate
        of b_out is Σ_b cot_b.
        """
        return p.pullback(x, cotangent)

    def gradients(self, p: Particles, batch: WeightedBatch) -> Particles:
        """E_P⟨∂_2 L, Δ_•⟩ for every coordinate (π and ϖ get 0)."""
        s = batch.weights
        # ∂_2 L with the sample weights folded in: the cotangent of the contraction.
        return self.pullback(p, batch.x, lambda yhat: self.loss_grad(batch.y, yhat) * s[:, None])

    def rates(self, t, p: Particles, batch: WeightedBatch) -> Particles:
        """The Lagrangian vector field (App. A eq. 48-52): each G_• = −ξ_•(t) E_P⟨∂_2 L, Δ_•⟩ at time t."""
        g = self.gradients(p, batch)
        t = jnp.asarray(t, p.dtype)
        layers = tuple(
            s.with_moving(-xi(t) * s.w, -xi(t) * s.theta) for xi, s in zip(self.schedules, g.layers)
        )
        return Particles(layers, -self.out_schedule(t) * g.out_bias, p.kinds, p.readout)

    def __call__(self, t, p: Particles, batch: WeightedBatch) -> Particles:
        """Diffrax's ``ODETerm`` signature: (t, y, args) → dy/dt."""
        return self.rates(t, p, batch)

    def evaluate(self, p: Particles, eval_sets: dict):
        """[loss, error] on each evaluation set, in ``mfspec.metric_names`` order (train, test)."""
        cast = {k: (jnp.asarray(x, p.dtype), jnp.asarray(y, p.dtype)) for k, (x, y) in eval_sets.items()}
        return evaluate(p, self.loss, cast)
