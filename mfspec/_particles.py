"""Weighted particles: the discretized state of the formal limit system (MATH.md sec. 3).

Each law ρ_ℓ of paper eq. 39 is replaced by ``Σ_j π_{ℓ,j} δ(θ_{ℓ,j}, f_{ℓ,j})``. Only the values of
``f_{ℓ,j}`` on the support of ρ_{ℓ-1} are ever used (paper Sec. 2.3), so the state stores the matrix
``F_ℓ[j, i] = f_{ℓ,j}(θ_{ℓ-1,i}, f_{ℓ-1,i})`` and the Lagrangian ODE (App. A eq. 48-52) is closed in
``(w, θ, F, b_out)``. The weights π never move.

Construction from a spec's init law (``spec_particles``):

- **collapse**: a layer ℓ ≥ 2 whose θ law is an atom has an atomic ρ_ℓ (its f is the kernel mean at
  one θ), and equal states have equal dynamics, so it is one particle with π = 1 for all t;
- **Gauss–Hermite**: the non-atomic components of a ``Normal`` θ law of a layer ℓ ≥ 2 (e.g. the
  head's β ~ N(μ2, τ2²)) take a tensor grid of Gauss–Hermite nodes (capped in size), or scrambled
  Sobol points when the capped grid would keep fewer than 3 nodes per axis (a 10-output head);
- **layer 1**: (θ_1, w) by scrambled Sobol points pushed through the normal quantile (``Normal``
  laws), Monte Carlo otherwise;
- the W_ℓ noise is dropped: F_ℓ = kernel mean (MATH.md sec. 2).
"""

from __future__ import annotations

import itertools
import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import norm, qmc

from mfspec.init import Kernel, Law, Normal


class Particles(eqx.Module):
    """A weighted particle system (the ODE state of the limit solver).

    Fields:
        w1: layer-1 weights w, shape (M_1, d).
        thetas: θ_1..θ_L, shapes (M_ℓ, q_ℓ).
        kernels: F_2..F_L, shapes (M_ℓ, M_{ℓ-1}); ``F_ℓ[j, i] = f_{ℓ,j}(layer ℓ-1 particle i)``.
        out_bias: b_out, shape (k,) (zeros when the spec has none).
        weights: π_1..π_L, shapes (M_ℓ,), each summing to 1. Constant in time: the solver's
            vector field returns zeros for them, so the whole module can be the ODE state.
    """

    w1: jax.Array
    thetas: tuple[jax.Array, ...]
    kernels: tuple[jax.Array, ...]
    out_bias: jax.Array
    weights: tuple[jax.Array, ...]

    def __check_init__(self):
        L = len(self.thetas)
        if len(self.weights) != L or len(self.kernels) != L - 1:
            raise ValueError(
                f"Particles: {L} thetas need {L} weights and {L - 1} kernels, "
                f"got {len(self.weights)} and {len(self.kernels)}"
            )
        # Shapes are checked only on concrete (non-batched) states: diffrax and vmap build
        # Particles with extra leading axes (saved time series) or as abstract tangents.
        if any(t.ndim != 2 for t in self.thetas):
            return
        m = self.sizes
        if self.w1.ndim != 2 or self.w1.shape[0] != m[0]:
            raise ValueError(f"Particles.w1 has shape {self.w1.shape}, expected ({m[0]}, d)")
        for ell, pi in enumerate(self.weights, start=1):
            if pi.shape != (m[ell - 1],):
                raise ValueError(
                    f"Particles.weights[{ell - 1}] has shape {pi.shape}, expected ({m[ell - 1]},)"
                )
        for ell, f in enumerate(self.kernels, start=2):
            if f.shape != (m[ell - 1], m[ell - 2]):
                raise ValueError(
                    f"Particles.kernels[{ell - 2}] (F_{ell}) has shape {f.shape}, "
                    f"expected {(m[ell - 1], m[ell - 2])}"
                )

    @property
    def sizes(self) -> tuple[int, ...]:
        """M_1..M_L, the number of particles per layer."""
        return tuple(int(t.shape[-2]) for t in self.thetas)

    def astype(self, dtype) -> Particles:
        return jax.tree.map(lambda a: jnp.asarray(a, dtype), self)


def pack(p: Particles) -> jax.Array:
    """The moving coordinates (w, θ_ℓ, F_ℓ, b_out) as one flat vector; π is left out (it is constant).

    The limit solver integrates this vector: one array leaf keeps Diffrax's per-leaf bookkeeping,
    and so its compile time, small.
    """
    leaves = [p.w1, *p.thetas, *p.kernels, p.out_bias]
    return jnp.concatenate([jnp.ravel(a) for a in leaves])


def unpack(vec, template: Particles) -> Particles:
    """Inverse of ``pack``: shapes and π are taken from ``template``."""
    leaves = [template.w1, *template.thetas, *template.kernels, template.out_bias]
    sizes = [math.prod(a.shape) for a in leaves]
    if vec.shape != (sum(sizes),):
        raise ValueError(f"unpack: vector has shape {vec.shape}, the template needs ({sum(sizes)},)")
    parts, start = [], 0
    for a, n in zip(leaves, sizes):
        parts.append(vec[start : start + n].reshape(a.shape))
        start += n
    L = len(template.thetas)
    return Particles(
        w1=parts[0],
        thetas=tuple(parts[1 : 1 + L]),
        kernels=tuple(parts[1 + L : 2 * L]),
        out_bias=parts[2 * L],
        weights=template.weights,
    )


def empirical_particles(net) -> Particles:
    """The empirical measure of a finite ``MFNetwork``: π_ℓ = 1/n_ℓ, F_ℓ = W_ℓ (MATH.md sec. 4, E1)."""
    dtype = net.w1.dtype
    return Particles(
        w1=net.w1,
        thetas=tuple(net.thetas),
        kernels=tuple(net.kernels),
        out_bias=net.out_bias,
        weights=tuple(jnp.full((n,), 1.0 / n, dtype) for n in net.widths),
    )


def gauss_hermite(n: int, mean: float = 0.0, std: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and probability weights of the n-point Gauss–Hermite rule for N(mean, std²).

    Exact for polynomials of degree ≤ 2n − 1 in the variable.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"gauss_hermite: n must be a positive int, got {n!r}")
    x, w = np.polynomial.hermite_e.hermegauss(n)  # weight exp(-x²/2): probabilists' Hermite
    return mean + std * x, w / w.sum()


def _normal_params(law: Normal, q: int) -> tuple[np.ndarray, np.ndarray]:
    return np.broadcast_to(np.asarray(law.mean), (q,)), np.broadcast_to(np.asarray(law.std), (q,))


def _quadrature_layer(law: Law, q: int, nodes: int, max_particles: int, key, mc: int, qmc_points: int,
                      seed: int, where: str):  # fmt: skip
    """(θ (M, q), π (M,)) for a layer ℓ ≥ 2's θ law: one atom, a Gauss–Hermite grid, QMC or MC.

    ``key()`` makes a JAX key; only user samplers need one (eager JAX ops cost compiles).
    """
    if isinstance(law, Normal):
        mean, std = _normal_params(law, q)
        if law.is_atom:
            return mean[None, :].astype(np.float64), np.ones(1)
    elif law.is_atom:
        return np.asarray(law.sample(key(), 1, q), np.float64), np.ones(1)
    else:
        # A user sampler gives no quadrature: equal-weight Monte Carlo.
        return np.asarray(law.sample(key(), mc, q), np.float64), np.full(mc, 1.0 / mc)
    free = [i for i in range(q) if std[i] > 0]
    # Tensor grids grow like nodes^dim: shrink the per-axis count to respect the cap.
    per_axis = nodes
    while per_axis > 1 and per_axis ** len(free) > max_particles:
        per_axis -= 1
    if per_axis < 3:
        # A grid of 1-2 nodes per axis is exact only to degree 3 and still huge in high dimension
        # (a 10-output head: 2^10 particles): scrambled Sobol points converge faster per particle.
        return _normal_qmc(mean, std, free, qmc_points, seed), np.full(qmc_points, 1.0 / qmc_points)
    rules = [gauss_hermite(per_axis, mean[i], std[i]) for i in free]
    pts = list(itertools.product(*[range(per_axis)] * len(free)))
    theta = np.tile(mean, (len(pts), 1)).astype(np.float64)
    pi = np.ones(len(pts))
    for row, idx in enumerate(pts):
        for axis, (comp, j) in enumerate(zip(free, idx)):
            theta[row, comp] = rules[axis][0][j]
            pi[row] *= rules[axis][1][j]
    return theta, pi / pi.sum()


def _normal_qmc(mean, std, free, m: int, seed: int) -> np.ndarray:
    """m scrambled Sobol points mapped through the normal quantile on the ``free`` components."""
    z = _sobol_normal(len(free), m, seed)
    theta = np.tile(mean, (m, 1)).astype(np.float64)
    for col, comp in enumerate(free):
        theta[:, comp] = mean[comp] + std[comp] * z[:, col]
    return theta


def _sobol_normal(dim: int, m: int, seed: int) -> np.ndarray:
    """(m, dim) scrambled Sobol points pushed through the standard normal quantile."""
    with warnings.catch_warnings():
        # Sobol balance is best at powers of two; other sizes are still fine for our use.
        warnings.simplefilter("ignore", UserWarning)
        u = qmc.Sobol(dim, scramble=True, seed=seed).random(m)
    return norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))


def _layer_one(init_w1: Law, theta_law: Law, m: int, d: int, q: int, key, seed: int, sobol: bool):
    """(θ_1 (M_1, q_1), w (M_1, d)) with equal weights: scrambled Sobol + normal quantile when every
    non-atomic coordinate is Normal, Monte Carlo otherwise."""
    w_normal = isinstance(init_w1, Normal) and len(init_w1.mean) == 1 and len(init_w1.std) == 1
    t_normal = isinstance(theta_law, Normal)
    if not (sobol and w_normal and t_normal):
        kw, kt = jax.random.split(key())
        w = np.asarray(init_w1.sample(kw, m * d, 1), np.float64).reshape(m, d)
        theta = np.asarray(theta_law.sample(kt, m, q), np.float64)
        return theta, w
    t_mean, t_std = _normal_params(theta_law, q)
    free = [i for i in range(q) if t_std[i] > 0]
    z = _sobol_normal(d + len(free), m, seed)
    w = init_w1.mean[0] + init_w1.std[0] * z[:, :d]
    theta = np.tile(t_mean, (m, 1)).astype(np.float64)
    for col, comp in enumerate(free):
        theta[:, comp] = t_mean[comp] + t_std[comp] * z[:, d + col]
    return theta, w


def _kernel_mean(kernel: Kernel, theta, theta_prev, dtype):
    """F = the kernel's mean on the particles (its noise is dropped: MATH.md sec. 2)."""
    if callable(kernel.mean):
        return jnp.asarray(
            kernel.mean_matrix(jnp.asarray(theta, dtype), jnp.asarray(theta_prev, dtype)), dtype
        )
    return jnp.asarray(np.full((theta.shape[0], theta_prev.shape[0]), kernel.mean), dtype)


def spec_particles(
    spec,
    key=None,
    *,
    m1: int = 1024,
    nodes: int = 16,
    max_particles: int = 4096,
    qmc_points: int = 256,
    collapse: bool = True,
    atom_copies: int = 1,
    sobol: bool = True,
    dtype=None,
) -> Particles:
    """The particle discretization of the spec's initial law ρ^0 (MATH.md sec. 3).

    Arguments:
        spec: the ``Spec``.
        key: PRNG key for Sobol scrambling and Monte Carlo draws (default ``PRNGKey(0)``).
        m1: M_1, the number of layer-1 particles.
        nodes: Gauss–Hermite nodes per non-atomic θ component of layers ℓ ≥ 2 (and the MC sample
            size for a non-Normal θ law there).
        max_particles: cap on a layer's tensor grid (the per-axis count shrinks to fit).
        qmc_points: particles of a layer whose grid would keep fewer than 3 nodes per axis (e.g. a
            many-output head): scrambled Sobol points through the normal quantile instead.
        collapse: collapse layers ℓ ≥ 2 with an atomic θ law to one particle. With ``False`` such a
            layer gets ``atom_copies`` identical particles of weight 1/atom_copies (the E3 check).
        sobol: scrambled Sobol points for layer 1 (else Monte Carlo).
        dtype: the float dtype of the state (default: JAX's default float).

    Returns:
        ``Particles``; F_ℓ is the kernel mean evaluated on the particles (its noise is dropped);
        b_out is the mean of its law (a non-atomic b_out law has no deterministic limit).
    """
    for name, v in (
        ("m1", m1),
        ("nodes", nodes),
        ("max_particles", max_particles),
        ("qmc_points", qmc_points),
        ("atom_copies", atom_copies),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"spec_particles: {name} must be a positive int, got {v!r}")
    key = jax.random.PRNGKey(0) if key is None else key
    dtype = dtype or jnp.zeros(()).dtype
    init, acts = spec.init, spec.acts
    L = len(acts)
    raw = key if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else jax.random.key_data(key)
    seed = int(np.random.SeedSequence([int(v) for v in np.asarray(raw).ravel()]).generate_state(1)[0])
    sub = lambda i: lambda: jax.random.fold_in(key, i)  # noqa: E731  (JAX keys only when needed)
    theta1, w = _layer_one(init.w1, init.theta[0], m1, spec.input_dim, acts[0].q, sub(0), seed, sobol)
    thetas, weights = [theta1], [np.full(m1, 1.0 / m1)]
    for ell in range(1, L):
        where = f"spec_particles: layer {ell + 1}"
        th, pi = _quadrature_layer(init.theta[ell], acts[ell].q, nodes, max_particles, sub(ell), nodes, qmc_points,
                                   seed + ell, where)  # fmt: skip
        if init.theta[ell].is_atom and not collapse:
            th, pi = np.repeat(th, atom_copies, axis=0), np.full(atom_copies, 1.0 / atom_copies)
        thetas.append(th)
        weights.append(pi)
    kernels = tuple(
        _kernel_mean(init.kernels[ell - 1], thetas[ell], thetas[ell - 1], dtype) for ell in range(1, L)
    )
    thetas = [jnp.asarray(t, dtype) for t in thetas]
    k = spec.outputs
    if spec.output_bias:
        law = init.out_bias
        if isinstance(law, Normal):
            out_bias = jnp.broadcast_to(jnp.asarray(law.mean[0], dtype), (k,))
        else:
            out_bias = jnp.asarray(law.sample(sub(L), k, 1), dtype).reshape(k)
    else:
        out_bias = jnp.zeros((k,), dtype)
    return Particles(
        w1=jnp.asarray(w, dtype),
        thetas=tuple(thetas),
        kernels=kernels,
        out_bias=out_bias,
        weights=tuple(jnp.asarray(p, dtype) for p in weights),
    )


def describe(p: Particles) -> str:
    """A one-line summary, e.g. ``M = (1024, 1, 1, 16), d = 32``."""
    return (
        f"M = {p.sizes}, d = {p.w1.shape[-1]}, {sum(math.prod(a.shape) for a in jax.tree.leaves(p))} numbers"
    )
