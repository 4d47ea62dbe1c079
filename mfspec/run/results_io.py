"""Reading ``results.json`` back: ``mf.load_results(path)`` → typed, validated records.

The layout is the JSON Schema shipped beside this module (``mfspec/run/results.schema.json``, version
``SCHEMA_VERSION``). A file is validated against it with ``jsonschema`` when that package is
importable; without it the version and the keys the records need are checked by hand. Either way a
bad file raises a ValueError that names the file, the field and the value.

Files written before the schema existed carry no ``schema_version``: they are read as version 0 —
the version-1 layout without the key — with a ``UserWarning``, and validated as version 1 otherwise.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import warnings
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mfspec.common.validate import is_int
from mfspec.run.results import SCHEMA_VERSION

__all__ = ["CurveRecord", "Results", "load_results", "results_schema", "validate_results"]

KINDS = ("finite", "limit")
SPLITS = ("train", "test")
_TOP = ("spec", "spec_file", "preset", "seed", "config", "versions", "curves")
_CURVE = ("kind", "width", "seed", "iteration", "t", "metrics")
_TYPED = {*_CURVE, "diverged", "error_bar", "error_bar_parts", "population"}


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return resources.files("mfspec.run").joinpath("results.schema.json").read_text("utf-8")


def results_schema() -> dict:
    """The JSON Schema of results.json (draft 2020-12), as shipped in the package (a fresh copy)."""
    return json.loads(_schema_text())


def validate_results(data: Any, source: str = "results") -> int:
    """Check ``data`` (a parsed results.json) and return its schema version (0: written before the key).

    Raises a ValueError naming ``source`` and the first problem found.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{source}: results.json must hold a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if "schema_version" not in data:
        warnings.warn(
            f"{source}: no schema_version: a results.json written before mfspec's results schema; read "
            f"as version 0 (the version-{SCHEMA_VERSION} layout without the key)",
            UserWarning,
            stacklevel=4,  # the caller of load_results or plot_results
        )
        data, version = {"schema_version": SCHEMA_VERSION, **data}, 0
    elif not is_int(version) or version != SCHEMA_VERSION:
        newer = is_int(version) and version > SCHEMA_VERSION
        hint = ": written by a newer mfspec, upgrade to read it" if newer else ""
        raise ValueError(
            f"{source}: schema_version is {version!r}, this mfspec reads version {SCHEMA_VERSION}{hint}"
        )
    try:
        import jsonschema
    except ImportError:
        _check_by_hand(data, source)
    else:
        validator = jsonschema.Draft202012Validator(results_schema())
        # The first problem in document order (array indices numerically, keys by name).
        order = lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in e.absolute_path]  # noqa: E731
        errors = sorted(validator.iter_errors(data), key=order)
        if errors:
            more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
            first = errors[0]
            message = first.message if len(first.message) <= 300 else first.message[:300] + " ..."
            scalar = isinstance(first.instance, (str, int, float, type(None)))
            if scalar and repr(first.instance) not in message:  # e.g. a const's message: only the expected
                message += f", got {first.instance!r}"
            raise ValueError(f"{source}: {_where(first.absolute_path)}: {message}{more}")
    _check_lengths(data, source)
    return version


def _where(path) -> str:
    """A JSON path as ``curves[2].metrics.loss``; "top level" for the root."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "top level"


def _fail(source: str, where: str, what: str, value) -> None:
    raise ValueError(f"{source}: {where}: {what}, got {value!r}"[:500])


def _check_by_hand(data: dict, source: str) -> None:
    """Without jsonschema: the keys and types that the typed records rely on."""
    missing = [k for k in _TOP if k not in data]
    if missing:
        _fail(source, "top level", f"missing required key {missing[0]!r}", sorted(data))
    for key, kind in (("spec", str), ("seed", int), ("config", dict), ("versions", dict), ("curves", list)):
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            _fail(source, key, f"must be of type {kind.__name__}", data[key])
    if "spec" not in data["config"] or "run" not in data["config"]:
        _fail(source, "config", "must hold 'spec' and 'run'", sorted(data["config"]))
    for i, c in enumerate(data["curves"]):
        where = f"curves[{i}]"
        if not isinstance(c, dict):
            _fail(source, where, "must be an object", c)
        missing = [k for k in _CURVE if k not in c]
        if missing:
            _fail(source, where, f"missing required key {missing[0]!r}", sorted(c))
        if c["kind"] not in KINDS:
            _fail(source, f"{where}.kind", f"must be one of {list(KINDS)}", c["kind"])
        if not isinstance(c["iteration"], list) or not all(is_int(v) for v in c["iteration"]):
            _fail(source, f"{where}.iteration", "must be an array of integers", c["iteration"])
        for key, inner in (("metrics", dict), ("error_bar", dict), ("population", list)):
            block = c.get(key, {})
            if not isinstance(block, dict) or not all(isinstance(v, inner) for v in block.values()):
                _fail(source, f"{where}.{key}", f"must map each metric to a {inner.__name__}", block)
        for name, values in _curve_series(c):
            if not isinstance(values, list) or not all(
                v is None or is_int(v) or isinstance(v, float) for v in values
            ):
                _fail(source, f"{where}.{name}", "must be an array of numbers or nulls", values)


def _curve_series(c: dict) -> list[tuple[str, Any]]:
    """(name, values) of every per-evaluation series of a curve: t, metrics, error_bar, population."""
    out = [("t", c["t"])]
    blocks = [("metrics", c.get("metrics", {})), ("error_bar", c.get("error_bar", {}))]
    parts = c.get("error_bar_parts", {})
    blocks += [(f"error_bar_parts.{p}", b) for p, b in (parts.items() if isinstance(parts, dict) else ())]
    for key, block in blocks:
        out += [(f"{key}.{m}.{s}", v) for m, splits in block.items() for s, v in splits.items()]
    return out + [(f"population.{m}", v) for m, v in c.get("population", {}).items()]


def _check_lengths(data: dict, source: str) -> None:
    """Every series of a curve has one entry per evaluation (not expressible in the schema)."""
    for i, c in enumerate(data["curves"]):
        n = len(c["iteration"])
        for name, values in _curve_series(c):
            if len(values) != n:
                _fail(source, f"curves[{i}].{name}", f"must have {n} entries, one per iteration", len(values))


def _series(values) -> np.ndarray:
    out = np.asarray([np.nan if v is None else v for v in values], np.float64)
    out.flags.writeable = False
    return out


def _nested(block: Mapping) -> Mapping[tuple[str, str], np.ndarray]:
    """{"loss": {"test": [...]}} → {("test", "loss"): array} (split first, as in "test_loss")."""
    return MappingProxyType({(s, m): _series(v) for m, splits in block.items() for s, v in splits.items()})


@dataclasses.dataclass(frozen=True, eq=False)
class CurveRecord:
    """One curve of results.json.

    Fields:
        kind: "finite" (a trained network) or "limit".
        width: n, per-layer (n_1, ..., n_L), or None (the limit).
        seed: the run's seed (None for the limit).
        iteration, t: the evaluation iterations k and times t = kα.
        metrics: (split, metric) → values, e.g. ("test", "loss"); NaN where the file has null.
        error_bar: the limit's error bar in the same layout (None for a finite curve).
        error_bar_parts: part ("sampling", "discretization") → its share in that layout (None for a
            finite curve or a file written before the parts were recorded).
        population: metric → values of the radial limit's exact population metrics (else None).
        diverged: why the run stopped early, or None.
        extra: every other key of the record (seconds; the limit's method, solver, dt, resolution).
    """

    kind: str
    width: int | tuple[int, ...] | None
    seed: int | None
    iteration: np.ndarray
    t: np.ndarray
    metrics: Mapping[tuple[str, str], np.ndarray]
    error_bar: Mapping[tuple[str, str], np.ndarray] | None = None
    error_bar_parts: Mapping[str, Mapping[tuple[str, str], np.ndarray]] | None = None
    population: Mapping[str, np.ndarray] | None = None
    diverged: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, rec: Mapping) -> CurveRecord:
        """The record from its (validated) results.json object."""
        width, pop = rec["width"], rec.get("population")
        iteration = np.asarray(rec["iteration"], np.int64)
        iteration.flags.writeable = False
        return cls(
            kind=rec["kind"],
            width=tuple(width) if isinstance(width, list) else width,
            seed=rec["seed"],
            iteration=iteration,
            t=_series(rec["t"]),
            metrics=_nested(rec["metrics"]),
            error_bar=_nested(rec["error_bar"]) if "error_bar" in rec else None,
            error_bar_parts=(
                MappingProxyType({p: _nested(b) for p, b in rec["error_bar_parts"].items()})
                if "error_bar_parts" in rec
                else None
            ),
            population=None if pop is None else MappingProxyType({m: _series(v) for m, v in pop.items()}),
            diverged=rec.get("diverged"),
            extra=MappingProxyType({k: v for k, v in rec.items() if k not in _TYPED}),
        )

    @property
    def splits(self) -> tuple[str, ...]:
        """The evaluation splits present, train before test."""
        return tuple(s for s in SPLITS if any(k[0] == s for k in self.metrics))

    def metric(self, split: str, metric: str) -> np.ndarray:
        """The values of ``metric`` ("loss", "error") on ``split`` ("train", "test")."""
        if (split, metric) not in self.metrics:
            raise KeyError(f"{self.kind} curve has no {split} {metric}; it has {sorted(self.metrics)}")
        return self.metrics[(split, metric)]

    @property
    def label(self) -> str:
        """The legend entry: ``label`` if the record gives one, else "limit" or "n = <width>"."""
        if "label" in self.extra:
            return str(self.extra["label"])
        return "limit" if self.kind == "limit" else f"n = {width_text(self.width)}"


def width_text(width) -> str:
    return str(list(width)) if isinstance(width, tuple) else str(width)


@dataclasses.dataclass(frozen=True, eq=False)
class Results:
    """A results.json as typed records (``mf.load_results``).

    Fields:
        spec, spec_file, preset, variant, seed, dtype: what was run (the spec's name, its file, the
            preset and variant of that file, the base seed, the float type; None where not recorded).
        config: {"spec": the spec's description, "run": the preset after overrides}.
        versions: package versions. wall_seconds: the command's wall time (None if unfinished).
        curves: every curve, in file order. schema_version: the file's (0: written before the key).
        source: the file it came from (or "results" for a dict).
    """

    spec: str
    spec_file: str | None
    preset: str | None
    variant: str | None
    seed: int
    dtype: str | None
    config: Mapping[str, Any]
    versions: Mapping[str, str]
    wall_seconds: float | None
    curves: tuple[CurveRecord, ...]
    schema_version: int = SCHEMA_VERSION
    source: str = "results"

    @classmethod
    def from_dict(cls, data: Any, source: str = "results") -> Results:
        """Validate a parsed results.json (or the dict the writers build) and type it."""
        if isinstance(data, Results):
            return data
        if isinstance(data, dict):  # the writers' dict: JSON's own types, as the file would hold them
            try:
                data = json.loads(json.dumps(data, allow_nan=False))
            except (TypeError, ValueError) as err:
                raise ValueError(f"{source}: not representable as results.json: {err}") from None
        version = validate_results(data, source)
        return cls(
            spec=data["spec"],
            spec_file=data["spec_file"],
            preset=data["preset"],
            variant=data.get("variant"),
            seed=data["seed"],
            dtype=data.get("dtype"),
            config=MappingProxyType(data["config"]),
            versions=MappingProxyType(data["versions"]),
            wall_seconds=data.get("wall_seconds"),
            curves=tuple(CurveRecord.from_json(c) for c in data["curves"]),
            schema_version=version,
            source=source,
        )

    def finite(self, width: int | tuple[int, ...] | None = None) -> tuple[CurveRecord, ...]:
        """The finite-n curves (of one ``width`` if given), in file order."""
        want = tuple(width) if isinstance(width, (list, tuple)) else width
        return tuple(c for c in self.curves if c.kind == "finite" and (width is None or c.width == want))

    def limit(self) -> CurveRecord | None:
        """The limit curve, or None when the run has none."""
        limits = [c for c in self.curves if c.kind == "limit"]
        if len(limits) > 1:
            raise ValueError(f"{self.source}: {len(limits)} limit curves; pick one from Results.curves")
        return limits[0] if limits else None

    def widths(self) -> tuple[int | tuple[int, ...], ...]:
        """The distinct widths of the finite curves, in the order they were trained."""
        return tuple(dict.fromkeys(c.width for c in self.finite()))

    @property
    def splits(self) -> tuple[str, ...]:
        """The evaluation splits any curve has, train before test."""
        have = {s for c in self.curves for s in c.splits}
        return tuple(s for s in SPLITS if s in have)


def load_results(path: str | Path) -> Results:
    """Read ``path`` (a results.json, or the folder holding one) as validated, typed ``Results``.

    Raises a ValueError naming the file and the first problem; a file without ``schema_version``
    (written before the schema) loads as version 0 with a ``UserWarning``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from None
    return Results.from_dict(data, source=str(path))
