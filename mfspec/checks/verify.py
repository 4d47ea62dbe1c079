"""``verify(spec)`` (``mfspec verify``): the symbolic and numeric identities of a spec, one report.

Checks (docs/formal_system.md sec. 4-5), all on the user's own spec and every layer kind in it:

- E1 on the JAX formal system the solver integrates (``mfspec.checks.e1``, float64);
- E2 at L = 2 and 3 (symbolic weights, tiny widths; ``mfspec.symbolic.check_e2``);
- the generated JAX code against SymPy at the same sizes and at the spec's own L (at most
  ``MAX_SYMBOLIC_DEPTH``: a deeper spec is checked on an instance of that depth built from its kinds);
- MF scaling at the same depth with symbolic widths;
- the Eulerian D_2 f check (``mfspec.checks.eulerian``) when the spec's σ are smooth (else
  reported as skipped, with the reason).

A check that a layer kind has no rule for (a convolution has no tiny symbolic network:
``NoSymbolicRule``) is reported as skipped, with the kind's reason.

Each check takes the implementation under test as an argument, so a test can inject a fault (a
dropped n factor, a flipped sign) and watch the check fail; further checks plug in through
``extra_checks``. ``eulerian="B"`` injects the other D_2 f variant as a fault, ``eulerian=None``
leaves the check out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from mfspec.checks.e1 import check_e1
from mfspec.checks.eulerian import check_eulerian
from mfspec.layers.base import NoSymbolicRule
from mfspec.symbolic import _empirical
from mfspec.symbolic._e2 import check_e2
from mfspec.symbolic._finite import Scales, mf_scales
from mfspec.symbolic._numeric import check_jax
from mfspec.symbolic._report import Check, Report
from mfspec.symbolic._scaling import check_mf_scaling

#: (widths, d) of the tiny instances of E2: L = 2 and L = 3 (n = 2 or 3, d = 1 or 2).
E2_SIZES: tuple[tuple[tuple[int, ...], int], ...] = (((3, 2), 2), ((2, 2, 2), 1))
_L1_SIZES = (((3,), 2), ((2,), 1))
#: The deepest instance of the checks "at the spec's own L". SymPy's expression trees grow
#: exponentially with depth (a residual layer reads h_{ℓ−1} twice: MF scaling takes 4 s at L = 4,
#: 21 s at L = 5, 123 s at L = 6 on one core), so a deeper spec is checked on an L = 5 instance of
#: its own kinds (``layers_for``: first layer, its non-dense middle kinds first, last layer).
MAX_SYMBOLIC_DEPTH = 5


def sizes_for(spec) -> tuple[tuple[tuple[int, ...], int], ...]:
    """The E2 sizes for ``spec`` (L = 1 specs have no hidden σ to build L = 2, 3 from)."""
    return _L1_SIZES if spec.num_layers == 1 else E2_SIZES


def verify(
    spec,
    *,
    sizes: Sequence[tuple[Sequence[int], int]] | None = None,
    scaled_gradients: Callable | None = None,
    scales: Scales = mf_scales,
    formal=_empirical,
    extra_checks: Sequence[Callable[[object], Check]] = (),
    seed: int = 0,
    eulerian: str | None = "A",
) -> Report:
    """Run every check on ``spec`` and return a ``Report`` (it does not raise; see ``raise_if_failed``).

    Arguments:
        spec: an ``mfspec.Spec``.
        sizes: (widths, d) pairs for the E2 and JAX checks (default ``sizes_for(spec)``).
        scaled_gradients: the JAX implementation under test (default ``mfspec.scaled_gradients``).
        scales: MF factors the symbolic finite network uses (default Sec. 3.1's).
        formal: the symbolic formal system on the empirical measure (default ``_empirical``).
        extra_checks: callables ``spec -> Check`` appended to the report.
        seed: the random point of the numeric checks.
        eulerian: the D_2 f variant of the Eulerian G_ℓ under test ("A": App. A, the default;
            "B": as printed in Sec. 3.2, a fault) or None to leave that check out.
    """
    sizes = tuple((tuple(w), d) for w, d in (sizes or sizes_for(spec)))
    checks = [check_e1(spec, seed=seed)]
    checks += [_unless_no_rule(f"E2 symbolic L={len(w)} d={d}", lambda w=w, d=d: check_e2(spec, w, d, scales=scales,
               formal=formal)) for w, d in sizes]  # fmt: skip
    own_L = min(spec.num_layers, MAX_SYMBOLIC_DEPTH)
    jax_sizes = list(sizes)
    if own_L not in {len(w) for w, _ in sizes}:
        jax_sizes.append(((2,) * own_L, 2))
    checks += [_unless_no_rule(f"JAX vs SymPy L={len(w)} d={d}", lambda w=w, d=d: check_jax(
               spec, w, d, scaled_gradients=scaled_gradients, seed=seed)) for w, d in jax_sizes]  # fmt: skip
    checks.append(
        _unless_no_rule(
            "MF scaling (symbolic widths)", lambda: check_mf_scaling(spec, L=own_L, scales=scales)
        )
    )
    if own_L < spec.num_layers:
        note = f"; an L={own_L} instance of the spec's kinds (its L={spec.num_layers} > MAX_SYMBOLIC_DEPTH)"
        checks = [_noted(c, note, own_L) for c in checks]
    if eulerian is not None:
        checks.append(check_eulerian(spec, variant=eulerian))
    checks += [extra(spec) for extra in extra_checks]
    return Report(spec.name, tuple(checks))


def _noted(check: Check, note: str, L: int) -> Check:
    """``check`` with ``note`` appended to its detail when it ran at the capped depth L."""
    return dataclasses.replace(check, detail=check.detail + note) if f"L={L} " in check.name else check


def _unless_no_rule(name: str, run: Callable[[], Check]) -> Check:
    """``run()``, or a skipped ``Check`` saying why when a layer kind has no symbolic rule for it."""
    try:
        return run()
    except NoSymbolicRule as why:
        return Check(name, float("nan"), 0.0, True, f"not applicable: {why}", 0.0, skipped=True)
