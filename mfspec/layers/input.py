"""The input layer (ℓ = 1): h_1 = ⟨w, x⟩, then σ_1(θ, h_1) (paper eq. 38 and 39).

| system   | rule                                                                             |
|----------|----------------------------------------------------------------------------------|
| finite   | h_1 = W_1 x, W_1 ∈ R^{n_1 × d}; SGD factor n_1 (Sec. 3.1); rows of W_1 iid        |
| limit    | H_1(w; x) = ⟨w, x⟩; Δ_{W,1} = Δ_{H,1} x, G_{W,1} = −ξ_1 E_P⟨∂_2L, Δ_{W,1}⟩         |
| particles| (θ_1, w) jointly by scrambled Sobol points through the normal quantile (MC else)  |
| symbolic | h_1[i] = Σ_c W_1[i, c] x[c]                                                      |

The input layer has no previous layer to pull back to: its backward ends with G_{W,1}.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from mfspec.act import Activation
from mfspec.common.seedwise import seedwise
from mfspec.init import Law, Normal
from mfspec.layers._pullbacks import batch_contraction
from mfspec.layers._quadrature import Discretization, normal_params, sobol_normal
from mfspec.layers.base import Back, Draw, LayerKind, LayerState, Upstream

__all__ = ["Input"]


@seedwise
def _input_matmul(x, w):
    """X Wᵀ; its W-gradient is rounded as for one seed when seeds are batched (``mfspec.common.seedwise``)."""
    return x @ w.T


class Input(LayerKind):
    """Layer 1: neurons reading the input, h_1 = ⟨w, x⟩ with w ∈ R^d, then σ_1(θ, h_1).

    Arguments:
        act: σ_1(θ, h), e.g. ``mf.layer(mf.act.relu)`` (one output unless the net has L = 1).
        theta_law, weight_law: the law of θ_1 and of each entry of w (bound by ``Spec`` from its
            ``init``; leave them out).
    """

    act: Activation
    theta_law: Law | None = None
    weight_law: Law | None = None

    reads_input: ClassVar[bool] = True
    kind_name: ClassVar[str] = "input"

    def check_weight_law(self, where: str, q_prev: int | None) -> None:
        if not isinstance(self.weight_law, Law):
            raise TypeError(
                f"{where}: the law of W_1's entries must be an mf.init law, got {self.weight_law!r}"
            )
        self.weight_law.check(1, where)

    # ---- finite network --------------------------------------------------------------------

    def weight_factor(self, n, n_prev):
        """Sec. 3.1: W_1's SGD step is scaled by n_1 (``n_prev`` is d, which does not enter)."""
        return n

    def init(self, draw: Draw, ell: int, n: int, prev: LayerState | None, dtype) -> LayerState:
        """W_1 entries iid from ``weight_law``, θ_1 rows iid from ``theta_law``."""
        d = draw.input_dim
        w = self.weight_law.sample(draw.weights(ell), n * d, 1).reshape(n, d)
        theta = self.theta_law.sample(draw.theta(ell), n, self.q).astype(dtype)
        return LayerState(w.astype(dtype), theta)

    # ---- both systems ----------------------------------------------------------------------

    def preactivation(self, state: LayerState, up: Upstream):
        """H_1 = X Wᵀ, (B, M)."""
        return _input_matmul(up.a, state.w)

    def weight_pullback(self, state: LayerState, up: Upstream, d_h):
        """Σ_b ⟨cot, Δ_{W,1}⟩ = (cot Δ_{H,1})ᵀ X, shape (M, d); nothing to pull back to."""
        return batch_contraction(d_h, up.a), Back()

    def particles(self, ctx: Discretization, prev: LayerState | None, ell: int) -> LayerState:
        """M_1 = ``resolution.m1`` equal-weight particles of (θ_1, w): scrambled Sobol points
        through the normal quantile when every non-atomic coordinate is Normal, Monte Carlo else."""
        m, d, q = ctx.resolution.m1, ctx.input_dim, self.q
        w_law, t_law = self.weight_law, self.theta_law
        w_normal = isinstance(w_law, Normal) and len(w_law.mean) == 1 and len(w_law.std) == 1
        if not (ctx.sobol and w_normal and isinstance(t_law, Normal)):
            kw, kt = jax.random.split(ctx.key_for(0)())
            w = np.asarray(w_law.sample(kw, m * d, 1), np.float64).reshape(m, d)
            theta = np.asarray(t_law.sample(kt, m, q), np.float64)
        else:
            t_mean, t_std = normal_params(t_law, q)
            free = [i for i in range(q) if t_std[i] > 0]
            z = sobol_normal(d + len(free), m, ctx.seed)
            w = w_law.mean[0] + w_law.std[0] * z[:, :d]
            theta = np.tile(t_mean, (m, 1)).astype(np.float64)
            for col, comp in enumerate(free):
                theta[:, comp] = t_mean[comp] + t_std[comp] * z[:, d + col]
        as_ = lambda a: jnp.asarray(a, ctx.dtype)  # noqa: E731
        return LayerState(as_(w), as_(theta), as_(np.full(m, 1.0 / m)))

    # ---- symbolic --------------------------------------------------------------------------

    def weight_shape(self, n: int, n_prev: int) -> tuple[int, ...]:
        """The shape of a finite layer's w (``n_prev`` is d for the input layer)."""
        return (n, n_prev)

    def sym_weights(self, ell: int, n: int, n_prev: int):
        """Symbols W1_{i}{c}: (n, d) nested tuples (``n_prev`` is d)."""
        return tuple(tuple(sp.Symbol(f"W1_{i}{c}", real=True) for c in range(n_prev)) for i in range(n))

    def sym_preactivation(self, w, up: Upstream):
        """h_1[i] = Σ_c W_1[i, c] x[c]."""
        return tuple(sum((wc * xc for wc, xc in zip(row, up.a)), sp.S.Zero) for row in w)

    def sym_pullback(self, w, up: Upstream, pi, d_h):
        """Δ_{W,1}[i, c] = Δ_{H,1}[i] x[c] (one output channel); no B to the input."""
        return tuple(tuple(d * xc for xc in up.a) for d in d_h), Back()

    def sym_clones(self, ell, marked: Upstream, clone: Upstream, width_prev, R):
        """The MF-scaling construction (``mfspec.symbolic._scaling``): a marked neuron with its own
        row w* and clones sharing w̄, fed the input x (``marked.a`` = ``clone.a`` = x)."""
        d = len(marked.a)
        w_m = [R(f"wm_{c}") for c in range(d)]
        w_c = [R(f"wc_{c}") for c in range(d)]
        hm = sum((a * b for a, b in zip(w_m, marked.a)), sp.S.Zero)
        hc = sum((a * b for a, b in zip(w_c, clone.a)), sp.S.Zero)
        marked = [(f"w*_{c}", s) for c, s in enumerate(w_m)]
        return hm, hc, marked, dict(zip(w_m, w_c))

    # ---- printed equations -----------------------------------------------------------------

    def eq_network(self, ell, nt):
        """h_1[i] = Σ_c W_1[i, c] x[c]; the scaled gradient of W_1."""
        i, c = nt.i, nt.c
        fwd = (nt.h[1][i], sp.Sum(nt.W[1][i, c] * nt.x[c], (c, 1, nt.d)), "h_1 = W_1 x")
        grad = (sp.IndexedBase("grad~_{W_1} yhat")[i, c], nt.gh[1][i] * nt.x[c], "= n_1 ∂ŷ/∂W_1[i,c]")
        return fwd, None, grad

    def eq_formal(self, ell, fs):
        """H_1(w; x) = ⟨w, x⟩, Δ_{W,1}, G_{W,1} and dw/dt (App. A eq. 48)."""
        W, X = fs.W, fs.X
        fwd = (fs.H(1, W), fs.Inner(W, X), "H_1(w; x) = ⟨w, x⟩")
        delta = (fs.Call("Delta_{W,1}", [fs.TH, W], [X]), fs.Call("Delta_{H,1}", [fs.TH, W], [X]) * X)
        rate = (fs.Call("G_{W,1}", [fs.TH, W]), fs.rate(delta[0]))
        evolve = (fs.Call("d/dt", [W]), fs.Call("G_{W,1}", [fs.Var("theta_1"), W]), "eq. 48")
        return fwd, None, delta, rate, evolve
