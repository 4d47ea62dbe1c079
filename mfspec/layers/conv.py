"""Convolutional layers (App. C, Table 1) as a layer kind: σ*(w, h) = w ∗ σ(h) with a filter-valued w.

A neuron of layer ℓ is a filter; its pre-activation is a feature map. With (F ∗ u) the 2-D
cross-correlation of one channel (stride and zero padding of the ``ConvLayer``), and c = 1/s² under
``fan_in`` (1 for App. C's own scaling):

| system    | rule                                                                                      |
|-----------|-------------------------------------------------------------------------------------------|
| finite    | h_1[j] = Σ_c W_1[j, c] ∗ x_c; h_ℓ[j] = (c/n_{ℓ−1}) Σ_i W_ℓ[j, i] ∗ a_i (ℓ ≥ 2);             |
|           | a_ℓ = pool(relu(h_ℓ + b_ℓ)); ŷ = (1/n_L) Σ_j ⟨β_j, a_{L,j}⟩ (· 1/P under fan_in) + b_out;  |
|           | SGD factors n_1 (W_1), n_ℓ n_{ℓ−1} (W_ℓ), n_ℓ (b_ℓ, β)                                    |
| limit     | H_ℓ(x; c) = c E_{c'}[F_ℓ(c', c) ∗ a_{ℓ−1}(x; c')]; Δ_{W,ℓ} = c Δ_{H,ℓ} ⋆ a_{ℓ−1}          |
|           | (a correlation over positions); B_{ℓ−1}(c') = c E_c[F_ℓ(c', c)ᵀ ∗ Δ_{H,ℓ}(c)]              |
| particles | layer 1: Sobol filters ∈ R^{s·s·d}, bias 0; layers 2..L−1 collapse (an atomic bias and    |
|           | F = the mean tap everywhere, the conditional-mean filter); layer L: Sobol points of β     |
| symbolic  | the printed system of ``mfspec equations`` (``eq_formal``); no tiny symbolic network:    |
|           | a pre-activation is a feature map and σ a pool (``NoSymbolicRule``)                      |

(docs/formal_system.md sec. 8.) Filters are affine in w, so the iid noise of the filter taps of
W_ℓ (ℓ ≥ 2) drops out of the limit, as for a dense layer: F_ℓ[j, i] ∈ R^{s×s} is the conditional
mean filter. θ of a neuron is its bias b (q = 1); the head's θ is (b, β) with β ∈ R^{k×P} (k
outputs, P positions after layer L's pool; β_j[c, p] at θ index 1 + c·P + p), q = 1 + k·P, and its
σ_L(θ, h) = ⟨β, pool(relu(h + b))⟩.

MF factors (Sec. 3.1), derived as for the fully connected net. A filter i of layer ℓ is one
"neuron": its map h_{ℓ,i} reaches the output only through averages (1/n_ℓ) Σ_i over the filters of
layer ℓ, so ∂ŷ/∂h_{ℓ,i} = O(1/n_ℓ) per position; b_ℓ and β take the factor n_ℓ, W_1 n_1 (it enters
h_1 undivided, like the fixed input dimension d), W_ℓ n_ℓ n_{ℓ−1}. Only sums over filters are divided:
the spatial sizes and the s × s receptive fields stay fixed as n → ∞ (App. C).

Array layouts: feature maps are NHWC, (B, side, side, M); a state's w is (M, s, s, d) for layer 1
(particles first, so that the layer-1 particles can be cut across devices like a dense layer's)
and (M, M', s, s) for ℓ ≥ 2 (F_ℓ[j, i] the filter from particle i of layer ℓ−1 to particle j).
The backward uses the scaled cotangents of ``mfspec.layers.base``: nothing is divided by a π.
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from mfspec import act as _act
from mfspec.act import Activation
from mfspec.init import Law, Normal
from mfspec.layers._conv_ops import ConvLayer, conv_maps, filter_rates, images, max_pool
from mfspec.layers._quadrature import Discretization, sobol_normal, theta_particles
from mfspec.layers.base import Back, Draw, LayerKind, LayerState, NoSymbolicRule, Upstream

__all__ = ["Conv"]

ROLES = ("first", "hidden", "head")
#: Why a CNN has no tiny symbolic network (E2, JAX vs SymPy, MF scaling with symbolic widths).
NO_SYMBOLIC = (
    "a convolution's pre-activation is a feature map and its σ a pool over positions: the tiny symbolic "
    "networks of E2 are written for one number per neuron (E1 checks the CNN's formal system instead)"
)


class Conv(LayerKind):
    """Layer ℓ of App. C's CNN: a ``ConvLayer`` (s × s filters, stride, padding, max pool) whose
    neurons are filters with a bias, ReLU then the pool; the last layer also carries β.

    Built by ``mf.conv.ConvSpec`` (one per Table 1 row); not usually declared by hand.

    Fields:
        layer: the ``ConvLayer`` (Table 1's row).
        role: "first" (reads the image), "hidden" (ℓ ≥ 2) or "head" (the last layer: its θ holds β).
        input_shape: (d, H, W) of the image — layer 1 reads flat inputs as these maps.
        outputs, positions: k and P of the head (1 elsewhere).
        fan_in: divide layer ℓ ≥ 2's sum by s² and the head's by P as well (``mf.conv.ConvSpec``).
        reads_image: whether this layer's input is the image (layer 1, also when it is the head).
        act: relu(h + b), the pointwise part of σ before the pool.
        theta_law: the law of θ = (b,) or (b, β); weight_law: the law of each filter tap, a scalar
            ``mf.init.Normal`` (iid taps); both bound by ``Spec`` from its ``init``.
    """

    layer: ConvLayer
    role: str
    input_shape: tuple[int, int, int]
    outputs: int = 1
    positions: int = 1
    fan_in: bool = False
    reads_image: bool = False
    act: Activation = _act.layer(_act.relu)
    theta_law: Law | None = None
    weight_law: Normal | None = None

    kind_name: ClassVar[str] = "conv"
    # XLA:CPU (jax 0.10) keeps a convolution's weight gradient in a naive form inside a while-loop
    # body, so a scanned step is several times slower than the same step as its own compiled call
    # (bench/README.md): the trainer runs a CNN step by step.
    scan_steps: ClassVar[bool] = False
    eval_chunk: ClassVar[int | None] = 500

    def __check_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"Conv.role must be one of {ROLES}, got {self.role!r}")

    @property
    def reads_input(self) -> bool:  # type: ignore[override]
        return self.reads_image

    @property
    def output_maps(self) -> bool:
        """Whether the neurons output feature maps (every layer but the head)."""
        return self.role != "head"

    @property
    def q(self) -> int:
        """1 (the bias), or 1 + k·P for the head (b, β)."""
        return 1 + (self.outputs * self.positions if self.role == "head" else 0)

    @property
    def k(self) -> int:
        return self.outputs if self.role == "head" else 1

    @property
    def scale(self) -> float:
        """c: 1/s² under ``fan_in`` for a layer that sums over a previous layer, else 1."""
        return 1.0 / self.layer.kernel**2 if (self.fan_in and not self.reads_image) else 1.0

    # ---- declaration -------------------------------------------------------------------------

    def check_weight_law(self, where: str, q_prev: int | None) -> None:
        law = self.weight_law
        if not (isinstance(law, Normal) and len(law.mean) == 1 and len(law.std) == 1):
            raise TypeError(f"{where}: a convolution's filter taps need one mf.init.Normal(mean, std) (iid taps), "
                            f"got {law!r}")  # fmt: skip

    def check_follows(self, prev: LayerKind | None, where: str) -> None:
        if self.reads_image != (prev is None):
            raise ValueError(f"{where}: a Conv layer reads the image exactly when it is layer 1 "
                             f"(reads_image={self.reads_image})")  # fmt: skip
        if prev is not None and not getattr(prev, "output_maps", False):
            raise ValueError(f"{where}: a Conv layer reads feature maps, but the layer below is a "
                             f"{type(prev).__name__} whose neurons output one number")  # fmt: skip

    def describe(self) -> dict:
        return {**super().describe(), "role": self.role, "kernel": self.layer.kernel,
                "stride": self.layer.stride, "pool": self.layer.pool,
                "sigma": ["pool(relu(h + b))" + (", then <beta, .>" if self.role == "head" else "")]}  # fmt: skip

    # ---- finite network ----------------------------------------------------------------------

    def weight_factor(self, n, n_prev):
        """Sec. 3.1 for a filter: n_1 for W_1, n_ℓ n_{ℓ−1} for W_ℓ (module docstring)."""
        return n if self.reads_image else n * n_prev

    def init(self, draw: Draw, ell: int, n: int, prev: LayerState | None, dtype) -> LayerState:
        """The filter taps iid from ``weight_law`` (drawn as an HWIO kernel), then the head's β
        (k, n, P), both from the shared host generator of ``draw`` in layer order; the bias from its
        law (an atom: no draw)."""
        rng, s = draw.host(), self.layer.kernel
        n_in = self.input_shape[0] if self.reads_image else prev.size
        law = self.weight_law
        hwio = law.mean[0] + law.std[0] * rng.standard_normal((s, s, n_in, n))
        w = hwio.transpose(3, 0, 1, 2) if self.reads_image else hwio.transpose(3, 2, 0, 1)
        mean = np.broadcast_to(np.asarray(self.theta_law.mean, np.float64), (self.q,))
        std = np.broadcast_to(np.asarray(self.theta_law.std, np.float64), (self.q,))
        bias = np.full(n, mean[0]) if std[0] == 0 else mean[0] + std[0] * rng.standard_normal(n)
        theta = bias[:, None]
        if self.role == "head":
            k, p = self.outputs, self.positions
            z = rng.standard_normal((k, n, p))  # β drawn as (k, n_L, P): FC(k, P n)'s layout
            beta = mean[1:].reshape(k, 1, p) + std[1:].reshape(k, 1, p) * z
            theta = np.concatenate([theta, beta.transpose(1, 0, 2).reshape(n, k * p)], axis=1)
        return LayerState(jnp.asarray(w, dtype), jnp.asarray(theta, dtype))

    # ---- both systems ------------------------------------------------------------------------

    def preactivation(self, state: LayerState, up: Upstream):
        """H_1 = w ⋆ x, or H_ℓ[j] = c Σ_i π'_i F[j, i] ⋆ a_i: (B, side, side, M) maps."""
        if self.reads_image:
            u = images(up.a, self.input_shape).astype(state.w.dtype)
            return conv_maps(u, state.w.transpose(1, 2, 3, 0), self.layer)
        if jnp.ndim(up.mix) == 0:
            # A finite CNN divides by its whole fan-in as one constant, 1/(n_{ℓ−1} s²) under fan_in:
            # the product of two rounded factors would round differently.
            s2 = self.layer.kernel**2 if (self.fan_in and not self.reads_image) else 1
            kernel = state.w.transpose(2, 3, 1, 0) * (1.0 / (up.a.shape[-1] * s2))
        else:
            mix = jnp.asarray(up.mix, state.w.dtype) * self.scale  # π' on the small kernel
            kernel = state.w.transpose(2, 3, 1, 0) * mix[:, None]
        return conv_maps(up.a, kernel, self.layer)

    def _pointwise(self, theta, h):
        """pool(relu(h + b)) per neuron: (B, side', side', M)."""
        return max_pool(jax.nn.relu(h + theta[:, 0]), self.layer)

    def activate(self, state: LayerState, h):
        """σ_ℓ(θ, h): the pooled maps (B, side', side', M), or for the head ⟨β, ·⟩ (B, M, k)."""
        return self._sigma(state.theta, h)

    def _sigma(self, theta, h):
        u = self._pointwise(theta, h)
        if self.role != "head":
            return u
        B, M = u.shape[0], u.shape[-1]
        beta = theta[:, 1:].reshape(M, self.outputs, self.positions)
        out = jnp.einsum("bpj,jkp->bjk", u.reshape(B, -1, M), beta)
        return out * (1.0 / self.positions) if self.fan_in else out

    def head_output(self, state: LayerState, h, readout, out_bias):
        """ŷ = (1/(n_L P^fan_in)) Σ_{j,p} β_j[·, p] a_{L,j,p} + b_out: for a finite CNN one contraction
        over filters and positions (App. C's FC(k, P n) output layer); the particles' π-weighted mean
        of ⟨β_j, a_j⟩ otherwise."""
        if jnp.ndim(state.mix) != 0:
            return readout.forward(self._sigma(state.theta, h), state.mix, out_bias)
        u = self._pointwise(state.theta, h)
        B, n = u.shape[0], u.shape[-1]
        beta = state.theta[:, 1:].reshape(n, self.outputs, self.positions).transpose(1, 0, 2)
        head = n * (self.positions if self.fan_in else 1)
        return jnp.einsum("bpj,kjp->bk", u.reshape(B, -1, n), beta) * (1.0 / head) + out_bias

    # ---- limit -------------------------------------------------------------------------------

    def neuron_pullback(self, state: LayerState, h, back):
        """Σ_b ⟨B_ℓ, ∇_θσ⟩ (M, 1) and ⟨B_ℓ, ∂_hσ⟩ (B, side, side, M): one VJP through the pool."""
        _, pull = jax.vjp(self._sigma, state.theta, h)
        return pull(back)

    def head_pullback(self, state: LayerState, h, readout, out_bias):
        """ŷ (B, k) and e ↦ (Σ_b ⟨e, Δ_{θ,L}⟩ (M, q), ⟨e, Δ_{H,L}⟩ maps)."""
        out, pull = jax.vjp(self._sigma, state.theta, h)

        def head_pull(e):
            return pull(jnp.broadcast_to(e[:, None, :], out.shape))

        return readout.forward(out, state.mix, out_bias), head_pull

    def weight_pullback(self, state: LayerState, up: Upstream, d_h):
        """Σ_b ⟨cot, Δ_{W,ℓ}⟩ = c Σ_b Δ_{H,ℓ} ⋆ a (per filter pair) and B_{ℓ−1} = c Σ_j π_j F[j]ᵀ ∗ Δ_{H,ℓ}[j]."""
        w, s = state.w, self.layer.kernel
        if self.reads_image:
            u = images(up.a, self.input_shape).astype(w.dtype)
            g = filter_rates(d_h, u, self.layer).reshape(w.shape[0], w.shape[3], s, s)
            return g.transpose(0, 2, 3, 1), Back()
        c = self.scale
        g_w = filter_rates(d_h, up.a, self.layer).reshape(w.shape) * c
        kernel = (w * c).transpose(2, 3, 1, 0)
        _, pull_a = jax.vjp(lambda a: conv_maps(a, kernel, self.layer), up.a)
        return g_w, Back(a=pull_a(d_h * jnp.asarray(state.mix, d_h.dtype))[0])

    def particles(self, ctx: Discretization, prev: LayerState | None, ell: int) -> LayerState:
        """Layer 1: ``m1`` equal-weight scrambled Sobol filters of the tap law; ℓ ≥ 2: θ by
        ``theta_particles`` (one atom unless this is the head), F = the mean filter on every pair."""
        s, dt, law = self.layer.kernel, ctx.dtype, self.weight_law
        as_ = lambda a: jnp.asarray(a, dt)  # noqa: E731
        mean = np.broadcast_to(np.asarray(self.theta_law.mean, np.float64), (self.q,))
        std = np.broadcast_to(np.asarray(self.theta_law.std, np.float64), (self.q,))
        if self.reads_image:
            m, d = ctx.resolution.m1, self.input_shape[0]
            if ctx.sobol:
                z = sobol_normal(s * s * d, m, ctx.seed)
            else:
                z = np.asarray(jax.random.normal(ctx.key_for(0)(), (m, s * s * d)), np.float64)
            w = law.mean[0] + law.std[0] * z.reshape(m, s, s, d)
            theta = np.tile(mean, (m, 1))
            if self.role == "head":  # a one-layer CNN: β needs points too, jointly with the filter
                theta[:, 1:] = mean[1:] + std[1:] * sobol_normal(self.q - 1, m, ctx.seed + 1)
            return LayerState(as_(w), as_(theta), as_(np.full(m, 1.0 / m)))
        th, pi = theta_particles(self.theta_law, self.q, ell, ctx)
        w = np.full((len(th), prev.size, s, s), law.mean[0])
        return LayerState(as_(w), as_(th), as_(pi))

    # ---- symbolic ----------------------------------------------------------------------------

    def weight_shape(self, n: int, n_prev: int) -> tuple[int, ...]:
        s = self.layer.kernel
        return (n, s, s, self.input_shape[0]) if self.reads_image else (n, n_prev, s, s)

    def sym_weights(self, ell: int, n: int, n_prev: int):
        raise NoSymbolicRule(NO_SYMBOLIC)

    def sym_preactivation(self, w, up: Upstream):
        raise NoSymbolicRule(NO_SYMBOLIC)

    def sym_pullback(self, w, up: Upstream, pi, d_h):
        raise NoSymbolicRule(NO_SYMBOLIC)

    def sym_clones(self, ell, marked: Upstream, clone: Upstream, width_prev, R):
        raise NoSymbolicRule(NO_SYMBOLIC)

    # ---- printed equations (``mfspec equations``) ---------------------------------------------

    def eq_activations(self, ell: int, Call) -> list[tuple]:
        """σ_ℓ(b, h) = pool(relu(h + b)), or the head's ⟨β, pool(relu(h + b))⟩ / P^{fan_in}."""
        h, b = sp.Symbol("h", real=True), sp.Symbol("b", real=True)
        pooled = sp.Function("pool")(_act.relu(h + b)) if self.layer.pool else _act.relu(h + b)
        if self.role != "head":
            return [
                (Call(f"sigma_{ell}", [b, h]), pooled, "per feature map: relu, then the layer's pool; q = 1")
            ]
        beta = sp.Symbol("beta", real=True)
        rhs = sp.Function("inner")(beta, pooled) / (self.positions if self.fan_in else 1)
        return [(Call(f"sigma_{ell}", [b, beta, h]), rhs,
                 f"β ∈ R^({self.outputs}×{self.positions}) (k outputs × P positions); q = {self.q}, k = {self.k}")]  # fmt: skip

    def _c(self):
        return sp.Rational(1, self.layer.kernel**2) if self.scale != 1.0 else sp.S.One

    def eq_network(self, ell, nt):
        """h_ℓ[j] = (c/n_{ℓ−1}) Σ_i W_ℓ[j, i] ⋆ σ_{ℓ−1,i}; B to layer ℓ−1; the scaled gradient."""
        conv, conv_t, corr = sp.Function("conv"), sp.Function("conv_T"), sp.Function("corr")
        i, j, k = nt.i, nt.j, nt.k
        note = f"⋆: {self.layer.kernel}x{self.layer.kernel}, stride {self.layer.stride}, padding {self.layer.pad}"
        if self.reads_image:
            c = nt.c
            fwd = (nt.h[1][i], sp.Sum(conv(nt.W[1][i, c], nt.x[c]), (c, 1, nt.d)), f"h_1 = W_1 ⊛ x; {note}")
            grad = (
                sp.IndexedBase("grad~_{W_1} yhat")[i, c],
                corr(nt.gh[1][i], nt.x[c]),
                "= n_1 ∂ŷ/∂W_1[i,c]",
            )
            return fwd, None, grad
        cc = self._c()
        fwd = (nt.h[ell][j], cc * sp.Sum(conv(nt.W[ell][j, i], nt.sig(ell - 1, i)), (i, 1, nt.n[ell - 1]))
               / nt.n[ell - 1], note)  # fmt: skip
        back = cc * sp.Sum(conv_t(nt.W[ell][k, j], nt.gh[ell][k]), (k, 1, nt.n[ell])) / nt.n[ell]
        grad = (sp.IndexedBase(f"grad~_{{W_{ell}}} yhat")[j, i], cc * corr(nt.gh[ell][j], nt.sig(ell - 1, i)),
                f"= n_{ell} n_{ell - 1} ∂ŷ/∂W_{ell}[j,i]")  # fmt: skip
        return fwd, back, grad

    def eq_formal(self, ell, fs):
        """H_ℓ, B_{ℓ−1}, Δ_{W,ℓ}, G_{f,ℓ} and the Lagrangian evolution, for filters (sec. 8)."""
        conv, conv_t, corr = sp.Function("conv"), sp.Function("conv_T"), sp.Function("corr")
        X, TH, THP = fs.X, fs.TH, fs.THP
        if self.reads_image:
            W = fs.W
            fwd = (fs.H(1, W), conv(W, X), "H_1(w; x) = w ⊛ x, w a filter over the d channels")
            delta = (fs.Call("Delta_{W,1}", [TH, W], [X]), corr(fs.Call("Delta_{H,1}", [TH, W], [X]), X))
            rate = (fs.Call("G_{W,1}", [TH, W]), fs.rate(delta[0]))
            evolve = (fs.Call("d/dt", [W]), fs.Call("G_{W,1}", [fs.Var("theta_1"), W]), "eq. 48")
            return fwd, None, delta, rate, evolve
        g, F, cc = fs.prev_var(ell), fs.F, self._c()
        integrand = cc * conv(fs.Call("f", [TH, g]), fs.Call(f"sigma_{ell - 1}", [TH, fs.H(ell - 1, g)]))
        fwd = (
            fs.H(ell, F),
            fs.Rho(integrand, ell - 1, TH, g),
            f"ℓ = {ell}; f(θ', g) a filter (the conditional mean)",
        )
        v = fs.var(ell - 1)
        dH = fs.Call(f"Delta_{{H,{ell}}}", [THP, fs.G], [X])
        back = (fs.Call(f"B_{ell - 1}", [TH, v], [X]), fs.Rho(cc * conv_t(fs.Call("g", [TH, v]), dH), ell, THP, fs.G),
                f"ℓ = {ell - 1}; conv_T: the adjoint of the correlation")  # fmt: skip
        lhs = fs.Call(f"Delta_{{W,{ell}}}", [TH, F, THP, g], [X])
        delta = (lhs, cc * corr(fs.Call(f"Delta_{{H,{ell}}}", [TH, F], [X]),
                                fs.Call(f"sigma_{ell - 1}", [THP, fs.H(ell - 1, g)])))  # fmt: skip
        rate = (fs.Call(f"G_{{f,{ell}}}", [TH, F, THP, g]), fs.rate(lhs))
        return fwd, back, delta, rate, fs.f_evolution(ell)
