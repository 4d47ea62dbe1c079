"""The option objects of ``mf.solve_limit``: how the ODE is stepped, where it starts, how it is
checkpointed. The discretization's sizes, the fixed step dt and its refinement are ``mf.Resolution``'s.

Each object checks its fields when it is built, so a bad option fails before any compute.
"""

from __future__ import annotations

import dataclasses
import math
import os

import diffrax

from mfspec.common.validate import one_of, positive_int, positive_number

METHODS = ("auto", "radial", "particles")


@dataclasses.dataclass(frozen=True)
class Stepping:
    """How the limit's ODE is stepped (docs/formal_system.md sec. 3).

    Fields:
        solver: a Diffrax solver instance (``diffrax.Heun()``, ``diffrax.Tsit5()``, ...); None picks
            Heun with a fixed step for a σ with a kink (ReLU: adaptive steps are rejected at the
            kink and gain nothing) and adaptive Tsit5 for smooth σ. A solver without an embedded
            error estimate (``diffrax.Euler``) needs a fixed step, ``Resolution(dt=...)``.
        rtol, atol: the tolerances of an adaptive step (divided by ``Resolution.step_divisor``⁵).
        max_steps: cap on solver steps (None: exactly the fixed grid's, or 16384·step_divisor).
    """

    solver: diffrax.AbstractSolver | None = None
    rtol: float = 1e-6
    atol: float = 1e-8
    max_steps: int | None = None

    def __post_init__(self):
        if self.solver is not None and not isinstance(self.solver, diffrax.AbstractSolver):
            raise TypeError(
                f"Stepping.solver must be a Diffrax solver instance such as diffrax.Heun() or None, got "
                f"{self.solver!r}"
            )
        positive_number(self.rtol, "Stepping.rtol")
        positive_number(self.atol, "Stepping.atol")
        if self.max_steps is not None:
            positive_int(self.max_steps, "Stepping.max_steps")


@dataclasses.dataclass(frozen=True)
class Start:
    """Where a solve starts and what it integrates, when it is not the spec's own discretization.

    Fields:
        method: "auto" (the radial reduction for a rotation-invariant spec, else "particles"),
            "radial" or "particles".
        particles: the initial state (default ``spec_particles(spec, resolution=resolution)``).
        batch: a ``WeightedBatch`` representing the data law P (default ``data_expectation``).
        system: the vector field (default ``FormalSystem.from_spec(spec)``): any module with
            ``rates(t, particles, batch)`` and ``evaluate(particles, eval_sets)``, given with its own
            ``particles`` and ``batch``.
        data_key: the key of a sampler's fixed sample (default ``PRNGKey(0)``).
    """

    method: str = "auto"
    particles: object = None
    batch: object = None
    system: object = None
    data_key: object = None

    def __post_init__(self):
        one_of(self.method, METHODS, "Start.method")
        if self.system is not None and (self.particles is None or self.batch is None):
            raise ValueError("Start.system needs its own Start.particles and Start.batch")
        if self.method == "radial" and (self.particles is not None or self.batch is not None):
            raise ValueError("Start.method='radial' builds its own particles and batch; give neither")

    def resolved(self, rotation_invariant: bool) -> str:
        """The method: "custom" for a given system, "particles" for given particles or batch."""
        if self.system is not None:
            return "custom"
        if self.particles is not None or self.batch is not None:
            return "particles"
        if self.method == "auto":
            return "radial" if rotation_invariant else "particles"
        return self.method


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Solve in chunks of whole steps and resume from a file (``mfspec.limit.checkpoint``).

    Fields:
        path: the checkpoint file (.npz). Ctrl-C/SIGTERM write it and say so; a file of another solve
            is refused; a finished solve deletes it unless ``keep``.
        every: seconds between writes (0: after every chunk of 25 steps).
        every_steps: write every this many steps instead.
        keep: a finished solve leaves its file, complete, so that a rerun returns at once (for a
            driver of several solves, which deletes them when all are done).
    """

    path: str | os.PathLike
    every: float = 60.0
    every_steps: int | None = None
    keep: bool = False

    def __post_init__(self):
        if not isinstance(self.path, (str, os.PathLike)):
            raise TypeError(f"Checkpoint.path must be a file path, got {self.path!r}")
        if (
            isinstance(self.every, bool)
            or not isinstance(self.every, (int, float))
            or not (math.isfinite(self.every) and self.every >= 0)
        ):
            raise ValueError(f"Checkpoint.every must be a number of seconds >= 0, got {self.every!r}")
        if self.every_steps is not None:
            positive_int(self.every_steps, "Checkpoint.every_steps")
