"""The data law P as the rates see it, and the bias of representing it by a sample.

``data_expectation`` is the ``WeightedBatch`` of ``solve_limit``: a finite dataset's exact
full-batch mean (or a random subsample of it, ``Resolution.data_subsample``), or a sampler's fixed
sample of N points. A gradient flow on a fixed sample overfits it — its test loss sits below the
true limit's (measured 2.8e-2 at N = 4096 and 5.9e-3 at N = 16384 on the Fig. 5 net) —
so the error bar measures that bias by doubling the sample (docs/formal_system.md sec. 7), and
``expectation_check`` states it as ``refinement_gap`` between solves at N and factor·N.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from mfspec._curves import metric_names
from mfspec._formal import WeightedBatch

if TYPE_CHECKING:  # _limit imports this module
    from mfspec._limit import LimitSolution


def data_expectation(
    spec, *, samples: int = 8192, key=None, dtype=None, subsample: int | None = None
) -> WeightedBatch:
    """The representation of P used in the rates (see the module docstring for its bias).

    Arguments:
        samples: N, the fixed sample size for a sampler (ignored for a finite dataset).
        key: the sample's key (default ``PRNGKey(0)``).
        subsample: a finite dataset's expectation over this many training points drawn without
            replacement (a dataset too large for the solve; None or ≥ its size: all, exact).
    """
    dtype = dtype or jnp.zeros(()).dtype
    key = jax.random.PRNGKey(0) if key is None else key
    if spec.data.is_finite:
        x, y = spec.data.x_train, spec.data.y_train
        if subsample is not None and subsample < len(x):
            idx = np.sort(np.asarray(jax.random.choice(key, len(x), (subsample,), replace=False)))
            x, y = np.asarray(x)[idx], np.asarray(y)[idx]
        return WeightedBatch.uniform(x, y, dtype)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"data_expectation: samples must be a positive int, got {samples!r}")
    x, y = spec.data.minibatch(key, samples, dtype=dtype)
    return WeightedBatch.uniform(x, y, dtype)


def refinement_gap(a: LimitSolution, b: LimitSolution) -> dict[str, float]:
    """sup over the shared evaluation grid of |metric_a − metric_b|, per metric.

    Used to state a discretization error: N vs 4N data samples (the bias of a fixed sample),
    dt vs dt/2 (time stepping), M vs 4M particles.
    """
    if a.curve.t.shape != b.curve.t.shape or not np.allclose(a.curve.t, b.curve.t):
        raise ValueError("refinement_gap: the two solutions have different evaluation grids")
    return {k: float(np.max(np.abs(a.curve.metrics[k] - b.curve.metrics[k]))) for k in a.curve.metrics}


def expectation_check(spec, *, samples: int = 8192, factor: int = 4, **solve_kwargs) -> dict[str, float]:
    """How far the fixed-sample expectation is from converged: ``refinement_gap`` of N vs factor·N.

    For a finite dataset the expectation is exact and every gap is 0.
    """
    if spec.data.is_finite:
        return dict.fromkeys(metric_names(spec), 0.0)
    from mfspec._limit import solve_limit

    a = solve_limit(spec, data_samples=samples, **solve_kwargs)
    b = solve_limit(spec, data_samples=factor * samples, data_key=jax.random.PRNGKey(1), **solve_kwargs)
    return refinement_gap(a, b)
