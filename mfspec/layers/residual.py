"""The residual (skip) connection (ℓ ≥ 2): h_ℓ = h_{ℓ−1} + κ (1/n_{ℓ−1}) W_ℓ σ_{ℓ−1}, then σ_ℓ(θ, h_ℓ).

Not in the paper; its limit is derived in docs/formal_system.md sec. 9. Neuron j of layer ℓ continues
neuron j of layer ℓ−1 (n_ℓ = n_{ℓ−1}); κ is a fixed constant (1, or 1/L for a depth-scaled stack).

| system    | rule                                                                                      |
|-----------|-------------------------------------------------------------------------------------------|
| finite    | h_ℓ[j] = h_{ℓ−1}[j] + κ (1/n_{ℓ−1}) Σ_i W_ℓ[j, i] a_i; SGD factors n_ℓ n_{ℓ−1} (W_ℓ), n_ℓ (θ_ℓ) |
| limit     | H_ℓ(c) = H_{ℓ−1}(c) + κ E_{c'}[f_ℓ(c, c') σ_{ℓ−1}(θ(c'), H_{ℓ−1}(c'))], c a column;        |
|           | Δ_{H,ℓ−1}(c) = Δ_{H,ℓ}(c) + κ ∂_hσ_{ℓ−1}(c) E_{c''}[Δ_{H,ℓ}(c'') f_ℓ(c'', c)];               |
|           | θ_{ℓ−1}'s rate has the branch term only; G_{f,ℓ} = κ × the dense layer's                    |
| particles | one particle per *column* c = (the chain's base particle, θ of every residual layer): the  |
|           | layer below's particles × θ_ℓ's nodes, and the layers below in the chain split alike     |
|           | (``mfspec.limit.particles``); F_ℓ = the kernel mean on every pair (its noise drops out)   |
| symbolic  | h_ℓ[j] = h_{ℓ−1}[j] + κ π' Σ_i W_ℓ[j, i] a_i                                               |

**Why a column is the particle.** Neuron j of layer ℓ−1 has one child, neuron j of layer ℓ, and
the skip hands it that child's Δ_{H,ℓ}(j), which depends on the child's θ_ℓ: the parent's incoming
weights (and, down the chain, every lower neuron of the column) move with the θ's above it. So the
state of every layer of a residual chain is a function of the whole column, and the particles of
the chain are the product of the base's particles with each residual layer's θ nodes; averaging
Δ_{H,ℓ} over θ_ℓ given the parent would be the limit of no network (docs/formal_system.md sec. 9).
With an atomic θ_ℓ (deterministic biases) the column is the base particle itself.

**No collapse.** Under iid init a plain deep MF net collapses layers 2..L−1 to one particle (Nguyen &
Pham, arXiv 2001.11443); with the skip, H_ℓ(c) inherits layer 1's diversity through H_1(c), so every
residual layer keeps M_1 particles (times its θ nodes) and an (M_ℓ, M_{ℓ−1}) weight array.

**Checks.** E1 holds exactly (the finite net is the particle system with shared labels, π = 1/n).
κ = 0 is a copy of the layer below into σ_ℓ; W_ℓ ≡ 0 is the net without the branch. The Eulerian
G_ℓ of Sec. 3.2 is not defined (f_ℓ's argument includes the neuron's own lower state): the Eulerian
check says so (``mfspec.checks.eulerian``), and the radial reduction is refused at layer 2.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import sympy as sp

from mfspec.act import Activation
from mfspec.common.validate import finite_number
from mfspec.init import Kernel, Law
from mfspec.layers._quadrature import Discretization, theta_particles
from mfspec.layers.base import Back, Draw, LayerKind, LayerState, Upstream
from mfspec.layers.dense import (
    dense_pullback,
    draw_kernel_layer,
    mix_matmul,
    sym_dense_clones,
    sym_dense_pullback,
    sym_dense_sum,
)

__all__ = ["Residual"]


class Residual(LayerKind):
    """Layer ℓ ≥ 2 with a skip connection: h_ℓ = h_{ℓ−1} + κ (1/n_{ℓ−1}) W_ℓ σ_{ℓ−1}(Θ_{ℓ−1}, h_{ℓ−1}).

    Arguments:
        act: σ_ℓ(θ, h) of this layer's neurons, e.g. ``mf.layer(mf.act.tanh)`` or, as the last
            layer, ``mf.head(...)``.
        scale: κ, the branch's constant factor (1; 1/L for a depth-scaled stack; 0 copies the layer
            below).
        theta_law, weight_law: the law of θ_ℓ and the ``mf.init.Kernel`` of W_ℓ's entries (bound by
            ``Spec`` from its ``init``; leave them out).
    """

    act: Activation
    scale: float = 1.0
    theta_law: Law | None = None
    weight_law: Kernel | None = None

    kind_name: ClassVar[str] = "residual"
    skips: ClassVar[bool] = True

    def __check_init__(self):
        finite_number(self.scale, "Residual.scale (κ)")

    @property
    def kappa(self) -> float:
        return float(self.scale)

    # ---- declaration -------------------------------------------------------------------------

    def check_weight_law(self, where: str, q_prev: int | None) -> None:
        if not isinstance(self.weight_law, Kernel):
            raise TypeError(f"{where}: a residual layer's weights need an mf.init.Kernel (its conditional "
                            f"mean is what enters the limit), got {self.weight_law!r}")  # fmt: skip
        self.weight_law.check(1, where, self.q, q_prev)

    def check_width(self, n: int, n_prev: int | None, where: str) -> None:
        if n != n_prev:
            raise ValueError(
                f"{where} is residual: neuron j continues neuron j of the layer below, so n_ℓ = n_{{ℓ−1}}, "
                f"got n = {n} above a layer of {n_prev}"
            )

    def tied_width(self, n: int, n_prev: int | None) -> int:
        return n_prev

    def describe(self) -> dict:
        return {**super().describe(), "scale": self.kappa}

    # ---- finite network ----------------------------------------------------------------------

    def weight_factor(self, n, n_prev):
        """Sec. 3.1: W_ℓ's SGD step is scaled by n_ℓ n_{ℓ−1}, as for a dense layer (the skip has no parameter)."""
        return n * n_prev

    def init(self, draw: Draw, ell: int, n: int, prev: LayerState | None, dtype) -> LayerState:
        """θ_ℓ rows iid; W_ℓ[j, i] = mean(θ_j, θ'_i) + noise · N(0, 1), as for a dense layer."""
        return draw_kernel_layer(self, draw, ell, n, prev, dtype)

    # ---- both systems ------------------------------------------------------------------------

    def preactivation(self, state: LayerState, up: Upstream):
        """H_ℓ[b, c] = H_{ℓ−1}[b, c] + κ Σ_i π'_i F[c, i] a[b, i]: particle c of layer ℓ continues
        particle c of layer ℓ−1 (a column)."""
        return up.h + self.kappa * mix_matmul(up.a, up.mix, state.w)

    # ---- limit -------------------------------------------------------------------------------

    def weight_pullback(self, state: LayerState, up: Upstream, d_h):
        """The branch as a dense layer's times κ; the skip hands ⟨cot, Δ_{H,ℓ}(c)⟩ to H_{ℓ−1}(c) of
        the same column directly (scaled cotangents: the two particles have the same weight)."""
        g_w, back = dense_pullback(state, up.a, d_h * self.kappa)
        return g_w, Back(a=back.a, h=d_h)

    def particles(self, ctx: Discretization, prev: LayerState | None, ell: int) -> LayerState:
        """Layer ℓ−1's particles × θ_ℓ's nodes (``theta_particles``): particle c·R + r continues
        particle c of the layer below with θ node r, weight π_{ℓ−1,c} ϖ_r (the particle fold then
        splits the layers below in the chain alike, ``mfspec.limit.particles``); F_ℓ = the kernel
        mean on every pair."""
        nodes, varpi = theta_particles(self.theta_law, self.q, ell, ctx)
        theta = np.tile(nodes, (prev.size, 1))
        pi = (np.asarray(prev.pi, np.float64)[:, None] * varpi[None, :]).ravel()
        w = self.weight_law.mean_on(theta, prev.theta, ctx.dtype)
        as_ = lambda a: jnp.asarray(a, ctx.dtype)  # noqa: E731
        return LayerState(w, as_(theta), as_(pi))

    # ---- symbolic ----------------------------------------------------------------------------

    def _kappa(self):
        return sp.nsimplify(self.kappa)

    def weight_shape(self, n: int, n_prev: int) -> tuple[int, ...]:
        return (n, n_prev)

    def sym_weights(self, ell: int, n: int, n_prev: int):
        """Symbols W{ℓ}_{j}{i}: (n, n') nested tuples."""
        return tuple(tuple(sp.Symbol(f"W{ell}_{j}{i}", real=True) for i in range(n_prev)) for j in range(n))

    def sym_preactivation(self, w, up: Upstream):
        """h_ℓ[j] = h_{ℓ−1}[j] + κ π' Σ_i W_ℓ[j, i] a_i."""
        return tuple(h + self._kappa() * s for h, s in zip(up.h, sym_dense_sum(w, up)))

    def sym_pullback(self, w, up: Upstream, pi, d_h):
        """Δ_{W,ℓ}[j, i] = κ Δ_{H,ℓ}[j] a_i; B_{ℓ−1}[i] = κ π Σ_j W[j, i] Δ_{H,ℓ}[j]; the skip hands
        Δ_{H,ℓ}[i] itself to Δ_{H,ℓ−1}[i] (n_ℓ = n_{ℓ−1}, so the scaled cotangent carries over)."""
        k = self._kappa()
        delta, back = sym_dense_pullback(w, up, pi, [k * d for d in d_h])
        return delta, Back(a=back.a, h=tuple(d_h))

    def sym_clones(self, ell, marked: Upstream, clone: Upstream, width_prev, R):
        """As for a dense layer, plus the skip: the marked neuron of layer ℓ continues the marked one
        of layer ℓ−1, a clone a clone."""
        hm, hc, own, subs = sym_dense_clones(ell, marked, clone, width_prev, R)
        k = self._kappa()
        return marked.h + k * hm, clone.h + k * hc, own, subs

    # ---- printed equations -------------------------------------------------------------------

    def eq_network(self, ell, nt):
        """h_ℓ[j] = h_{ℓ−1}[j] + κ Σ_i W_ℓ[j, i] σ_{ℓ−1,i} / n_{ℓ−1}; B to layer ℓ−1; the scaled gradient."""
        i, j, k, kappa = nt.i, nt.j, nt.k, self._kappa()
        branch = sp.Sum(nt.W[ell][j, i] * nt.sig(ell - 1, i), (i, 1, nt.n[ell - 1])) / nt.n[ell - 1]
        fwd = (
            nt.h[ell][j],
            nt.h[ell - 1][j] + kappa * branch,
            f"ℓ = {ell}, residual (κ = {kappa}), n_{ell} = n_{ell - 1}",
        )
        back = kappa * sp.Sum(nt.W[ell][k, j] * nt.gh[ell][k], (k, 1, nt.n[ell])) / nt.n[ell]
        grad = (sp.IndexedBase(f"grad~_{{W_{ell}}} yhat")[j, i], kappa * nt.gh[ell][j] * nt.sig(ell - 1, i),
                f"= n_{ell} n_{ell - 1} ∂ŷ/∂W_{ell}[j,i]")  # fmt: skip
        return fwd, back, grad

    def eq_skip(self, ell, nt):
        """The skip's share of the scaled gradient at h_{ℓ−1}[j]: grad~_{h_ℓ} ŷ[j] itself."""
        return nt.gh[ell][nt.j]

    def eq_formal(self, ell, fs):
        """H_ℓ(c) = H_{ℓ−1}(c) + κ ∫ f σ_{ℓ−1} ρ_{ℓ−1}, B_{ℓ−1}, Δ_{W,ℓ}, G_{f,ℓ}, the Lagrangian df_ℓ/dt."""
        g, TH, THP, F, X, kappa = fs.prev_var(ell), fs.TH, fs.THP, fs.F, fs.X, self._kappa()
        integrand = fs.Call("f", [TH, g]) * fs.Call(f"sigma_{ell - 1}", [TH, fs.H(ell - 1, g)])
        fwd = (fs.H(ell, F), fs.H(ell - 1, fs.Var("c")) + kappa * fs.Rho(integrand, ell - 1, TH, g),
               f"ℓ = {ell}, residual: f carries its neuron's label c in layer ℓ−1 (docs/formal_system.md sec. 9)")  # fmt: skip
        v = fs.var(ell - 1)
        dH = fs.Call(f"Delta_{{H,{ell}}}", [THP, fs.G], [X])
        back = (fs.Call(f"B_{ell - 1}", [TH, v], [X]), kappa * fs.Rho(fs.Call("g", [TH, v]) * dH, ell, THP, fs.G),
                f"ℓ = {ell - 1}, the branch; the skip adds Delta_{{H,{ell}}} of the same column c")  # fmt: skip
        lhs = fs.Call(f"Delta_{{W,{ell}}}", [TH, F, THP, g], [X])
        delta = (lhs, kappa * fs.Call(f"Delta_{{H,{ell}}}", [TH, F], [X])
                 * fs.Call(f"sigma_{ell - 1}", [THP, fs.H(ell - 1, g)]))  # fmt: skip
        rate = (fs.Call(f"G_{{f,{ell}}}", [TH, F, THP, g]), fs.rate(lhs))
        return fwd, back, delta, rate, fs.f_evolution(ell)

    def eq_formal_skip(self, ell, fs):
        """The skip's share of Δ_{H,ℓ−1}(c): Δ_{H,ℓ}(c) of the same column c."""
        return fs.Call(f"Delta_{{H,{ell}}}", [fs.Var("c")], [fs.X])
