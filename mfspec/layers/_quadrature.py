"""Quadrature and quasi-Monte Carlo for the particle discretization of the limit (docs/formal_system.md sec. 3).

The layer kinds build their particles from these rules:

- **atom**: a law with zero spread is one particle of weight 1 (the collapse of a layer ℓ ≥ 2);
- **Gauss–Hermite**: the non-atomic components of a ``Normal`` law take a tensor grid of nodes,
  the per-axis count shrunk to respect a cap on the grid's size;
- **scrambled Sobol**: when the capped grid would keep fewer than 3 nodes per axis (a 10-output
  head's β ∈ R^10), Sobol points pushed through the normal quantile converge faster per particle;
- **Monte Carlo**: a user sampler (``mf.init.Custom``) gives no quadrature, only equal-weight draws.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings

import jax
import numpy as np
from scipy.stats import norm, qmc

from mfspec.common.validate import positive_int
from mfspec.init import Law, Normal


@dataclasses.dataclass(frozen=True)
class Discretization:
    """What a layer kind needs to build its particles: sizes, randomness, options.

    Fields:
        resolution: the sizes (an ``mf.Resolution``; only read here).
        seed: the integer seed of the Sobol scrambles (layer ℓ uses ``seed + ℓ − 1``).
        key: the JAX key of Monte Carlo draws (layer ℓ folds in ℓ − 1); only user samplers need one.
        input_dim: d.
        dtype: the float dtype of the state.
        collapse: collapse layers ℓ ≥ 2 with an atomic θ law to one particle; with ``False`` such a
            layer gets ``atom_copies`` identical particles of weight 1/atom_copies (the E3 check).
        sobol: scrambled Sobol points for layer 1 (else Monte Carlo).
    """

    resolution: object
    seed: int
    key: object
    input_dim: int
    dtype: object
    collapse: bool = True
    atom_copies: int = 1
    sobol: bool = True

    def key_for(self, index: int):
        """A callable making the JAX key of layer ``index`` (0-based), only when asked."""
        return lambda: jax.random.fold_in(self.key, index)


def seed_of(key) -> int:
    """An integer seed derived from a JAX key (typed or raw)."""
    raw = key if not jax.numpy.issubdtype(key.dtype, jax.dtypes.prng_key) else jax.random.key_data(key)
    return int(np.random.SeedSequence([int(v) for v in np.asarray(raw).ravel()]).generate_state(1)[0])


def gauss_hermite(n: int, mean: float = 0.0, std: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and probability weights of the n-point Gauss–Hermite rule for N(mean, std²).

    Exact for polynomials of degree ≤ 2n − 1 in the variable.
    """
    positive_int(n, "gauss_hermite: n")
    x, w = np.polynomial.hermite_e.hermegauss(n)  # weight exp(-x²/2): probabilists' Hermite
    return mean + std * x, w / w.sum()


def normal_params(law: Normal, q: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of a ``Normal`` law broadcast to q components."""
    return np.broadcast_to(np.asarray(law.mean), (q,)), np.broadcast_to(np.asarray(law.std), (q,))


def sobol_normal(dim: int, m: int, seed: int) -> np.ndarray:
    """(m, dim) scrambled Sobol points pushed through the standard normal quantile."""
    with warnings.catch_warnings():
        # Sobol balance is best at powers of two; other sizes are still fine for our use.
        warnings.simplefilter("ignore", UserWarning)
        u = qmc.Sobol(dim, scramble=True, seed=seed).random(m)
    return norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))


def _normal_qmc(mean, std, free, m: int, seed: int) -> np.ndarray:
    """m scrambled Sobol points mapped through the normal quantile on the ``free`` components."""
    z = sobol_normal(len(free), m, seed)
    theta = np.tile(mean, (m, 1)).astype(np.float64)
    for col, comp in enumerate(free):
        theta[:, comp] = mean[comp] + std[comp] * z[:, col]
    return theta


def law_nodes(law: Law, q: int, *, nodes: int, max_particles: int, qmc_points: int, mc: int, seed: int,
              key) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(points (M, q), weights (M,)) for a law on R^q: one atom, a Gauss–Hermite grid, QMC or MC.

    Arguments:
        nodes: Gauss–Hermite nodes per non-atomic component (before the cap).
        max_particles: cap on the tensor grid (the per-axis count shrinks to fit).
        qmc_points: Sobol points when the capped grid would keep fewer than 3 nodes per axis.
        mc: Monte Carlo sample size for a user sampler.
        key: ``key()`` makes a JAX key; only user samplers need one (eager JAX ops cost compiles).
    """
    if isinstance(law, Normal):
        mean, std = normal_params(law, q)
        if law.is_atom:
            return mean[None, :].astype(np.float64), np.ones(1)
    elif law.is_atom:
        return np.asarray(law.sample(key(), 1, q), np.float64), np.ones(1)
    else:
        return np.asarray(law.sample(key(), mc, q), np.float64), np.full(mc, 1.0 / mc)
    free = [i for i in range(q) if std[i] > 0]
    per_axis = nodes
    while per_axis > 1 and per_axis ** len(free) > max_particles:
        per_axis -= 1
    if per_axis < 3:
        # A grid of 1-2 nodes per axis is exact only to degree 3 and still huge in high dimension
        # (a 10-output head: 2^10 particles): scrambled Sobol points converge faster per particle.
        return _normal_qmc(mean, std, free, qmc_points, seed), np.full(qmc_points, 1.0 / qmc_points)
    rules = [gauss_hermite(per_axis, mean[i], std[i]) for i in free]
    pts = list(itertools.product(*[range(per_axis)] * len(free)))
    points = np.tile(mean, (len(pts), 1)).astype(np.float64)
    weights = np.ones(len(pts))
    for row, idx in enumerate(pts):
        for axis, (comp, j) in enumerate(zip(free, idx)):
            points[row, comp] = rules[axis][0][j]
            weights[row] *= rules[axis][1][j]
    return points, weights / weights.sum()


def theta_particles(law: Law, q: int, ell: int, ctx: Discretization) -> tuple[np.ndarray, np.ndarray]:
    """(θ (M, q), π (M,)) of a layer ℓ ≥ 2: its θ law by ``law_nodes``, collapsed when atomic."""
    res = ctx.resolution
    th, pi = law_nodes(law, q, nodes=res.theta_nodes, max_particles=res.max_particles, qmc_points=res.qmc_points,
                       mc=res.theta_nodes, seed=ctx.seed + ell - 1, key=ctx.key_for(ell - 1))  # fmt: skip
    if law.is_atom and not ctx.collapse:
        th, pi = np.repeat(th, ctx.atom_copies, axis=0), np.full(ctx.atom_copies, 1.0 / ctx.atom_copies)
    return th, pi
