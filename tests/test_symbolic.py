"""The symbolic system: E2, JAX-vs-SymPy and MF-scaling checks, their fault detection, and the
printed equations (docs/formal_system.md sec. 1, 2, 4)."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import shutil
import subprocess
import types

import jax
import numpy as np
import pytest
import sympy as sp
from helpers import catalogue

import mfspec as mf
from mfspec.checks import verify
from mfspec.symbolic import (
    _empirical,
    check_e2,
    check_jax,
    check_mf_scaling,
    equations_text,
    mf_scales,
    symbolic_system,
)
from mfspec.symbolic._smooth import Smoother

ROOT = pathlib.Path(__file__).resolve().parents[1]
CATALOGUE = catalogue()


def _load_default_spec():
    loader = importlib.util.spec_from_file_location(
        "isotropic_gaussians", ROOT / "spec" / "isotropic_gaussians.py"
    )
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module.spec


DEFAULT = _load_default_spec()


def tanh_spec(L=3, k=1, loss=mf.loss.squared, output_bias=True):
    x = np.random.default_rng(0).normal(size=(8, 2))
    y = np.eye(k)[np.arange(8) % k] if k > 1 else np.sign(x[:, :1])
    return mf.Spec(
        name=f"tanh{L}",
        input_dim=2,
        hidden=(L - 1) * [mf.layer(mf.act.tanh)],
        head=mf.head(mf.act.tanh, outputs=k),
        loss=loss,
        init=mf.init.usual(),
        data=mf.data.ArrayData(x, y),
        lr=mf.lr.constant(1e-2),
        output_bias=output_bias,
    )


def drop_kernel_factor(kind, group, ell, widths):
    """A fault: W_ℓ (ℓ ≥ 2) scaled by n_ℓ only (the n_{ℓ-1} of Sec. 3.1 forgotten)."""
    if group == "w" and ell >= 2:
        return sp.sympify(widths[ell - 1])
    return mf_scales(kind, group, ell, widths)


def test_verify_default_spec_passes():
    report = verify(DEFAULT)
    print(report)
    assert report.passed, str(report)
    names = [c.name for c in report.checks]
    assert any(n.startswith("E2 symbolic L=2") for n in names)
    assert any(n.startswith("E2 symbolic L=3") for n in names)
    assert any(n.startswith("JAX vs SymPy L=4") for n in names)  # the spec's own depth
    assert any(n.startswith("MF scaling L=4") for n in names)
    assert any(n.startswith("E1 JAX formal system L=4") for n in names)  # what the solver integrates
    eulerian = report["Eulerian G_l, D_2 f variant A"]
    assert eulerian.skipped and "kink" in eulerian.detail  # ReLU: said why, not run
    for c in report.checks:
        assert c.skipped or c.residual <= c.tol


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_symbolic_identities_on_the_catalogue(name):
    """E2 (at L = min(L, 3), every layer kind of the spec in the instance), the generated JAX code
    against SymPy and MF scaling (both at the spec's own L) on every architecture of the test
    catalogue. A kind without symbolic rules (a convolution) says why, for each of the three."""
    spec = CATALOGUE[name]
    L = spec.num_layers
    checks = [
        lambda: check_e2(spec, (2,) * min(L, 3), 1),
        lambda: check_jax(spec, (2,) * L, 2),
        lambda: check_mf_scaling(spec),
    ]
    for check in checks:
        if any(isinstance(kind, mf.Conv) for kind in spec.layers):
            with pytest.raises(mf.layers.NoSymbolicRule, match="pre-activation is a feature map"):
                check()
            continue
        c = check()
        assert c.passed, str(c)


def test_e2_catches_dropped_scaling_factor():
    check = check_e2(DEFAULT, (3, 2), 2, scales=drop_kernel_factor)
    assert not check.passed
    assert "W_2" in check.detail or "W_3" in check.detail
    assert check.residual > 1e-3  # the numeric residual measures how wrong, not just "undecided"


def test_e2_catches_sign_flip_in_rates():
    def flipped(inst):
        return _empirical._tree_map(lambda v: -v, _empirical.rates(inst))

    faulty = types.SimpleNamespace(yhat=_empirical.yhat, deltas=_empirical.deltas, rates=flipped)
    check = check_e2(tanh_spec(L=2), (2, 2), 1, formal=faulty)
    assert not check.passed
    assert "-G" in check.detail


def test_e2_catches_transposed_kernel():
    """A formal system whose Δ recursion reads F_ℓ[i, j] for F_ℓ[j, i] (square W_2 keeps shapes)."""

    def deltas(inst, x):
        swapped = (inst.weights[0], *(tuple(zip(*W)) for W in inst.weights[1:]))
        return _empirical.deltas(_empirical.Instance(**{**inst.__dict__, "weights": swapped}), x)

    faulty = types.SimpleNamespace(yhat=_empirical.yhat, deltas=deltas, rates=_empirical.rates)
    assert not check_e2(tanh_spec(L=2), (2, 2), 1, formal=faulty).passed


def test_jax_check_catches_dropped_factor_and_sign():
    def dropped(net, loss, x, y):
        layers, b = mf.scaled_gradients(net, loss, x, y)
        (w2, th2) = layers[1]
        return (layers[0], (w2 / net.widths[0], th2), *layers[2:]), b

    def flipped(net, loss, x, y):
        return jax.tree.map(lambda a: -a, mf.scaled_gradients(net, loss, x, y))

    ok = check_jax(DEFAULT, (3, 2), 2)
    assert ok.passed and ok.residual < 1e-12
    # ReLU: a point where a whole gradient block is 0 could hide a wrong factor; none here.
    assert "(0 exactly 0)" in ok.detail
    bad = check_jax(DEFAULT, (3, 2), 2, scaled_gradients=dropped)
    assert not bad.passed and "W_2" in bad.detail
    assert not check_jax(DEFAULT, (3, 2), 2, scaled_gradients=flipped).passed


def test_mf_scaling_catches_dropped_factor():
    spec = tanh_spec(L=3)
    assert check_mf_scaling(spec).passed
    bad = check_mf_scaling(spec, scales=drop_kernel_factor)
    assert not bad.passed
    assert "W_2" in bad.detail or "W_3" in bad.detail
    assert bad.residual > 1e-3


def test_report_lists_extra_checks_and_raises():
    from mfspec.symbolic import Check

    failing = lambda spec: Check("eulerian D_2 f (injected)", 1.0, 1e-6, False, "wrong variant")  # noqa: E731
    report = verify(tanh_spec(L=2), sizes=[((2, 2), 1)], extra_checks=[failing])
    assert [c.passed for c in report.checks[:-1]] == [True] * (len(report.checks) - 1)
    assert report["eulerian D_2 f (injected)"].residual == 1.0
    assert not report.passed
    with pytest.raises(AssertionError, match="eulerian"):
        report.raise_if_failed()


def test_smoother_numeric_kinks():
    smooth = Smoother()
    a, b = sp.symbols("a b", real=True)
    expr = smooth(sp.Max(a, b) + sp.Abs(a))
    f = sp.lambdify([a, b], [expr, sp.diff(expr, a), sp.diff(expr, b)], modules=[smooth.numeric(), "numpy"])
    assert f(2.0, -1.0) == [4.0, 2.0, 0.0]
    assert f(-2.0, 1.0) == [3.0, -1.0, 1.0]


def test_symbolic_system_sections_and_variants():
    system = symbolic_system(DEFAULT)
    assert system.L == 4
    chain = equations_text(DEFAULT)
    for needle in ("H_4(f; x)", "Δ_W,1(θ, w; x)", "G_f,3(θ, f, θ', g)", "B_1(θ, w; x)", "∇̃_W_2 ŷ[j, i]"):
        assert needle in chain, needle
    # The two D_2 f variants differ exactly in the direction of the derivative.
    assert "D_2 f(θ', g){G_2(θ', g, ·, ·)}" in chain
    assert "D_2 f(θ', g){G_f,2(θ', g, ·, ·)}" in chain
    assert len(system.section("Eulerian G_l, chain-rule")) == len(system.section("Eulerian G_l, as printed"))


def _latex_well_formed(doc: str) -> None:
    depth = 0
    for ch in re.sub(r"\\[{}]", "", doc):  # escaped braces do not count
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0, "closing brace without an opening one"
    assert depth == 0, f"{depth} unclosed braces"
    envs = re.findall(r"\\(begin|end)\{([^}]*)\}", doc)
    stack = []
    for kind, name in envs:
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"\\end{{{name}}} without matching \\begin"
    assert not stack, f"unclosed environments {stack}"
    left, right = len(re.findall(r"\\left[^a-zA-Z]", doc)), len(re.findall(r"\\right[^a-zA-Z]", doc))
    assert left == right


@pytest.mark.parametrize(
    "spec",
    [DEFAULT, tanh_spec(L=1, k=2, loss=mf.loss.cross_entropy, output_bias=False), CATALOGUE["local-s2-last"]],
)
def test_latex_document_is_well_formed(spec, tmp_path):
    doc = equations_text(spec, latex=True)
    assert doc.startswith(r"\documentclass") and doc.rstrip().endswith(r"\end{document}")
    _latex_well_formed(doc)


@pytest.mark.parametrize("spec", [DEFAULT, CATALOGUE["local-s2-last"]], ids=["default", "local"])
def test_latex_document_compiles(spec, tmp_path):
    """A real compile with pdflatex (Debian: texlive-latex-base, texlive-latex-recommended)."""
    if shutil.which("pdflatex") is None:
        pytest.skip(
            "pdflatex is not installed (apt-get install texlive-latex-base texlive-latex-recommended)"
        )
    (tmp_path / "eq.tex").write_text(equations_text(spec, latex=True))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "eq.tex"], cwd=tmp_path,
                         capture_output=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stdout.decode(errors="replace")[-2000:]
    assert (tmp_path / "eq.pdf").stat().st_size > 10_000


def test_well_formedness_check_can_fail():
    with pytest.raises(AssertionError):
        _latex_well_formed(r"\begin{align*} x \end{document}")
    with pytest.raises(AssertionError):
        _latex_well_formed(r"\frac{a}{b")
