"""The limit as ``mfspec run`` and ``mfspec limit`` record it: on the finite curves' grid and
evaluation samples, with its error bar.

The method and every size come from ``mf.solve_limit`` and the run's ``Resolution`` (the radial
reduction for a rotation-invariant spec, particles otherwise). The curve and its bar are
``mfspec.limit.error_bar.limit_estimate``'s: the mean of independent randomized replicates, with a sampling part
(their Student-t half-width) and a discretization part (the gap to dt/2 and 1.5× nodes on the same
points), recorded separately (docs/formal_system.md sec. 7).

A radial limit's expectation over the data law is a quadrature over (y, |x|) whose weights sum to 1,
so its record also carries the POPULATION loss and error (``population``), beside the metrics on the
finite evaluation sample that the networks share.
"""

from __future__ import annotations

import dataclasses
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import chi

from mfspec.finite.curves import eval_sets_for
from mfspec.limit.error_bar import limit_estimate
from mfspec.limit.formal import WeightedBatch
from mfspec.limit.resolution import Resolution
from mfspec.limit.solve import LimitSolution
from mfspec.run.preset import Run
from mfspec.run.results import curve_record, json_series, nest_metrics

#: Quantiles of |x| per class for the population error. The error integrates a step in |x| (the
#: sign of y ŷ(|x|)), which the solve's Gauss–Laguerre nodes resolve only to their spacing (default
#: spec at t = 3: 8.1e-3 on its 32 nodes, against 4.3e-3 ± 0.15e-3 by Monte Carlo on 200k points);
#: the midpoint rule on N quantiles is off by at most 1/(2N) per sign change. The loss keeps the
#: solve's quadrature, spectrally accurate for its smooth integrand.
ERROR_QUANTILES = 4096


@eqx.filter_jit
def _weighted_metrics(system, loss, particles, batch: WeightedBatch):
    """[Σ_b w_b L(y_b, ŷ(x_b)), Σ_b w_b err(y_b, ŷ(x_b))] (err NaN where the loss has no error rule)."""
    yhat = system.forward(particles, batch.x)
    w = batch.weights
    return jnp.stack([jnp.sum(w * loss(batch.y, yhat)), jnp.sum(w * loss.errors(batch.y, yhat))])


def _quantile_batch(spec, dtype, n: int = ERROR_QUANTILES) -> WeightedBatch:
    """(y, |x|) on the midpoints (j + 1/2)/n of each class's |x| = scale · χ_d law, weight prob/n."""
    q = chi.ppf((np.arange(n) + 0.5) / n, spec.input_dim)
    law = spec.data.radial_law()
    x = np.concatenate([scale * q for _, scale, _ in law])[:, None]
    y = np.concatenate([np.broadcast_to(np.asarray(lab, np.float64), (n, len(lab))) for lab, _, _ in law])
    w = np.concatenate([np.full(n, prob / n) for _, _, prob in law])
    return WeightedBatch(jnp.asarray(x, dtype), jnp.asarray(y, dtype), jnp.asarray(w, dtype))


def population_metrics(spec, sol: LimitSolution) -> dict[str, list] | None:
    """{"loss": [...], "error": [...]}: the limit's metrics under the data law itself, at the
    evaluation times, for a radial solve (whose batch is a quadrature over (y, |x|), weights summing
    to 1); the error on ``ERROR_QUANTILES`` quantiles of |x| per class.

    None for any other method: a sampler's fixed sample is not the population, and a finite
    dataset's exact expectation is its training metrics, already recorded.
    """
    if sol.method != "radial":
        return None
    grid = _quantile_batch(spec, sol.batch.x.dtype)
    loss = [_weighted_metrics(sol.system, spec.loss, p, sol.batch)[0] for p in sol.states()]
    error = [_weighted_metrics(sol.system, spec.loss, p, grid)[1] for p in sol.states()]
    return {"loss": json_series(np.asarray(loss)), "error": json_series(np.asarray(error))}


def limit_record(spec, run: Run, *, seed: int = 0, dtype=None, resolution: Resolution | None = None,
                 checkpoints=None, progress: bool = False, mesh=None) -> dict:  # fmt: skip
    """The "limit" curve of results.json on the run's grid and evaluation samples.

    ``resolution`` defaults to the run's (``Run.limit``, from the spec file's preset); ``mesh``
    cuts every solve over devices and processes (``mfspec.limit.mesh``).
    """
    resolution = run.limit if resolution is None else resolution
    start = time.perf_counter()
    eval_sets = eval_sets_for(spec, run, jax.random.PRNGKey(seed))
    est = limit_estimate(spec, iterations=run.iterations, num_evals=run.num_evals, eval_sets=eval_sets,
                         dtype=dtype, resolution=resolution, seed=seed, checkpoints=checkpoints,
                         progress=progress, mesh=mesh)  # fmt: skip
    first = est.replicates[0]
    population = population_metrics(spec, first)
    return curve_record(
        "limit", None, None, est.curve,
        error_bar=nest_metrics(est.bar),
        error_bar_parts={part: nest_metrics(v) for part, v in est.parts.items()},
        replicates=len(est.replicates),
        method=first.method,
        solver=first.solver,
        dt=first.dt,
        seconds=time.perf_counter() - start,
        seconds_single_solve=first.seconds,
        resolution=dataclasses.asdict(resolution),
        **({} if population is None else {"population": population}),
    )  # fmt: skip
