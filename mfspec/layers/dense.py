"""The dense layer (ℓ ≥ 2): h_ℓ = (1/n_{ℓ−1}) W_ℓ σ_{ℓ−1}, then σ_ℓ(θ, h_ℓ) (paper eq. 38 and 39).

| system    | rule                                                                                     |
|-----------|------------------------------------------------------------------------------------------|
| finite    | h_ℓ[j] = (1/n_{ℓ−1}) Σ_i W_ℓ[j, i] a_i; SGD factor n_ℓ n_{ℓ−1} (Sec. 3.1)                 |
| limit     | H_ℓ(f; x) = ∫ f(θ', g) σ_{ℓ−1}(θ', H_{ℓ−1}(g; x)) ρ_{ℓ−1}; Δ_{W,ℓ} = Δ_{H,ℓ} σ_{ℓ−1},     |
|           | B_{ℓ−1}(θ', g) = ∫ f(θ', g) Δ_{H,ℓ}(θ, f) ρ_ℓ, G_{f,ℓ} = −ξ_ℓ E_P⟨∂_2L, Δ_{W,ℓ}⟩            |
| particles | θ_ℓ: one atom (collapse), Gauss–Hermite grid or Sobol; F_ℓ[j, i] = the kernel's mean      |
| symbolic  | h_ℓ[j] = π Σ_i W_ℓ[j, i] a_i with π = 1/n_{ℓ−1}                                          |

**Why the noise of W_ℓ drops out of the limit** (docs/formal_system.md sec. 6): h_ℓ is affine in
the weight, so each weight moves by an amount that does not depend on its own initial noise, and
only the conditional mean of the initial weight — the kernel's ``mean`` — enters the forward pass.
The particles store F_ℓ[j, i] = f_{ℓ,j}(θ_{ℓ−1,i}, f_{ℓ−1,i}): f on the support of ρ_{ℓ−1} is all
the dynamics ever reads (Sec. 2.3).
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import sympy as sp

from mfspec.act import Activation
from mfspec.common.seedwise import seedwise
from mfspec.init import Kernel, Law
from mfspec.layers._pullbacks import batch_contraction
from mfspec.layers._quadrature import Discretization, theta_particles
from mfspec.layers.base import Back, Draw, LayerKind, LayerState, Upstream

__all__ = ["Dense"]


@seedwise
def _feature_major_matmul(a, w):
    """(W aᵀ)ᵀ: rounded as for one seed when seeds are batched (``mfspec.common.seedwise``)."""
    return (w @ a.T).T


def mix_matmul(a, pi, w):
    """Σ_i π_i w[j, i] a[b, i]: (B, M') × (M, M') → (B, M).

    A scalar π (a finite network's 1/n) is applied after the matmul: one multiply of a (B, M)
    block, not of the input. Written feature-major (W aᵀ)ᵀ: XLA:CPU picks faster dot layouts for
    it, forward and backward (bench/README.md, "Why the code is written so").
    """
    if jnp.ndim(pi) == 0:
        return _feature_major_matmul(a, w) * pi
    if w.shape[0] == 1:  # one particle (a collapsed layer): a weighted sum, fused with σ_{ℓ−1}
        return jnp.sum(a * (w[0] * pi), axis=-1, keepdims=True)
    return a @ (w * pi).T  # π on the (M, M') weights, not on the (B, M') activations


def draw_kernel_layer(kind: LayerKind, draw: Draw, ell: int, n: int, prev: LayerState, dtype) -> LayerState:
    """A finite layer whose weights come from a ``Kernel`` given both neurons' θ (dense, residual):
    θ_ℓ rows iid from the kind's law, then W_ℓ[j, i] = mean(θ_j, θ'_i) + noise · N(0, 1)."""
    theta = kind.theta_law.sample(draw.theta(ell), n, kind.q).astype(dtype)
    w = kind.weight_law.sample(draw.weights(ell), theta, prev.theta).astype(dtype)
    return LayerState(w, theta)


def dense_pullback(state: LayerState, a, d_h):
    """(Σ_b d_h aᵀ (M, M'), ``Back(a=(π ⊙ d_h) F)``): the backward of H = Σ_i π'_i F[:, i] a_i, shared
    by the kinds whose connection is this matrix product (dense, residual)."""
    if state.w.shape[0] == 1:  # one particle: reductions over b that XLA fuses with σ_{ℓ−1}
        return jnp.sum(d_h * a, axis=0, keepdims=True), Back(a=(d_h * state.mix) * state.w)
    return batch_contraction(d_h, a), Back(a=(d_h * state.mix) @ state.w)


def sym_dense_sum(w, up: Upstream) -> tuple:
    """π' Σ_i W[j, i] a_i for every j (symbolic)."""
    return tuple(sum((wi * ai for wi, ai in zip(row, up.a)), sp.S.Zero) * up.mix for row in w)


def sym_dense_pullback(w, up: Upstream, pi, d_h):
    """(Δ_W[j, i] = d_h[j] a_i, ``Back(a=[π Σ_j W[j, i] d_h[j]])``), symbolic."""
    delta = tuple(tuple(d * ai for ai in up.a) for d in d_h)
    back = tuple(pi * sum((w[j][i] * d_h[j] for j in range(len(w))), sp.S.Zero) for i in range(len(up.a)))
    return delta, Back(a=back)


def sym_dense_clones(ell, marked: Upstream, clone: Upstream, width_prev, R):
    """The marked/clone sums of a dense connection (see ``Dense.sym_clones``)."""
    a, b, c, om = (R(f"{p}{ell}") for p in "abcw")
    m = width_prev
    hm = (a * marked.a + (m - 1) * b * clone.a) / m
    hc = (c * marked.a + (m - 1) * om * clone.a) / m
    return hm, hc, [(f"W_{ell}[*,*]", a)], {a: om, b: om, c: om}


class Dense(LayerKind):
    """Layer ℓ ≥ 2 fully connected to layer ℓ−1: h_ℓ = (1/n_{ℓ−1}) W_ℓ σ_{ℓ−1}(Θ_{ℓ−1}, h_{ℓ−1}).

    Arguments:
        act: σ_ℓ(θ, h), e.g. ``mf.layer(mf.act.relu)`` or, as the last layer, ``mf.head(...)``.
        theta_law, weight_law: the law of θ_ℓ and the ``mf.init.Kernel`` of W_ℓ's entries (bound
            by ``Spec`` from its ``init``; leave them out).
    """

    act: Activation
    theta_law: Law | None = None
    weight_law: Kernel | None = None

    kind_name: ClassVar[str] = "dense"

    def check_weight_law(self, where: str, q_prev: int | None) -> None:
        if not isinstance(self.weight_law, Kernel):
            raise TypeError(
                f"{where}: a dense layer's weights need an mf.init.Kernel (its conditional mean is "
                f"what enters the limit), got {self.weight_law!r}"
            )
        self.weight_law.check(1, where, self.q, q_prev)

    # ---- finite network --------------------------------------------------------------------

    def weight_factor(self, n, n_prev):
        """Sec. 3.1: W_ℓ's SGD step is scaled by n_ℓ n_{ℓ−1}."""
        return n * n_prev

    def init(self, draw: Draw, ell: int, n: int, prev: LayerState | None, dtype) -> LayerState:
        """θ_ℓ rows iid; W_ℓ[j, i] = mean(θ_j, θ'_i) + noise · N(0, 1) (Sec. 3.2's prediction statement)."""
        return draw_kernel_layer(self, draw, ell, n, prev, dtype)

    # ---- both systems ----------------------------------------------------------------------

    def preactivation(self, state: LayerState, up: Upstream):
        """H_ℓ[b, j] = Σ_i π'_i F[j, i] a[b, i]."""
        return mix_matmul(up.a, up.mix, state.w)

    def weight_pullback(self, state: LayerState, up: Upstream, d_h):
        """Σ_b ⟨cot, Δ_{W,ℓ}⟩ = (cot Δ_{H,ℓ})ᵀ a (M, M') and B_{ℓ−1} = (π ⊙ cot Δ_{H,ℓ}) F (B, M')."""
        return dense_pullback(state, up.a, d_h)

    def particles(self, ctx: Discretization, prev: LayerState | None, ell: int) -> LayerState:
        """θ_ℓ by ``theta_particles`` (collapse, Gauss–Hermite, Sobol, MC); F_ℓ = the kernel mean
        on the particles (the noise is dropped: see the module docstring)."""
        th, pi = theta_particles(self.theta_law, self.q, ell, ctx)
        w = self.weight_law.mean_on(th, prev.theta, ctx.dtype)
        as_ = lambda a: jnp.asarray(a, ctx.dtype)  # noqa: E731
        return LayerState(w, as_(th), as_(pi))

    # ---- symbolic --------------------------------------------------------------------------

    def weight_shape(self, n: int, n_prev: int) -> tuple[int, ...]:
        """The shape of a finite layer's w (``n_prev`` is d for the input layer)."""
        return (n, n_prev)

    def sym_weights(self, ell: int, n: int, n_prev: int):
        """Symbols W{ℓ}_{j}{i}: (n, n') nested tuples."""
        return tuple(tuple(sp.Symbol(f"W{ell}_{j}{i}", real=True) for i in range(n_prev)) for j in range(n))

    def sym_preactivation(self, w, up: Upstream):
        """h_ℓ[j] = π' Σ_i W_ℓ[j, i] a_i."""
        return sym_dense_sum(w, up)

    def sym_pullback(self, w, up: Upstream, pi, d_h):
        """Δ_{W,ℓ}[j, i] = Δ_{H,ℓ}[j] a_i and B_{ℓ−1}[i] = π Σ_j W[j, i] Δ_{H,ℓ}[j] (one channel)."""
        return sym_dense_pullback(w, up, pi, d_h)

    def sym_clones(self, ell, marked: Upstream, clone: Upstream, width_prev, R):
        """Marked neuron j* and clones of layers ℓ and ℓ−1: entries a = W[*, *], b = W[*, ·],
        c = W[·, *], ω = W[·, ·]; a sum over layer ℓ−1 is marked + (n_{ℓ−1} − 1) × clone."""
        return sym_dense_clones(ell, marked, clone, width_prev, R)

    # ---- printed equations -----------------------------------------------------------------

    def eq_network(self, ell, nt):
        """h_ℓ[j] = Σ_i W_ℓ[j, i] σ_{ℓ−1,i} / n_{ℓ−1}; B to layer ℓ−1; the scaled gradient of W_ℓ."""
        i, j, k = nt.i, nt.j, nt.k
        fwd = (nt.h[ell][j], sp.Sum(nt.W[ell][j, i] * nt.sig(ell - 1, i), (i, 1, nt.n[ell - 1])) / nt.n[ell - 1],
               f"ℓ = {ell}")  # fmt: skip
        back = sp.Sum(nt.W[ell][k, j] * nt.gh[ell][k], (k, 1, nt.n[ell])) / nt.n[ell]
        grad = (sp.IndexedBase(f"grad~_{{W_{ell}}} yhat")[j, i], nt.gh[ell][j] * nt.sig(ell - 1, i),
                f"= n_{ell} n_{ell - 1} ∂ŷ/∂W_{ell}[j,i]")  # fmt: skip
        return fwd, back, grad

    def eq_formal(self, ell, fs):
        """H_ℓ, B_{ℓ−1}, Δ_{W,ℓ}, G_{f,ℓ} and the Lagrangian df_ℓ/dt (App. A eq. 49-50)."""
        g, TH, THP, F, X = fs.prev_var(ell), fs.TH, fs.THP, fs.F, fs.X
        integrand = fs.Call("f", [TH, g]) * fs.Call(f"sigma_{ell - 1}", [TH, fs.H(ell - 1, g)])
        fwd = (fs.H(ell, F), fs.Rho(integrand, ell - 1, TH, g), f"ℓ = {ell}")
        v = fs.var(ell - 1)
        dH = fs.Call(f"Delta_{{H,{ell}}}", [THP, fs.G], [X])
        back = (fs.Call(f"B_{ell - 1}", [TH, v], [X]), fs.Rho(fs.Call("g", [TH, v]) * dH, ell, THP, fs.G),
                f"ℓ = {ell - 1}")  # fmt: skip
        lhs = fs.Call(f"Delta_{{W,{ell}}}", [TH, F, THP, g], [X])
        delta = (
            lhs,
            fs.Call(f"Delta_{{H,{ell}}}", [TH, F], [X])
            * fs.Call(f"sigma_{ell - 1}", [THP, fs.H(ell - 1, g)]),
        )
        rate = (fs.Call(f"G_{{f,{ell}}}", [TH, F, THP, g]), fs.rate(lhs))
        return fwd, back, delta, rate, fs.f_evolution(ell)
