"""The particle discretization of a spec's initial law ρ^0 (docs/formal_system.md sec. 3).

Each law ρ_ℓ of paper eq. 39 is replaced by ``Σ_j π_{ℓ,j} δ(θ_{ℓ,j}, f_{ℓ,j})``; only the values
of f_{ℓ,j} on the support of ρ_{ℓ−1} are ever used (Sec. 2.3), so a dense layer's state stores the
matrix ``F_ℓ[j, i] = f_{ℓ,j}(θ_{ℓ−1,i}, f_{ℓ−1,i})`` and the Lagrangian ODE (App. A eq. 48-52) is
closed. ``spec_particles`` is a fold over the layer kinds, each building its own block
(``LayerKind.particles``: Sobol for layer 1; collapse, Gauss–Hermite or Sobol for θ of a deeper
layer; the kernel mean for a dense layer's F; noise nodes for a local operation nonlinear in w),
with every size taken from one ``Resolution``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from mfspec.common.validate import positive_int
from mfspec.layers._quadrature import Discretization, seed_of
from mfspec.layers.base import LayerState
from mfspec.limit.resolution import DEFAULT as DEFAULT_RESOLUTION
from mfspec.limit.resolution import Resolution
from mfspec.network.particles import Particles

__all__ = ["discretization", "particles_from", "spec_particles", "split_chain"]


def discretization(spec, key=None, *, resolution: Resolution = DEFAULT_RESOLUTION, collapse: bool = True,
                   atom_copies: int = 1, sobol: bool = True, dtype=None) -> Discretization:  # fmt: skip
    """The ``Discretization`` context of ``spec_particles`` (exposed for the radial reduction)."""
    positive_int(atom_copies, "spec_particles: atom_copies")
    key = jax.random.PRNGKey(0) if key is None else key
    return Discretization(resolution=resolution, seed=seed_of(key), key=key, input_dim=spec.input_dim,
                          dtype=dtype or jnp.zeros(()).dtype, collapse=collapse, atom_copies=atom_copies,
                          sobol=sobol)  # fmt: skip


def spec_particles(
    spec,
    key: PRNGKeyArray | None = None,
    *,
    resolution: Resolution = DEFAULT_RESOLUTION,
    m1: int | None = None,
    nodes: int | None = None,
    qmc_points: int | None = None,
    max_particles: int | None = None,
    collapse: bool = True,
    atom_copies: int = 1,
    sobol: bool = True,
    dtype=None,
) -> Particles:
    """The particle discretization of the spec's initial law ρ^0.

    Arguments:
        spec: the ``Spec``.
        key: PRNG key for Sobol scrambling and Monte Carlo draws (default ``PRNGKey(0)``).
        resolution: the sizes (``mf.Resolution``: ``m1`` layer-1 particles, ``theta_nodes``
            Gauss–Hermite nodes per non-atomic θ component, ``qmc_points``, ``max_particles``,
            ``noise_nodes``); the same defaults as ``mf.solve_limit`` and ``mfspec limit``.
        m1, nodes, qmc_points, max_particles: shortcuts overriding those fields of ``resolution``
            (``nodes`` is ``theta_nodes``).
        collapse: collapse layers ℓ ≥ 2 with an atomic θ law to one particle. With ``False`` such a
            layer gets ``atom_copies`` identical particles of weight 1/atom_copies (the E3 check).
        sobol: scrambled Sobol points for layer 1 (else Monte Carlo).
        dtype: the float dtype of the state (default: JAX's default float).

    Returns:
        ``Particles``; b_out is the mean of its law (a non-atomic b_out law has no deterministic
        limit).
    """
    changes = {"m1": m1, "theta_nodes": nodes, "qmc_points": qmc_points, "max_particles": max_particles}
    try:
        resolution = dataclasses.replace(resolution, **{k: v for k, v in changes.items() if v is not None})
    except ValueError as err:
        raise ValueError(f"spec_particles: {err}") from None
    ctx = discretization(spec, key, resolution=resolution, collapse=collapse, atom_copies=atom_copies,
                         sobol=sobol, dtype=dtype)  # fmt: skip
    return particles_from(spec, ctx)


def particles_from(spec, ctx: Discretization, first=None) -> Particles:
    """The fold of ``LayerKind.particles`` over the spec's layers (``first`` replaces layer 1's).

    A kind that skips (``LayerKind.skips``: a residual layer) shares its particles' labels with the
    layer below: particle c·R + r continues particle c. When it splits each particle into R (θ nodes
    of its own), every layer of the chain below it is split alike (``split_chain``), so that a particle
    is a whole column of the chain (docs/formal_system.md sec. 9)."""
    layers = [first if first is not None else spec.layers[0].particles(ctx, None, 1)]
    for ell, kind in enumerate(spec.layers[1:], start=2):
        state = kind.particles(ctx, layers[-1], ell)
        if kind.skips and state.size != layers[-1].size:
            R = state.size // layers[-1].size
            layers = split_chain(spec.layers, layers, R, state.pi)
            # its weights on the layer below, built on the unsplit particles: one column per copy
            state = LayerState(jnp.repeat(state.w, R, axis=1), state.theta, state.pi, state.omega)
        layers.append(state)
    out_bias = spec.readout.particles(spec.outputs, ctx.key_for(len(spec.layers)), ctx.dtype)
    return Particles(tuple(layers), out_bias, spec.layers, spec.readout)


def split_chain(kinds, layers: list[LayerState], R: int, pi) -> list[LayerState]:
    """``layers`` (ℓ = 1..m) with each particle of the skip chain that ends at layer m split into R
    copies (c → c·R + r) of weight ``pi`` (the new layer's π_{m,c} ϖ_r): the rows of every chain
    layer repeat, and so do the columns of a chain layer's weights on the chain layer below it. The
    chain is layer m and the layers below it for as long as each skips onto the next."""
    base = len(layers) - 1
    while base > 0 and kinds[base].skips:
        base -= 1
    out = list(layers)
    for i in range(base, len(layers)):
        s = layers[i]
        w = jnp.repeat(s.w, R, axis=0)
        if i > base:  # its inputs (the chain layer below) were split too
            w = jnp.repeat(w, R, axis=1)
        out[i] = LayerState(w, jnp.repeat(s.theta, R, axis=0), jnp.asarray(pi, s.theta.dtype), s.omega)
    return out
