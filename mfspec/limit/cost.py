"""What a limit solve will cost, known before it starts (docs/formal_system.md sec. 7).

On a large dataset (MNIST, CIFAR-10) the layer-1 products of the rates call grow like N·M_1·d (data
points × particles × input dimension) and can exceed the machine's memory or the user's patience.
``limit_cost`` compiles the rates call of the solve the CLI is about to run — XLA states its
temporaries and FLOPs exactly — times one call, and scales by the number of calls; ``check_fits``
prints that estimate before any compute and refuses a solve that does not fit in memory, naming the
flags (``--limit-m1``, ``--limit-data``) and values that would.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from mfspec.finite.curves import eval_iterations
from mfspec.limit.expectation import data_expectation
from mfspec.limit.formal import FormalSystem
from mfspec.limit.particles import spec_particles
from mfspec.limit.radial import is_rotation_invariant, radial_setup
from mfspec.limit.resolution import Resolution
from mfspec.limit.stepping import default_dt, is_smooth, step_grid
from mfspec.network.particles import pack

#: Share of the available memory a solve may plan to use (the rest: Python, JAX, the eval samples).
MEMORY_SHARE = 0.8
#: Heun's rates calls per step (the kinked σ's fixed step); adaptive Tsit5 takes 6 per attempt.
CALLS_PER_STEP = {"heun": 2, "tsit5": 6}


@dataclasses.dataclass(frozen=True)
class LimitCost:
    """One solve's size and cost, and the number of solves of the error bar."""

    method: str
    data_points: int  # rows of the data expectation (a quadrature's nodes for a radial solve)
    particles: tuple[int, ...]  # per layer
    gflop_per_call: float  # of one rates call, by XLA's cost analysis
    peak_bytes: int  # planned peak of one solve: the rates call's buffers + solver states
    seconds_per_call: float | None  # measured here (None when not measured)
    calls_per_solve: int | None  # None for an adaptive step (unknown in advance)
    solves: float  # the error bar's solves in units of one solve (dt/2 counts twice)

    def seconds(self) -> float | None:
        if self.seconds_per_call is None or self.calls_per_solve is None:
            return None
        return self.seconds_per_call * self.calls_per_solve * self.solves

    def describe(self) -> str:
        rate = (
            "" if self.seconds_per_call is None else f", {1e3 * self.seconds_per_call:.3g} ms per call here"
        )
        total = self.seconds()
        when = (
            f"~{total:.0f} s for the error bar's solves (~{self.solves:.3g}× one)"
            if total is not None
            else "adaptive steps: the time depends on the step count"
        )
        return (
            f"limit ({self.method}): {self.data_points} data points × particles {list(self.particles)}; "
            f"rates call {self.gflop_per_call:.3g} GFLOP{rate}; peak ~{_gib(self.peak_bytes)} per solve; {when}"
        )


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def available_bytes() -> int | None:
    """Memory the solve may use: the accelerator's free memory, or the host's MemAvailable."""
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _setup(spec, resolution: Resolution, dtype):
    if is_rotation_invariant(spec):
        system, y0, batch = radial_setup(spec, resolution=resolution, dtype=dtype)
        return "radial", system, y0, batch
    y0 = spec_particles(spec, resolution=resolution, dtype=dtype)
    batch = data_expectation(
        spec, samples=resolution.data_samples, dtype=dtype, subsample=resolution.data_subsample
    )
    return "particles", FormalSystem.from_spec(spec), y0, batch


def limit_cost(spec, *, iterations: int, num_evals: int, resolution: Resolution, dtype=None,
               measure: bool = True) -> LimitCost:  # fmt: skip
    """Compile one rates call of the solve ``mfspec run``/``limit`` would make and state its cost.

    ``measure``: also run the call once (after compiling) to time it.
    """
    dtype = dtype or jnp.zeros(()).dtype
    method, system, y0, batch = _setup(spec, resolution, dtype)
    arrays, static = eqx.partition((system, y0, batch), eqx.is_array)

    def rates(arrays):
        system, p, b = eqx.combine(arrays, static)
        return system.rates(0.0, p, b)

    compiled = jax.jit(rates).lower(arrays).compile()  # XLA's own compiled object: memory, FLOPs
    memory = compiled.memory_analysis()
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    flops = float((analysis or {}).get("flops", float("nan")))
    state = int(pack(y0).nbytes)
    buffers = sum(int(getattr(memory, k, 0) or 0) for k in ("temp_size_in_bytes", "argument_size_in_bytes",
                                                             "output_size_in_bytes"))  # fmt: skip
    peak = buffers + (4 + num_evals) * state  # + the solver's stage states and the saved states
    seconds = None
    if measure and peak <= MEMORY_SHARE * (available_bytes() or math.inf):
        jax.block_until_ready(compiled(arrays))
        start = time.perf_counter()
        jax.block_until_ready(compiled(arrays))
        seconds = time.perf_counter() - start
    t1 = iterations * spec.lr.alpha
    calls = None
    if not is_smooth(spec):  # the fixed Heun step of solve_limit's default
        dt = (resolution.dt or default_dt(t1)) / resolution.step_divisor
        ts = np.asarray(eval_iterations(iterations, num_evals), np.float64) * spec.lr.alpha
        calls = CALLS_PER_STEP["heun"] * (len(step_grid(t1, dt, ts)) - 1)
    sampled = method == "particles"
    doubled = sampled and (not spec.data.is_finite or resolution.data_subsample is not None)
    # the refined solve: dt/2, and 1.5× nodes on each of the radial axes (|w|, U, |x|)
    refined = 2 * (1.5**3 if method == "radial" else 1)
    solves = (resolution.replicates if sampled else 1) + refined + (2 if doubled else 0)
    return LimitCost(method=method, data_points=int(batch.x.shape[0]), particles=tuple(y0.sizes),
                     gflop_per_call=flops / 1e9, peak_bytes=peak, seconds_per_call=seconds,
                     calls_per_solve=calls, solves=solves)  # fmt: skip


def check_fits(spec, *, iterations: int, num_evals: int, resolution: Resolution, dtype=None) -> LimitCost:
    """``limit_cost``, or a ValueError when one solve would not fit in the memory available, naming
    the largest ``--limit-m1`` (a power of two) and ``--limit-data`` (halving) that would, each found
    by compiling the smaller solve."""
    cost = limit_cost(spec, iterations=iterations, num_evals=num_evals, resolution=resolution, dtype=dtype)
    free = available_bytes()
    if free is None or cost.peak_bytes <= MEMORY_SHARE * free:
        return cost

    def fits(**change) -> bool:
        res = dataclasses.replace(resolution, **change)
        c = limit_cost(
            spec, iterations=iterations, num_evals=num_evals, resolution=res, dtype=dtype, measure=False
        )
        return c.peak_bytes <= MEMORY_SHARE * free

    hints = []
    if cost.method == "particles":
        m1 = _largest(resolution.m1, lambda m: fits(m1=m))
        if m1 is not None:
            hints.append(f"--limit-m1 {m1}")
        if spec.data.is_finite:
            n = _largest(cost.data_points, lambda k: fits(data_subsample=k))
            if n is not None:
                hints.append(f"--limit-data {n}")
        else:
            n = _largest(cost.data_points, lambda k: fits(data_samples=k))
            if n is not None:
                hints.append(f"a data sample of {n} (Resolution.data_samples)")
    fix = " or ".join(hints) + " would fit" if hints else "no smaller M_1 or data sample fits: fewer nodes"
    raise ValueError(
        f"the limit solve does not fit: {cost.describe()}, but {_gib(free)} are available (using at most "
        f"{MEMORY_SHARE:.0%}); {fix}, or --no-limit to train the finite nets only"
    )


def _largest(size: int, ok) -> int | None:
    """The largest of size/2, size/4, ... (down to 1) for which ``ok`` holds, or None."""
    k = size // 2
    while k >= 1:
        if ok(k):
            return k
        k //= 2
    return None
