"""The symmetry-reduced (radial) limit for rotation-invariant data and layer-1 init (MATH.md sec. 3).

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

from mfspec._formal import FormalSystem, WeightedBatch
from mfspec._particles import Particles, gauss_hermite
from mfspec.init import Normal


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
    """True when the data law (``radial_law``) and the layer-1 weight law are rotation invariant."""
    data_ok = hasattr(spec.data, "radial_law")
    w1 = spec.init.w1
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
        """Compact (s (A, 1), θ_1 (A, q), F_2 (M_2, A)) → virtual particles (A·M_U of them)."""
        a, m = p.w1.shape[0], self.u.shape[0]
        w1 = (p.w1[:, :1] * self.u[None, :]).reshape(a * m, 1)
        th1 = jnp.repeat(p.thetas[0], m, axis=0)
        pi1 = (p.weights[0][:, None] * self.omega[None, :]).reshape(a * m)
        kernels = p.kernels
        if kernels:
            kernels = (jnp.repeat(kernels[0], m, axis=1), *kernels[1:])
        return Particles(
            w1=w1, thetas=(th1, *p.thetas[1:]), kernels=kernels, out_bias=p.out_bias,
            weights=(pi1, *p.weights[1:]),
        )  # fmt: skip

    def rates(self, t, p: Particles, batch: WeightedBatch) -> Particles:
        g = self.system.rates(t, self.expand(p), batch)
        a, m = p.w1.shape[0], self.u.shape[0]
        om = self.omega
        g_s = jnp.einsum("am,m->a", g.w1[:, 0].reshape(a, m), om * self.u)[:, None]
        g_th1 = jnp.einsum("amq,m->aq", g.thetas[0].reshape(a, m, -1), om)
        kernels = g.kernels
        if kernels:
            f2 = jnp.einsum("jam,m->ja", kernels[0].reshape(kernels[0].shape[0], a, m), om)
            kernels = (f2, *kernels[1:])
        return Particles(
            w1=g_s, thetas=(g_th1, *g.thetas[1:]), kernels=kernels, out_bias=g.out_bias,
            weights=tuple(jnp.zeros_like(w) for w in p.weights),
        )  # fmt: skip

    def __call__(self, t, p: Particles, batch: WeightedBatch) -> Particles:
        return self.rates(t, p, batch)

    def forward(self, p: Particles, x, *, with_preactivations: bool = False):
        """ŷ for inputs x (B, d): only |x| matters."""
        r = jnp.linalg.norm(x, axis=-1, keepdims=True)
        return self.system.forward(self.expand(p), r, with_preactivations=with_preactivations)

    def evaluate(self, p: Particles, eval_sets: dict):
        radial = {k: (jnp.linalg.norm(x, axis=-1, keepdims=True), y) for k, (x, y) in eval_sets.items()}
        return self.system.evaluate(self.expand(p), radial)


def radial_setup(
    spec, *, s_nodes: int = 16, u_nodes: int = 64, r_nodes: int = 32, theta_nodes: int = 8, dtype=None
):
    """(RadialSystem, initial compact Particles, WeightedBatch over (y, r)) for a rotation-invariant spec.

    Arguments:
        s_nodes: nodes for |w| (a scaled χ_d law).
        u_nodes: Gauss–Jacobi nodes for the direction cosine U.
        r_nodes: nodes for |x| per mixture component of the data law.
        theta_nodes: Gauss–Hermite nodes per non-atomic θ component (layer 1 and ℓ ≥ 2).
    """
    from mfspec._particles import spec_particles

    if not is_rotation_invariant(spec):
        raise ValueError(
            f"radial_setup: spec {spec.name!r} is not rotation invariant (needs a data law with "
            "radial_law() and W_1 entries iid N(0, s²))"
        )
    dtype = dtype or jnp.zeros(()).dtype
    d = spec.input_dim
    # Layers ≥ 2 come from the general discretization (collapse, Gauss–Hermite); layer 1 is ours.
    rest = spec_particles(spec, m1=1, nodes=theta_nodes, dtype=dtype)
    s, ps = chi_nodes(s_nodes, d, spec.init.w1.std[0])
    th_law = spec.init.theta[0]
    q1 = spec.acts[0].q
    if not isinstance(th_law, Normal):
        raise ValueError(f"radial_setup: layer-1 θ law must be a Normal (or an atom), got {th_law!r}")
    if th_law.is_atom:
        th1, pt = np.broadcast_to(np.asarray(th_law.mean, np.float64), (1, q1)).copy(), np.ones(1)
    else:
        mean = np.broadcast_to(np.asarray(th_law.mean), (q1,))
        std = np.broadcast_to(np.asarray(th_law.std), (q1,))
        grids = [gauss_hermite(theta_nodes, mean[i], std[i]) if std[i] > 0 else (mean[i:i + 1], np.ones(1))
                 for i in range(q1)]  # fmt: skip
        mesh = np.meshgrid(*[g[0] for g in grids], indexing="ij")
        wmesh = np.meshgrid(*[g[1] for g in grids], indexing="ij")
        th1 = np.stack([m.ravel() for m in mesh], axis=1)
        pt = np.prod(np.stack([w.ravel() for w in wmesh], axis=1), axis=1)
    # Tensor grid (s, θ_1): layer-1 particle a = (s index, θ index).
    s_all = np.repeat(s, len(pt))[:, None]
    th_all = np.tile(th1, (len(s), 1))
    pi1 = np.outer(ps, pt).ravel()
    kernels = rest.kernels
    if kernels:
        # F_2 on the new layer-1 particles: the kernel mean at (θ_2,j, θ_1,a).
        f2 = spec.init.kernels[0].mean_matrix(jnp.asarray(rest.thetas[1], dtype), jnp.asarray(th_all, dtype))
        kernels = (f2, *kernels[1:])
    p0 = Particles(
        w1=jnp.asarray(s_all, dtype),
        thetas=(jnp.asarray(th_all, dtype), *rest.thetas[1:]),
        kernels=tuple(jnp.asarray(k, dtype) for k in kernels),
        out_bias=jnp.asarray(rest.out_bias, dtype),
        weights=(jnp.asarray(pi1, dtype), *rest.weights[1:]),
    )
    u, om = direction_nodes(u_nodes, d)
    system = RadialSystem(FormalSystem.from_spec(spec), jnp.asarray(u, dtype), jnp.asarray(om, dtype))
    ys, rs, ws = [], [], []
    for y, scale, prob in spec.data.radial_law():
        r, w = chi_nodes(r_nodes, d, scale)
        (
            rs.append(r),
            ws.append(prob * w),
            ys.append(np.broadcast_to(np.asarray(y, np.float64), (r_nodes, len(y)))),
        )
    batch = WeightedBatch(
        x=jnp.asarray(np.concatenate(rs)[:, None], dtype),
        y=jnp.asarray(np.concatenate(ys), dtype),
        weights=jnp.asarray(np.concatenate(ws), dtype),
    )
    assert math.isclose(float(np.concatenate(ws).sum()), 1.0, rel_tol=1e-9)
    return system, p0, batch
