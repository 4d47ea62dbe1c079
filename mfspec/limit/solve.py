"""Solve the formal limit system (paper eq. 39, Lagrangian form App. A eq. 48-52) with Diffrax.

The ODE state is the ``Particles`` pytree (docs/formal_system.md sec. 3), packed into one flat vector
(``pack``; π is constant and rides along in the arguments) because Diffrax's bookkeeping, and its
compile time, grows with the number of array leaves. The vector field is ``FormalSystem.rates(t,
particles, batch)``, where ``batch`` (a ``WeightedBatch``) represents the data law P:

``mfspec.limit.expectation.data_expectation``: a finite dataset's exact full-batch mean (the limit
of SGD that samples minibatches from a training set is the flow of the loss averaged over it), or a
sampler's fixed sample — biased, measured by the error bar. Any other representation of P (a
symmetry-reduced quadrature) is plugged in through ``Start(batch=...)``.

Every input is checked first (``_checked``), before a particle is built; the time stepping is
``mfspec.limit.stepping``'s, the sizes ``Resolution``'s, the options ``mfspec.limit.options``'.
"""

from __future__ import annotations

import dataclasses
import os
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from mfspec.common.validate import finite_number, positive_int
from mfspec.declaration.spec import Spec
from mfspec.finite.curves import Curve, eval_iterations, metric_names
from mfspec.limit.checkpoint import solve_checkpointed, solve_parts
from mfspec.limit.expectation import data_expectation
from mfspec.limit.formal import FormalSystem, WeightedBatch
from mfspec.limit.mesh import check_mesh_fits, replicated, sharded_solve_inputs
from mfspec.limit.options import Checkpoint, Start, Stepping
from mfspec.limit.particles import spec_particles
from mfspec.limit.radial import is_rotation_invariant, radial_setup
from mfspec.limit.resolution import DEFAULT as DEFAULT_RESOLUTION
from mfspec.limit.resolution import Resolution
from mfspec.limit.stepping import TimeStepping, check_solver, is_smooth, time_stepping
from mfspec.network.particles import Particles, pack, unpack


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


#: The defaults of ``solve_limit``: the spec's own discretization, stepped as ``mfspec.limit.stepping`` says.
DEFAULT_STEPPING, DEFAULT_START = Stepping(), Start()


def packed_vector_field(t, y, args):
    """d(pack(p))/dt = pack(G(t, p)) with ``args = (system, template, batch)`` (π from the template).

    A module-level function, so that solves of equal shapes share one compilation.
    """
    system, template, batch = args
    return pack(system.rates(t, unpack(y, template), batch))


@eqx.filter_jit
def _metrics(system: FormalSystem, template: Particles, ys, eval_sets: dict):
    return jax.lax.map(lambda y: system.evaluate(unpack(y, template), eval_sets), ys)


def check_limit_ready(spec) -> None:
    """Raise if the spec has no deterministic limit to solve: a random output bias (b_out drawn from
    a non-atomic law, e.g. the paper's init with τ3 > 0) is one global number that never averages
    out as n grows, so the networks do not approach one curve."""
    if spec.readout.random:
        law = spec.readout.law
        raise ValueError(
            f"Spec.init.out_bias is {law!r}: a random output bias is one global number that does not "
            f"average out, so this net has no deterministic limit; draw b_out from an atom — "
            f"mf.init.usual(..., tau_out=0) — to solve the limit (or train without one: --no-limit)"
        )


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


def _horizon(spec, t1, iterations, eval_ts, num_evals) -> tuple[float, np.ndarray]:
    """(t1, the evaluation grid), checked: exactly one of t1 and iterations; the default grid is the
    ``eval_iterations`` grid of ``train`` times α, so the curves line up with trained networks."""
    alpha = spec.lr.alpha
    if (t1 is None) == (iterations is None):
        raise ValueError(
            f"solve_limit: give exactly one of t1 and iterations, got t1={t1!r}, iterations={iterations!r}"
        )
    if t1 is None:
        t1 = positive_int(iterations, "solve_limit: iterations") * alpha
    t1 = finite_number(t1, "solve_limit: t1")
    if not t1 > 0:
        raise ValueError(f"solve_limit: t1 must be a finite number > 0, got {t1!r}")
    if eval_ts is None:
        steps = max(1, int(round(t1 / alpha)))
        eval_ts = np.asarray(
            eval_iterations(steps, positive_int(num_evals, "solve_limit: num_evals")), np.float64
        )
        eval_ts = eval_ts * alpha
        eval_ts[-1] = t1
    eval_ts = np.asarray(eval_ts, np.float64)
    if eval_ts.ndim != 1 or eval_ts.size == 0 or np.any(np.diff(eval_ts) < 0):
        raise ValueError(f"solve_limit: eval_ts must be a non-empty increasing 1-D grid, got {eval_ts}")
    if eval_ts[0] < 0 or eval_ts[-1] > t1 * (1 + 1e-12):
        raise ValueError(f"solve_limit: eval_ts must lie in [0, t1={t1}], got [{eval_ts[0]}, {eval_ts[-1]}]")
    return t1, np.minimum(eval_ts, t1)


@dataclasses.dataclass(frozen=True)
class _Checked:
    """Every input of one solve, checked and normalized (``_checked``)."""

    dtype: object
    t1: float
    eval_ts: np.ndarray
    method: str
    checkpoint: Checkpoint | None


def _checked(spec, *, t1, iterations, eval_ts, num_evals, resolution, stepping, start, dtype, dense,
             checkpoint) -> _Checked:  # fmt: skip
    """The one error-checking block of ``solve_limit``: every argument, before any compute."""
    if not isinstance(spec, Spec):
        raise TypeError(f"solve_limit: spec must be an mf.Spec, got {type(spec).__name__}")
    check_limit_ready(spec)
    if not isinstance(resolution, Resolution):
        raise TypeError(f"solve_limit: resolution must be an mf.Resolution, got {resolution!r}")
    for name, value, kind in (("stepping", stepping, Stepping), ("start", start, Start)):
        if not isinstance(value, kind):
            raise TypeError(f"solve_limit: {name} must be an mf.{kind.__name__}, got {value!r}")
    check_solver(stepping.solver, resolution.dt)
    if checkpoint is not None and not isinstance(checkpoint, Checkpoint):
        checkpoint = Checkpoint(checkpoint)
    if checkpoint is not None and dense:
        raise ValueError("solve_limit: dense=True keeps every step in memory; a checkpointed solve cannot")
    t1, eval_ts = _horizon(spec, t1, iterations, eval_ts, num_evals)
    return _Checked(_check_dtype(dtype), t1, eval_ts, start.resolved(is_rotation_invariant(spec)), checkpoint)


def _setup(spec, method: str, resolution: Resolution, start: Start, dtype):
    """(system, initial particles, batch) of the solve."""
    if method == "radial":
        return radial_setup(spec, resolution=resolution, dtype=dtype)
    system = FormalSystem.from_spec(spec) if start.system is None else start.system
    y0 = (
        spec_particles(spec, resolution=resolution, dtype=dtype)
        if start.particles is None
        else start.particles
    )
    batch = start.batch
    if batch is None:
        batch = data_expectation(spec, samples=resolution.data_samples, key=start.data_key, dtype=dtype,
                                 subsample=resolution.data_subsample)  # fmt: skip
    return system, y0.astype(dtype), jax.tree.map(lambda a: jnp.asarray(a, dtype), batch)


def solve_limit(
    spec,
    *,
    t1: float | None = None,
    iterations: int | None = None,
    eval_ts=None,
    num_evals: int = 30,
    resolution: Resolution = DEFAULT_RESOLUTION,
    stepping: Stepping = DEFAULT_STEPPING,
    start: Start = DEFAULT_START,
    eval_sets: dict | None = None,
    eval_samples: int = 2000,
    dtype=None,
    dense: bool = False,
    checkpoint: Checkpoint | str | os.PathLike | None = None,
    progress: bool = False,
    mesh=None,
) -> LimitSolution:
    """Integrate the formal system (eq. 39; Lagrangian form, App. A eq. 48-52) from the spec's init law.

    This is what ``mfspec run`` and ``mfspec limit`` solve: the same method and ``Resolution``
    defaults.

    Arguments:
        spec: the ``mf.Spec``.
        t1 / iterations: the horizon, as ODE time or as SGD steps (t1 = iterations · α); give one.
        eval_ts: times at which to record metrics (default: the log-spaced ``eval_iterations``
            grid of ``train`` times α, so the curves line up with trained networks).
        num_evals: size of the default grid.
        resolution: the discretization (``mf.Resolution``: particles, nodes, data sample, the fixed
            step dt and its divisor).
        stepping: the Diffrax solver, tolerances and step cap (``mf.Stepping``).
        start: another initial state, data batch or vector field (``mf.Start``).
        eval_sets: the evaluation samples (default ``spec.data.eval_sets(PRNGKey(1), eval_samples)``).
        dtype: float32 (default unless x64 is on) or float64 (needs x64 enabled).
        dense: keep the dense interpolant, so that ``LimitSolution.at(t)`` gives the ensemble at any
            t. Memory grows with the number of steps.
        checkpoint: a file path or ``mf.Checkpoint``: solve in chunks of whole steps and resume from
            it — the same computation as without (``mfspec.limit.checkpoint``). Not with ``dense``.
        progress: a progress bar in t on stderr.
        mesh: a ``jax.sharding.Mesh`` (``mfspec.limit.mesh.limit_mesh``) over which the data
            expectation (B) and the layer-1 particles (M_1) are cut, across devices and processes;
            the same solve up to summation order. None (default): one device.

    Returns:
        A ``LimitSolution`` whose ``curve`` has the metrics of ``metric_names(spec)``.
    """
    begin = time.perf_counter()
    ok = _checked(spec, t1=t1, iterations=iterations, eval_ts=eval_ts, num_evals=num_evals, resolution=resolution,
                  stepping=stepping, start=start, dtype=dtype, dense=dense, checkpoint=checkpoint)  # fmt: skip
    system, y0, batch = _setup(spec, ok.method, resolution, start, ok.dtype)
    if mesh is not None:
        check_mesh_fits(mesh, y0)
    if eval_sets is None:
        eval_sets = spec.data.eval_sets(jax.random.PRNGKey(1), eval_samples)
    steps = time_stepping(stepping, resolution, smooth=is_smooth(spec), t1=ok.t1, eval_ts=ok.eval_ts,
                          dtype=ok.dtype)  # fmt: skip
    sol = _integrate(spec, ok, steps, system, y0, batch, eval_sets, resolution, dense, progress, mesh)
    return _solution(spec, ok, steps, system, y0, batch, eval_sets, sol, time.perf_counter() - begin)


def _integrate(spec, ok: _Checked, steps: TimeStepping, system, y0, batch, eval_sets, resolution, dense,
               progress, mesh) -> diffrax.Solution:  # fmt: skip
    """The Diffrax solve: in one call, or in checkpointed chunks."""
    dt0 = None if steps.fixed else steps.dt  # a fixed grid sets every step
    term, packed, args = diffrax.ODETerm(packed_vector_field), pack(y0), (system, y0, batch)
    if mesh is not None:  # the same field and state, as global arrays over the mesh
        field, packed, args = sharded_solve_inputs(mesh, system, y0, batch)
        term = diffrax.ODETerm(field)
    ck = ok.checkpoint
    if ck is None:
        sol = diffrax.diffeqsolve(
            term, steps.solver, t0=0.0, t1=ok.t1, dt0=dt0, y0=packed, args=args,
            saveat=diffrax.SaveAt(ts=jnp.asarray(ok.eval_ts, ok.dtype), dense=dense),
            stepsize_controller=steps.controller, max_steps=steps.max_steps, throw=False,
            **({"progress_meter": diffrax.TqdmProgressMeter()} if progress else {}),
        )  # fmt: skip
        return sol if mesh is None else replicated(sol, mesh)
    parts = solve_parts(spec=spec, resolution=resolution, method=ok.method, solver=steps.name, dt=steps.dt,
                        controller=steps.controller, dtype=ok.dtype, t1=ok.t1, eval_ts=ok.eval_ts,
                        max_steps=steps.max_steps, y0=packed, batch=batch, eval_sets=eval_sets,
                        system=system)  # fmt: skip
    return solve_checkpointed(ck.path, every=ck.every, every_steps=ck.every_steps, progress=progress, parts=parts,
                              term=term, stepper=steps.solver, controller=steps.controller, t1=ok.t1, dt=dt0,
                              eval_ts=ok.eval_ts, y0=packed, args=args, max_steps=steps.max_steps,
                              metrics=lambda ys: _metrics(system, y0, ys, eval_sets),
                              metric_names=metric_names(spec), keep=ck.keep)  # fmt: skip


def _solution(
    spec, ok: _Checked, steps: TimeStepping, system, y0, batch, eval_sets, sol, seconds
) -> LimitSolution:
    """The ``LimitSolution`` of a finished solve: its metrics on the evaluation sets, and why it
    stopped if it did not reach t1."""
    diverged = None
    if not bool(sol.result == diffrax.RESULTS.successful):
        diverged = f"the limit solve stopped early: {sol.result}"
    vals = np.asarray(_metrics(system, y0, sol.ys, eval_sets))
    if diverged is None and not np.all(np.isfinite(vals)):
        diverged = "the limit's metrics became non-finite"
    curve = Curve(iterations=np.rint(ok.eval_ts / spec.lr.alpha).astype(np.int64), t=ok.eval_ts,
                  metrics={n: vals[:, j] for j, n in enumerate(metric_names(spec))}, diverged=diverged)  # fmt: skip
    return LimitSolution(curve=curve, particles=unpack(sol.ys[-1], y0), solution=sol, system=system, batch=batch,
                         solver=steps.name, dt=steps.dt, num_steps=int(sol.stats["num_accepted_steps"]),
                         rejected=int(sol.stats["num_rejected_steps"]), seconds=seconds, initial=y0,
                         method=ok.method)  # fmt: skip
