"""The limit as ``mfspec run`` and ``mfspec limit`` record it: one solve on the finite curves' grid
and evaluation samples, with its error bar.

The method and every size come from ``mf.solve_limit`` and the run's ``Resolution`` (the radial
reduction for a rotation-invariant spec, particles otherwise). The error bar is the pointwise gap
to a refined solve (``Resolution.refined``: more nodes/particles, a new larger data sample, half
the time step — dt/2 for a fixed step, tolerances / 2^5 for an adaptive one): a conservative
estimate of the coarse solve's discretization error.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from mfspec._curves import eval_sets_for
from mfspec._limit import LimitSolution, solve_limit
from mfspec._resolution import DEFAULT as DEFAULT_RESOLUTION
from mfspec._resolution import Resolution
from mfspec._results import curve_record, nest_metrics
from mfspec._spec import Run


def solve_default_limit(spec, *, iterations: int, num_evals: int = 30, eval_sets: dict,
                        resolution: Resolution = DEFAULT_RESOLUTION, dtype=None, data_key=None,
                        **solve_kwargs) -> LimitSolution:  # fmt: skip
    """``mf.solve_limit`` on the ``eval_iterations(iterations, num_evals)`` grid (kept for scripts)."""
    return solve_limit(spec, iterations=iterations, num_evals=num_evals, eval_sets=eval_sets, resolution=resolution,
                       dtype=dtype, data_key=data_key, **solve_kwargs)  # fmt: skip


def limit_with_error_bar(spec, *, iterations: int, num_evals: int, eval_sets: dict, dtype=None,
                         resolution: Resolution = DEFAULT_RESOLUTION):  # fmt: skip
    """(coarse solution, refined solution, pointwise |coarse − refined| per metric)."""
    kw = dict(iterations=iterations, num_evals=num_evals, eval_sets=eval_sets, dtype=dtype)
    coarse = solve_limit(spec, resolution=resolution, **kw)
    fine = solve_limit(spec, resolution=resolution.refined(), data_key=jax.random.PRNGKey(7), **kw)
    bar = {k: np.abs(coarse.curve.metrics[k] - fine.curve.metrics[k]) for k in coarse.curve.metrics}
    return coarse, fine, bar


def limit_record(spec, run: Run, *, seed: int = 0, dtype=None, resolution: Resolution | None = None) -> dict:
    """The "limit" curve of results.json on the run's grid and evaluation samples.

    ``resolution`` defaults to the run's (``Run.limit``, from the spec file's preset).
    """
    resolution = run.limit if resolution is None else resolution
    start = time.perf_counter()
    eval_sets = eval_sets_for(spec, run, jax.random.PRNGKey(seed))
    coarse, fine, bar = limit_with_error_bar(
        spec, iterations=run.iterations, num_evals=run.num_evals, eval_sets=eval_sets, dtype=dtype,
        resolution=resolution,
    )  # fmt: skip
    return curve_record(
        "limit", None, None, coarse.curve,
        error_bar=nest_metrics({k: list(map(float, v)) for k, v in bar.items()}),
        method=coarse.method,
        solver=coarse.solver,
        dt=coarse.dt,
        seconds=time.perf_counter() - start,
        seconds_single_solve=coarse.seconds,
        resolution=dataclasses.asdict(resolution),
    )  # fmt: skip
