"""The machinery of the Eulerian check (``mfspec.checks.eulerian``; docs/formal_system.md sec. 5):
two test neurons of weight π = 0 ride in the particle system, and the Eulerian field f_ℓ^t at a fixed
argument is their value carried back along the characteristic to t = 0 (see the check's module
docstring for the construction and why it decides the D_2 f term)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from mfspec.layers.base import LayerState
from mfspec.limit.formal import FormalSystem, WeightedBatch
from mfspec.network.particles import Particles


def _test_g(theta1, w):
    """The fixed argument function g ∈ F_2 of the ℓ = 3 check: a smooth function of a layer-1 state."""
    u = jnp.linspace(0.8, -0.6, w.shape[-1])
    return 1.0 + 0.5 * jnp.tanh(w @ u + theta1[..., 0] - 0.5)


# ---- the test neuron (π = 0) appended to the particle system --------------------------------


def _augment(p: Particles, y) -> Particles:
    """p with two weight-0 test neurons appended: one in layer 1 (θ'_1, w; its column a2 in F_2) and
    one in layer 2 (θ'_2, its kernel row G on the layer-1 particles; its column a3 in F_3). The
    F_2 entry between the two test neurons is a dummy (0): each is weighted by π = 0."""
    th1, w, a2, th2, g, a3 = y
    one, two, three = p.layers[:3]
    z = jnp.zeros((1,), p.dtype)
    cat = jnp.concatenate
    f2 = cat([cat([two.w, a2[:, None]], 1), cat([g, z])[None]], 0)
    layers = (
        LayerState(cat([one.w, w[None]]), cat([one.theta, th1[None]]), cat([one.pi, z])),
        LayerState(f2, cat([two.theta, th2[None]]), cat([two.pi, z])),
        LayerState(cat([three.w, a3[:, None]], 1), three.theta, three.pi),
        *p.layers[3:],
    )
    return Particles(layers, p.out_bias, p.kinds, p.readout)


def _test_rates(system: FormalSystem, batch, s, p: Particles, y):
    """The Lagrangian rates of the two test neurons against the ensemble p at time s (App. A
    eq. 48-52: G_{θ,1}, G_{W,1}, G_{f,2}(·, test 1); G_{θ,2}, G_{f,2}(test 2, ·), G_{f,3}(·, test 2)),
    and all rates of the augmented system."""
    r = system.rates(s, _augment(p, y), batch)
    one, two, three = r.layers[:3]
    rates = (one.theta[-1], one.w[-1], two.w[:-1, -1], two.theta[-1], two.w[-1, :-1], three.w[:, -1])
    return rates, r


def _rk4_scan(rate, y, h, steps):
    """``steps`` classical RK4 steps of size h (h < 0 integrates backward); ``rate(k, y)`` takes the
    stage index k on the half-step grid (stage times s0 + k·h/2). Returns the final y and every
    y at the step starts. The four stages are an inner scan, so ``rate`` is traced once (compile
    time, not run time, is what costs here)."""
    c_stage = jnp.asarray([0.0, 0.5, 0.5, 1.0])
    b_stage = jnp.asarray([1.0, 2.0, 2.0, 1.0]) / 6
    k_offset = jnp.asarray([0, 1, 1, 2])
    zeros = jax.tree.map(jnp.zeros_like, y)

    def step(y, n):
        def stage(carry, s):
            acc, k_prev = carry
            y_s = jax.tree.map(lambda a, k: a + c_stage[s] * h * k, y, k_prev)
            k = rate(2 * n + k_offset[s], y_s)
            return (jax.tree.map(lambda a, kk: a + b_stage[s] * kk, acc, k), k), None

        (inc, _), _ = jax.lax.scan(stage, (zeros, zeros), jnp.arange(4))
        return jax.tree.map(lambda a, k: a + h * k, y, inc), y

    return jax.lax.scan(step, y, jnp.arange(steps))


class Field(eqx.Module):
    """f_2^t(θ'_1, w) and f_3^t(θ'_2, g) by the backward characteristics of the two test neurons."""

    system: FormalSystem
    batch: WeightedBatch
    p0: Particles  # the ensemble's initial particles
    kernels: tuple = eqx.field(static=True)  # the init kernels of layers 2 and 3
    steps: int = eqx.field(static=True)

    def trajectory(self, t):
        """The ensemble on the half-step grid t·k/(2N), k = 0..2N: RK4 of ``FormalSystem.rates`` (the
        vector field ``solve_limit`` integrates) with step t/(2N), every state saved."""
        h = t / (2 * self.steps)
        rate = lambda k, y: self.system.rates(h * k / 2, y, self.batch)  # noqa: E731
        last, saved = _rk4_scan(rate, self.p0, h, 2 * self.steps)
        return jax.tree.map(lambda s, e: jnp.concatenate([s, e[None]]), saved, last)

    def f0(self, ell, theta0):
        """f_ℓ^0(θ'_0, ·) on the layer-ℓ particles: the kernel mean (its noise is not in the limit)."""
        kernel, th = self.kernels[ell - 2], self.p0.layers[ell - 1].theta
        if callable(kernel.mean):
            return kernel.mean_matrix(th, theta0[None])[:, 0]
        return jnp.full((th.shape[0],), kernel.mean, th.dtype)

    def residual(self, traj, t, a, args):
        """[a2_0 − f_2^0(θ'_1,0), a3_0 − f_3^0(θ'_2,0)]: the test neurons integrated from t back to 0
        through ``traj``; a = [a2, a3] at t, args = (θ'_1, w, θ'_2, G) at t."""
        th1, w, th2, g = args
        n2 = self.p0.sizes[1]
        h = t / self.steps
        n = 2 * self.steps
        pick = lambda k: jax.tree.map(lambda e: e[n - k], traj)  # noqa: E731  stage time t − k·h/2
        rate = lambda k, y: _test_rates(self.system, self.batch, t - h * k / 2, pick(k), y)[0]  # noqa: E731
        (th1_0, _, a2_0, th2_0, _, a3_0), _ = _rk4_scan(
            rate, (th1, w, a[:n2], th2, g, a[n2:]), -h, self.steps
        )
        return jnp.concatenate([a2_0 - self.f0(2, th1_0), a3_0 - self.f0(3, th2_0)])

    def solve(self, traj, t, args, tol=1e-14, max_iter=100):
        """a_t = [f_2^t(θ'_1, w), f_3^t(θ'_2, g)]: fixed-point iteration a ← a − r(a) (∂r/∂a ≈ I)."""

        def body(c):
            a, _, k = c
            r = self.residual(traj, t, a, args)
            return a - r, jnp.max(jnp.abs(r)), k + 1

        a0 = jnp.concatenate([self.f0(2, args[0]), self.f0(3, args[2])])
        a, err, _ = jax.lax.while_loop(lambda c: (c[1] > tol) & (c[2] < max_iter), body, (a0, jnp.inf, 0))
        return a, err


def _at(field: Field, t, th1, w, th2):
    """At time t: f_2^t(θ'_1, w), f_3^t(θ'_2, g), and G_2, G_3 (variants A, B) by autodiff there."""
    traj = field.trajectory(t)
    p = jax.tree.map(lambda e: e[-1], traj)
    g = _test_g(p.layers[0].theta, p.layers[0].w)  # the fixed function g, on the layer-1 particles of time t
    args = (th1, w, th2, g)
    a, err = field.solve(traj, t, args)
    n2 = field.p0.sizes[1]
    y = (th1, w, a[:n2], th2, g, a[n2:])
    (d_th1, d_w, d_a2, d_th2, d_g, d_a3), r = _test_rates(field.system, field.batch, t, p, y)
    # ∂_t g at the layer-1 particles z_i: Lagrangian G_{f,2}(θ'_2, g, z_i) (B), or Eulerian (A)
    # G_2(θ'_2, g, z_i) = G_{f,2} − ⟨∇_θ g(z_i), G_{θ,1}(z_i)⟩ − ⟨∇_w g(z_i), G_{W,1}(z_i)⟩.
    g_th, g_w = jax.vmap(jax.grad(_test_g, argnums=(0, 1)))(p.layers[0].theta, p.layers[0].w)
    lagrangian = d_g
    eulerian = d_g - jnp.sum(g_th * r.layers[0].theta[:-1], -1) - jnp.sum(g_w * r.layers[0].w[:-1], -1)
    # Directions in (a, θ'_1, w, θ'_2, G): e_k in a (for ∂r/∂a), then d_th1, d_w, d_th2 and the
    # two ∂_t g, so that da = −(∂r/∂a)⁻¹ ∂r/∂(args)·direction gives every transport term at once.
    na = a.shape[0]
    zeros = lambda v: jnp.zeros_like(v)  # noqa: E731
    dirs = [(jnp.eye(na, dtype=a.dtype)[k], (zeros(th1), zeros(w), zeros(th2), zeros(g))) for k in range(na)]
    dirs += [
        (zeros(a), (d_th1, zeros(w), zeros(th2), zeros(g))),
        (zeros(a), (zeros(th1), d_w, zeros(th2), zeros(g))),
        (zeros(a), (zeros(th1), zeros(w), d_th2, zeros(g))),
        (zeros(a), (zeros(th1), zeros(w), zeros(th2), eulerian)),
        (zeros(a), (zeros(th1), zeros(w), zeros(th2), lagrangian)),
    ]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *dirs)
    f = lambda a_, args_: field.residual(traj, t, a_, args_)  # noqa: E731
    d = jax.vmap(lambda da, dargs: jax.jvp(f, (a, args), (da, dargs))[1])(*stacked)
    moves = -jnp.linalg.solve(d[:na].T, d[na:].T).T  # (5, na): da along each direction
    g2 = d_a2 - moves[0, :n2] - moves[1, :n2]
    base3 = d_a3 - moves[2, n2:]
    g3 = {"A": base3 - moves[3, n2:], "B": base3 - moves[4, n2:]}
    return a, err, g2, g3


@eqx.filter_jit
def all_times(field: Field, times, th1, w, th2):
    return jax.vmap(lambda s: _at(field, s, th1, w, th2))(times)
