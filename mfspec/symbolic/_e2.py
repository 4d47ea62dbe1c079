"""E2 (docs/formal_system.md sec. 4): the formal system on the empirical measure equals the finite network, symbolically.

At tiny widths with symbolic weights, for the spec's own σ's and loss (kinks made generic, see
``_smooth``), SymPy must reduce to 0 each difference

    ŷ_n(x; W) − ŷ(x; ρ_emp)                                (eq. 38 vs eq. 39 forward)
    ∇̃_P ŷ_o  − Δ_{•,o}   for every parameter P, output o    (Sec. 3.1 vs Sec. 3.2 backward)
    ∇̃_P (mean loss) + G_•                                   (eq. 13-15 vs the rates, App. B.1)

where ∇̃ is sp.diff times the MF factor of Sec. 3.1 and the right sides come from the Δ recursion.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sympy as sp

from mfspec.symbolic import _empirical
from mfspec.symbolic._compare import compare, leaves
from mfspec.symbolic._finite import Scales, batch_loss, forward, mf_scales, scaled_gradient
from mfspec.symbolic._instance import instance
from mfspec.symbolic._report import Check
from mfspec.symbolic._smooth import Smoother


def check_e2(spec, widths: Sequence[int], d: int, *, scales: Scales = mf_scales, formal=_empirical) -> Check:
    """E2 at widths n_1..n_L, input dim d, for one symbolic sample (x, y).

    Arguments:
        scales: the MF factors the finite side applies (inject a wrong one to see this fail).
        formal: the formal-system implementation under test; any object with ``yhat(inst, x)``,
            ``deltas(inst, x)`` and ``rates(inst)`` like ``mfspec.symbolic._empirical``.
    """
    t0 = time.perf_counter()
    smooth = Smoother()
    inst = instance(spec, widths, d, batch=1).map(smooth)
    x = inst.xs[0]
    y_fin, _ = forward(inst, x)
    pairs = [(f"yhat[{o}]", a, b) for o, (a, b) in enumerate(zip(y_fin, formal.yhat(inst, x)))]
    dl = formal.deltas(inst, x)
    for o in range(inst.k):
        fin = scaled_gradient(inst, y_fin[o], scales=scales)
        pairs += [
            (f"grad~ yhat[{o}] vs Delta {lab}", a, b[o])
            for lab, a, b in _aligned(leaves(fin), _leaf_tuples(dl))
        ]
    fin_loss = scaled_gradient(inst, batch_loss(inst), scales=scales)
    pairs += [
        (f"grad~ loss vs -G {lab}", a, -b)
        for lab, a, b in _aligned(leaves(fin_loss), leaves(formal.rates(inst)))
    ]
    residual, first, count = compare(pairs)
    passed = first == "" and count > 0
    where = f"L={inst.L} n={inst.widths} d={d}"
    kinks = "kinks as generic φ" if smooth.used else "no kinks"
    detail = f"{count} identities, {kinks}" + ("" if passed else f"; first failure: {first}")
    return Check(f"E2 symbolic {where}", residual, 0.0, passed, detail, time.perf_counter() - t0)


def _aligned(left, right):
    """Zip two labelled leaf streams, refusing silently mismatched structures."""
    left, right = list(left), list(right)
    if [a for a, _ in left] != [b for b, _ in right]:
        raise ValueError(f"structure mismatch: {[a for a, _ in left]} vs {[b for b, _ in right]}")
    return [(lab, a, b) for (lab, a), (_, b) in zip(left, right)]


def _leaf_tuples(tree, label=""):
    """Like ``leaves`` but stops at k-tuples (the Δ's output index)."""
    if isinstance(tree, dict):
        for key, v in tree.items():
            yield from _leaf_tuples(v, f"{label}{key}")
    elif isinstance(tree, tuple) and tree and all(isinstance(v, sp.Basic) for v in tree):
        yield label, tree
    else:
        for i, v in enumerate(tree):
            yield from _leaf_tuples(v, f"{label}[{i}]")
