"""A width sweep with seeds: the finite half of ``mfspec run``."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
from tqdm import tqdm

from mfspec.common import peers
from mfspec.common.interrupt import interrupt_on_sigterm
from mfspec.declaration.spec import Spec
from mfspec.finite.curves import eval_sets_for
from mfspec.finite.seeds import batchable, train_seeds
from mfspec.finite.train import train
from mfspec.run.preset import Run
from mfspec.run.results import SCHEMA_VERSION, curve_record, run_config, versions, write_json
from mfspec.run.share import Share

__all__ = ["eval_sets_for", "finished_curves", "new_results", "run_keys", "run_sweep"]


def run_keys(base_key, width_index: int, seed: int):
    """(init key, data key) of one run; independent across widths and seeds."""
    key = jax.random.fold_in(jax.random.fold_in(base_key, width_index), seed)
    return jax.random.split(key)


def new_results(spec: Spec, run: Run, *, spec_file: str | None, preset: str | None, seed: int) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "spec": spec.name,
        "spec_file": spec_file,
        "preset": preset,
        "seed": seed,
        "config": {
            "spec": spec.describe(),
            "run": run_config(run),
        },
        "versions": versions(),
        "curves": [],
    }


def run_sweep(
    spec: Spec,
    run: Run,
    *,
    results: dict,
    out: Path | None = None,
    seed: int = 0,
    dtype=None,
    progress: bool = True,
    fresh: bool = False,
    batch_seeds: bool = False,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
) -> dict:
    """Train every (width, seed) of ``run``; append a "finite" curve to ``results`` after each.

    ``results.json`` under ``out`` is rewritten after every finished curve. A diverging run is
    kept up to its last finite evaluation, its message logged, and the sweep goes on.

    Interrupted (Ctrl-C or SIGTERM), the sweep says which curves the file keeps and re-raises.
    Rerun with the same ``out``, it keeps the finished finite curves of an existing results.json
    instead of training them again (training is deterministic given the seed: the results are
    those of an uninterrupted run), provided that the file is of the same run: ``results``'s
    schema version, config, seed, dtype and variant; otherwise a ValueError names the file and
    what differs. ``fresh=True`` ignores the file (it is overwritten). A limit curve in it is not
    kept: the caller solves the limit again.

    ``batch_seeds=True`` trains the seeds of one width as one vmapped program (``mfspec.finite.seeds``;
    ``mfspec run --batch-seeds``), except for a network that steps one call at a time (the CNN):
    bitwise the curves of one seed at a time on the default spec, the same to roundoff elsewhere
    (docs/batched_seeds.md); the seeds are cut over this process's devices when it has several.

    In a multi-process job (``jax.distributed``) each process trains its share of the (width, seed)
    runs and process 0 gathers them in sweep order and alone writes (``mfspec.run.share``); the
    returned ``results`` holds every curve in process 0, and this process's own in the others.

    ``dtype`` (float32 or float64; default: JAX's default float) is the networks' parameter dtype.
    The evaluation samples are drawn as the limit draws them (``limit_record``) and then cast to
    ``dtype``, so finite and limit curves are evaluated on the same points.
    """
    path = None if out is None else Path(out) / "results.json"
    share = Share()
    reused, reuse = _kept_from_file(path, results, fresh, share, log)
    base = jax.random.PRNGKey(seed)
    eval_sets = eval_sets_for(spec, run, base)
    if dtype is not None:
        eval_sets = jax.tree.map(lambda a: a.astype(dtype), eval_sets)
    total = len(run.widths) * run.seeds * run.iterations
    bar = _progress_bar(total, progress)
    todo = [(wi, s) for wi, w in enumerate(run.widths) for s in range(run.seeds) if _key(w, s) not in reused]
    mine = share.mine(todo)
    if not share.alone:
        log(f"process {share.me} of {share.n} trains {len(mine)} of the {len(todo)} run(s) to train")
    train = functools.partial(_records, spec, run, base=base, eval_sets=eval_sets, dtype=dtype, bar=bar, log=log,
                              batch_seeds=batch_seeds, share=share, mine=mine, reused=reused, reuse=reuse)  # fmt: skip
    try:
        with interrupt_on_sigterm() as stop:
            for wi, width in enumerate(run.widths):
                stop.check()
                for kept in train(wi, width, stop):
                    results["curves"].append(kept)
                    if out is not None:
                        write_json(path, results)
                        done = sum(c["kind"] == "finite" for c in results["curves"])
                        peers.keep(
                            f"{done} finished curve(s) kept in {path}; rerun the same command to train the rest"
                        )
                    stop.check()
    except KeyboardInterrupt:
        bar.close()
        done = [c for c in results["curves"] if c["kind"] == "finite"]
        where = f"in {path}; rerun the same command to skip them" if path else "in the results (no out)"
        log(f"interrupted: kept {len(done)} finished curves ({_names(done) or 'none'}) {where}")
        raise
    bar.close()
    return results


def _kept_from_file(path, results, fresh: bool, share, log) -> tuple[set, dict]:
    """(the (width, seed) keys kept from an existing results.json, their records): process 0 reads
    the file, every process learns which keys it kept (the records stay in process 0)."""
    reuse: dict = {}

    def read_reuse() -> list:
        reuse.update({} if path is None or fresh or not path.exists() else finished_curves(path, results))
        return sorted(reuse)

    reused = set(share.agree(read_reuse))
    if reuse:
        log(
            f"reusing {len(reuse)} finished curve(s) from {path} ({_names(reuse.values())}); --fresh retrains them"
        )
    return reused, reuse


def _records(spec, run, wi, width, stop, *, base, eval_sets, dtype, bar, log, batch_seeds, share, mine, reused,
             reuse):  # fmt: skip
    """The "finite" records of one width in seed order, as this process holds them: kept from the
    file, trained here (the seeds batched when asked), or gathered from another process (process 0)."""
    ours = [s for s in range(run.seeds) if (wi, s) in mine]
    trained = {}
    if len(ours) > 1 and batch_seeds:
        trained = _train_width(spec, run, width, wi, ours, base, eval_sets, dtype, bar, log)
    for s in range(run.seeds):
        if _key(width, s) in reused:
            kept = reuse.get(_key(width, s))  # only process 0 holds the records
            bar.update(run.iterations if kept else 0)
        elif (wi, s) in mine:
            kept = trained.get(s) or _train_one(spec, run, width, wi, s, base, eval_sets, dtype, bar, log)
            share.publish((wi, s), kept)
        elif share.me == 0:  # trained by another process of the job
            kept = share.collect((wi, s), stop.check)
            bar.update(run.iterations)
        else:
            kept = None
        if kept is not None:
            yield kept


def _train_one(spec, run, width, wi, s, base, eval_sets, dtype, bar, log) -> dict:
    """The "finite" record of one (width, seed)."""
    init_key, data_key = run_keys(base, wi, s)
    net = spec.network(spec.widths(width), init_key, dtype=dtype)
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
    return curve_record("finite", width, s, curve, seconds=seconds)


def _train_width(spec, run, width, wi, seeds, base, eval_sets, dtype, bar, log) -> dict:
    """The "finite" records of several seeds of one width, trained as one program ({seed: record});
    {} when the network cannot be batched (then each seed trains alone)."""
    keys = [run_keys(base, wi, s) for s in seeds]
    nets = [spec.network(spec.widths(width), init_key, dtype=dtype) for init_key, _ in keys]
    if not batchable(nets[0]):
        return {}
    bar.set_description(f"n={width} seeds={len(seeds)}")
    start, offset = time.perf_counter(), bar.n
    trained = train_seeds(
        spec,
        nets,
        [data_key for _, data_key in keys],
        iterations=run.iterations,
        num_evals=run.num_evals,
        eval_sets=eval_sets,
        progress=lambda done, o=offset: bar.update(o + len(seeds) * done - bar.n),
    )
    bar.update(offset + len(seeds) * run.iterations - bar.n)
    seconds = (time.perf_counter() - start) / len(seeds)
    records = {}
    for s, (_, curve) in zip(seeds, trained):
        if curve.diverged:
            log(f"width {width}, seed {s}: {curve.diverged}")
        records[s] = curve_record("finite", width, s, curve, seconds=seconds, batched_seeds=len(seeds))
    return records


#: What makes results.json the file of the same run (so that its finished curves can be kept).
SAME_RUN = ("schema_version", "config", "seed", "dtype", "variant")


def finished_curves(path: Path, results: dict) -> dict:
    """(width, seed) → the finished "finite" record in ``path``, if the file is of the run that
    ``results`` (a ``new_results``) describes; else a ValueError naming the file and what differs."""
    try:
        old = json.loads(Path(path).read_text())
        curves = [c for c in old["curves"] if c["kind"] == "finite"]
        done = {_key(c["width"], c["seed"]): c for c in curves}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path} is not a readable results file ({err}): use another --out, delete it, or pass --fresh"
        ) from None
    new = _finite_part(json.loads(json.dumps({k: results.get(k) for k in SAME_RUN})))
    differ = _differences(_finite_part({k: old.get(k) for k in SAME_RUN}), new)
    if differ:
        shown = "; ".join(differ[:3]) + ("; ..." if len(differ) > 3 else "")
        raise ValueError(
            f"{path} holds another run ({shown}): use another --out, delete it, or pass --fresh to overwrite it"
        )
    return done


def _finite_part(same: dict) -> dict:
    """``same`` without the limit's resolution (config.run.limit): it does not shape the finite
    curves, so a rerun with other --limit-* flags keeps them."""
    run = (same.get("config") or {}).get("run")
    if isinstance(run, dict) and "limit" in run:
        same = {**same, "config": {**same["config"], "run": {k: v for k, v in run.items() if k != "limit"}}}
    return same


def _differences(old, new, where: str = "") -> list[str]:
    """'field: A in the file, B now' for every leaf where two JSON values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for k in sorted(old.keys() | new.keys(), key=str)
                for d in _differences(old.get(k), new.get(k), f"{where}.{k}" if where else str(k))]  # fmt: skip
    if old != new:
        return [f"{where}: {_short(old)} in the file, {_short(new)} now"]
    return []


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _key(width, seed) -> tuple:
    """A curve's (width, seed) as results.json writes it (a tuple width as a list)."""
    return json.dumps(width if isinstance(width, (int, type(None))) else list(width)), seed


def _names(curves) -> str:
    return ", ".join(f"n={c['width']} seed {c['seed']}" for c in curves)


def _progress_bar(total: int, enabled: bool):
    return tqdm(total=total, disable=not enabled, unit="step", dynamic_ncols=True, file=sys.stderr)
