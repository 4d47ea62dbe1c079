"""How finely one limit solve is discretized (``Resolution``): nodes, particles, data sample, step.

A spec file's preset may carry one (``mf.Run(limit=mf.Resolution(m1=2048))``) when its task needs
more than the defaults; ``mfspec run --limit-m1/--limit-dt/--limit-qmc`` override it.
"""

from __future__ import annotations

import dataclasses

from mfspec.common.validate import positive_int, positive_number


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
    # θ of layers ℓ ≥ 2 under a wide law (the default spec's τ2 = 3) carries the ReLU kink: 8 nodes
    # were 2.1e-3 off a 32-node reference in population loss, 16 are 7e-4 (bench/results/limit_trust.md).
    theta_nodes: int = 16  # Gauss–Hermite nodes per non-atomic θ component
    m1: int = 1024  # general: layer-1 particles
    qmc_points: int = 256  # Sobol particles of a layer too high-dimensional for a grid (k-output head)
    max_particles: int = 4096  # cap on a layer's Gauss–Hermite grid (the per-axis count shrinks to fit)
    noise_nodes: int = 8  # local operation nonlinear in w: Gauss–Hermite nodes per noise component
    data_samples: int = 8192  # general sampler: fixed sample size
    dt: float | None = None  # None: the solver's default (kinked σ: Heun max(0.01, t/2000); else adaptive)
    step_divisor: int = 1  # the time step divided by this (adaptive: tolerances by its 5th power)
    replicates: int = 4  # independent randomizations of a particle solve (the error bar's sampling part)
    data_subsample: int | None = None  # finite dataset: the expectation over a random subsample (None: all)

    def __post_init__(self):
        # Checked here, so that a bad --limit-* flag fails before the width sweep trains.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "data_subsample" and value is None:
                continue
            if field.name == "dt":
                if value is not None:
                    positive_number(value, "Resolution.dt (or None)")
            else:
                positive_int(value, f"Resolution.{field.name}")
        if self.replicates < 2:
            raise ValueError(
                f"Resolution.replicates must be >= 2 (the spread of independent replicates is the error "
                f"bar's sampling part), got {self.replicates!r}"
            )

    def refined(self) -> Resolution:
        """1.5× every deterministic quadrature and half the time step; the sampled sizes (``m1``,
        ``qmc_points``, ``data_samples``) stay, so that a solve on the same random points measures
        the deterministic discretization error alone (the error bar's second part, ``mfspec.limit.error_bar``)."""
        return dataclasses.replace(
            self,
            s_nodes=self.s_nodes * 3 // 2,
            u_nodes=self.u_nodes * 3 // 2,
            r_nodes=self.r_nodes * 3 // 2,
            theta_nodes=self.theta_nodes * 3 // 2,
            noise_nodes=self.noise_nodes * 3 // 2,
            step_divisor=self.step_divisor * 2,
        )


#: The defaults, as a module-level value so that function defaults can share it.
DEFAULT = Resolution()
