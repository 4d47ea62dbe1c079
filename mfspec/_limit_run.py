"""The limit as ``mfspec run`` and ``mfspec limit`` compute it: the best discretization the spec
allows, on the finite curves' grid and evaluation samples, with its own error bar.

- Rotation-invariant spec (isotropic data, isotropic W_1 law): the radial reduction (``_radial``),
  quadrature in every variable, no sampling bias.
- Otherwise: d-dimensional particles (Sobol layer 1, Gauss–Hermite/collapsed deeper layers) and the
  exact full-batch expectation for a finite dataset, or a fixed sample for a sampler.

The error bar is the pointwise gap to a refined solve (``Resolution.refined``: more nodes/particles,
a new larger data sample, half the time step — dt/2 for a fixed step, tolerances / 2^5 for an
adaptive one): a conservative estimate of the coarse solve's discretization error.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from mfspec._limit import LimitSolution, solve_limit
from mfspec._radial import is_rotation_invariant, radial_setup
from mfspec._resolution import DEFAULT as DEFAULT_RESOLUTION
from mfspec._resolution import Resolution
from mfspec._results import curve_record, nest_metrics
from mfspec._spec import Run
from mfspec._sweep import eval_sets_for


def method_of(spec) -> str:
    return "radial" if is_rotation_invariant(spec) else "particles"


def solve_default_limit(
    spec,
    *,
    iterations: int,
    num_evals: int = 30,
    eval_sets: dict,
    resolution: Resolution = DEFAULT_RESOLUTION,
    dtype=None,
    data_key=None,
    **solve_kwargs,
) -> LimitSolution:
    """Solve the limit of ``spec`` on the ``eval_iterations(iterations, num_evals)`` grid."""
    kw = dict(iterations=iterations, num_evals=num_evals, eval_sets=eval_sets, dtype=dtype, **solve_kwargs)
    if resolution.dt is not None:
        kw["dt"] = resolution.dt
    kw.setdefault("step_divisor", resolution.step_divisor)
    if method_of(spec) == "radial":
        system, p0, batch = radial_setup(
            spec, s_nodes=resolution.s_nodes, u_nodes=resolution.u_nodes, r_nodes=resolution.r_nodes,
            theta_nodes=resolution.theta_nodes, dtype=dtype,
        )  # fmt: skip
        return solve_limit(spec, system=system, particles=p0, batch=batch, **kw)
    from mfspec._particles import spec_particles

    p0 = spec_particles(spec, m1=resolution.m1, nodes=resolution.theta_nodes, qmc_points=resolution.qmc_points,
                        dtype=dtype)  # fmt: skip
    return solve_limit(spec, particles=p0, data_samples=resolution.data_samples, data_key=data_key, **kw)


def limit_with_error_bar(spec, *, iterations: int, num_evals: int, eval_sets: dict, dtype=None,
                         resolution: Resolution = DEFAULT_RESOLUTION):  # fmt: skip
    """(coarse solution, refined solution, pointwise |coarse − refined| per metric)."""
    coarse = solve_default_limit(spec, iterations=iterations, num_evals=num_evals, eval_sets=eval_sets,
                                 dtype=dtype, resolution=resolution)  # fmt: skip
    fine = solve_default_limit(spec, iterations=iterations, num_evals=num_evals, eval_sets=eval_sets,
                               dtype=dtype, resolution=resolution.refined(),
                               data_key=jax.random.PRNGKey(7))  # fmt: skip
    bar = {k: np.abs(coarse.curve.metrics[k] - fine.curve.metrics[k]) for k in coarse.curve.metrics}
    return coarse, fine, bar


def limit_record(spec, run: Run, *, seed: int = 0, progress: bool = True, dtype=None,
                 resolution: Resolution | None = None) -> dict:  # fmt: skip
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
        method=method_of(spec),
        solver=coarse.solver,
        dt=coarse.dt,
        seconds=time.perf_counter() - start,
        seconds_single_solve=coarse.seconds,
        resolution=dataclasses.asdict(resolution),
    )  # fmt: skip
