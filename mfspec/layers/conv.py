"""Convolutional layers (App. C, Table 1) as a layer kind: σ*(w, h) = w ∗ σ(h) with a filter-valued w.

A neuron of layer ℓ is a filter; its pre-activation is a feature map. With (F ∗ u) the 2-D
cross-correlation of one channel (stride and zero padding of the ``ConvLayer``), and c = 1/s² under
``fan_in`` (1 for App. C's own scaling):

| system    | rule                                                                                      |
|-----------|-------------------------------------------------------------------------------------------|
| finite    | h_1[j] = Σ_c W_1[j, c] ∗ x_c; h_ℓ[j] = (c/n_{ℓ−1}) Σ_i W_ℓ[j, i] ∗ a_i (ℓ ≥ 2);             |
|           | a_ℓ = pool(relu(h_ℓ + b_ℓ)); ŷ = (1/n_L) Σ_j ⟨β_j, a_{L,j}⟩ (· 1/P under fan_in) + b_out;  |
|           | SGD factors n_1 (W_1), n_ℓ n_{ℓ−1} (W_ℓ), n_ℓ (b_ℓ, β) — ``mf.conv.ConvNetwork``           |
| limit     | H_ℓ(x; c) = c E_{c'}[F_ℓ(c', c) ∗ a_{ℓ−1}(x; c')]; Δ_{W,ℓ} = c Δ_{H,ℓ} ⋆ a_{ℓ−1}          |
|           | (a correlation over positions); B_{ℓ−1}(c') = c E_c[F_ℓ(c', c)ᵀ ∗ Δ_{H,ℓ}(c)]              |
| particles | layer 1: Sobol filters ∈ R^{s·s·d}, bias 0; layers 2..L−1 collapse (an atomic bias and    |
|           | F = w_mean everywhere, the conditional-mean filter); layer L: Sobol points of β ∈ R^{k·P}  |
| symbolic  | the printed system of ``mfspec equations`` (``eq_formal``)                                 |

(docs/formal_system.md sec. 8.) Filters are affine in w, so the iid noise of the filter taps of
W_ℓ (ℓ ≥ 2) drops out of the limit, as for a dense layer: F_ℓ[j, i] ∈ R^{s×s} is the conditional
mean filter. θ of a neuron is its bias b (q = 1); the head's θ is (b, β) with β ∈ R^{k×P} (k
outputs, P positions after layer L's pool), q = 1 + k·P, and its σ_L(θ, h) = ⟨β, pool(relu(h + b))⟩.

Array layouts: feature maps are NHWC, (B, side, side, M); a state's w is (M, s, s, d) for layer 1
(particles first, so that the layer-1 particles can be cut across devices like a dense layer's)
and (M, M', s, s) for ℓ ≥ 2 (F_ℓ[j, i] the filter from particle i of layer ℓ−1 to particle j).

The backward uses the scaled cotangents of ``mfspec.layers._base``: nothing is divided by a π.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from jax import lax

from mfspec import act as _act
from mfspec._discretize import Discretization, sobol_normal, theta_particles
from mfspec.act import Activation
from mfspec.init import Normal
from mfspec.layers._base import LayerKind, LayerState, batch_contraction

__all__ = ["Conv", "conv_maps", "max_pool"]

_DIMS = ("NHWC", "HWIO", "NHWC")  # as fast as NCHW on XLA:CPU (measured) and the natural layout
ROLES = ("first", "hidden", "head")


def conv_maps(u, kernel, layer):
    """Σ_i kernel[:, :, i, j] ⋆ u[..., i]: NHWC maps u, an HWIO kernel, the layer's stride and padding."""
    pad = ((layer.pad, layer.pad), (layer.pad, layer.pad))
    return lax.conv_general_dilated(u, kernel, (layer.stride,) * 2, pad, dimension_numbers=_DIMS)


def patches(u, layer):
    """The s × s patches of NHWC maps u at the layer's stride and padding, flattened: (B·H'·W', C·s·s),
    feature index c·s² + ky·s + kx (the order of ``lax.conv_general_dilated_patches``)."""
    pad = ((layer.pad, layer.pad), (layer.pad, layer.pad))
    p = lax.conv_general_dilated_patches(
        u, (layer.kernel, layer.kernel), (layer.stride,) * 2, pad, dimension_numbers=("NHWC", "OIHW", "NHWC")
    )
    return p.reshape(-1, p.shape[-1])


def filter_rates(d_h, u, layer):
    """Σ_{b, positions} d_h[b, y, x, j] u[b, y·stride + ky − pad, ..., c]: (M, C·s·s), index c·s² + ky·s + kx.

    The weight half of a convolution's backward as one matrix product of the patches with d_h.
    Differentiating ``conv_maps`` for it instead gave XLA:CPU's naive weight-gradient convolution
    inside the solver's while loop: 2.2 s per Heun step of a 128-image, 256-particle CNN limit.
    """
    return batch_contraction(d_h.reshape(-1, d_h.shape[-1]), patches(u, layer))


def max_pool(u, layer):
    """Layer's max pool of NHWC maps (its padding never wins the max); u itself without a pool."""
    if not layer.pool:
        return u
    p = layer.pool_pad
    return lax.reduce_window(
        u,
        -jnp.inf,
        lax.max,
        (1, layer.pool, layer.pool, 1),
        (1, layer.pool_stride, layer.pool_stride, 1),
        ((0, 0), (p, p), (p, p), (0, 0)),
    )


def images(x, input_shape):
    """Flat inputs (B, d·H·W), channel-major as CIFAR-10 stores them, as NHWC maps."""
    d, H, W = input_shape
    return x.reshape(x.shape[0], d, H, W).transpose(0, 2, 3, 1)


class Conv(LayerKind):
    """Layer ℓ of App. C's CNN: a ``ConvLayer`` (s × s filters, stride, padding, max pool) whose
    neurons are filters with a bias, ReLU then the pool; the last layer also carries β.

    Built by ``mf.conv.ConvSpec.kinds()`` from the spec; not declared by hand.

    Fields:
        layer: the ``ConvLayer`` (Table 1's row).
        role: "first" (reads the image), "hidden" (ℓ ≥ 2) or "head" (ℓ = L ≥ 2 or the only layer
            when it is also the first: see ``reads_image``).
        input_shape: (d, H, W) of the image (layer 1) — used to read flat inputs.
        outputs, positions: k and P of the head (1 elsewhere).
        fan_in: divide layer ℓ ≥ 2's sum by s² and the head's by P as well (``ConvSpec.fan_in``).
        weight_mean, weight_std: the law of the incoming filter taps, iid N(mean, std²)
            (layer 1: N(0, w1_var); ℓ ≥ 2: N(w_mean, w_var), whose mean alone enters the limit).
        beta_mean, beta_std: the law of the head's β entries (N(w_mean, w_var)).
        reads_image: whether this layer's input is the image (layer 1, also when it is the head).
    """

    layer: object
    role: str
    input_shape: tuple[int, int, int]
    outputs: int = 1
    positions: int = 1
    fan_in: bool = False
    weight_mean: float = 0.0
    weight_std: float = 1.0
    beta_mean: float = 1.0
    beta_std: float = 0.0
    reads_image: bool = False
    act: Activation = _act.layer(_act.relu)  # relu(h + b): the pointwise part of σ (before the pool)

    kind_name = "conv"

    def __check_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"Conv.role must be one of {ROLES}, got {self.role!r}")

    @property
    def reads_input(self) -> bool:  # type: ignore[override]
        return self.reads_image

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

    def describe(self) -> dict:
        return {**super().describe(), "kind": "conv", "role": self.role, "kernel": self.layer.kernel,
                "stride": self.layer.stride, "pool": self.layer.pool, "q": self.q, "k": self.k,
                "sigma": "pool(relu(h + b))" + (", then <beta, .>" if self.role == "head" else "")}  # fmt: skip

    # ---- finite network (the same rules as mf.conv.ConvNetwork) -----------------------------

    def weight_factor(self, n, n_prev):
        """Sec. 3.1 for a filter: n_1 for W_1, n_ℓ n_{ℓ−1} for W_ℓ (mfspec/conv/_network.py)."""
        return n if self.reads_image else n * n_prev

    # ---- both systems ----------------------------------------------------------------------

    def preactivation(self, state: LayerState, inputs, prev_mix):
        """H_1 = w ⋆ x, or H_ℓ[j] = c Σ_i π'_i F[j, i] ⋆ a_i: (B, side, side, M) maps."""
        if self.reads_image:
            u = images(inputs, self.input_shape).astype(state.w.dtype)
            return conv_maps(u, state.w.transpose(1, 2, 3, 0), self.layer)
        mix = jnp.asarray(prev_mix, state.w.dtype) * self.scale  # π' (or 1/n') on the small kernel
        kernel = state.w.transpose(2, 3, 1, 0) * (mix[:, None] if jnp.ndim(mix) else mix)
        return conv_maps(inputs, kernel, self.layer)

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

    def neuron_pullback(self, state: LayerState, h, back):
        """Σ_b ⟨B_ℓ, ∇_θσ⟩ (M, 1) and ⟨B_ℓ, ∂_hσ⟩ (B, side, side, M): one VJP through the pool."""
        _, pull = jax.vjp(self._sigma, state.theta, h)
        return pull(back)

    def head_pullback(self, state: LayerState, h, readout, out_bias):
        """ŷ (B, k) and e ↦ (Σ_b ⟨e, Δ_{θ,L}⟩ (M, q), ⟨e, Δ_{H,L}⟩ maps) (``mfspec.layers._head``)."""
        out, pull = jax.vjp(self._sigma, state.theta, h)

        def head_pull(e):
            return pull(jnp.broadcast_to(e[:, None, :], out.shape))

        return readout.forward(out, state.mix, out_bias), head_pull

    def weight_pullback(self, state: LayerState, inputs, prev_mix, d_h):
        """Σ_b ⟨cot, Δ_{W,ℓ}⟩ = c Σ_b Δ_{H,ℓ} ⋆ a (per filter pair) and B_{ℓ−1} = c Σ_j π_j F[j]ᵀ ∗ Δ_{H,ℓ}[j]."""
        w, s = state.w, self.layer.kernel
        if self.reads_image:
            u = images(inputs, self.input_shape).astype(w.dtype)
            g = filter_rates(d_h, u, self.layer).reshape(w.shape[0], w.shape[3], s, s)
            return g.transpose(0, 2, 3, 1), None
        c = self.scale
        g_w = filter_rates(d_h, inputs, self.layer).reshape(w.shape) * c
        kernel = (w * c).transpose(2, 3, 1, 0)
        _, pull_a = jax.vjp(lambda a: conv_maps(a, kernel, self.layer), inputs)
        return g_w, pull_a(d_h * jnp.asarray(state.mix, d_h.dtype))[0]

    # ---- particles (docs/formal_system.md sec. 8) --------------------------------------------

    def bias_and_beta_law(self) -> Normal:
        """θ's law: the bias an atom at 0 (App. C), and the head's β iid N(beta_mean, beta_std²)."""
        extra = self.q - 1
        return Normal((0.0,) + (self.beta_mean,) * extra, (0.0,) + (self.beta_std,) * extra)

    def particles(self, ctx: Discretization, prev: LayerState | None = None, ell: int = 1) -> LayerState:
        """Layer 1: ``m1`` equal-weight scrambled Sobol filters of N(0, w1_var) taps; ℓ ≥ 2: θ by
        ``theta_particles`` (one atom unless this is the head), F = the mean filter on every pair."""
        s, dt = self.layer.kernel, ctx.dtype
        as_ = lambda a: jnp.asarray(a, dt)  # noqa: E731
        if self.reads_image:
            m, d = ctx.resolution.m1, self.input_shape[0]
            if ctx.sobol:
                z = sobol_normal(s * s * d, m, ctx.seed)
            else:
                z = np.asarray(jax.random.normal(ctx.key_for(0)(), (m, s * s * d)), np.float64)
            w = self.weight_mean + self.weight_std * z.reshape(m, s, s, d)
            theta = np.tile(self.bias_and_beta_law().mean, (m, 1))
            if self.role == "head":  # a one-layer CNN: β needs points too, jointly with the filter
                theta[:, 1:] = self.beta_mean + self.beta_std * sobol_normal(self.q - 1, m, ctx.seed + 1)
            return LayerState(as_(w), as_(theta), as_(np.full(m, 1.0 / m)))
        th, pi = theta_particles(self.bias_and_beta_law(), self.q, ell, ctx)
        w = np.full((len(th), prev.size, s, s), self.weight_mean)
        return LayerState(as_(w), as_(th), as_(pi))

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


def conv_kinds(spec) -> tuple[Conv, ...]:
    """The layer kinds of a ``ConvSpec`` (``ConvSpec.kinds``): Table 1's rows with their roles."""
    L = spec.num_layers
    kinds = []
    for ell, layer in enumerate(spec.layers, start=1):
        role = "head" if ell == L else ("first" if ell == 1 else "hidden")
        first = ell == 1
        kinds.append(
            Conv(
                layer=layer,
                role=role,
                input_shape=spec.input_shape,
                outputs=spec.outputs if role == "head" else 1,
                positions=spec.positions if role == "head" else 1,
                fan_in=spec.fan_in,
                weight_mean=0.0 if first else spec.w_mean,
                weight_std=math.sqrt(spec.w1_var if first else spec.w_var),
                beta_mean=spec.w_mean,
                beta_std=math.sqrt(spec.w_var),
                reads_image=first,
            )
        )
    return tuple(kinds)
