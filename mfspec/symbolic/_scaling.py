"""MF scaling (Sec. 3.1): with symbolic widths, every scaled quantity is width-free at symmetric states.

The network has symbolic widths n_1..n_L. In each layer one *marked* neuron carries its own
symbols (θ*_ℓ, its W_1 row w*, the entry a_ℓ = W_ℓ[*, *]); the other n_ℓ − 1 neurons are clones
sharing one set of symbols (θ̄_ℓ, w̄, and W_ℓ entries b_ℓ = W_ℓ[*, ·], c_ℓ = W_ℓ[·, *], ω_ℓ = W_ℓ[·, ·]).
A sum over layer ℓ is then exact with n_ℓ as a symbol: marked term + (n_ℓ − 1) × clone term.
Derivatives are taken with respect to the marked neuron's own symbols, which occur exactly where
a single neuron's parameters occur in eq. 38, so they are single-entry partial derivatives.

What is checked: after setting the marked neuron equal to the clones (θ* = θ̄, w* = w̄,
a = b = c = ω), each of h_ℓ, ŷ, n_ℓ ∂ŷ/∂θ*_ℓ, n_1 ∂ŷ/∂w*, n_ℓ n_{ℓ-1} ∂ŷ/∂a_ℓ and ∂ŷ/∂b_out must
be free of every n_ℓ (SymPy proves ∂/∂n_ℓ = 0). This is the exact form of "every pre-activation,
the output and every scaled update stay O(1)": on a network of identical neurons — the state of
a collapsed layer, and the n-independent limit of any replicated network — the scaled quantities
do not depend on the widths at all. A missing or extra factor n_ℓ leaves a factor n_ℓ^{±1}.
"""

from __future__ import annotations

import time

import sympy as sp

from mfspec.layers.base import Upstream
from mfspec.symbolic._compare import normalize, numeric_value
from mfspec.symbolic._finite import Scales, mf_scales
from mfspec.symbolic._instance import layers_for
from mfspec.symbolic._report import Check
from mfspec.symbolic._smooth import Smoother


def check_mf_scaling(spec, *, L: int | None = None, d: int = 2, scales: Scales = mf_scales) -> Check:
    """Width-independence of the scaled quantities at symmetric states (module docstring)."""
    t0 = time.perf_counter()
    L = L or spec.num_layers
    smooth = Smoother()
    kinds = tuple(
        kind.map_exprs(smooth) for kind in (spec.layers if L == spec.num_layers else layers_for(spec, L))
    )
    n = []  # symbolic widths; a kind that keeps its width (a residual layer) reuses the one below
    for ell, (kind, sym) in enumerate(zip(kinds, sp.symbols(f"n1:{L + 1}", positive=True)), start=1):
        n.append(kind.tied_width(sym, n[-1] if ell > 1 else None))
    n = tuple(n)
    R = lambda name: sp.Symbol(name, real=True)  # noqa: E731
    x = [R(f"x_{c}") for c in range(d)]
    th_m = [[R(f"{s.name}m{ell}") for s in kind.act.theta] for ell, kind in enumerate(kinds, 1)]
    th_c = [[R(f"{s.name}c{ell}") for s in kind.act.theta] for ell, kind in enumerate(kinds, 1)]

    def sig(ell, th, h):
        act = kinds[ell - 1].act
        rep = dict(zip(act.theta, th)) | {act.h: h}
        return [e.xreplace(rep) for e in act.exprs]

    # The fold of eq. 38 over marked/clone pairs: each kind builds h*, h· from the previous layer's
    # marked and clone outputs and pre-activations (``LayerKind.sym_clones``) and names its marked
    # weight symbols.
    quantities, marked, symmetric = [], [], {}
    marked_in, clone_in = Upstream(x), Upstream(x)
    for ell, kind in enumerate(kinds, start=1):
        hm, hc, own, subs = kind.sym_clones(ell, marked_in, clone_in, n[ell - 2] if ell > 1 else None, R)
        quantities += [(f"h_{ell}*", hm), (f"h_{ell}.", hc)]
        marked.append(own)
        symmetric |= subs | dict(zip(th_m[ell - 1], th_c[ell - 1]))
        if ell < L:
            marked_in = Upstream(sig(ell, th_m[ell - 1], hm)[0], None, hm)
            clone_in = Upstream(sig(ell, th_c[ell - 1], hc)[0], None, hc)
    bout = [R(f"bout_{o}") for o in range(kinds[-1].k)]
    om_L, oc_L = sig(L, th_m[-1], hm), sig(L, th_c[-1], hc)
    yhat = [(p + (n[-1] - 1) * q) / n[-1] + b for p, q, b in zip(om_L, oc_L, bout)]
    for o, y in enumerate(yhat):
        quantities.append((f"yhat[{o}]", y))
        for ell, kind in enumerate(kinds, start=1):
            factor = scales(kind, "w", ell, n)
            quantities += [
                (f"({factor}) dyhat[{o}]/d{label}", factor * sp.diff(y, s)) for label, s in marked[ell - 1]
            ]
            quantities += [
                (f"n_{ell} dyhat[{o}]/d{s}*_{ell}", scales(kind, "theta", ell, n) * sp.diff(y, s))
                for s in th_m[ell - 1]
            ]
        quantities.append((f"dyhat[{o}]/db_out", scales(None, "out_bias", 0, n) * sp.diff(y, bout[o])))
    first, worst, memo = "", 0.0, {}
    for label, q in quantities:
        # ``normalize`` returns an expression equal to q; if no n_ℓ is left in it, q is proven
        # width-free. Otherwise the numeric change between n = 2 and n = 4 says by how much.
        q = normalize(q.xreplace(symmetric), n, memo)
        for m in n:
            if m in q.free_symbols:
                change = _relative_change(q, m)
                first = first or f"{label} depends on {m} (or SymPy could not show otherwise)"
                worst = max(worst, change if change > 0 else float("nan"))
    passed = first == ""
    detail = f"{len(quantities)} quantities free of n_1..n_{L}" if passed else f"first failure: {first}"
    return Check(f"MF scaling L={L} (symbolic widths)", worst, 0.0, passed, detail, time.perf_counter() - t0)


def _relative_change(q: sp.Expr, m: sp.Symbol) -> float:
    """|q(n = 4) − q(n = 2)| / (1 + |q(n = 2)|) at a random point: how width-dependent q is."""
    diff = q.xreplace({m: 4}) - q.xreplace({m: 2})
    return numeric_value(diff) / (1 + numeric_value(q.xreplace({m: 2})))
