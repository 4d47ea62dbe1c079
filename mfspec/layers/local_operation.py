"""The local operation of Sec. 2.4 (ℓ ≥ 2): h_ℓ[j] = (1/n_{ℓ−1}) Σ_i σ*_ℓ(w_{ji}, a_i), then σ_ℓ(θ, h_ℓ).

σ*(w, h) is any SymPy expression in a weight w ∈ R^s (s ≥ 1) and the previous layer's output
a_i = σ_{ℓ−1}(θ_i, h_{ℓ−1,i}); ``σ*(w, h) = w·φ(h)`` behind an identity layer is the dense layer.
The limit is derived in docs/formal_system.md sec. 6 (it is not in the paper):

| system    | rule                                                                                      |
|-----------|-------------------------------------------------------------------------------------------|
| finite    | h_ℓ[j] = (1/n_{ℓ−1}) Σ_i σ*(W[j, i], a_i), W ∈ R^{n_ℓ × n_{ℓ−1} × s}; SGD factor n_ℓ n_{ℓ−1} |
| limit     | H_ℓ(c) = E_{c', ω}[σ*(w(c', c, ω), a(c'))]; Δ_w = Δ_{H,ℓ}(c) ∇_w σ*;                        |
|           | B_{ℓ−1}(c') = E_{c, ω}[Δ_{H,ℓ}(c) ∂_h σ*(w(c', c, ω), a(c'))]; ∂_t w = −ξ_ℓ E_P⟨∂_2L, Δ_w⟩   |
| particles | θ_ℓ as for a dense layer; w[j, i, r] over noise nodes r with weights ϖ_r (below)           |
| symbolic  | h_ℓ[j] = π Σ_i σ*(W[j, i], a_i)                                                            |

**The noise ω.** A weight is a function of its pair and of its own initial value. If σ* is affine
in w, ∂_wσ* does not depend on w, every weight of a pair moves by the same amount, and only the
conditional mean of the initial weight enters: one node (R = 1). Otherwise the initial noise
stays: the state carries w[j, i, r] at noise nodes r — Gauss–Hermite for a Gaussian kernel
(``Resolution.noise_nodes`` per component, at most noise_nodes² in all, Sobol beyond), Monte Carlo
for a user sampler — with weights π_{ℓ−1,i} π_{ℓ,j} ϖ_r. A finite network is the case R = 1 with
each pair its own node, so E1 holds exactly.

**Speed.** When σ* separates, σ*(w, h) = Σ_m A_m(w) B_m(h) (found by SymPy), the sums over i are
matmuls of Ā_m = Σ_r ϖ_r A_m(w_{·,·,r}) with B_m(a), as for a dense layer; otherwise σ* is
evaluated on the whole (batch, M, M', R) grid.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import jax
import jax.numpy as jnp
import sympy as sp

from mfspec.act import Activation, identity, layer
from mfspec.common.sympy_jax import to_jax
from mfspec.init import Kernel, Law, Normal
from mfspec.layers._quadrature import Discretization, law_nodes, theta_particles
from mfspec.layers.base import Back, Draw, LayerKind, LayerState, Upstream
from mfspec.layers.dense import mix_matmul

__all__ = ["Local", "local"]


@functools.cache
def affine_in_w(star: Activation) -> bool:
    """Whether σ*(w, h) is affine in w (every second w-derivative is 0): then ω drops out."""
    expr = star.exprs[0]
    return all(sp.simplify(sp.diff(expr, a, b)) == 0 for a in star.theta for b in star.theta)


@functools.cache
def separated(star: Activation):
    """σ*(w, h) = Σ_m A_m(w) B_m(h) as compiled (A_m, B_m) pairs, or None if SymPy finds no split."""
    w, h = star.theta, star.h
    groups: dict[sp.Expr, sp.Expr] = {}
    for term in sp.Add.make_args(sp.expand(star.exprs[0])):
        a_part, b_part = term.as_independent(h, as_Add=False)
        if b_part.free_symbols & set(w):
            return None
        groups[b_part] = groups.get(b_part, sp.S.Zero) + a_part
    return tuple((to_jax(w, [a]), to_jax([h], [b])) for b, a in groups.items())


def _node_mean(u, omega):
    """Σ_r ϖ_r u[..., r]: the expectation over the noise nodes (one node: u[..., 0])."""
    return u[..., 0] if omega is None else u @ omega


class Local(LayerKind):
    """Layer ℓ ≥ 2 joined to layer ℓ−1 by a local operation σ*(w, h) (Sec. 2.4); build it with
    ``mf.local``.

    Arguments:
        star: σ*(w, h) as an ``Activation`` whose θ symbols are the weight's s components.
        act: σ_ℓ(θ, h) of this layer's neurons (default in ``mf.local``: the identity, q = 0).
        theta_law: the law of θ_ℓ; weight_law: an ``mf.init.Kernel`` (mean and Gaussian noise per
            component, the mean possibly a function of the two neurons' θ) or any ``mf.init`` law
            (w iid); both bound by ``Spec`` from its ``init``.
    """

    star: Activation
    act: Activation
    theta_law: Law | None = None
    weight_law: Kernel | Law | None = None

    kind_name: ClassVar[str] = "local"

    @property
    def s(self) -> int:
        """The weight's dimension."""
        return self.star.q

    def check_weight_law(self, where: str, q_prev: int | None) -> None:
        if isinstance(self.weight_law, Kernel):
            self.weight_law.check(self.s, where, self.q, q_prev)
        elif (
            isinstance(self.weight_law, Normal) and len(self.weight_law.mean) == len(self.weight_law.std) == 1
        ):
            pass  # one (mean, std) for a weight: every component iid, as for the entries of W_1
        elif isinstance(self.weight_law, Law):
            self.weight_law.check(self.s, where)
        else:
            raise TypeError(
                f"{where}: a local layer's weights need an mf.init.Kernel or law, got {self.weight_law!r}"
            )

    def describe(self) -> dict:
        return {**super().describe(), "sigma_star": str(self.star.exprs[0]),
                "sigma_star_latex": self.star.latex(), "w": [str(s) for s in self.star.theta],
                "affine_in_w": affine_in_w(self.star)}  # fmt: skip

    # ---- finite network --------------------------------------------------------------------

    def weight_factor(self, n, n_prev):
        """Sec. 2.4 with Sec. 3.1: W_ℓ's SGD step is scaled by n_ℓ n_{ℓ−1}, as for a dense layer."""
        return n * n_prev

    def init(self, draw: Draw, ell: int, n: int, prev: LayerState | None, dtype) -> LayerState:
        """θ_ℓ rows iid; W[j, i] ∈ R^s from the kernel given (θ_j, θ'_i), or iid from a law.

        With s = 1 and a ``Kernel`` the draw is the dense layer's, so σ* = w·σ(h) reproduces it.
        """
        theta = self.theta_law.sample(draw.theta(ell), n, self.q).astype(dtype)
        law, s, prev_theta, key_w = self.weight_law, self.s, prev.theta, draw.weights(ell)
        if isinstance(law, Kernel):
            w = law.sample(key_w, theta, prev_theta) if s == 1 else law.sample(key_w, theta, prev_theta, s=s)
        else:
            w = law.sample(key_w, n * prev_theta.shape[0], s)
        return LayerState(w.reshape(n, prev_theta.shape[0], 1, s).astype(dtype), theta)

    # ---- both systems ----------------------------------------------------------------------

    def preactivation(self, state: LayerState, up: Upstream):
        """H[b, j] = Σ_i π'_i Σ_r ϖ_r σ*(w[j, i, r], a[b, i])."""
        a, prev_mix = up.a, up.mix
        w, terms = state.w, separated(self.star)
        if terms is not None:
            h = None
            for fa, fb in terms:
                abar = _node_mean(fa(*(w[..., c] for c in range(self.s)))[0], state.omega)
                t = mix_matmul(fb(a)[0], prev_mix, abar)
                h = t if h is None else h + t
            return h
        u = _node_mean(self.star.components(w[None], a[:, None, :, None])[0], state.omega)
        return u.sum(-1) * prev_mix if jnp.ndim(prev_mix) == 0 else u @ prev_mix

    def weight_pullback(self, state: LayerState, up: Upstream, d_h):
        """Σ_b ⟨cot, Δ_w⟩ = Σ_b cotΔ_{H,ℓ}[b, j] ∇_wσ*(w[j, i, r], a[b, i]) (M, M', R, s) and
        B_{ℓ−1}[b, i] = Σ_j π_j cotΔ_{H,ℓ}[b, j] Σ_r ϖ_r ∂_hσ*(w[j, i, r], a[b, i]) (B, M')."""
        a, w, omega, terms = up.a, state.w, state.omega, separated(self.star)
        comps = lambda f, w_: f(*(w_[..., c] for c in range(self.s)))[0]  # noqa: E731
        if terms is not None:
            g_w, back = 0.0, 0.0
            for fa, fb in terms:
                av, pull_a = jax.vjp(lambda w_, fa=fa: comps(fa, w_), w)
                (grad_a,) = pull_a(jnp.ones_like(av))  # ∇A(w) entrywise: each entry sees its own w
                bv, db = jax.jvp(lambda a_, fb=fb: fb(a_)[0], (a,), (jnp.ones_like(a),))
                g_w = g_w + grad_a * (d_h.T @ bv)[:, :, None, None]
                back = back + db * ((d_h * state.mix) @ _node_mean(av, omega))
            return g_w, Back(a=back)
        B, (M, Mp, R, s) = a.shape[0], w.shape
        wb = jnp.broadcast_to(w[None], (B, M, Mp, R, s))
        ab = jnp.broadcast_to(a[:, None, :, None], (B, M, Mp, R))
        _, pull = jax.vjp(lambda w_, a_: self.star.components(w_, a_)[0], wb, ab)
        gw, ga = pull(jnp.broadcast_to(d_h[:, :, None, None], (B, M, Mp, R)))
        ga = _node_mean(ga, omega)  # (B, M, M')
        pi = state.mix
        back = ga.sum(1) * pi if jnp.ndim(pi) == 0 else jnp.einsum("bji,j->bi", ga, pi)
        return gw.sum(0), Back(a=back)

    def particles(self, ctx: Discretization, prev: LayerState | None, ell: int) -> LayerState:
        """θ_ℓ as for a dense layer; w on noise nodes (module docstring), one node when σ* is affine."""
        th, pi = theta_particles(self.theta_law, self.q, ell, ctx)
        mean, (z, omega) = self._mean(th, prev.theta, ctx.dtype), self._noise_nodes(ell, ctx)
        w = mean[:, :, None, :] + jnp.asarray(z, ctx.dtype)[None, None]
        if affine_in_w(self.star) and z.shape[0] > 1:
            w, omega = _node_mean(jnp.moveaxis(w, 2, -1), jnp.asarray(omega, ctx.dtype))[:, :, None], None
        elif z.shape[0] == 1:
            omega = None
        as_ = lambda v: None if v is None else jnp.asarray(v, ctx.dtype)  # noqa: E731
        return LayerState(w, as_(th), as_(pi), as_(omega))

    def _mean(self, theta, prev_theta, dtype):
        """The conditional mean of the initial weight on the particle pairs, (M, M', s)."""
        law = self.weight_law
        if isinstance(law, Kernel):
            return law.mean_on(theta, prev_theta, dtype, s=self.s)
        return jnp.zeros((theta.shape[0], prev_theta.shape[0], self.s), dtype)

    def _noise_nodes(self, ell: int, ctx: Discretization):
        """(z (R, s), ϖ (R,)): the noise around the mean (a Kernel) or the law itself (iid w)."""
        res, law = ctx.resolution, self.weight_law
        cap = res.noise_nodes**2
        if isinstance(law, Kernel):
            law = Normal(0.0, law.noise)
        return law_nodes(law, self.s, nodes=res.noise_nodes, max_particles=cap, qmc_points=cap, mc=cap,
                         seed=ctx.seed + 1000 + ell, key=ctx.key_for(1000 + ell))  # fmt: skip

    # ---- symbolic --------------------------------------------------------------------------

    def exprs(self) -> tuple:
        return (*self.act.exprs, *self.star.exprs)

    def map_exprs(self, fn):
        """This layer with ``fn`` applied to σ_ℓ and σ* (kink smoothing for E2)."""
        return dataclasses.replace(self, act=self.act.map(fn), star=self.star.map(fn))

    def _star(self, w_entry, h):
        rep = dict(zip(self.star.theta, w_entry)) | {self.star.h: h}
        return self.star.exprs[0].xreplace(rep)

    def weight_shape(self, n: int, n_prev: int) -> tuple[int, ...]:
        """The shape of a finite layer's w (``n_prev`` is d for the input layer)."""
        return (n, n_prev, 1, self.s)

    def sym_weights(self, ell: int, n: int, n_prev: int):
        """Symbols W{ℓ}_{j}{i}_{c}: (n, n', s) nested tuples."""
        name = lambda j, i, c: f"W{ell}_{j}{i}" + (f"_{c}" if self.s > 1 else "")  # noqa: E731
        return tuple(
            tuple(tuple(sp.Symbol(name(j, i, c), real=True) for c in range(self.s)) for i in range(n_prev))
            for j in range(n)
        )

    def sym_preactivation(self, w, up: Upstream):
        """h_ℓ[j] = π' Σ_i σ*(W[j, i], a_i)."""
        return tuple(sum((self._star(wi, ai) for wi, ai in zip(row, up.a)), sp.S.Zero) * up.mix for row in w)

    def sym_pullback(self, w, up: Upstream, pi, d_h):
        """Δ_w[j, i, c] = Δ_{H,ℓ}[j] ∂_{w_c}σ*(W[j, i], a_i); B_{ℓ−1}[i] = π Σ_j Δ_{H,ℓ}[j] ∂_hσ*(W[j, i], a_i)."""
        star, a = self.star, up.a
        dw = [sp.diff(star.exprs[0], c) for c in star.theta]
        dh = sp.diff(star.exprs[0], star.h)
        sub = lambda e, wi, ai: e.xreplace(dict(zip(star.theta, wi)) | {star.h: ai})  # noqa: E731
        delta = tuple(tuple(tuple(d_h[j] * sub(e, w[j][i], a[i]) for e in dw) for i in range(len(a)))
                      for j in range(len(w)))  # fmt: skip
        back = tuple(pi * sum((d_h[j] * sub(dh, w[j][i], a[i]) for j in range(len(w))), sp.S.Zero)
                     for i in range(len(a)))  # fmt: skip
        return delta, Back(a=back)

    def sym_clones(self, ell, marked: Upstream, clone: Upstream, width_prev, R):
        """As for a dense layer, with s-vectors a = W[*, *], b = W[*, ·], c = W[·, *], ω = W[·, ·]
        inside σ*: a sum over layer ℓ−1 is marked + (n_{ℓ−1} − 1) × clone."""
        a, b, c, om = ([R(f"{p}{ell}_{t}") for t in range(self.s)] for p in "abcw")
        m = width_prev
        hm = (self._star(a, marked.a) + (m - 1) * self._star(b, clone.a)) / m
        hc = (self._star(c, marked.a) + (m - 1) * self._star(om, clone.a)) / m
        marked = [(f"W_{ell}[*,*]_{t}", v) for t, v in enumerate(a)]
        return hm, hc, marked, {**dict(zip(a, om)), **dict(zip(b, om)), **dict(zip(c, om))}

    # ---- printed equations -----------------------------------------------------------------

    def eq_activations(self, ell: int, Call) -> list[tuple]:
        """σ*_ℓ, ∂_hσ*_ℓ and ∇_wσ*_ℓ, then the neuron's σ_ℓ rows."""
        (e,), w, h = self.star.exprs, self.star.theta, self.star.h
        note = f"local operation (Sec. 2.4), w ∈ R^{self.s}" + (
            ", affine in w" if affine_in_w(self.star) else ""
        )
        return [
            (Call(f"sigma*_{ell}", [*w, h]), e, note),
            (Call(f"partial_h sigma*_{ell}", [*w, h]), sp.diff(e, h), ""),
            (Call(f"nabla_w sigma*_{ell}", [*w, h]), sp.Matrix([sp.diff(e, v) for v in w]), ""),
            *super().eq_activations(ell, Call),
        ]

    def eq_network(self, ell, nt):
        """h_ℓ[j] = Σ_i σ*_ℓ(W_ℓ[j, i], σ_{ℓ−1,i}) / n_{ℓ−1}; B to layer ℓ−1; ∇̃ of W_ℓ."""
        i, j, k = nt.i, nt.j, nt.k
        star = lambda name, a, b: nt.Call(f"{name}sigma*_{ell}", [a, b])  # noqa: E731
        fwd = (nt.h[ell][j], sp.Sum(star("", nt.W[ell][j, i], nt.sig(ell - 1, i)), (i, 1, nt.n[ell - 1]))
               / nt.n[ell - 1], f"ℓ = {ell}, local operation (Sec. 2.4)")  # fmt: skip
        back = sp.Sum(nt.gh[ell][k] * star("partial_h ", nt.W[ell][k, j], nt.sig(ell - 1, j)),
                      (k, 1, nt.n[ell])) / nt.n[ell]  # fmt: skip
        grad = (sp.IndexedBase(f"grad~_{{W_{ell}}} yhat")[j, i], nt.gh[ell][j] * star("nabla_w ", nt.W[ell][j, i], nt.sig(ell - 1, i)),
                f"= n_{ell} n_{ell - 1} ∂ŷ/∂W_{ell}[j,i] ∈ R^{self.s}")  # fmt: skip
        return fwd, back, grad

    def eq_formal(self, ell, fs):
        """H_ℓ, B_{ℓ−1}, Δ_{w,ℓ}, G_{w,ℓ} and ∂_t w (docs/formal_system.md sec. 6)."""
        g, TH, THP, F, X, OM = fs.prev_var(ell), fs.TH, fs.THP, fs.F, fs.X, fs.Var("omega")
        a_prev = fs.Call(f"sigma_{ell - 1}", [TH, fs.H(ell - 1, g)])
        star = lambda name, w, a: fs.Call(f"{name}sigma*_{ell}", [w, a])  # noqa: E731
        fwd = (fs.H(ell, F), fs.Rho(fs.Eomega(star("", fs.Call("f", [TH, g, OM]), a_prev)), ell - 1, TH, g),
               f"ℓ = {ell}, local operation: σ* = {self.star.exprs[0]}")  # fmt: skip
        v = fs.var(ell - 1)
        a_v = fs.Call(f"sigma_{ell - 1}", [TH, fs.H(ell - 1, v)])
        dH = fs.Call(f"Delta_{{H,{ell}}}", [THP, fs.G], [X])
        back = (fs.Call(f"B_{ell - 1}", [TH, v], [X]),
                fs.Rho(fs.Eomega(star("partial_h ", fs.Call("g", [TH, v, OM]), a_v) * dH), ell, THP, fs.G),
                f"ℓ = {ell - 1}")  # fmt: skip
        lhs = fs.Call(f"Delta_{{w,{ell}}}", [TH, F, THP, g, OM], [X])
        delta = (
            lhs,
            fs.Call(f"Delta_{{H,{ell}}}", [TH, F], [X])
            * star(
                "nabla_w ", fs.Call("f", [THP, g, OM]), fs.Call(f"sigma_{ell - 1}", [THP, fs.H(ell - 1, g)])
            ),
        )
        rate = (fs.Call(f"G_{{w,{ell}}}", [TH, F, THP, g, OM]), fs.rate(lhs))
        prev = [fs.Var(f"theta_{ell - 1}"), fs.W if ell == 2 else fs.Var(f"f_{ell - 1}"), OM]
        evolve = (fs.Call("d/dt", [fs.Call(f"f_{ell}", prev)]),
                  fs.Call(f"G_{{w,{ell}}}", [fs.Var(f"theta_{ell}"), fs.Var(f"f_{ell}"), *prev]),
                  "per noise value ω; affine σ* in w: only E[w(0) | pair] enters")  # fmt: skip
        return fwd, back, delta, rate, evolve


def local(expr, *, w, h, act: Activation | None = None, name: str = "local") -> Local:
    """The local operation σ*(w, h) of Sec. 2.4 as a layer kind.

    Arguments:
        expr: σ*(w, h), a SymPy expression in the weight symbols ``w`` and the input symbol ``h``
            (the previous layer's output σ_{ℓ−1}(θ, h_{ℓ−1})).
        w: one SymPy symbol (s = 1) or a sequence of s of them.
        h: the input symbol.
        act: σ_ℓ(θ, h) of this layer's neurons after the sum (default: the identity, q = 0, so
            that a stack of local operations is h_ℓ = mean_i σ*(w, h_{ℓ−1,i}) as in Sec. 2.4).
        name: a label for printouts.

    Example: ``w, h = sp.symbols("w h", real=True); mf.local(sp.tanh(w * h), w=w, h=h)``.
    """
    ws = tuple(w) if isinstance(w, (list, tuple)) else (w,)
    if not ws:
        raise ValueError("mf.local: w must hold at least one SymPy symbol (s ≥ 1), got none")
    if isinstance(expr, (list, tuple)):
        raise ValueError(f"mf.local: σ* must be one scalar expression, got {len(expr)} of them")
    star = Activation(expr, theta=ws, h=h, name=name)
    if not star.exprs[0].has(h):
        raise ValueError(f"mf.local: σ* = {star.exprs[0]} does not use its input h = {h}")
    return Local(star=star, act=act if act is not None else layer(identity, bias=False))
