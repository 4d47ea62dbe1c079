"""Long solves that survive interruption: checkpoint and resume of a limit solve
(``solve_limit(checkpoint=FILE)`` or ``mf.Checkpoint(FILE, ...)``), and Ctrl-C or SIGTERM that keep
what is finished.

A checkpointed solve is the unchunked one cut between whole solver steps. Each chunk is one
``diffrax.diffeqsolve`` toward the same t1 that stops after at most ``chunk`` steps; the next one
starts from the complete state of diffrax's loop: y and t, the pending step's end, the solver's
state (Tsit5's first-same-as-last stage) and the step-size controller's (the constant step's
counter, the PID controller's error history). So a fixed step (Heun) takes the steps t1·k/N of the
unchunked solve, an adaptive one (Tsit5) accepts and rejects the same steps, every evaluation time
is saved through the interpolant of the same step, and a run that exhausts ``max_steps`` stops at
the same step: the same computation. Only XLA, compiling a chunk as a program of its own, could
round differently; on CPU, in float64 and float32, the curves are bitwise equal
(tests/test_checkpoint.py). The metrics are computed at the end from the saved states, in one call
as without a checkpoint.

The checkpoint, an ``.npz`` replaced atomically (temporary file, then ``os.replace``), holds the
loop state after the last finished chunk, the packed states and the metrics at the evaluation times
already passed, and a fingerprint: a hash per input of the solve (spec, resolution, method, time
stepping, dtype, horizon and grid, initial state, data sample, evaluation samples, system arrays,
diffrax version). A file with other hashes is refused: ValueError naming the file and the inputs
that differ. A solve that ends (at t1, or stopped early) deletes its file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from mfspec.common.interrupt import interrupt_on_sigterm
from mfspec.common.processes import is_writer

FORMAT = "mfspec-limit-checkpoint/1"
#: Solver steps per chunk (unless ``checkpoint_every_steps``): a resume redoes at most this many.
DEFAULT_CHUNK_STEPS = 25


class _Recording(diffrax.AbstractStepSizeController):
    """``inner``, whose state also keeps its last proposal (the next step's end, and whether the
    last step was accepted): diffrax returns neither, and a resumed chunk must start with them.

    ``invariant``: for a resumed ``ConstantStepSize``, the constant part (N, t0, t1) of its state
    (steps done, N, t0, t1), put back as compile-time constants: in the unchunked solve XLA folds
    them into the step times t0 + (t1 − t0)·k/N, and as run-time values they round differently.
    """

    inner: diffrax.AbstractStepSizeController
    invariant: tuple | None = eqx.field(static=True, default=None)

    def wrap(self, direction):
        return _Recording(self.inner.wrap(direction), self.invariant)

    def init(self, terms, t0, t1, y0, dt0, args, func, error_order):
        tnext, state = self.inner.init(terms, t0, t1, y0, dt0, args, func, error_order)
        return tnext, (state, jnp.asarray(tnext, jnp.result_type(t0)), jnp.asarray(True))

    def adapt_step_size(self, t0, t1, y0, y1_candidate, args, y_error, error_order, controller_state):
        state = controller_state[0]
        if self.invariant is not None:
            n, a, b = self.invariant
            time = jnp.result_type(t0)
            state = (state[0], jnp.asarray(n, jnp.result_type(state[1])), jnp.asarray(a, time),
                     jnp.asarray(b, time))  # fmt: skip
        keep, tprev, tnext, jump, state, result = self.inner.adapt_step_size(
            t0, t1, y0, y1_candidate, args, y_error, error_order, state
        )
        recorded = (state, jnp.asarray(tnext, jnp.result_type(t0)), jnp.asarray(keep))
        return keep, tprev, tnext, jump, recorded, result


def _invariant(controller, controller_state):
    """The constant part of a ``ConstantStepSize`` state (see ``_Recording``), else None."""
    inner = controller_state[0]
    if isinstance(controller, diffrax.ConstantStepSize) and isinstance(inner, tuple) and len(inner) == 4:
        return int(inner[1]), float(inner[2]), float(inner[3])
    return None


def run_chunk(term, stepper, controller, *, t0, t1, dt0, y, args, ts, max_steps, solver_state,
              controller_state):  # fmt: skip
    """At most ``max_steps`` steps from t0 toward t1, saving at ``ts`` and the state reached.

    Fresh (no states given) it starts as the unchunked solve does; otherwise it continues the loop
    state of the chunk before. Module-level, so that a test can interrupt the chunk loop here.
    """
    fresh = controller_state is None
    return diffrax.diffeqsolve(
        term, stepper, t0=t0, t1=t1, dt0=dt0, y0=y, args=args,
        saveat=diffrax.SaveAt(ts=ts, t1=True, solver_state=True, controller_state=True),
        stepsize_controller=_Recording(controller, None if fresh else _invariant(controller, controller_state)),
        max_steps=max_steps, throw=False, solver_state=solver_state, controller_state=controller_state,
        made_jump=None if fresh else False,  # an ODE never jumps
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _State:
    """Where the chunk loop stands, in host arrays: replaced whole after each chunk, so that an
    interrupt never leaves it half updated."""

    t: np.ndarray  # tprev, in the time dtype
    tnext: np.ndarray | None  # the pending step's end (None: fresh)
    y: np.ndarray
    solver_state: tuple | None
    controller_state: tuple | None
    steps: int = 0
    accepted: int = 0
    rejected: int = 0
    ys: tuple = ()  # packed states at the evaluation times passed
    metrics: tuple = ()  # their metrics (filled when written)


def fingerprint(**parts) -> dict[str, str]:
    """Part name → hash (16 hex digits) of its description: the bytes, dtype and shape of every
    array leaf for a pytree of arrays, otherwise its JSON."""
    out = {}
    for name, value in parts.items():
        h = hashlib.sha256()
        leaves = [x for x in jax.tree.leaves(value) if eqx.is_array(x)]
        if leaves:
            for leaf in leaves:
                a = np.ascontiguousarray(np.asarray(leaf))
                h.update(f"{a.dtype.str}{a.shape}".encode())
                h.update(a.tobytes())
        else:
            h.update(json.dumps(value, sort_keys=True, default=repr).encode())
        out[name] = h.hexdigest()[:16]
    return out


def solve_parts(*, spec, resolution, method, solver, dt, controller, dtype, t1, eval_ts, max_steps,
                y0, batch, eval_sets, system) -> dict[str, str]:  # fmt: skip
    """The fingerprint of a ``solve_limit`` call: everything that determines its result."""
    try:
        described = spec.describe()
    except (AttributeError, TypeError):
        described = repr(spec)
    stepping = {"solver": solver, "dt": dt, "max_steps": max_steps}
    stepping.update({k: getattr(controller, k, None) for k in ("rtol", "atol")})
    return fingerprint(
        spec=described,
        resolution=dataclasses.asdict(resolution),
        method=method,
        time_stepping=stepping,
        dtype=str(dtype),
        horizon={"t1": t1, "eval_ts": [float(t) for t in eval_ts]},
        initial_state=y0,
        data_sample=batch,
        evaluation_samples=eval_sets,
        system=type(system).__name__,
        system_arrays=[x for x in jax.tree.leaves(system) if eqx.is_array(x)],
        diffrax=metadata.version("diffrax"),
    )


def _chunk_steps(every_steps, max_steps: int, fixed: bool) -> int:
    """Steps per chunk. A fixed step prefers a divisor of its step count near the default, so that
    the last chunk needs no compilation of its own."""
    if every_steps is not None:
        return min(every_steps, max_steps)
    top = min(DEFAULT_CHUNK_STEPS, max_steps)
    if fixed:
        for m in range(top, max(1, top // 2) - 1, -1):
            if max_steps % m == 0:
                return m
    return top


def _resume_dt0(t, tnext):
    """dt0 with fl(t + dt0) = tnext exactly (diffrax starts a resumed step at t0 + dt0)."""
    d = tnext - t
    for _ in range(64):
        s = t + d
        if s == tnext:
            return d
        d = np.nextafter(d, np.inf if s < tnext else -np.inf, dtype=d.dtype)
    raise RuntimeError(f"no time step reaches {tnext!r} from {t!r}")  # unreachable for tnext > t


def _pending(t, tnext_raw, keep, t1):
    """The next step's end as diffrax's loop clips it (``_clip_to_end``): within 100 ulp of t1 it
    is t1 (an accepted step) or halfway there (a rejected one)."""
    floor = t1
    for _ in range(100):
        floor = np.nextafter(floor, -np.inf, dtype=t1.dtype)
    if tnext_raw > floor:
        return t1 if keep else t + t1.dtype.type(0.5) * (t1 - t)
    return tnext_raw


def _write(path: Path, parts: dict, state: _State, eval_ts, names, metrics) -> _State:
    """Atomic: write a temporary file in the same folder, then ``os.replace``. Returns ``state``
    with the metrics of every evaluation time passed."""
    rows = list(state.metrics)
    for y in state.ys[len(rows) :]:
        rows.append(np.asarray(metrics(y[None]))[0])
    state = dataclasses.replace(state, metrics=tuple(rows))
    if not is_writer():  # a multi-process job: process 0 alone writes (mfspec.common.processes)
        return state
    arrays = {
        "format": np.str_(FORMAT),
        "fingerprint": np.str_(hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()),
        "fingerprint_parts": np.str_(json.dumps(parts, sort_keys=True)),
        "t": state.t,
        "tnext": state.tnext,
        "y": state.y,
        "counts": np.asarray([state.steps, state.accepted, state.rejected]),
        "eval_ts": np.asarray(eval_ts, np.float64),
        "ys": np.stack(state.ys) if state.ys else np.zeros((0, state.y.size), state.y.dtype),
        "metrics": np.stack(rows) if rows else np.zeros((0, len(names))),
        "metric_names": np.asarray(names, dtype=str),
    }
    for key in ("solver_state", "controller_state"):
        for i, leaf in enumerate(jax.tree.leaves(getattr(state, key))):
            arrays[f"{key}_{i}"] = np.asarray(leaf)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return state


def _load(path: Path, parts: dict, templates) -> _State:
    """The state stored in ``path``, or a ValueError if it belongs to another solve."""
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
        fmt, stored = str(data["format"]), json.loads(str(data["fingerprint_parts"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"checkpoint {path} is not a readable limit checkpoint ({err}): delete {path} or use another --out"
        ) from None
    if fmt != FORMAT:
        raise ValueError(
            f"checkpoint {path} has format {fmt!r}, not {FORMAT!r}: delete {path} or use another --out"
        )
    differ = sorted(k for k in parts.keys() | stored.keys() if stored.get(k) != parts.get(k))
    if differ:
        raise ValueError(
            f"checkpoint {path} was written by another solve (different {', '.join(differ)}): "
            f"the spec or resolution changed: delete {path} or use another --out"
        )
    states = {}
    for key, template in zip(("solver_state", "controller_state"), templates):
        leaves, tree = jax.tree.flatten(template)
        states[key] = jax.tree.unflatten(tree, [data[f"{key}_{i}"] for i in range(len(leaves))])
    steps, accepted, rejected = (int(c) for c in data["counts"])
    return _State(t=data["t"], tnext=data["tnext"], y=data["y"], steps=steps, accepted=accepted,
                  rejected=rejected, ys=tuple(data["ys"]), metrics=tuple(data["metrics"]), **states)  # fmt: skip


def _templates(term, stepper, controller, t1, dt0, y0, args):
    """The pytree structure of the solver's and the controller's states (to unflatten a file)."""

    def init():
        t0 = jnp.zeros((), y0.dtype)
        tnext, cstate = _Recording(controller).init(
            term, t0, t1, y0, dt0, args, stepper.func, stepper.error_order(term)
        )
        return stepper.init(term, t0, tnext, y0, args), cstate

    return eqx.filter_eval_shape(init)


def solve_checkpointed(path, *, every: float, every_steps: int | None, progress: bool, parts: dict,
                       term, stepper, controller, t1: float, dt, eval_ts, y0, args, max_steps: int,
                       metrics, metric_names, keep: bool = False) -> diffrax.Solution:  # fmt: skip
    """The solve of ``solve_limit`` in chunks, checkpointed to ``path`` (see the module docstring).

    ``every``: seconds between writes (0: after every chunk); ``every_steps``: steps per chunk, and
    a write after each (``every`` is then not used). ``metrics(ys)``: the metrics of packed states.
    ``keep``: a solve that reaches t1 leaves its file, complete (a rerun loads it and returns).
    Returns a ``diffrax.Solution`` with ``ts``/``ys`` at ``eval_ts`` (dense output is not kept).
    """
    path = Path(path)
    dtype = np.dtype(y0.dtype)
    T1, ts_all, E = np.asarray(t1, dtype), np.asarray(jnp.asarray(eval_ts, dtype)), len(eval_ts)
    if path.exists():
        state = _load(path, parts, _templates(term, stepper, controller, t1, dt, y0, args))
    else:
        state = _State(t=np.zeros((), dtype), tnext=None, y=np.asarray(y0), solver_state=None, controller_state=None)  # fmt: skip
    chunk = _chunk_steps(every_steps, max_steps, dt is not None)
    result, last_write = diffrax.RESULTS.successful, time.monotonic()
    bar = _bar(float(t1), float(state.t), progress)
    try:
        with interrupt_on_sigterm() as stop:
            while state.t < T1:
                stop.check()
                budget = max_steps - state.steps
                if budget <= 0:
                    result = diffrax.RESULTS.max_steps_reached
                    break
                state, result = _advance(state, term, stepper, controller, T1, dt, ts_all, args, min(chunk, budget))  # fmt: skip
                bar.update(float(state.t) - bar.n)
                if not any(bool(result == r) for r in (diffrax.RESULTS.successful, diffrax.RESULTS.max_steps_reached)):  # fmt: skip
                    break  # failed: the unchunked solve stops here too
                result = diffrax.RESULTS.successful  # (a chunk's own max_steps is no failure)
                if state.t < T1 and (every_steps is not None or time.monotonic() - last_write >= every):
                    state = _write(path, parts, state, eval_ts, metric_names, metrics)
                    last_write = time.monotonic()
            stop.check()
    except KeyboardInterrupt:
        bar.close()
        where = f"limit solve interrupted at t={float(state.t):.6g} of t1={t1:.6g}"
        if state.tnext is None:
            print(f"{where}; nothing finished to checkpoint", file=sys.stderr)
        else:
            _write(path, parts, state, eval_ts, metric_names, metrics)
            print(f"{where}; checkpoint {path}: rerun the same command to resume", file=sys.stderr)
        raise
    bar.close()
    if keep and bool(result == diffrax.RESULTS.successful) and state.t >= T1:
        _write(path, parts, state, eval_ts, metric_names, metrics)
    elif is_writer():
        path.unlink(missing_ok=True)
    n = len(state.ys)
    ys = np.full((E, state.y.size), np.inf, dtype)
    ys[:n] = np.stack(state.ys) if n else ys[:0]
    ts = np.where(np.arange(E) < n, ts_all, np.inf).astype(dtype)
    stats = {"num_steps": state.steps, "num_accepted_steps": state.accepted,
             "num_rejected_steps": state.rejected, "max_steps": max_steps}  # fmt: skip
    return diffrax.Solution(t0=jnp.zeros((), dtype), t1=jnp.asarray(T1), ts=jnp.asarray(ts), ys=jnp.asarray(ys),
                            interpolation=None, stats=stats, result=result, solver_state=None,
                            controller_state=None, made_jump=None, event_mask=None)  # fmt: skip


def _advance(state: _State, term, stepper, controller, T1, dt, ts_all, args, steps):
    """One chunk from ``state``: (the state after it, diffrax's result of the chunk)."""
    n = len(state.ys)
    ts = ts_all.copy()
    ts[:n] = state.t  # passed already: saved again at t0 and dropped
    if state.tnext is None:  # the first chunk starts as the unchunked solve does
        t0, t1, dt0 = 0.0, float(T1), dt
        solver_state = controller_state = None
    else:
        t0, t1, dt0 = jnp.asarray(state.t), jnp.asarray(T1), jnp.asarray(_resume_dt0(state.t, state.tnext))
        solver_state, controller_state = jax.tree.map(jnp.asarray, (state.solver_state, state.controller_state))  # fmt: skip
    sol = run_chunk(term, stepper, controller, t0=t0, t1=t1, dt0=dt0, y=jnp.asarray(state.y), args=args,
                    ts=jnp.asarray(ts), max_steps=steps, solver_state=solver_state,
                    controller_state=controller_state)  # fmt: skip
    out_ts = np.asarray(sol.ts)
    saved = int(np.sum(np.isfinite(out_ts))) - 1  # the state reached is saved after the ts
    new_rows = tuple(np.asarray(sol.ys[n:saved])) if saved > n else ()
    solver_state, controller_state = jax.device_get((sol.solver_state, sol.controller_state))
    t = out_ts[saved]
    _, tnext_raw, keep = controller_state
    new = _State(
        t=t,
        tnext=_pending(t, np.asarray(tnext_raw, t.dtype), bool(keep), T1),
        y=np.asarray(sol.ys[saved]),
        solver_state=solver_state,
        controller_state=controller_state,
        steps=state.steps + int(sol.stats["num_steps"]),
        accepted=state.accepted + int(sol.stats["num_accepted_steps"]),
        rejected=state.rejected + int(sol.stats["num_rejected_steps"]),
        ys=state.ys + new_rows,
        metrics=state.metrics,
    )
    return new, sol.result


def _bar(total: float, start: float, enabled: bool):
    return tqdm(total=total, initial=start, disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                bar_format="limit {percentage:3.0f}%|{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}]")  # fmt: skip
