"""The symmetry-reduced (radial) limit for rotation-invariant data and layer-1 init (docs/formal_system.md sec. 3).

When x | y is rotation invariant (the isotropic Gaussians) and w ~ ρ_1^0 is rotation invariant and
independent of θ_1, the flow is rotation equivariant: every layer-1 weight stays on its initial
ray, w_i(t) = s_i(t) e_i, and f, biases and ŷ(x) depend on |w| and |x| only. For an input of radius
r, a layer-1 neuron with direction e sees H_1 = s r U with U = ⟨e, x/|x|⟩, whose law over the
neurons is the same for every x: density ∝ (1 − u²)^((d−3)/2) on [−1, 1].

So the limit is a particle system on *compact* layer-1 particles (s_a, θ_{1,a}) whose forward and
rates are those of the general formal system (``_formal.FormalSystem``) on *virtual* particles
(a, m) = (s_a u_m as a 1-D weight, θ_{1,a}) with weights π_a ω_m, fed the radius r as a 1-D input:

    ds_a/dt     = Σ_m ω_m u_m G_{W,1}(a, m)          (the component of dw/dt along e_a)
    dθ_{1,a}/dt = Σ_m ω_m G_{θ,1}(a, m)
    dF_2[j,a]/dt = Σ_m ω_m G_{f,2}(j; a, m)

and layers ℓ ≥ 2 unchanged. The expectation over P becomes a quadrature over (y, r); |w| and |x|
are scaled χ_d laws (generalized Gauss–Laguerre nodes), U takes Gauss–Jacobi nodes, any σ.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from scipy.special import roots_genlaguerre, roots_jacobi

from mfspec.init import Normal
from mfspec.layers._quadrature import gauss_hermite
from mfspec.layers.base import LayerState
from mfspec.limit.formal import FormalSystem, WeightedBatch
from mfspec.limit.particles import discretization, particles_from
from mfspec.limit.resolution import DEFAULT as DEFAULT_RESOLUTION
from mfspec.limit.resolution import Resolution
from mfspec.network.particles import Particles


def chi_nodes(n: int, d: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and probability weights for R = scale · χ_d (the norm of N(0, scale² I_d)).

    R²/(2 scale²) ~ Gamma(d/2): the n-point generalized Gauss–Laguerre rule with α = d/2 − 1,
    exact for polynomials of degree ≤ 2n − 1 in R².
    """
    v, w = roots_genlaguerre(n, d / 2 - 1)
    return scale * np.sqrt(2 * v), w / w.sum()


def direction_nodes(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for U = ⟨e, u⟩, e and u independent uniform on S^{d−1}.

    Density ∝ (1 − u²)^((d−3)/2): Gauss–Jacobi with α = β = (d−3)/2. For d = 1, U = ±1.
    """
    if d == 1:
        return np.array([-1.0, 1.0]), np.array([0.5, 0.5])
    a = (d - 3) / 2
    u, w = roots_jacobi(n, a, a)
    return u, w / w.sum()


def is_rotation_invariant(spec) -> bool:
    """True when the data law (``radial_law``) and the layer-1 weight law are rotation invariant
    (and layer 2 does not read H_1 through a skip: its particles would then see the directions)."""
    data_ok = hasattr(spec.data, "radial_law")
    if spec.layers[0].kind_name != "input":  # the reduction is of a fully connected layer 1
        return False
    if len(spec.layers) > 1 and spec.layers[1].skips:
        return False
    w1 = spec.layers[0].weight_law
    w_ok = isinstance(w1, Normal) and len(w1.mean) == 1 and w1.mean[0] == 0.0 and len(w1.std) == 1
    return data_ok and w_ok


class RadialSystem(eqx.Module):
    """The formal system on compact radial particles (see module docstring).

    Fields:
        system: the general ``FormalSystem`` of the spec.
        u, omega: direction nodes and weights, shape (M_U,).
    """

    system: FormalSystem
    u: jnp.ndarray
    omega: jnp.ndarray

    def expand(self, p: Particles) -> Particles:
        """Compact layer 1 (s (A, 1), θ_1 (A, q)) → virtual particles (a, m), A·M_U of them; the
        columns of layer 2's weights repeat for each direction node."""
        one, a, m = p.layers[0], p.layers[0].size, self.u.shape[0]
        virtual = LayerState(
            w=(one.w[:, :1] * self.u[None, :]).reshape(a * m, 1),
            theta=jnp.repeat(one.theta, m, axis=0),
            pi=(one.pi[:, None] * self.omega[None, :]).reshape(a * m),
        )
        layers = [virtual, *p.layers[1:]]
        if len(layers) > 1:
            two = layers[1]
            layers[1] = LayerState(jnp.repeat(two.w, m, axis=1), two.theta, two.pi, two.omega)
        return Particles(tuple(layers), p.out_bias, p.kinds, p.readout)

    def rates(self, t, p: Particles, batch: WeightedBatch) -> Particles:
        g = self.system.rates(t, self.expand(p), batch)
        a, m = p.layers[0].size, self.u.shape[0]
        om, one = self.omega, g.layers[0]
        g_s = jnp.einsum("am,m->a", one.w[:, 0].reshape(a, m), om * self.u)[:, None]
        g_th1 = jnp.einsum("amq,m->aq", one.theta.reshape(a, m, -1), om)
        layers = [p.layers[0].with_moving(g_s, g_th1), *g.layers[1:]]
        if len(layers) > 1:
            w2 = layers[1].w
            w2 = jnp.einsum("jam...,m->ja...", w2.reshape(w2.shape[0], a, m, *w2.shape[2:]), om)
            layers[1] = layers[1].with_moving(w2, layers[1].theta)
        # π and ϖ do not move: their rates are 0, shaped like the compact state's.
        zero = lambda a: None if a is None else jnp.zeros_like(a)  # noqa: E731
        layers = [LayerState(s.w, s.theta, zero(q.pi), zero(q.omega)) for s, q in zip(layers, p.layers)]
        return Particles(tuple(layers), g.out_bias, p.kinds, p.readout)

    def __call__(self, t, p: Particles, batch: WeightedBatch) -> Particles:
        return self.rates(t, p, batch)

    def forward(self, p: Particles, x, *, with_preactivations: bool = False):
        """ŷ for inputs x (B, d): only |x| matters."""
        r = jnp.linalg.norm(x, axis=-1, keepdims=True)
        return self.system.forward(self.expand(p), r, with_preactivations=with_preactivations)

    def evaluate(self, p: Particles, eval_sets: dict):
        radial = {k: (jnp.linalg.norm(x, axis=-1, keepdims=True), y) for k, (x, y) in eval_sets.items()}
        return self.system.evaluate(self.expand(p), radial)


def radial_setup(spec, *, resolution: Resolution = DEFAULT_RESOLUTION, dtype=None):
    """(RadialSystem, initial compact Particles, WeightedBatch over (y, r)) for a rotation-invariant spec.

    Arguments:
        resolution: the sizes: ``s_nodes`` for |w| (a scaled χ_d law), ``u_nodes`` Gauss–Jacobi
            nodes for the direction cosine U, ``r_nodes`` for |x| per mixture component of the
            data law, ``theta_nodes`` Gauss–Hermite nodes per non-atomic θ component (layer 1 and
            ℓ ≥ 2; deeper layers as ``spec_particles`` makes them).
    """
    if not is_rotation_invariant(spec):
        raise ValueError(
            f"radial_setup: spec {spec.name!r} is not rotation invariant (needs a data law with "
            "radial_law() and W_1 entries iid N(0, s²))"
        )
    dtype = dtype or jnp.zeros(()).dtype
    d, res, first = spec.input_dim, resolution, spec.layers[0]
    s, ps = chi_nodes(res.s_nodes, d, first.weight_law.std[0])
    th_law, q1 = first.theta_law, first.q
    if not isinstance(th_law, Normal):
        raise ValueError(f"radial_setup: layer-1 θ law must be a Normal (or an atom), got {th_law!r}")
    if th_law.is_atom:
        th1, pt = np.broadcast_to(np.asarray(th_law.mean, np.float64), (1, q1)).copy(), np.ones(1)
    else:
        mean = np.broadcast_to(np.asarray(th_law.mean), (q1,))
        std = np.broadcast_to(np.asarray(th_law.std), (q1,))
        grids = [gauss_hermite(res.theta_nodes, mean[i], std[i]) if std[i] > 0 else (mean[i:i + 1], np.ones(1))
                 for i in range(q1)]  # fmt: skip
        mesh = np.meshgrid(*[g[0] for g in grids], indexing="ij")
        wmesh = np.meshgrid(*[g[1] for g in grids], indexing="ij")
        th1 = np.stack([m.ravel() for m in mesh], axis=1)
        pt = np.prod(np.stack([w.ravel() for w in wmesh], axis=1), axis=1)
    # Tensor grid (s, θ_1): layer-1 particle a = (s index, θ index); deeper layers as usual.
    as_ = lambda a: jnp.asarray(a, dtype)  # noqa: E731
    compact = LayerState(as_(np.repeat(s, len(pt))[:, None]), as_(np.tile(th1, (len(s), 1))),
                         as_(np.outer(ps, pt).ravel()))  # fmt: skip
    p0 = particles_from(spec, discretization(spec, resolution=res, dtype=dtype), first=compact)
    u, om = direction_nodes(res.u_nodes, d)
    system = RadialSystem(FormalSystem.from_spec(spec), jnp.asarray(u, dtype), jnp.asarray(om, dtype))
    ys, rs, ws = [], [], []
    for y, scale, prob in spec.data.radial_law():
        r, w = chi_nodes(res.r_nodes, d, scale)
        (
            rs.append(r),
            ws.append(prob * w),
            ys.append(np.broadcast_to(np.asarray(y, np.float64), (res.r_nodes, len(y)))),
        )
    batch = WeightedBatch(
        x=jnp.asarray(np.concatenate(rs)[:, None], dtype),
        y=jnp.asarray(np.concatenate(ys), dtype),
        weights=jnp.asarray(np.concatenate(ws), dtype),
    )
    assert math.isclose(float(np.concatenate(ws).sum()), 1.0, rel_tol=1e-9)
    return system, p0, batch
