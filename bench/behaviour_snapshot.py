"""Snapshot of the curves mfspec produces, to show that a refactor keeps behaviour.

For every bundled spec (and its variants) the "tiny" preset's finite curves, and its limit curve
(one coarse solve at the preset's resolution), plus the default spec's default preset: finite
curves and limit. Values are stored as ``float.hex`` so that a comparison can be bitwise.

    python bench/behaviour_snapshot.py write before.json [--x64] [--no-default]
    python bench/behaviour_snapshot.py compare before.json after.json

Run ``write`` once on the old code and once on the new (``PYTHONPATH=<old checkout>`` selects the
old package), in float32 (the CLI's default) and with ``--x64`` (float64). MNIST/CIFAR-10/VGG files
are generated here with a fixed seed, in the real formats, under a temporary ``$MFSPEC_DATA``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _hex(curve) -> dict:
    return {k: [float(v).hex() for v in np.asarray(vals, np.float64)] for k, vals in curve.metrics.items()}


def _finite_hex(spec, run) -> list[dict]:
    """The sweep's curves with every value as float.hex (same keys and order as ``run_sweep``)."""
    import jax

    import mfspec as mf
    from mfspec.run.sweep import run_keys

    base = jax.random.PRNGKey(0)
    eval_sets = mf.eval_sets_for(spec, run, base)
    out = []
    for wi, width in enumerate(run.widths):
        for s in range(run.seeds):
            init_key, data_key = run_keys(base, wi, s)
            net = spec.network(spec.widths(width), init_key)
            _, curve = mf.train(spec, net, data_key, iterations=run.iterations, num_evals=run.num_evals,
                                eval_sets=eval_sets)  # fmt: skip
            out.append({"width": width, "seed": s, "metrics": _hex(curve)})
    return out


def _limit_hex(spec, run, dtype) -> dict:
    import jax

    import mfspec as mf

    eval_sets = mf.eval_sets_for(spec, run, jax.random.PRNGKey(0))
    sol = mf.solve_limit(spec, iterations=run.iterations, num_evals=run.num_evals, eval_sets=eval_sets,
                         dtype=dtype, resolution=run.limit)  # fmt: skip
    return {"metrics": _hex(sol.curve), "seconds": sol.seconds}


def write(path: Path, *, x64: bool, default: bool, only: list[str] | None) -> None:
    import jax

    jax.config.update("jax_enable_x64", x64)
    import jax.numpy as jnp

    import mfspec as mf
    from mfspec.run.specfile import bundled_specs, load_spec_file

    dtype = jnp.float64 if x64 else jnp.float32
    snap: dict = {"x64": x64, "entries": {}}
    with tempfile.TemporaryDirectory() as tmp:
        mf.data.write_stand_ins(tmp)
        os.environ[mf.data.DATA_ENV] = tmp
        for name in only or bundled_specs():
            sf = load_spec_file(name)
            for variant in [None, *sorted(sf.variants)]:
                spec = sf.variant(variant)
                key = f"{name}/{variant or 'main'}/tiny"
                start = time.perf_counter()
                entry = {"finite": _finite_hex(spec, sf.preset("tiny"))}
                entry["limit"] = _limit_hex(spec, sf.preset("tiny"), dtype)
                snap["entries"][key] = entry
                print(f"{key}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        if default:
            sf = load_spec_file(None)
            start = time.perf_counter()
            run = sf.preset("default")
            snap["entries"]["default/main/default"] = {
                "finite": _finite_hex(sf.spec, run),
                "limit": _limit_hex(sf.spec, run, dtype),
            }
            print(f"default: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    path.write_text(json.dumps(snap, indent=0))


def _values(metrics: dict) -> dict[str, np.ndarray]:
    return {k: np.array([float.fromhex(v) for v in vals]) for k, vals in metrics.items()}


def _diff(a: dict, b: dict) -> tuple[bool, float]:
    """(bitwise equal, max relative difference) of two metric dicts (NaN == NaN)."""
    va, vb = _values(a), _values(b)
    if va.keys() != vb.keys():
        return False, float("inf")
    bitwise, worst = True, 0.0
    for k in va:
        x, y = va[k], vb[k]
        if x.shape != y.shape:
            return False, float("inf")
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        bitwise &= bool(same.all())
        with np.errstate(invalid="ignore"):
            rel = np.abs(x - y) / np.maximum(np.abs(x), 1e-300)
        rel = np.where(same, 0.0, rel)
        worst = max(worst, float(np.max(rel)) if rel.size else 0.0)
    return bitwise, worst


def compare(a_path: Path, b_path: Path) -> int:
    a, b = json.loads(a_path.read_text()), json.loads(b_path.read_text())
    print(f"{'entry':<46} {'finite bitwise':>14} {'finite max rel':>15} {'limit max rel':>14}")
    worst_f, worst_l, all_bitwise = 0.0, 0.0, True
    for key, ea in a["entries"].items():
        eb = b["entries"].get(key)
        if eb is None:
            print(f"{key:<46} missing in {b_path.name}")
            all_bitwise = False
            continue
        bit, rel = True, 0.0
        for ca, cb in zip(ea["finite"], eb["finite"], strict=True):
            cbit, crel = _diff(ca["metrics"], cb["metrics"])
            bit &= cbit
            rel = max(rel, crel)
        lim = _diff(ea["limit"]["metrics"], eb["limit"]["metrics"])[1] if "limit" in ea else float("nan")
        worst_f, all_bitwise = max(worst_f, rel), all_bitwise and bit
        if "limit" in ea:
            worst_l = max(worst_l, lim)
        print(f"{key:<46} {str(bit):>14} {rel:>15.2e} {lim:>14.2e}")
    print(f"all finite bitwise: {all_bitwise}; worst finite rel {worst_f:.2e}; worst limit rel {worst_l:.2e}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("path", type=Path)
    w.add_argument("--x64", action="store_true")
    w.add_argument("--no-default", action="store_true", help="skip the default spec's default preset")
    w.add_argument("--only", nargs="+", default=None, help="bundled spec names (default: all)")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = p.parse_args()
    if args.cmd == "write":
        write(args.path, x64=args.x64, default=not args.no_default, only=args.only)
        return 0
    return compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
