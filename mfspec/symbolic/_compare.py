"""Deciding symbolic differences: zero tests, and a numeric residual when a difference survives."""

from __future__ import annotations

import random
from collections.abc import Iterator

import sympy as sp
from sympy.core.function import AppliedUndef


def leaves(tree, label: str = "") -> Iterator[tuple[str, sp.Expr]]:
    """(label, expr) for every scalar of a nested dict/tuple tree, in a fixed order."""
    if isinstance(tree, dict):
        for key, v in tree.items():
            yield from leaves(v, f"{label}{key}")
    elif isinstance(tree, (tuple, list)):
        for i, v in enumerate(tree):
            yield from leaves(v, f"{label}[{i}]")
    else:
        yield label, sp.sympify(tree)


def vanishes(expr: sp.Expr) -> bool:
    """True only if SymPy proves ``expr == 0``.

    Order matters for speed: a shallow expand is cheap and decides polynomials in the σ-atoms
    (nearly every E2 identity); a nonzero value at a random point then proves ``expr != 0``
    without the slow ``simplify``, which is kept for the rest.
    """
    if expr == 0:
        return True
    # Shallow first: function arguments are built the same way on both sides, so only the
    # products and sums outside them need distributing; splitting exp(a + b) (power_exp) or
    # logs would only blow the expression up (cross-entropy's log Σ exp).
    if sp.expand(expr, deep=False, power_exp=False, log=False) == 0:
        return True
    if numeric_value(expr) > 1e-12:
        return False
    if sp.expand(sp.together(expr), power_exp=False, log=False) == 0:
        return True
    return sp.simplify(expr) == 0


def normalize(expr: sp.Expr, syms, memo: dict | None = None) -> sp.Expr:
    """Cancel, bottom-up, every sub-expression that involves one of ``syms``.

    Bottom-up, so that equal arguments written differently (``(ω s + (n−1) ω s)/n`` and ``ω s``)
    become the same atom; much cheaper than ``simplify`` on nested σ's. Subtrees free of ``syms``
    are left as built (they are already in SymPy's canonical form), and repeated subtrees — the
    same h_ℓ occurs in many places — are normalized once.
    """
    syms = tuple(syms)
    memo = {} if memo is None else memo  # pass one dict to share work across expressions

    def visit(e):
        if e.is_Atom or not e.has(*syms):
            return e
        if e not in memo:
            out = e.func(*(visit(a) for a in e.args))
            memo[e] = sp.cancel(out) if isinstance(out, (sp.Add, sp.Mul, sp.Pow)) else out
        return memo[e]

    return visit(expr)


def numeric_value(expr: sp.Expr, seed: int = 0) -> float:
    """|expr| at a random point; undefined functions φ(args) become fixed smooth functions."""
    rng = random.Random(seed)

    def concrete(f):
        # A distinct smooth stand-in per undefined function name (deterministic in the name).
        c = 1 + (sum(map(ord, type(f).__name__)) % 7) / 7
        return sp.tanh(c * sum(f.args, sp.S.Zero)) + c

    e = expr.replace(lambda t: isinstance(t, AppliedUndef) or getattr(type(t), "generic", False), concrete)
    vals = {s: sp.Float(rng.uniform(0.5, 1.5) * rng.choice((-1, 1)), 30) for s in e.free_symbols}
    try:
        return float(abs(sp.N(e.xreplace(vals), 30)))
    except (TypeError, ValueError):
        return float("inf")


def compare(pairs) -> tuple[float, str, int]:
    """For (label, lhs, rhs) triples: (residual, first failing label or '', number compared)."""
    worst, first, count = 0.0, "", 0
    for label, lhs, rhs in pairs:
        count += 1
        diff = sp.sympify(lhs) - sp.sympify(rhs)
        if not vanishes(diff):
            worst = max(worst, numeric_value(diff))
            first = first or label
            if worst == 0.0:
                # SymPy could not decide but the point value is 0: still a failure, said so.
                worst = float("nan")
    return worst, first, count
