"""How big an experiment is (``mf.Run``): a spec file's preset, the width sweep and the horizon."""

from __future__ import annotations

import equinox as eqx

from mfspec.common.validate import is_int, positive_int
from mfspec.limit.resolution import DEFAULT as DEFAULT_RESOLUTION
from mfspec.limit.resolution import Resolution


class Run(eqx.Module):
    """How big an experiment is: the width sweep, seeds and horizon (a spec file's preset).

    Arguments:
        widths: the uniform widths n to train (or per-layer tuples).
        seeds: number of seeds per width.
        iterations: SGD steps per run.
        num_evals: number of log-spaced evaluation iterations (0 and the last are included).
        eval_samples: size of each fixed evaluation sample (paper: 10^4).
        limit: the limit solve's ``Resolution`` (default: ``Resolution()``), for a task that needs
            more particles or a finer step than the defaults.
    """

    widths: tuple = eqx.field(static=True, default=(50, 100, 200))
    seeds: int = eqx.field(static=True, default=1)
    iterations: int = eqx.field(static=True, default=1000)
    num_evals: int = eqx.field(static=True, default=30)
    eval_samples: int = eqx.field(static=True, default=2000)
    limit: Resolution = eqx.field(static=True, default=DEFAULT_RESOLUTION)

    def __check_init__(self):
        if not self.widths:
            raise ValueError("Run.widths must list at least one width")
        for n in self.widths:
            ns = (n,) if is_int(n) else tuple(n)
            if not ns or not all(is_int(m) and m >= 1 for m in ns):
                raise ValueError(f"Run.widths entries must be positive ints (or tuples of them), got {n!r}")
        positive_int(self.seeds, "Run.seeds")
        positive_int(self.iterations, "Run.iterations")
        positive_int(self.num_evals, "Run.num_evals")
        positive_int(self.eval_samples, "Run.eval_samples")
        if not isinstance(self.limit, Resolution):
            raise TypeError(f"Run.limit must be an mf.Resolution, got {self.limit!r}")
