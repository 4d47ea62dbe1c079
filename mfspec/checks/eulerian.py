"""The numerical Eulerian check (docs/formal_system.md sec. 5): which D_2 f term the Eulerian G_ℓ needs.

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

import jax
import jax.numpy as jnp
import numpy as np

from mfspec import act, init, loss
from mfspec.checks._characteristics import Field, all_times
from mfspec.data import ArrayData
from mfspec.declaration.spec import Spec
from mfspec.layers.dense import Dense
from mfspec.limit.expectation import data_expectation
from mfspec.limit.formal import FormalSystem
from mfspec.limit.particles import spec_particles
from mfspec.limit.stepping import is_smooth
from mfspec.lr import constant
from mfspec.symbolic._report import Check

#: The two candidates for ∂_t g in the D_2 f term (docs/formal_system.md sec. 5).
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
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2))
    y = np.tanh(1.5 * x[:, 0] - x[:, 1]) + 0.3
    return Spec(
        name="eulerian_tanh4",
        input_dim=2,
        hidden=3 * [act.layer(act.tanh)],
        head=act.head(act.tanh, outputs=1),
        loss=loss.squared(1).without_error(),  # real targets: a regression
        init=init.usual(tau1=1.5, mu2=1.0, tau2=0.5, mu3=0.0, tau3=0.5),
        data=ArrayData(x, y),
        lr=constant(1e-2),
        batch_size=12,
    )


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


def unsuitable(spec) -> str | None:
    """Why the check cannot run on ``spec`` (None when it can): it needs L ≥ 3 (ℓ = 3 needs it),
    dense layers 2 and 3 (the G_ℓ of Sec. 3.2 is a dense layer's) and
    smooth σ's (a kink, e.g. ReLU, spoils the finite differences in t)."""
    if spec.num_layers < 3:
        return f"L = {spec.num_layers} < 3: the D_2 f term of G_ℓ first appears at ℓ = 3"
    skip = next((kind for kind in spec.layers[1:3] if kind.skips), None)
    if skip is not None:
        return (f"a {type(skip).__name__} layer's neurons carry the labels of the layer below (f_ℓ takes the "
                "neuron's own lower state as an argument): the Eulerian G_ℓ of Sec. 3.2 is not defined for it")  # fmt: skip
    if not all(isinstance(kind, Dense) for kind in spec.layers[1:3]):
        return "layers 2 and 3 must be dense: the Eulerian G_ℓ of Sec. 3.2 is that of a dense layer"
    if not is_smooth(spec):
        return "a σ has a kink (e.g. ReLU): finite differences in t would measure the kink, not G_ℓ"
    return None


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
    spec = builtin_spec() if spec is None else spec
    why = unsuitable(spec)
    if why is not None:
        raise ValueError(f"eulerian_residuals: cannot run on {spec.name}: {why}")
    results = []
    with jax.enable_x64(True):
        dtype = jnp.float64
        p0 = spec_particles(spec, m1=m1, nodes=nodes, max_particles=nodes**2, dtype=dtype)
        batch = data_expectation(spec, samples=data_samples, dtype=dtype)
        kernels = tuple(kind.weight_law for kind in spec.layers[1:3])
        field = Field(system=FormalSystem.from_spec(spec), batch=batch, p0=p0, kernels=kernels, steps=steps)
        # The arguments: states that are no particle's (θ'_1, w) and (θ'_2, g).
        th1 = jnp.asarray(np.linspace(0.3, -0.2, p0.layers[0].theta.shape[1]), dtype)
        w = jnp.asarray(np.linspace(0.5, -0.7, spec.input_dim), dtype)
        th2 = jnp.asarray(np.linspace(0.2, -0.1, p0.layers[1].theta.shape[1]), dtype)
        n = len(deltas)
        times = np.concatenate([t + np.asarray(deltas), t - np.asarray(deltas), [t]])
        a, err, g2, g3 = all_times(field, jnp.asarray(times, dtype), th1, w, th2)
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


def results_for(spec=None) -> list[EulerianResult]:
    """``eulerian_residuals(spec)`` with the defaults (``builtin_spec()`` for None), once per spec
    and process (the spec is kept with its result, so its id is not reused)."""
    key = "builtin" if spec is None else id(spec)
    if key not in _CACHE:
        _CACHE[key] = (spec, eulerian_residuals(spec))
    return _CACHE[key][1]


def builtin_results() -> list[EulerianResult]:
    """``eulerian_residuals()`` on ``builtin_spec()`` with the defaults, computed once per process."""
    return results_for(None)


def check_eulerian(spec=None, *, variant: str = "A", tol: float = 1e-3, min_order: float = 1.5):
    """The Eulerian D_2 f check (docs/formal_system.md sec. 5) as a ``Check`` for ``mfspec verify``.

    It runs on ``spec`` itself (``builtin_spec()`` when None: smooth σ = tanh, L = 4, τ3 > 0) with
    tiny particle counts, when the spec allows it (``unsuitable``: L ≥ 3, dense layers 2 and 3,
    smooth σ's); otherwise the check is reported as skipped, with the reason. Cached per spec.

    Arguments:
        variant: the G_ℓ under test: "A" (App. A, D_2 f{G_{ℓ−1}}; the default) or "B" (the
            printed Sec. 3.2, D_2 f{G_{f,ℓ−1}}) — passing "B" injects the other variant as a fault.
        tol: the largest allowed residual at the smallest δ, relative to max|G_ℓ|.
        min_order: the least convergence order log2(r(δ)/r(δ/2)) at each halving of δ.

    Passes when, at ℓ = 2 and 3, the variant under test leaves a residual ≤ tol·max|G_ℓ| that falls
    like δ² (an FD error, not a modelling error).
    """
    if variant not in VARIANTS:
        raise ValueError(f"check_eulerian: variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    name = f"Eulerian G_l, D_2 f variant {variant}"
    why = None if spec is None else unsuitable(spec)
    if why is not None:
        return Check(name, float("nan"), tol, True, f"not run on {spec.name}: {why}", 0.0, skipped=True)
    start = time.perf_counter()
    results = results_for(spec)
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
    detail = (
        f"{VARIANTS[variant]}; on {'the built-in 4-layer tanh spec' if spec is None else spec.name}, "
        f"t = {results[0].t:g}, δ = {', '.join(f'{d:g}' for d in results[0].deltas)}: " + "; ".join(parts)
    )
    return Check(name=name, residual=worst, tol=tol, passed=bool(ok), detail=detail,
                 seconds=time.perf_counter() - start)  # fmt: skip
