"""Loading spec files: a Python file that defines ``spec`` (an ``mf.Spec``; ``mf.conv.ConvSpec``
builds one for a CNN) and optionally ``presets`` (a dict of name → ``mf.Run``) and ``variants`` (a
dict of name → ``mf.Spec``, e.g. the same experiment at other depths or another τ2)."""

from __future__ import annotations

import dataclasses
import runpy
import sys
from pathlib import Path

from mfspec.declaration.spec import Spec
from mfspec.run.preset import Run

DEFAULT_SPEC = "isotropic_gaussians"
_PACKAGE = Path(__file__).resolve().parents[1]  # the mfspec package


def builtin_spec_dirs() -> list[Path]:
    """Where the bundled spec files live: ``mfspec/spec`` inside an installed wheel (pyproject.toml
    force-includes the repo's ``spec/`` there), else the repo's ``spec/`` in a source checkout.

    The repo's folder counts only next to the project's pyproject.toml, so an installed package
    never picks up an unrelated ``site-packages/spec``.
    """
    if (_PACKAGE / "spec").is_dir():
        return [_PACKAGE / "spec"]
    root = _PACKAGE.parent
    return [root / "spec"] if (root / "spec").is_dir() and (root / "pyproject.toml").is_file() else []


def bundled_specs() -> list[str]:
    """Names of the bundled spec files (files starting with "_" are shared helpers)."""
    return sorted({p.stem for d in builtin_spec_dirs() for p in d.glob("*.py") if not p.name.startswith("_")})


def resolve_spec_path(name_or_path: str | None) -> Path:
    """A spec file path from a path or the name of a bundled spec (default: the Fig. 5 net)."""
    name = name_or_path or DEFAULT_SPEC
    path = Path(name)
    if path.is_file():
        return path
    for folder in builtin_spec_dirs():
        cand = folder / (name if name.endswith(".py") else f"{name}.py")
        if cand.is_file():
            return cand
    known = bundled_specs()
    raise FileNotFoundError(f"spec file {name!r} not found: give a path or one of the bundled specs {known}")


@dataclasses.dataclass
class SpecFile:
    path: Path
    spec: Spec
    presets: dict[str, Run]
    variants: dict[str, Spec] = dataclasses.field(default_factory=dict)

    def variant(self, name: str | None) -> Spec:
        """The main spec (``None``) or a named variant."""
        if name is None:
            return self.spec
        if name not in self.variants:
            raise ValueError(
                f"variant {name!r} is not defined in {self.path.name}; it has {sorted(self.variants)}"
            )
        return self.variants[name]

    def preset(self, name: str) -> Run:
        if name in self.presets:
            return self.presets[name]
        if name == "default":
            return Run()
        raise ValueError(f"preset {name!r} is not defined in {self.path.name}; it has {sorted(self.presets)}")


def load_spec_file(name_or_path: str | None = None) -> SpecFile:
    """Execute a spec file and return its spec and presets, checking both before any compute."""
    path = resolve_spec_path(name_or_path)
    # The spec's folder is importable while it runs, so spec files can share a builder module.
    sys.path.insert(0, str(path.resolve().parent))
    try:
        namespace = runpy.run_path(str(path))
    finally:
        sys.path.remove(str(path.resolve().parent))
    spec = namespace.get("spec")
    if spec is None:
        raise ValueError(f"spec file {path} defines no variable 'spec' (expected an mf.Spec)")
    if not isinstance(spec, Spec):
        raise TypeError(f"spec file {path}: 'spec' must be an mf.Spec, got {type(spec).__name__}")
    presets = namespace.get("presets", {})
    if not isinstance(presets, dict) or not all(isinstance(v, Run) for v in presets.values()):
        raise TypeError(f"spec file {path}: 'presets' must be a dict of name -> mf.Run, got {presets!r}")
    variants = namespace.get("variants", {})
    if not isinstance(variants, dict) or not all(isinstance(v, Spec) for v in variants.values()):
        raise TypeError(f"spec file {path}: 'variants' must be a dict of name -> mf.Spec, got {variants!r}")
    return SpecFile(path=path, spec=spec, presets=dict(presets), variants=dict(variants))
