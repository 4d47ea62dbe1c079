"""The data law P as the rates see it, and the bias of representing it by a sample.

``data_expectation`` is the ``WeightedBatch`` of ``solve_limit``: a finite dataset's exact
full-batch mean (or a random subsample of it, ``Resolution.data_subsample``), or a sampler's fixed
sample of N points. A gradient flow on a fixed sample overfits it — its test loss sits below the
true limit's (measured 2.8e-2 at N = 4096 and 5.9e-3 at N = 16384 on the Fig. 5 net) —
so the error bar measures that bias by doubling the sample (docs/formal_system.md sec. 7).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mfspec.common.validate import positive_int
from mfspec.limit.formal import WeightedBatch


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
    positive_int(samples, "data_expectation: samples")
    x, y = spec.data.minibatch(key, samples, dtype=dtype)
    return WeightedBatch.uniform(x, y, dtype)
