"""Solve the formal limit system (paper eq. 39, Lagrangian form App. A eq. 48-52) with Diffrax.

The ODE state is the ``Particles`` pytree (docs/formal_system.md sec. 3), packed into one flat vector (``pack``;
π is constant and rides along in the arguments) because Diffrax's bookkeeping, and its compile time,
grows with the number of array leaves. The vector field is ``FormalSystem.rates(t, particles,
batch)``, where ``batch`` (a ``WeightedBatch``) represents the data law P:

``mfspec._expectation.data_expectation``: a finite dataset's exact full-batch mean (the limit of
SGD that samples minibatches from a training set is the flow of the loss averaged over it), or a
sampler's fixed sample — biased, measured by the error bar. Any other representation of P (a
symmetry-reduced quadrature) is plugged in through ``solve_limit(batch=...)``.

Time stepping (docs/formal_system.md sec. 3): a σ with a kink (ReLU: Max/Heaviside/Abs/Piecewise in its SymPy
expression) makes the right-hand side non-smooth, so ``solver="auto"`` uses fixed-step Heun
(dt = 1e-2 by default); smooth σ get adaptive Tsit5. State the time-step error the same way: solve
again at dt/2 (the error bar, ``mfspec._error_bar``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from mfspec._checkpoint import solve_checkpointed, solve_parts
from mfspec._curves import Curve, eval_iterations, metric_names
from mfspec._distributed import replicated, sharded_solve_inputs
from mfspec._expectation import data_expectation
from mfspec._formal import FormalSystem, WeightedBatch
from mfspec._particles import spec_particles
from mfspec._radial import is_rotation_invariant, radial_setup
from mfspec._resolution import DEFAULT as DEFAULT_RESOLUTION
from mfspec._resolution import Resolution
from mfspec._spec import limit_view
from mfspec._state import Particles, pack, unpack

#: SymPy heads whose presence makes σ non-smooth (a kink or jump).
NONSMOOTH = (sp.Max, sp.Min, sp.Heaviside, sp.Abs, sp.Piecewise, sp.sign, sp.floor, sp.ceiling)

SOLVERS = {
    "euler": diffrax.Euler,
    "heun": diffrax.Heun,
    "midpoint": diffrax.Midpoint,
    "ralston": diffrax.Ralston,
    "bosh3": diffrax.Bosh3,
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
}
#: Solvers without an embedded error estimate: they need a fixed dt.
FIXED_ONLY = ("euler", "midpoint", "ralston")
DEFAULT_HEUN_DT = 1e-2
#: Fixed-step default: at most this many steps (dt grows past DEFAULT_HEUN_DT beyond t1 = 20).
MAX_DEFAULT_STEPS = 2000


def is_smooth(spec) -> bool:
    """Whether every σ_ℓ (and σ* of a local layer) is free of kinks (no Max/Min/Heaviside/Abs/
    Piecewise/sign/floor/ceiling)."""
    return not any(e.has(*NONSMOOTH) for kind in spec.layers for e in kind.exprs())


@dataclasses.dataclass
class LimitSolution:
    """The solved limit.

    Fields:
        curve: metrics at the evaluation times, as for a trained network (``Curve``).
        particles: the state at ``t1``.
        solution: the ``diffrax.Solution`` of the packed state (``ys`` (T, D) at the evaluation
            times; dense if asked); ``states()`` and ``at(t)`` unpack it.
        system: the ``FormalSystem`` that was integrated.
        batch: the ``WeightedBatch`` that represented P.
        solver, dt: the time stepping used (dt None for adaptive).
        num_steps: accepted steps; rejected: rejected steps (adaptive only).
        seconds: wall time of the solve and the metrics (compilation included).
        initial: the initial state.
        method: "radial" (the symmetry-reduced system), "particles", or "custom" (a given system).
    """

    curve: Curve
    particles: Particles
    solution: diffrax.Solution
    system: FormalSystem
    batch: WeightedBatch
    solver: str
    dt: float | None
    num_steps: int
    rejected: int
    seconds: float
    initial: Particles
    method: str = "particles"

    def at(self, t) -> Particles:
        """The particle state at time t (needs ``solve_limit(..., dense=True)``)."""
        if self.solution.interpolation is None:
            raise ValueError("LimitSolution.at needs a dense solution: pass solve_limit(..., dense=True)")
        return unpack(self.solution.evaluate(t), self.initial)

    def states(self) -> list[Particles]:
        """The particle states at the evaluation times ``curve.t``."""
        return [unpack(y, self.initial) for y in self.solution.ys]


def packed_vector_field(t, y, args):
    """d(pack(p))/dt = pack(G(t, p)) with ``args = (system, template, batch)`` (π from the template).

    A module-level function, so that solves of equal shapes share one compilation.
    """
    system, template, batch = args
    return pack(system.rates(t, unpack(y, template), batch))


def _check_dtype(dtype):
    dtype = jnp.dtype(dtype or jnp.zeros(()).dtype)
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "solve_limit: dtype=float64 needs 64-bit JAX: jax.config.update('jax_enable_x64', True) "
            "or `with jax.enable_x64(True):`"
        )
    if dtype not in (jnp.float32, jnp.float64):
        raise ValueError(f"solve_limit: dtype must be float32 or float64, got {dtype}")
    return dtype


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


def _stepping(solver: str, dt, rtol, atol, smooth: bool, t1: float, step_divisor: int = 1, eval_ts=()):
    name = solver
    if name == "auto":
        name = "tsit5" if smooth else "heun"
    if name not in SOLVERS:
        raise ValueError(f"solve_limit: solver must be 'auto' or one of {sorted(SOLVERS)}, got {solver!r}")
    if dt is None and (name in FIXED_ONLY or (name == "heun" and solver == "auto")):
        if name != "heun":
            raise ValueError(f"solve_limit: solver {name!r} has no error estimate; give dt")
        # Long horizons (real data at a large α: the digits run to t = 150) would take tens of
        # thousands of steps; the refined solve's dt/2 still measures the error of the wider step.
        dt = max(DEFAULT_HEUN_DT, t1 / MAX_DEFAULT_STEPS)
    if isinstance(step_divisor, bool) or not isinstance(step_divisor, int) or step_divisor < 1:
        raise ValueError(f"solve_limit: step_divisor must be a positive int, got {step_divisor!r}")
    if dt is not None:
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"solve_limit: dt must be a finite number > 0, got {dt!r}")
        step = float(dt) / step_divisor
        return name, SOLVERS[name](), step, diffrax.StepTo(ts=step_grid(t1, step, eval_ts))
    # An adaptive step shrinks like tol^(1/5) for Tsit5 (order 5): tol / s^5 takes steps ~s× shorter.
    scale = step_divisor**5
    return name, SOLVERS[name](), None, diffrax.PIDController(rtol=rtol / scale, atol=atol / scale)


@eqx.filter_jit
def _metrics(system: FormalSystem, template: Particles, ys, eval_sets: dict):
    return jax.lax.map(lambda y: system.evaluate(unpack(y, template), eval_sets), ys)


def solve_limit(
    spec,
    *,
    t1: float | None = None,
    iterations: int | None = None,
    eval_ts=None,
    num_evals: int = 30,
    resolution: Resolution = DEFAULT_RESOLUTION,
    method: str = "auto",
    particles: Particles | None = None,
    solver: str = "auto",
    dt: float | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-8,
    dtype=None,
    data_samples: int | None = None,
    data_key=None,
    batch: WeightedBatch | None = None,
    system=None,
    eval_sets: dict | None = None,
    eval_samples: int = 2000,
    dense: bool = False,
    max_steps: int | None = None,
    step_divisor: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: float = 60.0,
    checkpoint_every_steps: int | None = None,
    checkpoint_keep: bool = False,
    progress: bool = False,
    mesh=None,
) -> LimitSolution:
    """Integrate the formal system (eq. 39; Lagrangian form, App. A eq. 48-52) from the spec's init law.

    This is what ``mfspec run`` and ``mfspec limit`` solve: the same method and ``Resolution``
    defaults.

    Arguments:
        spec: the ``Spec``.
        t1 / iterations: the horizon, as ODE time or as SGD steps (t1 = iterations · α); give one.
        eval_ts: times at which to record metrics (default: the log-spaced ``eval_iterations``
            grid of ``train`` times α, so the curves line up with trained networks).
        num_evals: size of the default grid.
        resolution: the discretization (``mf.Resolution``: particles, nodes, data sample, step).
        method: "auto" (the radial reduction for a rotation-invariant spec, else "particles"),
            "radial" or "particles".
        particles: the initial state (default ``spec_particles(spec, resolution=resolution)``).
        solver: "auto" (Heun for a non-smooth σ, Tsit5 otherwise) or a name in ``SOLVERS``.
        dt: a fixed step (default ``resolution.dt``, else 1e-2 for Heun under "auto", or
            t1/2000 on long horizons; None = adaptive with rtol/atol).
        dtype: float32 (default unless x64 is on) or float64 (needs x64 enabled).
        data_samples, data_key: the fixed sample representing P for a sampler (biased; see the
            module docstring; default ``resolution.data_samples``).
        batch: any other ``WeightedBatch`` representing P (overrides the two above).
        system: the vector field (default ``FormalSystem.from_spec(spec)``); any module with
            ``rates(t, particles, batch) -> Particles`` and ``evaluate(particles, eval_sets)``,
            together with its own ``particles`` and ``batch``.
        eval_sets: the evaluation samples (default ``spec.data.eval_sets(PRNGKey(1), eval_samples)``).
        dense: keep the dense interpolant, so that ``LimitSolution.at(t)`` gives the ensemble at any
            t. Memory grows with the number of steps.
        max_steps: cap on solver steps (default: exactly enough for a fixed dt; 16384 adaptive).
        step_divisor: s, to refine the time stepping of whatever dt/tolerances the other arguments
            give: a fixed step becomes dt/s, adaptive tolerances rtol/s^5 and atol/s^5 (steps about
            s× shorter at order 5); default ``resolution.step_divisor``.
        checkpoint: a file (.npz) to solve in chunks of whole steps and resume from: the same
            computation as without (mfspec/_checkpoint.py); Ctrl-C/SIGTERM write it and say so; a
            file of another solve is refused; a finished solve deletes it (``checkpoint_keep``:
            keeps it, complete, so that a rerun returns at once — for a driver of several solves,
            which deletes them when all are done). Not with ``dense``.
        checkpoint_every: seconds between writes (0: after every chunk of 25 steps);
            checkpoint_every_steps: write every this many steps instead.
        progress: a progress bar in t on stderr.
        mesh: a ``jax.sharding.Mesh`` (``mfspec._distributed.limit_mesh``) over which the data
            expectation (B) and the layer-1 particles (M_1) are cut, across devices and processes;
            the same solve up to summation order. None (default): one device, as always.

    Returns:
        A ``LimitSolution`` whose ``curve`` has the metrics of ``metric_names(spec)``.
    """
    start = time.perf_counter()
    spec = limit_view(spec)
    check_limit_ready(spec)
    dtype = _check_dtype(dtype)
    alpha = spec.lr.alpha
    if not isinstance(resolution, Resolution):
        raise TypeError(f"solve_limit: resolution must be an mf.Resolution, got {resolution!r}")
    dt = resolution.dt if dt is None else dt
    step_divisor = resolution.step_divisor if step_divisor is None else step_divisor
    if (t1 is None) == (iterations is None):
        raise ValueError(
            f"solve_limit: give exactly one of t1 and iterations, got t1={t1!r}, iterations={iterations!r}"
        )
    if t1 is None:
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"solve_limit: iterations must be a positive int, got {iterations!r}")
        t1 = iterations * alpha
    if not (isinstance(t1, (int, float)) and math.isfinite(t1) and t1 > 0):
        raise ValueError(f"solve_limit: t1 must be a finite number > 0, got {t1!r}")
    t1 = float(t1)
    if eval_ts is None:
        steps = max(1, int(round(t1 / alpha)))
        eval_ts = np.asarray(eval_iterations(steps, num_evals), np.float64) * alpha
        eval_ts[-1] = t1
    eval_ts = np.asarray(eval_ts, np.float64)
    if eval_ts.ndim != 1 or eval_ts.size == 0 or np.any(np.diff(eval_ts) < 0):
        raise ValueError(f"solve_limit: eval_ts must be a non-empty increasing 1-D grid, got {eval_ts}")
    if eval_ts[0] < 0 or eval_ts[-1] > t1 * (1 + 1e-12):
        raise ValueError(f"solve_limit: eval_ts must lie in [0, t1={t1}], got [{eval_ts[0]}, {eval_ts[-1]}]")
    eval_ts = np.minimum(eval_ts, t1)

    method = _method(spec, method, particles, batch, system)
    if method == "radial":
        system, y0, batch = radial_setup(spec, resolution=resolution, dtype=dtype)
    else:
        system = FormalSystem.from_spec(spec) if system is None else system
        y0 = (
            spec_particles(spec, resolution=resolution, dtype=dtype)
            if particles is None
            else particles.astype(dtype)
        )
        if batch is None:
            samples = resolution.data_samples if data_samples is None else data_samples
            batch = data_expectation(spec, samples=samples, key=data_key, dtype=dtype,
                                     subsample=resolution.data_subsample)  # fmt: skip
    batch = jax.tree.map(lambda a: jnp.asarray(a, dtype), batch)
    if eval_sets is None:
        eval_sets = spec.data.eval_sets(jax.random.PRNGKey(1), eval_samples)

    name, stepper, dt, controller = _stepping(
        solver, dt, rtol, atol, is_smooth(spec), t1, step_divisor, eval_ts
    )
    fixed = isinstance(controller, diffrax.StepTo)  # its grid sets every step: no dt0
    if fixed:  # in the solve's time dtype (that of SaveAt's ts)
        controller = diffrax.StepTo(ts=jnp.asarray(controller.ts, dtype))
    if max_steps is None:
        max_steps = len(controller.ts) - 1 if fixed else 16384 * step_divisor
    dt0 = None if fixed else dt
    term, packed, args = diffrax.ODETerm(packed_vector_field), pack(y0), (system, y0, batch)
    if mesh is not None:  # the same field and state, as global arrays over the mesh
        field, packed, args = sharded_solve_inputs(mesh, system, y0, batch)
        term = diffrax.ODETerm(field)
    if checkpoint is None:
        sol = diffrax.diffeqsolve(
            term, stepper, t0=0.0, t1=t1, dt0=dt0, y0=packed, args=args,
            saveat=diffrax.SaveAt(ts=jnp.asarray(eval_ts, dtype), dense=dense),
            stepsize_controller=controller, max_steps=max_steps, throw=False,
            **({"progress_meter": diffrax.TqdmProgressMeter()} if progress else {}),
        )  # fmt: skip
    elif dense:
        raise ValueError("solve_limit: dense=True keeps every step in memory; a checkpointed solve cannot")
    else:
        parts = solve_parts(spec=spec, resolution=resolution, method=method, solver=name, dt=dt,
                            controller=controller, dtype=dtype, t1=t1, eval_ts=eval_ts, max_steps=max_steps,
                            y0=packed, batch=batch, eval_sets=eval_sets, system=system)  # fmt: skip
        sol = solve_checkpointed(checkpoint, every=checkpoint_every, every_steps=checkpoint_every_steps,
                                 progress=progress, parts=parts, term=term, stepper=stepper, controller=controller,
                                 t1=t1, dt=dt0, eval_ts=eval_ts, y0=packed, args=args, max_steps=max_steps,
                                 metrics=lambda ys: _metrics(system, y0, ys, eval_sets),
                                 metric_names=metric_names(spec), keep=checkpoint_keep)  # fmt: skip
    if mesh is not None and checkpoint is None:  # the checkpointed solve returns host arrays already
        sol = replicated(sol, mesh)
    diverged = None
    if not bool(sol.result == diffrax.RESULTS.successful):
        diverged = f"the limit solve stopped early: {sol.result}"
    vals = np.asarray(_metrics(system, y0, sol.ys, eval_sets))
    if diverged is None and not np.all(np.isfinite(vals)):
        diverged = "the limit's metrics became non-finite"
    curve = Curve(
        iterations=np.rint(eval_ts / alpha).astype(np.int64),
        t=eval_ts,
        metrics={n: vals[:, j] for j, n in enumerate(metric_names(spec))},
        diverged=diverged,
    )
    return LimitSolution(
        curve=curve,
        particles=unpack(sol.ys[-1], y0),
        solution=sol,
        system=system,
        batch=batch,
        solver=name,
        dt=dt,
        num_steps=int(sol.stats["num_accepted_steps"]),
        rejected=int(sol.stats["num_rejected_steps"]),
        seconds=time.perf_counter() - start,
        initial=y0,
        method=method,
    )


METHODS = ("auto", "radial", "particles")


def check_limit_ready(spec) -> None:
    """Raise if the spec has no deterministic limit to solve: a random output bias (b_out drawn from
    a non-atomic law, e.g. the paper's init with τ3 > 0) is one global number that never averages
    out as n grows, so the networks do not approach one curve."""
    spec = limit_view(spec)
    if spec.readout.random:
        law = spec.readout.law
        raise ValueError(
            f"Spec.init.out_bias is {law!r}: a random output bias is one global number that does not "
            f"average out, so this net has no deterministic limit; draw b_out from an atom — "
            f"mf.init.usual(..., tau_out=0) — to solve the limit (or train without one: --no-limit)"
        )


def _method(spec, method: str, particles, batch, system) -> str:
    """The discretization: a given system/particles/batch is used as it is ("custom"/"particles")."""
    if method not in METHODS:
        raise ValueError(f"solve_limit: method must be one of {METHODS}, got {method!r}")
    if system is not None:
        return "custom"
    if particles is not None or batch is not None:
        if method == "radial":
            raise ValueError("solve_limit: method='radial' builds its own particles and batch; give neither")
        return "particles"
    if method == "auto":
        return "radial" if is_rotation_invariant(spec) else "particles"
    return method
