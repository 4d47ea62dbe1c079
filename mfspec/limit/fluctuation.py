"""The n^{-1/2} fluctuation band: how far a width-n network strays from the limit
(docs/formal_system.md sec. 10).

A width-n network under full-batch GD is the particle system on the empirical measure of its
initial draw. To first order in the sampling noise its metric at time t is

    L_t(n) ≈ L_t(∞) + Σ_g ⟨δL_t/δρ_g, ρ_g^n − ρ_g⟩ + Σ_ℓ Σ_{ij} ∂L_t/∂W_ℓ[j, i] ξ_ℓ[j, i],

one term per independently sampled group g of neurons (layer 1's (w_1, θ_1); a deeper layer's θ_ℓ;
a residual chain's whole column) and one per dense connection's centred entries ξ (the pair noise,
variance ``Kernel.noise²``). The terms are independent, so

    Var L_t(n) ≈ Σ_g V_g(t) / n_g + Σ_ℓ P_ℓ(t) / (n_{ℓ−1} n_ℓ),
    V_g(t) = Var_{θ∼ρ_g}[δL_t/δρ_g(θ)],   P_ℓ(t) = noise_ℓ² E_{i,j}[(δL_t/δF_ℓ(i, j))²].

On particles, δL_t/δρ_g at particle c is ∂L_t/∂π_c (the first variation is the derivative in the
particle's weight; a chain's column weight sits in every layer of the chain, so its derivative is
their sum) and δL_t/δF_ℓ(i, j) = ∂L_t/∂F_ℓ[j, i] / (π_i π_j): reverse-mode differentiation through
the discretized solve (``jax.jacrev`` through ``diffrax.diffeqsolve``), one cotangent per output
and band time. The pair part is O(1/n²) in variance — measured, it is what the sum says it is, and
small — and is kept so that the claim can be read off.

What it leaves out, and says so in ``Band.excluded``: minibatch SGD's own noise (O(α/b)); a sampler's
fresh data per step; the error metrics (argmax counts are piecewise constant in the state: no
linear response); the pair noise of kinds whose weights are not a dense kernel matrix (a local
operation's or a convolution's: O(1/n) in std, as for a dense layer). ``Band.warnings(width)``
names the times where the first-order expansion is not to be trusted at that width.
"""

from __future__ import annotations

import dataclasses
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from mfspec.common.validate import positive_int
from mfspec.finite.curves import metric_names
from mfspec.init import Kernel
from mfspec.layers.base import LayerState
from mfspec.limit.expectation import data_expectation
from mfspec.limit.formal import FormalSystem
from mfspec.limit.options import Stepping
from mfspec.limit.particles import spec_particles
from mfspec.limit.resolution import DEFAULT as DEFAULT_RESOLUTION
from mfspec.limit.resolution import Resolution
from mfspec.limit.solve import DEFAULT_STEPPING, _horizon, check_limit_ready, packed_vector_field
from mfspec.limit.stepping import is_smooth, time_stepping
from mfspec.network.particles import Particles, pack, unpack

__all__ = ["BAND_RESOLUTION", "Band", "fluctuation", "sampling_groups"]

#: The band's default discretization: a variance needs a few per cent, not the curve's 1e-3, so
#: layer 1 gets 256 particles instead of 1024 (bench/bench_band.py measures what this buys).
BAND_RESOLUTION = dataclasses.replace(DEFAULT_RESOLUTION, m1=256)


@dataclasses.dataclass
class Band:
    """The predicted fluctuation of a width-n network around the limit (module docstring).

    Fields:
        t: the band times (K,).
        outputs: the names of the outputs (m,): loss metrics, then ŷ at the given points
            ("yhat[p,c]").
        mean: the limit's value of each output on the band's own discretization, (K, m).
        groups: the layers (1-based) of each independently sampled group, e.g. ((1,), (2,), (3, 4)).
        sampling: V_g(t), (G, K, m): group g adds V_g / n_g to the variance.
        pair: P_ℓ(t), (L, K, m): layer ℓ's pair noise adds P_ℓ / (n_{ℓ−1} n_ℓ) (0 where none).
        excluded: what the prediction leaves out, in words.
        notes: what the user should know about this spec's band (kinks, ...).
        seconds: wall time (compilation included).
    """

    t: np.ndarray
    outputs: tuple[str, ...]
    mean: np.ndarray
    groups: tuple[tuple[int, ...], ...]
    sampling: np.ndarray
    pair: np.ndarray
    excluded: tuple[str, ...]
    notes: tuple[str, ...]
    seconds: float
    spec_widths: object = dataclasses.field(repr=False, default=None)

    def variance(self, width, *, parts: str = "all") -> np.ndarray:
        """Var of each output at the band times for a network of ``width`` (an int, or n_1..n_L),
        (K, m). ``parts``: "all", "sampling" or "pair"."""
        if parts not in ("all", "sampling", "pair"):
            raise ValueError(f"Band.variance: parts must be 'all', 'sampling' or 'pair', got {parts!r}")
        n = self.spec_widths(width)
        var = np.zeros_like(self.mean)
        if parts != "pair":
            for g, layers in enumerate(self.groups):
                var = var + self.sampling[g] / n[layers[0] - 1]
        if parts != "sampling":
            for ell in range(1, len(n)):
                var = var + self.pair[ell] / (n[ell - 1] * n[ell])
        return var

    def std(self, width, *, parts: str = "all") -> np.ndarray:
        """The predicted standard deviation over seeds at ``width``, (K, m)."""
        return np.sqrt(self.variance(width, parts=parts))

    def of(self, output: str) -> int:
        """The column of ``output`` in ``mean`` / ``std``."""
        if output not in self.outputs:
            raise ValueError(f"Band: no output {output!r}; it has {list(self.outputs)}")
        return self.outputs.index(output)

    def warnings(self, width) -> list[str]:
        """Where the first-order expansion is not to be trusted at ``width``: a loss whose band
        ±2σ reaches below 0 (the fluctuation is as large as the value), or a variance that grew by
        more than 10⁴ since t = 0 (sensitive dependence on the initial draw)."""
        out, std = [], self.std(width)
        for j, name in enumerate(self.outputs):
            if name.endswith("_loss"):
                bad = np.flatnonzero(2 * std[:, j] >= np.abs(self.mean[:, j]))
                if bad.size:
                    out.append(f"{name} at width {width}: ±2σ reaches 0 at t = {self.t[bad].tolist()}: "
                               f"the fluctuation is as large as the loss, beyond a linear response")  # fmt: skip
            v0 = max(float(std[0, j]) ** 2, 1e-300)
            grown = np.flatnonzero(std[:, j] ** 2 > 1e4 * v0)
            if grown.size:
                out.append(f"{name}: the variance grew > 10⁴× since t = 0 by t = {self.t[grown[0]]:g} "
                           f"(sensitive dependence on the initial draw; a chaotic section?)")  # fmt: skip
        return out


def sampling_groups(kinds) -> tuple[tuple[int, ...], ...]:
    """The independently sampled groups of neurons: each layer alone, except that a kind that
    skips (a residual layer) joins the group of the layer below — a chain is sampled column by
    column (docs/formal_system.md sec. 9)."""
    groups: list[list[int]] = []
    for ell, kind in enumerate(kinds, start=1):
        if kind.skips and groups:
            groups[-1].append(ell)
        else:
            groups.append([ell])
    return tuple(tuple(g) for g in groups)


def _pair_noise(kind, state: LayerState) -> float | None:
    """noise² of a dense kernel matrix's entries, or None (no pair part computed for this kind)."""
    law = kind.weight_law
    if not isinstance(law, Kernel) or state.w.ndim != 2 or state.pi is None:
        return None
    noise = law.noise[0] if isinstance(law.noise, tuple) else law.noise
    return float(noise) ** 2


def _excluded(spec, pair_layers, kinds) -> tuple[str, ...]:
    out = [
        "the error metrics: an argmax count is piecewise constant in the state, so it has no linear "
        "response (its fluctuation is not predicted)"
    ]
    if not spec.data.is_finite:
        out.append("a sampler's fresh data per step (finite nets see new samples; the band assumes one law)")
    elif spec.batch_size != "full":
        out.append(f"minibatch SGD's own noise (batch_size = {spec.batch_size}; O(√α) per unit time): "
                   f"the band is that of full-batch GD")  # fmt: skip
    skipped = [ell for ell in range(2, len(kinds) + 1) if ell not in pair_layers]
    if skipped:
        out.append(f"the pair noise of layers {skipped} (weights not a dense kernel matrix; O(1/n) in std)")
    return tuple(out)


def _solve(pis, ws, y0: Particles, system, batch, ts, solver, controller, max_steps, dt0):
    """The solve from the state with weights π (per layer) and F (per pair layer), as ``mf.solve_limit``
    does it. (Storing every step for the reverse pass instead of diffrax's recursive checkpoints was
    measured: no faster on the study nets.)"""
    layers = tuple(LayerState(ws.get(i, s.w), s.theta, pis[i], s.omega) for i, s in enumerate(y0.layers))
    y = Particles(layers, y0.out_bias, y0.kinds, y0.readout)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(packed_vector_field), solver, t0=0.0, t1=ts[-1], dt0=dt0, y0=pack(y),
        args=(system, y, batch), saveat=diffrax.SaveAt(ts=ts), stepsize_controller=controller,
        max_steps=max_steps, throw=False,
    )  # fmt: skip
    return sol, y


def _outputs(pis, ws, y0, system, batch, eval_sets, ts, solver, controller, max_steps, dt0, loss_cols: tuple,
             points):  # fmt: skip
    """(π per layer, F per pair layer) → outputs at the band times, (K, m)."""
    sol, y = _solve(pis, ws, y0, system, batch, ts, solver, controller, max_steps, dt0)

    def at(vec):
        p = unpack(vec, y)
        vals = system.evaluate(p, eval_sets)[jnp.asarray(loss_cols)]
        return vals if points is None else jnp.concatenate([vals, jnp.ravel(p(points))])

    return jax.vmap(at)(sol.ys)


@eqx.filter_jit
def _response(pis, ws, *args):
    """The outputs and their Jacobian in (π, F): one reverse pass per output and time, batched
    (``jax.vmap`` of the pullback; the primal solve is replayed once, unbatched). Module-level and
    filter-jitted, so that bands of equal shapes share one compilation."""
    out, pull = jax.vjp(lambda p, w: _outputs(p, w, *args), pis, ws)
    basis = jnp.eye(out.size, dtype=out.dtype).reshape((out.size, *out.shape))
    d_pi, d_w = jax.vmap(pull)(basis)
    reshape = lambda a: a.reshape((*out.shape, *a.shape[1:]))  # noqa: E731
    return out, jax.tree.map(reshape, d_pi), jax.tree.map(reshape, d_w)


def fluctuation(
    spec,
    *,
    t1: float | None = None,
    iterations: int | None = None,
    times=None,
    num_times: int = 8,
    resolution: Resolution = BAND_RESOLUTION,
    stepping: Stepping = DEFAULT_STEPPING,
    eval_sets: dict | None = None,
    eval_samples: int = 2000,
    points=None,
    key=None,
    dtype=None,
) -> Band:
    """The predicted n^{-1/2} band of the spec's metrics (and of ŷ at ``points``) around the limit.

    Arguments:
        spec: the ``mf.Spec``.
        t1 / iterations: the horizon, as for ``mf.solve_limit`` (give one).
        times: the band times (default: ``num_times`` points of the log-spaced grid of
            ``mf.solve_limit``, 0 and t1 included). Each time costs one reverse pass per output.
        resolution: the discretization (default ``BAND_RESOLUTION``: m1 = 256).
        stepping: the Diffrax solver options (``mf.Stepping``), as for ``mf.solve_limit``.
        eval_sets: the evaluation samples (default ``spec.data.eval_sets(PRNGKey(1), eval_samples)``,
            as ``mf.solve_limit``); the band is that of the metrics on these samples.
        points: inputs (P, d) at which to predict ŷ's band too (outputs "yhat[p,c]").
        key: the Sobol scrambling key (default ``PRNGKey(0)``).
        dtype: float32 or float64 (default: JAX's default float).

    Returns:
        A ``Band``: ``band.std(n)`` is the predicted standard deviation over seeds at width n.
    """
    begin = time.perf_counter()
    check_limit_ready(spec)
    if not isinstance(resolution, Resolution):
        raise TypeError(f"fluctuation: resolution must be an mf.Resolution, got {resolution!r}")
    t1, ts = _horizon(spec, t1, iterations, times, positive_int(num_times, "fluctuation: num_times"))
    dtype = jnp.dtype(dtype or jnp.zeros(()).dtype)
    if points is not None:
        points = jnp.asarray(points, dtype)
        if points.ndim != 2 or points.shape[1] != spec.input_dim:
            raise ValueError(f"fluctuation: points must have shape (P, {spec.input_dim}), got {points.shape}")
    names = metric_names(spec)
    loss_cols = [j for j, n in enumerate(names) if n.endswith("_loss")]
    outputs = tuple(names[j] for j in loss_cols)
    if points is not None:
        outputs += tuple(f"yhat[{p},{c}]" for p in range(points.shape[0]) for c in range(spec.outputs))
    y0 = spec_particles(spec, key, resolution=resolution, dtype=dtype).astype(dtype)
    system = FormalSystem.from_spec(spec)
    batch = data_expectation(spec, samples=resolution.data_samples, key=None, dtype=dtype,
                             subsample=resolution.data_subsample)  # fmt: skip
    batch = jax.tree.map(lambda a: jnp.asarray(a, dtype), batch)
    if eval_sets is None:
        eval_sets = spec.data.eval_sets(jax.random.PRNGKey(1), eval_samples)
    eval_sets = {k: (jnp.asarray(x, dtype), jnp.asarray(y, dtype)) for k, (x, y) in eval_sets.items()}
    steps = time_stepping(stepping, resolution, smooth=is_smooth(spec), t1=t1, eval_ts=ts, dtype=dtype)
    noise = {i: _pair_noise(k, s) for i, (k, s) in enumerate(zip(spec.layers, y0.layers)) if i > 0}
    noise = {i: v for i, v in noise.items() if v is not None}
    pis = tuple(s.pi for s in y0.layers)
    ws = {i: y0.layers[i].w for i in noise}
    solve = (jnp.asarray(ts, dtype), steps.solver, steps.controller, steps.max_steps,
             None if steps.fixed else steps.dt)  # fmt: skip
    mean, d_pi, d_w = _response(pis, ws, y0, system, batch, eval_sets, *solve, tuple(loss_cols), points)
    mean = np.asarray(mean)
    groups = sampling_groups(spec.layers)
    sampling = np.stack(
        [_group_variance([d_pi[ell - 1] for ell in g], y0.layers[g[0] - 1].pi) for g in groups]
    )
    pair = np.zeros((len(spec.layers),) + mean.shape)
    for i, v in noise.items():
        pi_j, pi_i = np.asarray(y0.layers[i].pi), np.asarray(y0.layers[i - 1].pi)
        grad = np.asarray(d_w[i], np.float64)  # (K, m, M, M')
        pair[i] = v * np.sum(grad**2 / (pi_j[:, None] * pi_i[None, :]), axis=(-2, -1))
    notes = () if is_smooth(spec) else (
        "σ has a kink: the linear response is of the discretized flow, whose kink is smoothed by the "
        "particle average; checked against many-seed sweeps on smooth nets only",)  # fmt: skip
    return Band(t=np.asarray(ts), outputs=outputs, mean=mean, groups=groups, sampling=sampling, pair=pair,
                excluded=_excluded(spec, {i + 1 for i in noise}, spec.layers), notes=notes,
                seconds=time.perf_counter() - begin, spec_widths=spec.widths)  # fmt: skip


def _group_variance(grads, pi) -> np.ndarray:
    """Var_ρ of the first variation: Σ_c π_c (g_c − ḡ)² with g = the sum of the group's ∂/∂π
    (K, m, M each), (K, m)."""
    g = sum(np.asarray(a, np.float64) for a in grads)
    pi = np.asarray(pi, np.float64)
    mean = np.tensordot(g, pi, axes=(-1, 0))
    return np.tensordot((g - mean[..., None]) ** 2, pi, axes=(-1, 0))
