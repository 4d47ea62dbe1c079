"""What every layer kind shares: one layer's block of the state, and the neuron's own σ_ℓ(θ, h).

A layer ℓ of neurons (docs/formal_system.md sec. 1) has an *incoming connection* from layer ℓ−1
(or from the input x) and, per neuron, a parameter θ ∈ R^q and an activation σ_ℓ(θ, h). The
connection is what distinguishes the kinds (``Input``: h = ⟨w, x⟩; ``Dense``: h = Σ π' W σ_{ℓ−1};
``Local``: h = Σ π' σ*(w, σ_{ℓ−1})); the neuron part is common and lives here.

**One state type.** ``LayerState`` holds a layer's arrays for the finite network *and* for the
particle discretization of the limit: a finite network is the particle system whose weights are
uniform, π = 1/n (``pi=None``). So the forward pass is literally the same code for both systems,
and identity E1 (docs/formal_system.md sec. 4) is a statement about the backward only.

**Scaled cotangents.** The limit's backward (the Δ's of eq. 39) is reverse-mode differentiation
divided by the particle weights: a layer receives ⟨cot, Δ⟩ for its outputs *without* its own π,
and hands the previous layer its B_{ℓ−1} the same way. Nothing is ever divided by a weight, so a
particle of weight 0 (the test neurons of the Eulerian check) or a tiny Gauss–Hermite tail weight
is handled exactly.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from mfspec.act import Activation


class LayerState(eqx.Module):
    """One layer's arrays: a finite layer of n neurons, or M particles with weights.

    Fields:
        w: the incoming weights of each neuron: (M, d) for the input layer, (M, M') for a dense
            layer (``W_ℓ`` at finite n, ``F_ℓ[j, i] = f_{ℓ,j}(particle i of layer ℓ−1)`` in the
            limit), (M, M', R, s) for a local operation (R noise nodes; R = 1 at finite n).
        theta: θ of each neuron, (M, q).
        pi: particle weights (M,), summing to 1; ``None`` for a finite network (π = 1/n, applied as
            a scalar).
        omega: the noise-node weights ϖ (R,) of a local layer's w; ``None`` for one node.

    ``pi`` and ``omega`` are constant in time: the limit solver never moves them.
    """

    w: jax.Array
    theta: jax.Array
    pi: jax.Array | None = None
    omega: jax.Array | None = None

    @property
    def size(self) -> int:
        """M (or n), the number of neurons or particles."""
        return int(self.theta.shape[-2])

    @property
    def mix(self):
        """π as the forward pass uses it: the scalar 1/n of a finite layer, or the weight vector."""
        return 1.0 / self.size if self.pi is None else self.pi

    def moving(self) -> tuple[jax.Array, jax.Array]:
        """The arrays that train / evolve: (w, θ)."""
        return self.w, self.theta

    def with_moving(self, w, theta) -> LayerState:
        return LayerState(w, theta, self.pi, self.omega)

    def weights_like(self) -> jax.Array:
        """π (M,) as an array (1/M for a finite layer), for code that needs it per particle."""
        if self.pi is not None:
            return self.pi
        return jnp.full((self.size,), 1.0 / self.size, self.theta.dtype)


def summed_pullback(act: Activation, theta, h, cotangents):
    """σ(θ, h), Σ_b ⟨cot, ∇_θσ⟩ and ⟨cot, ∂_hσ⟩ per sample: one vector-Jacobian product.

    The neuron half of the backward step of eq. 39 at any layer: with B_ℓ as cotangent it gives
    Σ_b Δ_{θ,ℓ} and the per-sample Δ_{H,ℓ} without forming ∇_θσ per sample; at the last layer,
    with s_b ∂_2L, those of Δ_{θ,L} and Δ_{H,L}.

    Arguments:
        theta: (M, q); h: (B, M).
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

    Computed as (aᵀ d_h)ᵀ with a barrier before the small final transpose. d_h and a are
    batch-major (B, ·); XLA:CPU's dot that contracts them over b and writes (M, M') directly ran at
    a third of its speed (digits rates call, bench/bench_rates_peak.py: 13.6 → 6.8 ms with it).
    """
    return jax.lax.optimization_barrier(a.T @ d_h).T


class LayerKind(eqx.Module):
    """A kind of layer: everything about one layer in one place (abstract).

    Subclasses (``Input``, ``Dense``, ``Local``) hold the declaration — the neuron's σ_ℓ(θ, h)
    (``act``) and, once a ``Spec`` has bound them, the init laws of θ and of the incoming weights —
    and implement, for their connection:

    - the finite network: ``init`` (draw the layer), ``weight_factor`` (the MF factor of Sec. 3.1);
    - both systems: ``preactivation`` (h from the previous layer's outputs and weights π');
    - the limit: ``weight_pullback`` (the Δ_W rate and B_{ℓ−1}), ``particles`` (discretization);
    - the symbolic system: ``sym_*`` (the tiny-width network, the Δ recursion, the MF-scaling
      clone construction and the printed equations).

    θ's MF factor is n_ℓ and both θ_ℓ and the incoming weights take layer ℓ's schedule ξ_ℓ (eq.
    13-15), for every kind.
    """

    # Subclasses declare the fields ``act`` (σ_ℓ), ``theta_law`` and ``weight_law`` (both None
    # until a ``Spec`` binds them); their order is the subclass's own (a local layer leads with σ*).

    #: Whether this kind reads the input x (layer 1) rather than a previous layer.
    reads_input = False
    #: Short name used in messages and printouts.
    kind_name = "layer"

    @property
    def q(self) -> int:
        return self.act.q

    @property
    def k(self) -> int:
        return self.act.k

    def bind(self, theta_law, weight_law):
        """This layer with its init laws (``Spec`` resolves ``init`` and binds each layer's)."""
        import dataclasses

        return dataclasses.replace(self, theta_law=theta_law, weight_law=weight_law)

    def check_weight_law(self, where: str, q_prev: int | None = None) -> None:
        """Raise if ``weight_law`` cannot initialize this kind's weights."""

    def exprs(self) -> tuple:
        """Every SymPy expression of the layer (σ_ℓ's outputs; σ* too for a local operation)."""
        return self.act.exprs

    def map_exprs(self, fn):
        """This layer with ``fn`` applied to its expressions (kink smoothing for E2)."""
        import dataclasses

        return dataclasses.replace(self, act=self.act.map(fn))

    def describe(self) -> dict:
        """A JSON description of the layer (results.json)."""
        act = self.act
        return {
            "kind": self.kind_name,
            "sigma": [str(e) for e in act.exprs],
            "sigma_latex": act.latex(),
            "theta": [str(s) for s in act.theta],
            "roles": list(act.roles),
            "q": act.q,
            "k": act.k,
        }

    def eq_activations(self, ell: int, Call) -> list[tuple]:
        """Printed rows (lhs, rhs, note) of σ_ℓ, ∂_hσ_ℓ and ∇_θσ_ℓ (``mfspec equations``)."""
        import sympy as sp

        act = self.act
        exprs = sp.Matrix(act.exprs) if act.k > 1 else act.exprs[0]
        rows = [(Call(f"sigma_{ell}", [*act.theta, act.h]), exprs, f"{act.name}, q = {act.q}, k = {act.k}")]
        dh = sp.Matrix([sp.diff(e, act.h) for e in act.exprs]) if act.k > 1 else sp.diff(act.exprs[0], act.h)
        rows.append((Call(f"partial_h sigma_{ell}", [*act.theta, act.h]), dh, ""))
        if act.q:
            grad = sp.Matrix([[sp.diff(e, s) for e in act.exprs] for s in act.theta])
            rows.append((Call(f"nabla_theta sigma_{ell}", [*act.theta, act.h]), grad, "q × k"))
        return rows

    # ---- the neuron: σ_ℓ(θ, h) ---------------------------------------------------------------

    def activate(self, state: LayerState, h):
        """σ_ℓ(θ, h): (B, M), or (B, M, k) for a k-output last layer."""
        return self.act(state.theta, h)

    def neuron_pullback(self, state: LayerState, h, back):
        """(Σ_b ⟨B_ℓ, ∇_θσ_ℓ⟩ (M, q), ⟨B_ℓ, ∂_hσ_ℓ⟩ per sample) for B_ℓ = ``back``: the neuron half of
        eq. 39's backward at a layer ℓ < L (``summed_pullback``; a kind whose σ is not pointwise in h,
        a pooled convolution, overrides it)."""
        _, g_theta, d_h = summed_pullback(self.act, state.theta, h, (back,))
        return g_theta, d_h

    def head_pullback(self, state: LayerState, h, readout, out_bias):
        """ŷ and the start of eq. 39's backward when this is the last layer (``mfspec.layers._head``)."""
        from mfspec.layers._head import head_pullback  # _head builds on this module

        return head_pullback(self, state, h, readout, out_bias)

    # ---- to implement per kind --------------------------------------------------------------

    def weight_factor(self, n: int, n_prev: int) -> float:
        raise NotImplementedError

    def init(self, key_w, key_theta, n: int, prev_theta, input_dim: int, dtype) -> LayerState:
        raise NotImplementedError

    def preactivation(self, state: LayerState, inputs, prev_mix):
        raise NotImplementedError

    def weight_pullback(self, state: LayerState, inputs, prev_mix, d_h):
        raise NotImplementedError

    def particles(self, resolution, prev: LayerState | None, ctx) -> LayerState:
        raise NotImplementedError
