"""Kinks replaced by generic smooth functions, so that symbolic identities are decided soundly.

ReLU is ``Max(0, z)`` and its derivative ``Heaviside(z)``. SymPy's simplification of expressions
built from Max/Heaviside is unreliable both ways: a true identity may fail to simplify to 0, and
rewrites such as ``Max(0, z)·Heaviside(-z) → 0`` could let a wrong formula pass. Every E2 check
(docs/formal_system.md sec. 4) therefore replaces each kink function ``K(args)`` (Max, Min, Abs, Heaviside, sign,
Piecewise) by an undefined *smooth* function ``φ_K(args)`` whose partial derivatives are again
undefined functions ``∂_i φ_K(args)``.

Why this keeps the check meaningful: both sides of each identity touch σ only through the chain
rule, so they are polynomials in φ_K, ∂_i φ_K evaluated at the same arguments. If their difference
vanishes for a *generic* φ_K it vanishes for every choice of φ_K, in particular for ReLU with
φ' = Heaviside at every point where ReLU is differentiable (Lebesgue-a.e., and a.s. under the
paper's Gaussian init). Smooth primitives (tanh, exp, erf, log, …) are left as they are.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

_KINKS = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.sign, sp.Piecewise)

#: A subclass of ``sp.Function`` (the generic φ's). Annotated as plain ``type``: beartype (which
#: enforces the annotations in tests/test_typing.py) refuses ``PhiClass``, whose metaclass
#: prints the class differently inside a union.
PhiClass = type


def _make_phi(name: str, nargs: int) -> PhiClass:
    """A Function class φ with ∂φ/∂arg_i = Dφ_i(args) (its own undefined function)."""
    partials = [sp.Function(f"D{i + 1}{name}") for i in range(nargs)]

    def fdiff(self, argindex=1):
        return partials[argindex - 1](*self.args)

    # ``generic`` lets numeric residuals recognise φ (it is not an AppliedUndef).
    return type(name, (sp.Function,), {"nargs": nargs, "fdiff": fdiff, "generic": True})


class Smoother:
    """Replace kinks by generic smooth functions, consistently across several expressions.

    One instance keeps one φ per (kink kind, arity), so the two sides of an identity share them.
    """

    def __init__(self) -> None:
        self._phis: dict[tuple[str, int], PhiClass] = {}

    def _phi(self, kind: str, nargs: int) -> PhiClass:
        key = (kind, nargs)
        if key not in self._phis:
            self._phis[key] = _make_phi(f"phi{kind}{len(self._phis)}", nargs)
        return self._phis[key]

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        def visit(e):
            if not e.args:
                return e
            args = tuple(visit(a) for a in e.args)
            if isinstance(e, _KINKS):
                if isinstance(e, sp.Piecewise):
                    # Flatten (value, condition) pairs; conditions are relational, kept as symbols
                    # of their two sides so that the replacement stays a function of plain exprs.
                    flat = []
                    for val, cond in args:
                        flat.append(val)
                        flat.extend(getattr(cond, "args", ()))
                    args = tuple(flat)
                return self._phi(type(e).__name__, len(args))(*args)
            return e.func(*args)

        return visit(sp.sympify(expr))

    def numeric(self) -> dict[str, object]:
        """NumPy values of every φ and ∂_i φ, for lambdify: the kink functions and their a.e.
        derivatives (exact away from the kinks, where random points lie with probability 1)."""
        table = {}
        for (kind, nargs), phi in self._phis.items():
            if kind not in _NUMERIC:
                raise NotImplementedError(f"no numeric value for a generic {kind}")
            value, partial = _NUMERIC[kind]
            table[phi.__name__] = value
            for i in range(nargs):
                # Bind both i and this kind's partial now (a bare closure would see the last kind's).
                table[f"D{i + 1}{phi.__name__}"] = (lambda i, p: lambda *a: p(i, *a))(i, partial)
        return table

    @property
    def used(self) -> bool:
        """Whether any kink was replaced."""
        return bool(self._phis)


def _is_extreme(pick):
    def partial(i, *args):
        # ∂ max(a_1..a_m)/∂a_i = 1 where a_i is the max (ties have measure zero).
        a = np.asarray(args, dtype=float)
        return float(np.argmax(pick * a) == i)

    return partial


_NUMERIC = {
    "Max": (lambda *a: float(np.max(a)), _is_extreme(1.0)),
    "Min": (lambda *a: float(np.min(a)), _is_extreme(-1.0)),
    "Abs": (lambda a: abs(a), lambda i, a: float(np.sign(a))),
    "Heaviside": (lambda a, h0=0.5: float(np.heaviside(a, h0)), lambda i, *a: 0.0),
    "sign": (lambda a: float(np.sign(a)), lambda i, a: 0.0),
}
