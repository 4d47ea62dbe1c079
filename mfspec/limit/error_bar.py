"""The limit curve with an honest error bar (docs/formal_system.md sec. 7).

A limit solve errs in two ways, estimated separately:

- **sampling**: the scrambled Sobol points of layer 1 (and of a head too wide for a grid), the
  Monte Carlo draws of a user sampler, the fixed data sample of a sampler dataset. Estimated
  without bias by randomized QMC: R replicates, each with independent scrambles and an
  independent data sample. The reported curve is the mean of the R replicate curves and its
  sampling bar the 95 % Student-t half-width ``t_{R−1, 0.975} · s / √R`` (s: the replicates'
  standard deviation at that time).
- **discretization**: the time step and the deterministic quadratures (Gauss–Hermite θ nodes,
  radial nodes, noise nodes). Estimated from the gap between replicate 0 and a solve on the SAME
  random points at ``Resolution.refined()`` (dt/2, 1.5× nodes): with the points shared, the gap
  is the deterministic error alone, not sampling noise; the part is ``DISCRETIZATION_FACTOR`` × gap,
  the coarse solve's own error for the orders stated there.

- **data**: when the expectation over P is a sample (a sampler's fixed sample, a finite dataset's
  ``Resolution.data_subsample``), its bias — shared by every replicate, so unseen by their spread —
  is measured by replicate 0 with twice the sample: the part is ``DISCRETIZATION_FACTOR`` × that
  gap (a bias ∝ 1/N halves when N doubles).

The bar is the sum of the parts, pointwise in t, per metric and split. A radially reduced solve has no random
part (every expectation is a quadrature): its bar is the discretization gap alone.

What it promises: the distance of the reported curve to the limit of the same evaluation sample
lies inside the bar at most evaluation times (tests/test_error_bar.py checks ≥ 90 % against
high-accuracy solves). It does not see an error that neither halving dt, refining the nodes,
re-scrambling nor doubling the data sample moves.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import jax
import numpy as np
from scipy.stats import t as student_t

from mfspec.common.processes import is_writer
from mfspec.finite.curves import Curve
from mfspec.limit.options import Checkpoint, Start
from mfspec.limit.particles import spec_particles
from mfspec.limit.radial import is_rotation_invariant
from mfspec.limit.resolution import DEFAULT as DEFAULT_RESOLUTION
from mfspec.limit.resolution import Resolution
from mfspec.limit.solve import LimitSolution, solve_limit

#: Folded into the run's key for the replicates' randomness, apart from the evaluation samples'.
REPLICATE_FOLD = 2**31 - 2
#: Confidence of the sampling part (two-sided).
CONFIDENCE = 0.95
#: The discretization part is this multiple of the gap |coarse − refined|. An error e(h) ≈ C·h^p
#: refined by a factor r leaves a gap e·(1 − r^−p), so e = gap / (1 − r^−p) ≤ 2·gap whenever
#: r^−p ≤ 1/2: the time step (r = 2) at any order p ≥ 1, the nodes (r = 1.5) at p ≥ 1.71 — the
#: ReLU kink converges like nodes^−1.8 in the direction cosine, and spectrally elsewhere.
DISCRETIZATION_FACTOR = 2.0


@dataclasses.dataclass
class LimitEstimate:
    """The limit curve with its error bar.

    Fields:
        curve: the estimate (the mean of the replicates' metrics; a radial solve's own curve).
        bar: total pointwise bar per metric name (e.g. "test_loss"), sampling + discretization.
        parts: {"sampling": {...}, "discretization": {...}[, "data": {...}]}, each per metric name.
        replicates: the replicate solves (one for a radial solve).
        refined: the solve at ``Resolution.refined()`` on replicate 0's random points.
        seconds: wall time of every solve.
    """

    curve: Curve
    bar: dict[str, np.ndarray]
    parts: dict[str, dict[str, np.ndarray]]
    replicates: list[LimitSolution]
    refined: LimitSolution
    seconds: float

    @property
    def method(self) -> str:
        return self.replicates[0].method


def replicate_keys(seed: int, r: int):
    """(Sobol scramble key, data sample key) of replicate ``r``, apart from the evaluation samples."""
    base = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), REPLICATE_FOLD), r)
    return tuple(jax.random.split(base))


def limit_estimate(spec, *, iterations: int, num_evals: int, eval_sets: dict, dtype=None,
                   resolution: Resolution = DEFAULT_RESOLUTION, seed: int = 0,
                   checkpoints: str | os.PathLike | None = None, progress: bool = False,
                   mesh=None) -> LimitEstimate:  # fmt: skip
    """The limit on the ``eval_iterations(iterations, num_evals)`` grid, with its error bar.

    ``resolution.replicates`` (R, at least 2) independent randomizations for a particle solve; the
    radial reduction (rotation-invariant specs) is deterministic and solved once.

    ``checkpoints``: a folder where each solve keeps its checkpoint (``solve_limit(checkpoint=...)``)
    until all are done, so that an interrupted estimate resumes where it stopped and skips the
    solves that finished. ``progress``: a progress bar in t per solve. ``mesh``: every solve cut
    over this device mesh (``solve_limit(mesh=...)``; process 0 keeps the checkpoints).
    """
    start = time.perf_counter()
    kw = dict(iterations=iterations, num_evals=num_evals, eval_sets=eval_sets, dtype=dtype, mesh=mesh)
    folder = None if checkpoints is None else Path(checkpoints)
    files: list[Path] = []

    def solve(name: str, res: Resolution, start: Start) -> LimitSolution:
        checkpoint = None
        if folder is not None:
            files.append(folder / f"{name}.npz")
            checkpoint = Checkpoint(files[-1], keep=True)
        return solve_limit(spec, resolution=res, start=start, checkpoint=checkpoint, progress=progress, **kw)

    fine, more_data = resolution.refined(), None
    if is_rotation_invariant(spec):
        replicates = [solve("radial", resolution, Start(method="radial"))]
        refined = solve("radial_refined", fine, Start(method="radial"))
    else:

        def replicate(r: int, res: Resolution, name: str) -> LimitSolution:
            points, data = replicate_keys(seed, r)
            particles = spec_particles(spec, points, resolution=res, dtype=dtype)
            return solve(name, res, Start(particles=particles, data_key=data))

        replicates = [replicate(r, resolution, f"replicate_{r}") for r in range(resolution.replicates)]
        refined = replicate(0, fine, "replicate_0_refined")
        doubled = _doubled_data(spec, resolution)
        if doubled is not None:
            more_data = replicate(0, doubled, "replicate_0_double_data")
    for f in files if is_writer() else ():  # the writer's files (mfspec.common.processes)
        f.unlink(missing_ok=True)
    curve, sampling = _mean_and_half_width(replicates)
    gap = {k: np.abs(refined.curve.metrics[k] - replicates[0].curve.metrics[k]) for k in curve.metrics}
    discretization = {k: DISCRETIZATION_FACTOR * v for k, v in gap.items()}
    parts = {"sampling": sampling, "discretization": discretization}
    if more_data is not None:
        parts["data"] = {
            k: DISCRETIZATION_FACTOR * np.abs(more_data.curve.metrics[k] - replicates[0].curve.metrics[k])
            for k in curve.metrics
        }
    bar = {k: sum(part[k] for part in parts.values()) for k in curve.metrics}
    return LimitEstimate(curve=curve, bar=bar, parts=parts,
                         replicates=replicates, refined=refined,
                         seconds=time.perf_counter() - start)  # fmt: skip


def _doubled_data(spec, resolution: Resolution) -> Resolution | None:
    """The resolution with twice the data sample, when the expectation over P is a sample (a
    sampler's fixed sample, a finite dataset's subsample); None when it is exact."""
    if not spec.data.is_finite:
        return dataclasses.replace(resolution, data_samples=2 * resolution.data_samples)
    n, sub = len(spec.data.x_train), resolution.data_subsample
    if sub is None or sub >= n:
        return None
    return dataclasses.replace(resolution, data_subsample=min(2 * sub, n))


def _mean_and_half_width(replicates: list[LimitSolution]) -> tuple[Curve, dict[str, np.ndarray]]:
    """The replicates' mean curve and the Student-t half-width of that mean (zero for one replicate)."""
    first = replicates[0].curve
    stack = {k: np.stack([s.curve.metrics[k] for s in replicates]) for k in first.metrics}
    r = len(replicates)
    if r == 1:
        half = {k: np.zeros_like(v[0]) for k, v in stack.items()}
    else:
        q = student_t.ppf(0.5 + CONFIDENCE / 2, r - 1)
        half = {k: q * v.std(axis=0, ddof=1) / np.sqrt(r) for k, v in stack.items()}
    diverged = next((s.curve.diverged for s in replicates if s.curve.diverged), None)
    mean = dataclasses.replace(
        first, metrics={k: v.mean(axis=0) for k, v in stack.items()}, diverged=diverged
    )
    return mean, half


def refinement_gap(a: LimitSolution, b: LimitSolution) -> dict[str, float]:
    """sup over the shared evaluation grid of |metric_a − metric_b|, per metric.

    Used to state a discretization error: N vs 4N data samples (the bias of a fixed sample),
    dt vs dt/2 (time stepping), M vs 4M particles.
    """
    if a.curve.t.shape != b.curve.t.shape or not np.allclose(a.curve.t, b.curve.t):
        raise ValueError("refinement_gap: the two solutions have different evaluation grids")
    return {k: float(np.max(np.abs(a.curve.metrics[k] - b.curve.metrics[k]))) for k in a.curve.metrics}
