"""Loading spec files: a Python file that defines ``spec`` (an ``mf.Spec``) and optionally
``presets`` (a dict of name → ``mf.Run``)."""

from __future__ import annotations

import dataclasses
import runpy
from pathlib import Path

from mfspec._spec import Run, Spec

DEFAULT_SPEC = "isotropic_gaussians"
_PACKAGE = Path(__file__).resolve().parent


def builtin_spec_dirs() -> list[Path]:
    """Where the bundled spec files live: inside the wheel, or the repo's ``spec/`` folder."""
    return [p for p in (_PACKAGE / "spec", _PACKAGE.parent / "spec") if p.is_dir()]


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
    known = sorted(p.stem for d in builtin_spec_dirs() for p in d.glob("*.py") if not p.name.startswith("_"))
    raise FileNotFoundError(f"spec file {name!r} not found: give a path or one of the bundled specs {known}")


@dataclasses.dataclass
class SpecFile:
    path: Path
    spec: Spec
    presets: dict[str, Run]

    def preset(self, name: str) -> Run:
        if name in self.presets:
            return self.presets[name]
        if name == "default":
            return Run()
        raise ValueError(f"preset {name!r} is not defined in {self.path.name}; it has {sorted(self.presets)}")


def load_spec_file(name_or_path: str | None = None) -> SpecFile:
    """Execute a spec file and return its spec and presets, checking both before any compute."""
    path = resolve_spec_path(name_or_path)
    namespace = runpy.run_path(str(path))
    spec = namespace.get("spec")
    if spec is None:
        raise ValueError(f"spec file {path} defines no variable 'spec' (expected an mf.Spec)")
    if not isinstance(spec, Spec):
        raise TypeError(f"spec file {path}: 'spec' must be an mf.Spec, got {type(spec).__name__}")
    presets = namespace.get("presets", {})
    if not isinstance(presets, dict) or not all(isinstance(v, Run) for v in presets.values()):
        raise TypeError(f"spec file {path}: 'presets' must be a dict of name -> mf.Run, got {presets!r}")
    return SpecFile(path=path, spec=spec, presets=dict(presets))
