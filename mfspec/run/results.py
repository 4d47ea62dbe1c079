"""Results as data: ``results.json`` with the spec, the config, versions and every curve.

Written atomically after each finished curve, so an interrupted sweep keeps what it finished. The
layout is the JSON Schema ``mfspec/run/results.schema.json`` (version ``SCHEMA_VERSION``); it is read
back as typed records by ``mf.load_results`` (``mfspec.run.results_io``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path

from mfspec.common.peers import WRITING
from mfspec.common.processes import is_writer
from mfspec.run.preset import Run

#: The version of results.json's layout (``mfspec/run/results.schema.json``): written as the file's
#: top-level ``schema_version``, bumped with any change to the layout.
SCHEMA_VERSION = 1


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("mfspec", "jax", "jaxlib", "equinox", "diffrax", "sympy", "numpy", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def run_config(run: Run) -> dict:
    return {
        "widths": [w if isinstance(w, int) else list(w) for w in run.widths],
        "seeds": run.seeds,
        "iterations": run.iterations,
        "num_evals": run.num_evals,
        "eval_samples": run.eval_samples,
        "limit": dataclasses.asdict(run.limit),
    }


def json_series(values) -> list[float | None]:
    """Floats for JSON: NaN/inf are not JSON, so a missing value (e.g. no error rule) becomes null."""
    return [float(v) if math.isfinite(v) else None for v in values]


def nest_metrics(flat: dict[str, list]) -> dict[str, dict[str, list]]:
    """{"test_loss": v} → {"loss": {"test": v}} (the results.json layout)."""
    out: dict[str, dict[str, list]] = {}
    for name, values in flat.items():
        split, metric = name.split("_", 1)
        out.setdefault(metric, {})[split] = json_series(values)
    return out


def curve_record(kind: str, width, seed, curve, **extra) -> dict:
    data = curve.to_json()
    rec = {
        "kind": kind,
        "width": width if isinstance(width, (int, type(None))) else list(width),
        "seed": seed,
        "iteration": data["iteration"],
        "t": data["t"],
        "metrics": nest_metrics(data["metrics"]),
    }
    if data.get("diverged"):
        rec["diverged"] = data["diverged"]
    rec.update(extra)
    return rec


def write_json(path: Path, payload: dict) -> None:
    """Atomic write: a crash mid-write never leaves a truncated results file. In a multi-process
    job (``mfspec run --distributed``) process 0 alone writes; the others compute the same results."""
    if not is_writer():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with WRITING:  # a job stopped by a peer's death waits for the write (mfspec.common.peers)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=1, allow_nan=False)
        os.replace(tmp, path)
