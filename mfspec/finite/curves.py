"""Curves and how they are evaluated, shared by the trainer, the sweep and the limit solver.

A curve is a run's metrics (loss and classification error on the train and/or test evaluation
sets) at log-spaced iterations; the limit is evaluated on the same grid (t = kα) and the same
fixed evaluation samples, so finite-n and limit curves line up point by point.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Real

from mfspec.common.validate import is_int

#: An evaluation set (x (B, d), y (B, k)); B may differ between the sets of one run.
EvalSet = tuple[Real[ArrayLike, "_batch d"], Real[ArrayLike, "_batch k"]]

#: The evaluation samples are drawn from this fold of the base key, shared by every width and
#: seed (common random numbers make finite-vs-finite and finite-vs-limit differences less noisy).
EVAL_FOLD = 2**31 - 1


@dataclasses.dataclass
class Curve:
    """Metrics of one run at evaluation iterations (data first: plain numpy and strings)."""

    iterations: np.ndarray
    t: np.ndarray
    metrics: dict[str, np.ndarray]
    diverged: str | None = None

    def to_json(self) -> dict:
        return {
            "iteration": [int(i) for i in self.iterations],
            "t": [float(v) for v in self.t],
            "metrics": {k: [float(x) for x in v] for k, v in self.metrics.items()},
            "diverged": self.diverged,
        }


def metric_names(spec) -> tuple[str, ...]:
    """Names of the metrics recorded for this spec, e.g. ("train_loss", "train_error", ...)."""
    sets = ("train", "test") if spec.data.is_finite else ("test",)
    if spec.data.is_finite and getattr(spec.data, "x_test", None) is None:
        sets = ("train",)
    return tuple(f"{s}_{m}" for s in sets for m in ("loss", "error"))


def evaluate(net, loss, eval_sets: dict[str, EvalSet]) -> Float[Array, " metrics"]:
    """[loss, error] on each evaluation set, in ``metric_names`` order (train before test).

    ``net`` is anything that maps x (B, d) to ŷ (B, k): a network or a particle state.
    """
    vals = []
    for name in ("train", "test"):
        if name in eval_sets:
            x, y = eval_sets[name]
            yhat = net(x)
            vals += [jnp.mean(loss(y, yhat)), jnp.mean(loss.errors(y, yhat))]
    return jnp.stack(vals)


def eval_iterations(iterations: int, num_evals: int) -> tuple[int, ...]:
    """Exactly ``min(num_evals, iterations + 1)`` strictly increasing iterations in [0, iterations].

    0 and ``iterations`` are always included (``num_evals = 1``: ``iterations`` alone, the final
    evaluation). With m points, m > 2, the m − 1 after 0 follow the geometric grid 1 … ``iterations``
    (targets ``iterations ** (j / (m − 2))``, j = 0 … m − 2), rounded; where rounding collides a point
    moves up by one (p_i = max(round(target_i), p_{i−1} + 1)) and the tail is then clipped
    (p_i ≤ iterations − (m − 1 − i)), so early points become consecutive integers and none is lost.
    """
    for name, value, low in (("iterations", iterations, 0), ("num_evals", num_evals, 1)):
        if not (is_int(value) or isinstance(value, np.integer)) or value < low:
            raise ValueError(f"eval_iterations: {name} must be an int >= {low}, got {value!r}")
    iterations, m = int(iterations), min(int(num_evals), int(iterations) + 1)
    if m == 1:
        return (iterations,)
    pts = [0]
    for j in range(m - 1):
        target = iterations ** (j / (m - 2)) if m > 2 else iterations
        pts.append(max(int(round(target)), pts[-1] + 1))
    return tuple(min(p, iterations - (m - 1 - i)) for i, p in enumerate(pts))


def eval_sets_for(spec, run, base_key: PRNGKeyArray, dtype=None) -> dict[str, EvalSet]:
    """The fixed evaluation samples of a run: ``run.eval_samples`` per set, from ``EVAL_FOLD``."""
    kwargs = {} if dtype is None else {"dtype": dtype}
    return spec.data.eval_sets(jax.random.fold_in(base_key, EVAL_FOLD), run.eval_samples, **kwargs)
