"""The numerical Eulerian check of MATH.md sec. 5: which D_2 f term the Eulerian G_ℓ needs.

The Eulerian field ``f_ℓ^t(θ', g)`` is the kernel of the layer-ℓ particles at an *arbitrary*,
fixed argument — a layer-(ℓ−1) state that need not be on the support of ρ_{ℓ−1}. The paper's
Sec. 3.2 writes ``∂_t f_ℓ(θ', g) = G_ℓ`` with

    G_2 = G_{f,2} − ⟨∇_1 f, G_{θ,1}⟩ − ⟨∇_2 f, G_{W,1}⟩
    G_ℓ = G_{f,ℓ} − ⟨∇_1 f, G_{θ,ℓ−1}⟩ − D_2 f{∂_t g}                     ℓ ≥ 3

and leaves open which rate ``∂_t g`` is: (A) App. A's Eulerian ``G_{ℓ−1}`` (the rate of g at fixed
arguments) or (B) the printed ``G_{f,ℓ−1}`` (the Lagrangian rate, along the moving layer-(ℓ−2)
particles). This module decides it numerically, without using either formula to build f.

**Construction.** The argument (θ', g) is realised as a *test neuron* of layer ℓ−1 with particle
weight π = 0: appended to the particle system it moves exactly like a neuron of ρ_{ℓ−1} with that
state (its rates are the layer-(ℓ−1) Lagrangian rates against the ensemble, ``FormalSystem.rates``)
and changes nothing in the ensemble (every integral over ρ_{ℓ−1} weighs it by 0). Its state is

- ℓ = 2: (θ', w, a) with a_j = f_{2,j}(θ', w), j over the layer-2 particles;
- ℓ = 3: (θ', G, a) with G_i = g(θ_{1,i}, w_i) — the function g on the layer-1 particles, the only
  values of g that the dynamics ever reads (H_2(g; x) is a π_1-weighted sum over them, and so is
  everything downstream) — and a_k = f_{3,k}(θ', g), k over the layer-3 particles.

Both test neurons ride in one augmented system (neither sees the other: both have π = 0). Along
the characteristic d/ds(θ', w or G, a) are the Lagrangian rates G_{θ,ℓ−1}, G_{W,1} or
G_{f,ℓ−1}(θ', g, particle i), and G_{f,ℓ}(particle k, θ', g) (App. A eq. 48–52). Given the argument
at time t, ``a_t`` is unknown; the initial condition fixes it. The ensemble is integrated from 0 to
t by classical RK4 with 2N steps (step t/2N) and saved at every step; the test neurons are
integrated backward from t to 0 through that stored trajectory by RK4 with N steps (its stage times
are exactly the saved times), and ``a_0 = f_ℓ^0(θ'_0, ·)`` (the kernel mean) is required. That is
N_ℓ equations in a_t; ∂a_0/∂a_t is close to the identity, so the fixed-point iteration
a ← a − (a_0 − f^0) converges (to 1e-14). So

    f_ℓ^t(θ', g) := a_t(θ', g)   — the Lagrangian value carried along the characteristic ending at
                                   (θ', g) at time t.

With N fixed the whole map is a smooth function of t (step t/N), so finite differences in t are
clean. Derivatives in the argument are by the implicit function theorem,
``da_t = −(∂r/∂a)⁻¹ ∂r/∂(θ', u)·(θ̇', u̇)`` with r = a_0 − f^0, every ∂r by ``jax.jvp`` through
the RK4 scans (one vmapped jvp for all directions): ∇_1 f, ∇_2 f, and D_2 f{h} in the direction h.

**"At a fixed argument" for ℓ = 3.** The argument g is a function of a layer-1 state; holding it
fixed means the same function at every time. On particles it is represented by its values at the
layer-1 particles *of that time*: at time s, G_i(s) = g(θ_{1,i}(s), w_i(s)). So f_3^{t±δ}(θ', g) is
computed from G(t ± δ) = g at the particles moved to t ± δ, not from G(t). (Keeping G(t) would hold
g fixed *along the moving particles* instead — the Lagrangian notion.) Here g is an explicit smooth
function, g(θ, w) = 1 + ½ tanh(⟨u, w⟩ + θ − ½), so its gradient, needed by variant A, is exact.

**The comparison.** The central difference ``(f^{t+δ} − f^{t−δ})(θ', g) / 2δ`` for δ, δ/2, δ/4
against ``G_ℓ`` at t from autodiff of f^t:

- D_2 f{h} = jvp of a_t in G along h_i = h(θ_{1,i}, w_i);
- variant A: h = G_{ℓ−1}(θ', g, ·) = G_{f,2}(θ', g, z_i) − ⟨∇_θ g(z_i), G_{θ,1}(z_i)⟩ − ⟨∇_w g(z_i), G_{W,1}(z_i)⟩;
- variant B: h = G_{f,2}(θ', g, z_i).

A correct formula leaves only the finite-difference error, which is O(δ²): the residual falls by
≈ 4 per halving of δ. A wrong one leaves a residual that does not shrink.
"""

from __future__ import annotations

import dataclasses
import math
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from mfspec._formal import FormalSystem, WeightedBatch
from mfspec._particles import Particles, spec_particles

#: The two candidates for ∂_t g in the D_2 f term (MATH.md sec. 2, "Open point").
VARIANTS = {
    "A": "App. A: D_2 f{G_{ℓ-1}}, the Eulerian rate of g",
    "B": "Sec. 3.2 as printed: D_2 f{G_{f,ℓ-1}}, the Lagrangian rate of g",
}

# Defaults of the check: t, the FD half-steps δ, N (the RK4 steps of the characteristic).
T_EVAL = 1.0
DELTAS = (0.2, 0.1, 0.05, 0.025)
RK4_STEPS = 24


def builtin_spec():
    """The small 4-layer tanh net the check runs on (smooth σ, biases with τ3 > 0, d = 2)."""
    import mfspec as mf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2))
    y = np.tanh(1.5 * x[:, 0] - x[:, 1]) + 0.3
    return mf.Spec(
        name="eulerian_tanh4",
        input_dim=2,
        hidden=3 * [mf.layer(mf.act.tanh)],
        head=mf.head(mf.act.tanh, outputs=1),
        loss=mf.loss.squared,
        init=mf.init.usual(tau1=1.5, mu2=1.0, tau2=0.5, mu3=0.0, tau3=0.5),
        data=mf.data.ArrayData(x, y),
        lr=mf.lr.constant(1e-2),
        batch_size=12,
    )


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
    z = jnp.zeros((1,), p.w1.dtype)
    f2 = jnp.concatenate([jnp.concatenate([p.kernels[0], a2[:, None]], 1), jnp.concatenate([g, z])[None]], 0)
    f3 = jnp.concatenate([p.kernels[1], a3[:, None]], 1)
    thetas, kernels, weights = list(p.thetas), [f2, f3, *p.kernels[2:]], list(p.weights)
    thetas[0] = jnp.concatenate([thetas[0], th1[None]])
    thetas[1] = jnp.concatenate([thetas[1], th2[None]])
    weights[0] = jnp.concatenate([weights[0], z])
    weights[1] = jnp.concatenate([weights[1], z])
    w1 = jnp.concatenate([p.w1, w[None]])
    return Particles(
        w1=w1, thetas=tuple(thetas), kernels=tuple(kernels), out_bias=p.out_bias, weights=tuple(weights)
    )


def _test_rates(system: FormalSystem, batch, s, p: Particles, y):
    """The Lagrangian rates of the two test neurons against the ensemble p at time s (App. A
    eq. 48-52: G_{θ,1}, G_{W,1}, G_{f,2}(·, test 1); G_{θ,2}, G_{f,2}(test 2, ·), G_{f,3}(·, test 2)),
    and all rates of the augmented system."""
    r = system.rates(s, _augment(p, y), batch)
    rates = (
        r.thetas[0][-1],
        r.w1[-1],
        r.kernels[0][:-1, -1],
        r.thetas[1][-1],
        r.kernels[0][-1, :-1],
        r.kernels[1][:, -1],
    )
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


class _Field(eqx.Module):
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
        kernel, th = self.kernels[ell - 2], self.p0.thetas[ell - 1]
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


@dataclasses.dataclass(frozen=True)
class EulerianResult:
    """The comparison at one layer ℓ.

    Fields:
        ell: ℓ (2 or 3).
        t: the time of the comparison.
        deltas: the FD half-steps δ.
        residual: {variant: max_j |FD(δ) − G_ℓ^variant|, one per δ}.
        scale: max_j |G_ℓ^A| (the size of the quantity compared).
        newton: max |a_0 − f^0| left by the fixed-point solve (the characteristic's end condition).
        richardson: {variant: max_j |(4 FD(δ_min) − FD(2δ_min))/3 − G_ℓ|}: the δ² term removed,
            what is left is the floor of everything else (time stepping, the solve).
    """

    ell: int
    t: float
    deltas: tuple[float, ...]
    residual: dict[str, tuple[float, ...]]
    scale: float
    newton: float
    richardson: dict[str, float]

    def order(self, variant: str) -> tuple[float, ...]:
        """log2 of the residual ratio at each halving of δ (2 for an O(δ²) FD error)."""
        r = self.residual[variant]
        return tuple(math.log2(r[k] / r[k + 1]) if r[k + 1] > 0 else math.inf for k in range(len(r) - 1))


def _at(field: _Field, t, th1, w, th2):
    """At time t: f_2^t(θ'_1, w), f_3^t(θ'_2, g), and G_2, G_3 (variants A, B) by autodiff there."""
    traj = field.trajectory(t)
    p = jax.tree.map(lambda e: e[-1], traj)
    g = _test_g(p.thetas[0], p.w1)  # the fixed function g, on the layer-1 particles of time t
    args = (th1, w, th2, g)
    a, err = field.solve(traj, t, args)
    n2 = field.p0.sizes[1]
    y = (th1, w, a[:n2], th2, g, a[n2:])
    (d_th1, d_w, d_a2, d_th2, d_g, d_a3), r = _test_rates(field.system, field.batch, t, p, y)
    # ∂_t g at the layer-1 particles z_i: Lagrangian G_{f,2}(θ'_2, g, z_i) (B), or Eulerian (A)
    # G_2(θ'_2, g, z_i) = G_{f,2} − ⟨∇_θ g(z_i), G_{θ,1}(z_i)⟩ − ⟨∇_w g(z_i), G_{W,1}(z_i)⟩.
    g_th, g_w = jax.vmap(jax.grad(_test_g, argnums=(0, 1)))(p.thetas[0], p.w1)
    lagrangian = d_g
    eulerian = d_g - jnp.sum(g_th * r.thetas[0][:-1], -1) - jnp.sum(g_w * r.w1[:-1], -1)
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
def _all_times(field: _Field, times, th1, w, th2):
    return jax.vmap(lambda s: _at(field, s, th1, w, th2))(times)


def suitable(spec) -> bool:
    """Whether the check can run on ``spec`` itself: L ≥ 3 (ℓ = 3 needs it) and every σ smooth."""
    from mfspec._limit import is_smooth

    return spec.num_layers >= 3 and is_smooth(spec.acts)


def eulerian_residuals(
    spec=None,
    *,
    t: float = T_EVAL,
    deltas=DELTAS,
    steps: int = RK4_STEPS,
    layers=(2, 3),
    m1: int = 8,
    nodes: int = 3,
    data_samples: int = 16,
) -> list[EulerianResult]:
    """FD of the Eulerian field against G_ℓ (variants A and B) for ℓ in ``layers``; float64.

    Arguments:
        spec: a spec with smooth σ and L ≥ 3 (default ``builtin_spec()``); its particles are made
            small (m1 layer-1 Sobol points, ``nodes`` Gauss–Hermite nodes per θ axis).
        t: the time of the comparison; deltas: FD half-steps; steps: N, the RK4 steps of the
            characteristic (the ensemble takes 2N steps and is saved at each).
    """
    from mfspec._limit import data_expectation

    spec = builtin_spec() if spec is None else spec
    if not suitable(spec):
        raise ValueError(f"eulerian_residuals: {spec.name} needs L ≥ 3 and smooth σ")
    results = []
    with jax.enable_x64(True):
        dtype = jnp.float64
        p0 = spec_particles(spec, m1=m1, nodes=nodes, max_particles=nodes**2, dtype=dtype)
        batch = data_expectation(spec, samples=data_samples, dtype=dtype)
        kernels = tuple(spec.init.kernels[:2])
        field = _Field(system=FormalSystem.from_spec(spec), batch=batch, p0=p0, kernels=kernels, steps=steps)
        # The arguments: states that are no particle's (θ'_1, w) and (θ'_2, g).
        th1 = jnp.asarray(np.linspace(0.3, -0.2, p0.thetas[0].shape[1]), dtype)
        w = jnp.asarray(np.linspace(0.5, -0.7, spec.input_dim), dtype)
        th2 = jnp.asarray(np.linspace(0.2, -0.1, p0.thetas[1].shape[1]), dtype)
        n = len(deltas)
        times = np.concatenate([t + np.asarray(deltas), t - np.asarray(deltas), [t]])
        a, err, g2, g3 = _all_times(field, jnp.asarray(times, dtype), th1, w, th2)
        a, err = np.asarray(a), float(np.max(np.asarray(err)))
        fd = (a[:n] - a[n : 2 * n]) / (2 * np.asarray(deltas)[:, None])
        n2 = p0.sizes[1]
        for ell, fd_l, g in (
            (2, fd[:, :n2], {"A": g2[-1], "B": g2[-1]}),
            (3, fd[:, n2:], {k: v[-1] for k, v in g3.items()}),
        ):
            if ell not in layers:
                continue
            res = {
                v: tuple(float(x) for x in np.max(np.abs(fd_l - np.asarray(gv)), axis=1))
                for v, gv in g.items()
            }
            rich = (4 * fd_l[-1] - fd_l[-2]) / 3
            rich = {v: float(np.max(np.abs(rich - np.asarray(gv)))) for v, gv in g.items()}
            results.append(
                EulerianResult(
                    ell=ell,
                    t=float(t),
                    deltas=tuple(float(d) for d in deltas),
                    residual=res,
                    scale=float(np.max(np.abs(np.asarray(g["A"])))),
                    newton=err,
                    richardson=rich,
                )
            )
    return results


_CACHE: dict = {}


def builtin_results() -> list[EulerianResult]:
    """``eulerian_residuals()`` on ``builtin_spec()`` with the defaults, computed once per process."""
    if "builtin" not in _CACHE:
        _CACHE["builtin"] = eulerian_residuals()
    return _CACHE["builtin"]


def check_eulerian(spec=None, *, variant: str = "A", tol: float = 1e-3, min_order: float = 1.5):
    """The Eulerian D_2 f check (MATH.md sec. 5) as a ``Check`` for ``mfspec.symbolic.verify``.

    It always runs on ``builtin_spec()`` (smooth σ = tanh, L = 4, τ3 > 0, tiny particle counts):
    the check is about the formalism — which ∂_t g the D_2 f term of the Eulerian G_ℓ needs — not
    about the user's σ (a kink, e.g. ReLU, would spoil the finite differences). ``spec`` is accepted
    for the ``extra_checks`` signature and named in the detail. The result is cached per process.

    Arguments:
        variant: the G_ℓ under test: "A" (App. A, D_2 f{G_{ℓ−1}}; the default) or "B" (the
            printed Sec. 3.2, D_2 f{G_{f,ℓ−1}}) — passing "B" injects the other variant as a fault.
        tol: the largest allowed residual at the smallest δ, relative to max|G_ℓ|.
        min_order: the least convergence order log2(r(δ)/r(δ/2)) at each halving of δ.

    Passes when, at ℓ = 2 and 3, the variant under test leaves a residual ≤ tol·max|G_ℓ| that falls
    like δ² (an FD error, not a modelling error).
    """
    from mfspec.symbolic._report import Check

    if variant not in VARIANTS:
        raise ValueError(f"check_eulerian: variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    start = time.perf_counter()
    results = builtin_results()
    other = "B" if variant == "A" else "A"
    ok, worst, parts = True, 0.0, []
    for r in results:
        res = r.residual[variant]
        worst = max(worst, res[-1] / r.scale)
        ok &= res[-1] <= tol * r.scale and min(r.order(variant)) >= min_order
        parts.append(
            f"ℓ={r.ell}: |FD−G| = {', '.join(f'{x:.1e}' for x in res)} "
            f"(order {', '.join(f'{o:.2f}' for o in r.order(variant))}); "
            f"Richardson {r.richardson[variant]:.0e}; variant {other}: "
            f"{', '.join(f'{x:.1e}' for x in r.residual[other])}; max|G| = {r.scale:.1e}"
        )
    user = (
        f" (not {spec.name}: the check is about the formalism, not the user's σ)" if spec is not None else ""
    )
    detail = (
        f"{VARIANTS[variant]}; built-in 4-layer tanh spec{user}, t = {results[0].t:g}, "
        f"δ = {', '.join(f'{d:g}' for d in results[0].deltas)}: " + "; ".join(parts)
    )
    return Check(
        name=f"Eulerian G_l, D_2 f variant {variant}",
        residual=worst,
        tol=tol,
        passed=bool(ok),
        detail=detail,
        seconds=time.perf_counter() - start,
    )
