"""The time stepping of a limit solve: which Diffrax solver, which step, which controller.

Time stepping (docs/formal_system.md sec. 3): a σ with a kink (ReLU: Max/Heaviside/Abs/Piecewise in
its SymPy expression) makes the right-hand side non-smooth, so the default is fixed-step Heun
(dt = 1e-2, or t1/2000 on long horizons); smooth σ get adaptive Tsit5. The time-step error is
stated by solving again at dt/2 (the error bar, ``mfspec.limit.error_bar``).
"""

from __future__ import annotations

import dataclasses
import math

import diffrax
import jax.numpy as jnp
import numpy as np
import sympy as sp

#: SymPy heads whose presence makes σ non-smooth (a kink or jump).
NONSMOOTH = (sp.Max, sp.Min, sp.Heaviside, sp.Abs, sp.Piecewise, sp.sign, sp.floor, sp.ceiling)
DEFAULT_HEUN_DT = 1e-2
#: Fixed-step default: at most this many steps (dt grows past DEFAULT_HEUN_DT beyond t1 = 20).
MAX_DEFAULT_STEPS = 2000
#: Adaptive default: at most this many steps (times the resolution's step divisor).
MAX_ADAPTIVE_STEPS = 16384


def is_smooth(spec) -> bool:
    """Whether every σ_ℓ (and σ* of a local layer) is free of kinks (no Max/Min/Heaviside/Abs/
    Piecewise/sign/floor/ceiling)."""
    return not any(e.has(*NONSMOOTH) for kind in spec.layers for e in kind.exprs())


def default_dt(t1: float) -> float:
    """The fixed Heun step of a kinked σ: 1e-2, widened on long horizons to at most 2000 steps (the
    digits run goes to t = 150; the refined solve's dt/2 still measures the error of the wider step)."""
    return max(DEFAULT_HEUN_DT, t1 / MAX_DEFAULT_STEPS)


def step_grid(t1: float, dt: float, eval_ts) -> np.ndarray:
    """The times of a fixed-step solve: N = ⌈t1/dt⌉ equal steps (as a constant step takes them) with
    every evaluation time added, so that no recorded value is interpolated inside a step — the early
    log-spaced evaluations (t = α, 2α, ... ≪ dt) also get the short steps that the fast initial
    transient needs. An evaluation time within dt/1000 of a grid time is not added (the step it
    would cut off is too short to matter)."""
    n = max(1, int(math.ceil(t1 / dt - 1e-9)))
    grid = np.linspace(0.0, t1, n + 1)
    near = np.abs(np.asarray(eval_ts, np.float64)[:, None] - grid[None, :]).min(axis=1) <= 1e-3 * t1 / n
    return np.unique(np.concatenate([grid, np.asarray(eval_ts, np.float64)[~near]]))


@dataclasses.dataclass(frozen=True)
class TimeStepping:
    """The resolved stepping of one solve: the solver, the fixed step (None: adaptive), the
    controller and the step cap."""

    solver: diffrax.AbstractSolver
    dt: float | None
    controller: diffrax.AbstractStepSizeController
    max_steps: int

    @property
    def name(self) -> str:
        """The solver's name as results.json records it ("heun", "tsit5", ...)."""
        return type(self.solver).__name__.lower()

    @property
    def fixed(self) -> bool:
        return isinstance(self.controller, diffrax.StepTo)


def check_solver(solver, dt) -> None:
    """A ValueError before any compute when a solver without an error estimate has no fixed step."""
    if solver is not None and dt is None and not isinstance(solver, diffrax.AbstractAdaptiveSolver):
        raise ValueError(
            f"solve_limit: {type(solver).__name__} has no embedded error estimate, so it cannot choose "
            f"its own steps: give a fixed step, Resolution(dt=...)"
        )


def time_stepping(stepping, resolution, *, smooth: bool, t1: float, eval_ts, dtype) -> TimeStepping:
    """The ``TimeStepping`` of a solve from its ``Stepping`` options and ``Resolution``."""
    solver, dt = stepping.solver, resolution.dt
    check_solver(solver, dt)
    if solver is None:
        solver = diffrax.Tsit5() if smooth else diffrax.Heun()
        if dt is None and not smooth:
            dt = default_dt(t1)
    divisor = resolution.step_divisor
    if dt is not None:
        step = float(dt) / divisor
        # The grid in the solve's time dtype (that of SaveAt's ts).
        controller = diffrax.StepTo(ts=jnp.asarray(step_grid(t1, step, eval_ts), dtype))
        return TimeStepping(solver, step, controller, stepping.max_steps or len(controller.ts) - 1)
    # An adaptive step shrinks like tol^(1/5) for Tsit5 (order 5): tol / s^5 takes steps ~s× shorter.
    scale = divisor**5
    controller = diffrax.PIDController(rtol=stepping.rtol / scale, atol=stepping.atol / scale)
    return TimeStepping(solver, None, controller, stepping.max_steps or MAX_ADAPTIVE_STEPS * divisor)
