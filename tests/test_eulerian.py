"""The numerical Eulerian check (docs/formal_system.md sec. 5): the finite difference of the Eulerian field
f_ℓ^t at a fixed argument, built from backward characteristics, against G_ℓ by autodiff.

App. A's D_2 f{G_{ℓ-1}} (variant A) must leave only the O(δ²) finite-difference error; the printed
Sec. 3.2 D_2 f{G_{f,ℓ-1}} (variant B) must miss at ℓ = 3 by a margin that does not shrink with δ."""

import math

import pytest

import mfspec as mf
from mfspec.checks import verify
from mfspec.checks.eulerian import builtin_results, check_eulerian
from tests.helpers import tiny_isotropic_spec


@pytest.fixture(scope="module")
def results():
    return {r.ell: r for r in builtin_results()}


@pytest.mark.parametrize("ell", [2, 3])
def test_variant_a_is_a_pure_fd_error(results, ell):
    r = results[ell]
    print(r)
    assert r.newton < 1e-12  # the characteristic meets the initial kernel
    res = r.residual["A"]
    assert res[-1] < 1e-3 * r.scale
    # δ halves → residual / 4: the residual is the central difference's δ² error, nothing else.
    for order in r.order("A"):
        assert abs(order - 2) < 0.2, r.order("A")


def test_variant_b_misses_at_ell_3(results):
    r = results[3]
    a, b = r.residual["A"], r.residual["B"]
    # B's residual does not shrink with δ (a modelling error) and is far above A's at the finest δ.
    assert b[-1] > 0.5 * b[0]
    assert b[-1] > 20 * a[-1]
    assert b[-1] > 5e-3 * r.scale
    assert all(o < 0.5 for o in r.order("B"))


def test_variants_agree_at_ell_2(results):
    r = results[2]
    assert r.residual["A"] == r.residual["B"]  # G_2 has no D_2 f term: both forms are the same


def test_check_passes_for_a_and_fails_for_b():
    good, bad = check_eulerian(), check_eulerian(variant="B")
    print(good, bad, sep="\n")
    assert good.passed and good.residual <= good.tol
    assert not bad.passed and bad.residual > 5 * bad.tol
    assert "variant B" in good.detail and math.isfinite(bad.residual)
    with pytest.raises(ValueError, match="variant"):
        check_eulerian(variant="C")


def test_verify_runs_eulerian_on_the_users_spec_and_catches_the_other_variant():
    """On a smooth L = 3 spec of the user's, verify runs the check on that spec; variant B fails."""
    spec = tiny_isotropic_spec(depth=3, dim=2, tau3=0.5, phi=mf.act.tanh, name="smooth3")
    sizes = [((2, 2), 1)]
    ok = verify(spec, sizes=sizes)
    check = ok["Eulerian G_l, D_2 f variant A"]
    assert check.passed and not check.skipped and ok.passed, str(ok)
    assert "on smooth3" in check.detail
    bad = verify(spec, sizes=sizes, eulerian="B")
    assert not bad.passed
    assert not bad["Eulerian G_l, D_2 f variant B"].passed
    assert [c.passed for c in bad.checks if not c.name.startswith("Eulerian")] == [True] * (
        len(bad.checks) - 1
    )
    left_out = verify(spec, sizes=sizes, eulerian=None)
    assert not any(c.name.startswith("Eulerian") for c in left_out.checks)


def test_verify_says_why_the_eulerian_check_cannot_run():
    """A kinked σ (ReLU) or L < 3: the check is reported as skipped, with the reason, and passes."""
    for spec, reason in (
        (tiny_isotropic_spec(depth=3, dim=2), "kink"),
        (tiny_isotropic_spec(depth=2, dim=2, phi=mf.act.tanh), "L = 2 < 3"),
    ):
        check = check_eulerian(spec)
        assert check.skipped and check.passed and reason in check.detail, check
        assert "[SKIP]" in str(check)
