"""Named checks with residuals, and the report ``verify`` returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One verification: what was compared, the largest residual, the tolerance, pass/fail.

    For symbolic checks the residual is 0 when SymPy reduced every difference to 0; otherwise it
    is the largest |difference| at a random numeric point (so a failure says how wrong, not just
    that SymPy gave up), and ``detail`` names the first offending quantity.
    """

    name: str
    residual: float
    tol: float
    passed: bool
    detail: str = ""
    seconds: float = 0.0
    skipped: bool = False  # not applicable to this spec; ``detail`` says why

    def __str__(self) -> str:
        mark = "SKIP" if self.skipped else "PASS" if self.passed else "FAIL"
        line = f"[{mark}] {self.name:<44} residual {self.residual:.2e} (tol {self.tol:.0e})  {self.seconds:5.1f}s"
        return f"{line}\n       {self.detail}" if self.detail else line


@dataclass(frozen=True)
class Report:
    """The checks of one ``verify`` run, in order."""

    spec_name: str
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def __getitem__(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; have {[c.name for c in self.checks]}")

    def __str__(self) -> str:
        head = f"mfspec verify {self.spec_name}: {'all passed' if self.passed else 'FAILED'}"
        total = sum(c.seconds for c in self.checks)
        return "\n".join([head, *map(str, self.checks), f"({len(self.checks)} checks, {total:.1f}s)"])

    def raise_if_failed(self) -> None:
        if not self.passed:
            bad = [c.name for c in self.checks if not c.passed]
            raise AssertionError(f"verification failed for {self.spec_name}: {bad}\n{self}")
