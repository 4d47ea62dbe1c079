"""A width sweep with seeds: the finite half of ``mfspec run`` (an ``mf.Spec`` or a CNN's ``mf.conv.ConvSpec``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax

from mfspec._curves import eval_sets_for
from mfspec._results import SCHEMA_VERSION, curve_record, run_config, spec_config, versions, write_json
from mfspec._spec import Run, Spec
from mfspec._train import train
from mfspec.conv._spec import ConvSpec

__all__ = ["eval_sets_for", "new_results", "run_keys", "run_sweep"]


def run_keys(base_key, width_index: int, seed: int):
    """(init key, data key) of one run; independent across widths and seeds."""
    key = jax.random.fold_in(jax.random.fold_in(base_key, width_index), seed)
    return jax.random.split(key)


def new_results(
    spec: Spec | ConvSpec, run: Run, *, spec_file: str | None, preset: str | None, seed: int
) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "spec": spec.name,
        "spec_file": spec_file,
        "preset": preset,
        "seed": seed,
        "config": {
            "spec": spec_config(spec) if isinstance(spec, Spec) else spec.config(),
            "run": run_config(run),
        },
        "versions": versions(),
        "curves": [],
    }


def run_sweep(
    spec: Spec | ConvSpec,
    run: Run,
    *,
    results: dict,
    out: Path | None = None,
    seed: int = 0,
    dtype=None,
    progress: bool = True,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> dict:
    """Train every (width, seed) of ``run``; append a "finite" curve to ``results`` after each.

    ``results.json`` under ``out`` is rewritten after every finished curve. A diverging run is
    kept up to its last finite evaluation, its message logged, and the sweep goes on.

    ``dtype`` (float32 or float64; default: JAX's default float) is the networks' parameter dtype.
    The evaluation samples are drawn as the limit draws them (``limit_record``) and then cast to
    ``dtype``, so finite and limit curves are evaluated on the same points.
    """
    base = jax.random.PRNGKey(seed)
    eval_sets = eval_sets_for(spec, run, base)
    if dtype is not None:
        eval_sets = jax.tree.map(lambda a: a.astype(dtype), eval_sets)
    total = len(run.widths) * run.seeds * run.iterations
    bar = _progress_bar(total, progress)
    for wi, width in enumerate(run.widths):
        widths = spec.widths(width)
        for s in range(run.seeds):
            init_key, data_key = run_keys(base, wi, s)
            net = spec.network(widths, init_key, dtype=dtype)
            bar.set_description(f"n={width} seed={s}")
            start, offset = time.perf_counter(), bar.n
            _, curve = train(
                spec,
                net,
                data_key,
                iterations=run.iterations,
                num_evals=run.num_evals,
                eval_sets=eval_sets,
                progress=lambda done, o=offset: bar.update(o + done - bar.n),
            )
            bar.update(offset + run.iterations - bar.n)
            seconds = time.perf_counter() - start
            if curve.diverged:
                log(f"width {width}, seed {s}: {curve.diverged}")
            results["curves"].append(curve_record("finite", width, s, curve, seconds=seconds))
            if out is not None:
                write_json(Path(out) / "results.json", results)
    bar.close()
    return results


def _progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit="step", dynamic_ncols=True, file=sys.stderr)
