"""``mfspec`` command line: run, limit, equations, verify.

mfspec run [SPEC] [--preset NAME] [--out DIR] [--widths N ...] [--iterations K] [--dtype float64] ...
mfspec limit [SPEC] [--preset NAME] [--out DIR] [--iterations K] [--num-evals M] [--limit-m1 M1] ...
mfspec run|limit ... --distributed [--coordinator HOST:PORT --num-processes N --process-id I]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import jax

from mfspec.checks.verify import verify
from mfspec.common import peers
from mfspec.limit.cost import check_fits
from mfspec.limit.resolution import Resolution
from mfspec.limit.solve import check_limit_ready
from mfspec.run import jobs
from mfspec.run.figure import plot_results
from mfspec.run.limit_record import limit_record
from mfspec.run.preset import Run
from mfspec.run.results import write_json
from mfspec.run.specfile import DEFAULT_SPEC, load_spec_file
from mfspec.run.sweep import new_results, run_sweep
from mfspec.symbolic import equations_text

_DTYPES = ("float32", "float64")

#: Run field → its flag: the preset overrides, all applied by ``_run_overrides``.
_RUN_FLAGS = {
    "widths": "--widths",
    "seeds": "--seeds",
    "iterations": "--iterations",
    "num_evals": "--num-evals",
    "eval_samples": "--eval-samples",
}


def _add_common(p: argparse.ArgumentParser, out: str = "runs/<spec name>") -> None:
    p.add_argument(
        "spec", nargs="?", default=None, help=f"spec file or bundled spec name (default: {DEFAULT_SPEC})"
    )
    p.add_argument("--out", type=Path, default=None, help=f"output directory (default: {out})")
    p.add_argument(
        "--preset", default="default", help="a preset defined in the spec file (default, paper, ...)"
    )
    p.add_argument("--variant", default=None, help="a variant defined in the spec file (e.g. another depth)")
    p.add_argument("--seed", type=int, default=0, help="base random seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_run_options(p: argparse.ArgumentParser, *, sweep: bool) -> None:
    """The preset overrides that shape the curve (``sweep``: also the finite widths and seeds)."""
    if sweep:
        p.add_argument("--widths", type=int, nargs="+", help="override the preset's widths")
        p.add_argument("--seeds", type=int, help="override the preset's number of seeds per width")
    p.add_argument(
        "--iterations", type=int, help="override the preset's SGD steps (horizon t = iterations·α)"
    )
    p.add_argument(
        "--num-evals",
        type=int,
        help="override the preset's number of evaluation iterations (log-spaced, 0 and the last included)",
    )
    p.add_argument(
        "--eval-samples", type=int, help="override the preset's size of each fixed evaluation sample"
    )
    p.add_argument(
        "--dtype",
        choices=_DTYPES,
        default=None,
        help="float type of the networks and the limit (default: JAX's, float32 unless x64 mode is on; "
        "float64 turns x64 mode on)",
    )


def _add_resolution(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--limit-m1",
        type=int,
        default=None,
        help="layer-1 particles of the limit (default 1024; the refined solve doubles it)",
    )
    p.add_argument(
        "--limit-dt",
        type=float,
        default=None,
        help="fixed time step of the limit (default: Heun max(0.01, t/2000) for a kinked σ)",
    )
    p.add_argument(
        "--limit-qmc", type=int, default=None, help="Sobol particles of a many-output head (default 256)"
    )
    p.add_argument(
        "--limit-data",
        type=int,
        default=None,
        help="the limit's expectation over a random subsample of N training points (a dataset too large "
        "for the solve; its bias joins the error bar); default: all",
    )
    p.add_argument(
        "--limit-replicates",
        type=int,
        default=None,
        help="independent randomized solves of a particle limit, for its error bar (default 4, at least 2)",
    )


def _run_overrides(args) -> dict:
    """The preset fields given on the command line, each checked by ``mf.Run`` (a ValueError naming
    the flag and the value). The one place where flags override a preset: run and limit agree."""
    changes = {}
    for field, flag in _RUN_FLAGS.items():
        value = getattr(args, field, None)  # `mfspec limit` has no --widths / --seeds
        if value is None:
            continue
        value = tuple(value) if field == "widths" else value
        try:
            Run(**{field: value})
        except ValueError as err:
            shown = " ".join(map(str, value)) if field == "widths" else value
            raise ValueError(f"{flag} {shown}: {err}") from None
        changes[field] = value
    return changes


def _resolution_flags(args) -> dict:
    """``Resolution`` field → (flag, value) of the --limit-* flags."""
    return {"m1": ("--limit-m1", args.limit_m1), "dt": ("--limit-dt", args.limit_dt),
            "qmc_points": ("--limit-qmc", args.limit_qmc),
            "replicates": ("--limit-replicates", args.limit_replicates),
            "data_subsample": ("--limit-data", args.limit_data)}  # fmt: skip


def _check_resolution_flags(args) -> None:
    """Each --limit-* value given, checked by ``mf.Resolution`` (a ValueError naming the flag)."""
    for field, (flag, value) in _resolution_flags(args).items():
        if value is not None:
            try:
                Resolution(**{field: value})
            except ValueError as err:
                raise ValueError(f"{flag} {value!r}: {err}") from None


def _resolution(args, run):
    """The run's limit ``Resolution`` with the --limit-* flags applied."""
    _check_resolution_flags(args)
    given = {f: v for f, (_, v) in _resolution_flags(args).items() if v is not None}
    return dataclasses.replace(run.limit, **given)


def _dtype(name: str | None):
    """The JAX float type named by --dtype (None: JAX's default, float32 unless x64 mode is on);
    float64 turns on x64 mode, so call this before any JAX array exists (before the spec file runs)."""
    if name is None:
        return jax.dtypes.canonicalize_dtype(jax.numpy.float64)  # float64 iff x64 mode is on
    if name not in _DTYPES:
        raise ValueError(f"--dtype {name!r}: must be one of {list(_DTYPES)}")
    if name == "float64":
        jax.config.update("jax_enable_x64", True)
    return jax.numpy.dtype(name)


def _prepare(args, command: str):
    """(spec file, spec, run, limit resolution, dtype) of ``mfspec run`` / ``mfspec limit``.

    Every flag is checked first, then the dtype is set, then the spec file runs (it may load data)
    and the preset is overridden: a bad value fails before any compute.
    """
    changes = _run_overrides(args)
    _check_resolution_flags(args)
    jobs.check_flags(args)
    dtype = _dtype(args.dtype)
    jobs.start(args)
    args.mesh = jobs.mesh(args)
    sf = load_spec_file(args.spec)
    spec = sf.variant(args.variant)
    if command == "limit" or not args.no_limit:
        check_limit_ready(spec)  # before the sweep: its curves would have no limit to be drawn with
    run = dataclasses.replace(sf.preset(args.preset), **changes)
    resolution = _resolution(args, run)
    if command == "limit" or not args.no_limit:
        # before the sweep: a limit that cannot fit in memory is refused with the flags that fit
        cost = check_fits(
            spec, iterations=run.iterations, num_evals=run.num_evals, resolution=resolution, dtype=dtype
        )
        jobs.say(cost.describe())
    return sf, spec, run, resolution, dtype


def cmd_run(args) -> int:
    sf, spec, run, resolution, dtype = _prepare(args, "run")
    out = args.out or Path("runs") / spec.name
    jobs.say(
        f"mfspec run: {spec.name} ({sf.path}), preset {args.preset}: widths {list(run.widths)}, "
        f"{run.seeds} seed(s), {run.iterations} iterations, {run.num_evals} evaluations, {dtype} → {out}"
    )
    start = time.perf_counter()
    results = new_results(spec, run, spec_file=str(sf.path), preset=args.preset, seed=args.seed)
    results["variant"], results["dtype"] = args.variant, str(dtype)
    # Each process trains its share of the sweep; process 0 gathers it and alone writes it.
    run_sweep(spec, run, results=results, out=out, seed=args.seed, dtype=dtype, progress=jobs.progress(args),
              fresh=args.fresh, batch_seeds=args.batch_seeds)  # fmt: skip
    if not args.no_limit:
        _add_limit(spec, run, results, args, resolution, dtype, out)
    results["wall_seconds"] = time.perf_counter() - start
    write_json(out / "results.json", results)
    if jobs.writer():
        fig = plot_results(results, out / "figure.png")
        print(f"wrote {out / 'results.json'} and {fig} in {results['wall_seconds']:.1f} s", file=sys.stderr)
    return 0


def _add_limit(spec, run, results, args, resolution, dtype, out: Path) -> None:
    """Solve the limit on the sweep's evaluation grid and append it, with its error bar. Its solves
    checkpoint under ``out/limit_checkpoints`` until all are done: a rerun resumes them."""
    if "nothing finished" in peers.kept():
        peers.keep(f"no finished curve; a rerun resumes the limit from {out / 'limit_checkpoints'}")
    else:
        peers.keep(f"{peers.kept()}; a rerun resumes the limit from {out / 'limit_checkpoints'}")
    rec = limit_record(spec, run, seed=args.seed, dtype=dtype, resolution=resolution,
                       checkpoints=out / "limit_checkpoints", progress=jobs.progress(args),
                       mesh=getattr(args, "mesh", None))  # fmt: skip
    bar = {m: max((v for v in rec["error_bar"][m][s] if v is not None), default=0.0)
           for m in rec["error_bar"] for s in rec["error_bar"][m]}  # fmt: skip
    jobs.say(
        f"limit ({rec['method']}, {rec['solver']} dt={rec['dt']}): {rec['seconds_single_solve']:.1f} s per solve, "
        f"error bar (sup over t) {', '.join(f'{m} {v:.1e}' for m, v in bar.items())}"
    )
    results["curves"].append(rec)


def cmd_limit(args) -> int:
    sf, spec, run, resolution, dtype = _prepare(args, "limit")
    out = args.out or Path("runs") / f"{spec.name}_limit"
    jobs.say(
        f"mfspec limit: {spec.name} ({sf.path}), preset {args.preset}: {run.iterations} iterations, "
        f"{run.num_evals} evaluations, {run.eval_samples} evaluation samples, {dtype} → {out}"
    )
    results = new_results(spec, run, spec_file=str(sf.path), preset=args.preset, seed=args.seed)
    results["variant"], results["dtype"] = args.variant, str(dtype)
    _add_limit(spec, run, results, args, resolution, dtype, out)
    write_json(out / "results.json", results)
    if jobs.writer():
        plot_results(results, out / "figure.png")
        print(f"wrote {out / 'results.json'}", file=sys.stderr)
    return 0


def cmd_equations(args) -> int:
    spec = load_spec_file(args.spec).variant(args.variant)
    text = equations_text(spec, latex=args.latex)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


def cmd_verify(args) -> int:
    spec = load_spec_file(args.spec).variant(args.variant)
    report = verify(spec)
    print(report)
    return 0 if report.passed else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mfspec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train the width sweep, solve the limit, write results and a figure")
    _add_common(p_run)
    _add_run_options(p_run, sweep=True)
    p_run.add_argument("--no-limit", action="store_true", help="skip the limit curve")
    p_run.add_argument(
        "--fresh",
        action="store_true",
        help="train every curve again, overwriting OUT/results.json (default: keep the finished curves "
        "of an interrupted run of the same command)",
    )
    p_run.add_argument(
        "--batch-seeds",
        action="store_true",
        help="train the seeds of each width as one vmapped program (faster for many small runs; the "
        "last bit may differ from one seed alone: docs/batched_seeds.md)",
    )
    _add_resolution(p_run)
    jobs.add_flags(p_run)
    p_run.set_defaults(func=cmd_run)
    p_lim = sub.add_parser("limit", help="solve the limit alone, with its error bar")
    _add_common(p_lim, out="runs/<spec name>_limit")
    _add_run_options(p_lim, sweep=False)
    _add_resolution(p_lim)
    jobs.add_flags(p_lim)
    p_lim.set_defaults(func=cmd_limit)
    p_eq = sub.add_parser("equations", help="print the generated formal system")
    p_eq.add_argument("spec", nargs="?", default=None)
    p_eq.add_argument("--variant", default=None)
    p_eq.add_argument("--latex", action="store_true", help="a LaTeX document instead of text")
    p_eq.add_argument("--out", type=Path, default=None, help="write to this file instead of stdout")
    p_eq.set_defaults(func=cmd_equations)
    p_ver = sub.add_parser("verify", help="check the symbolic and numeric identities, with residuals")
    p_ver.add_argument("spec", nargs="?", default=None)
    p_ver.add_argument("--variant", default=None)
    p_ver.set_defaults(func=cmd_verify)
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
        jobs.finish(args)
        return code
    except (ValueError, TypeError, FileNotFoundError) as err:
        jobs.failed(args, err)  # a process of a multi-process job: named, and ended here
        print(f"mfspec {args.command}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        jobs.failed(args, err)
        raise


if __name__ == "__main__":
    sys.exit(main())
