"""The limit as ``mfspec run`` and ``mfspec limit`` compute it: the best discretization the spec
allows, on the finite curves' grid and evaluation samples, with its own error bar.

- Rotation-invariant spec (isotropic data, isotropic W_1 law): the radial reduction (``_radial``),
  quadrature in every variable, no sampling bias.
- Otherwise: d-dimensional particles (Sobol layer 1, Gauss–Hermite/collapsed deeper layers) and the
  exact full-batch expectation for a finite dataset, or a fixed sample for a sampler.

The error bar is the pointwise gap to a refined solve (more nodes/particles, a new larger data
sample, dt/2): a conservative estimate of the coarse solve's discretization error.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from mfspec._limit import LimitSolution, solve_limit
from mfspec._radial import is_rotation_invariant, radial_setup
from mfspec._results import curve_record, nest_metrics
from mfspec._spec import Run
from mfspec._sweep import eval_sets_for


@dataclasses.dataclass(frozen=True)
class Resolution:
    """Discretization sizes of one limit solve."""

    # Radial sizes measured on the Fig. 5 net. At t = 0 against (32, 512, 32, 8) nodes: |w| and |x|
    # converge spectrally (8 and 16 nodes: < 1e-8), while the direction cosine U carries the ReLU
    # kink and converges like M^-1.8 (64: 6e-4, 256: 4e-5). Over t ≤ 10 (bench/bench_limit.py) the
    # trained ŷ(|x|) sharpens into a radius threshold and |x| needs more nodes (16: 1.2e-3 off a
    # reference, 24: 4e-4), so it gets 32.
    s_nodes: int = 8  # radial: |w| nodes
    u_nodes: int = 256  # radial: direction-cosine nodes
    r_nodes: int = 32  # radial: |x| nodes per class
    theta_nodes: int = 8  # Gauss–Hermite nodes per non-atomic θ component
    m1: int = 1024  # general: layer-1 particles
    qmc_points: int = 256  # Sobol particles of a layer too high-dimensional for a grid (k-output head)
    data_samples: int = 8192  # general sampler: fixed sample size
    dt: float | None = None  # None: the solver's default (Heun 1e-2 for a kinked σ; adaptive else)

    def __post_init__(self):
        # Checked here, so that a bad --limit-* flag fails before the width sweep trains.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "dt":
                if value is not None and (
                    isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or not value > 0
                    or value == float("inf")
                ):
                    raise ValueError(f"Resolution.dt must be a finite number > 0 or None, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Resolution.{field.name} must be a positive int, got {value!r}")

    def refined(self) -> Resolution:
        return Resolution(
            s_nodes=self.s_nodes * 3 // 2,
            u_nodes=self.u_nodes * 3 // 2,
            r_nodes=self.r_nodes * 3 // 2,
            theta_nodes=self.theta_nodes * 3 // 2,
            m1=self.m1 * 2,
            qmc_points=self.qmc_points * 2,
            data_samples=self.data_samples * 2,
            dt=None if self.dt is None else self.dt / 2,
        )


def method_of(spec) -> str:
    return "radial" if is_rotation_invariant(spec) else "particles"


def solve_default_limit(
    spec,
    *,
    iterations: int,
    num_evals: int = 30,
    eval_sets: dict,
    resolution: Resolution = Resolution(),
    dtype=None,
    data_key=None,
    **solve_kwargs,
) -> LimitSolution:
    """Solve the limit of ``spec`` on the ``eval_iterations(iterations, num_evals)`` grid."""
    kw = dict(iterations=iterations, num_evals=num_evals, eval_sets=eval_sets, dtype=dtype, **solve_kwargs)
    if resolution.dt is not None:
        kw["dt"] = resolution.dt
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
                         resolution: Resolution = Resolution()):  # fmt: skip
    """(coarse solution, refined solution, pointwise |coarse − refined| per metric)."""
    coarse = solve_default_limit(spec, iterations=iterations, num_evals=num_evals, eval_sets=eval_sets,
                                 dtype=dtype, resolution=resolution)  # fmt: skip
    fine = solve_default_limit(spec, iterations=iterations, num_evals=num_evals, eval_sets=eval_sets,
                               dtype=dtype, resolution=resolution.refined(),
                               data_key=jax.random.PRNGKey(7))  # fmt: skip
    bar = {k: np.abs(coarse.curve.metrics[k] - fine.curve.metrics[k]) for k in coarse.curve.metrics}
    return coarse, fine, bar


def limit_record(spec, run: Run, *, seed: int = 0, progress: bool = True, dtype=None,
                 resolution: Resolution = Resolution()) -> dict:  # fmt: skip
    """The "limit" curve of results.json on the run's grid and evaluation samples."""
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
