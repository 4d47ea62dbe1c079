"""The formal system (paper eq. 39) on the empirical measure of a tiny network (docs/formal_system.md sec. 4).

ρ_ℓ = (1/n_ℓ) Σ_i δ_(θ_{ℓ,i}, f_{ℓ,i}) with f evaluated on the support (App. B.1). Every ∫ · ρ_ℓ
becomes a (1/n_ℓ)-weighted sum, and the backward pass is the Δ recursion of Sec. 3.2 written out
per layer kind (``LayerKind.sym_pullback``: Δ_W, B_{ℓ−1} and a skip connection's direct share of
Δ_{H,ℓ−1}) — no differentiation of ŷ happens
here, which is what makes the comparison with ``_finite`` (SymPy's own derivative of eq. 38) a
real check. The forward pass is the same fold as ``_finite.forward`` (a network *is* the particle
system with weights 1/n).
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from mfspec.layers.base import Upstream
from mfspec.symbolic import _finite
from mfspec.symbolic._instance import Instance, dsigma_dh, grad_theta_sigma, loss_grad, sigma


def yhat(inst: Instance, x: Sequence[sp.Expr]) -> tuple[sp.Expr, ...]:
    """ŷ(x; ρ) = ∫ σ_L(θ, H_L(f; x)) ρ_L(dθ, df) (+ b_out)."""
    return _finite.forward(inst, x)[0]


def deltas(inst: Instance, x: Sequence[sp.Expr]) -> dict[str, tuple]:
    """Δ_{W,ℓ}, Δ_{θ,ℓ} (and Δ_b = e_o for b_out) on the support, each leaf a k-tuple.

    Nested like ``Instance.params()``: a leaf is the Δ for that parameter, one entry per output o.
    """
    L, k = inst.L, inst.k
    pi = [sp.Rational(1, n) for n in inst.widths]
    hs = _finite.forward(inst, x)[1]
    acts, thetas = inst.acts, inst.thetas
    a = [tuple(x)] + [
        tuple(sigma(acts[ell], th, h)[0] for th, h in zip(thetas[ell], hs[ell])) for ell in range(L - 1)
    ]
    out = {}
    # ℓ = L: Δ_{θ,L} = ∇_θ σ_L, Δ_{H,L} = ∂_h σ_L (k outputs each).
    d_theta = [grad_theta_sigma(acts[-1], th, h) for th, h in zip(thetas[-1], hs[-1])]
    d_H = [dsigma_dh(acts[-1], th, h) for th, h in zip(thetas[-1], hs[-1])]
    for ell in range(L, 0, -1):
        kind = inst.kinds[ell - 1]
        up = Upstream(a[ell - 1], pi[ell - 2], tuple(hs[ell - 2])) if ell > 1 else Upstream(a[0])
        parts = [kind.sym_pullback(inst.weights[ell - 1], up, pi[ell - 1], [d[o] for d in d_H])
                 for o in range(k)]  # fmt: skip
        out[f"W_{ell}"] = _zip_outputs([p[0] for p in parts])
        out[f"theta_{ell}"] = tuple(tuple(tuple(comp) for comp in g) for g in d_theta)
        if ell == 1:
            break
        # B_{ℓ−1}[i] per output, then Δ_{θ,ℓ−1} = B ∇_θσ_{ℓ−1} and Δ_{H,ℓ−1} = B ∂_hσ_{ℓ−1}
        # (+ a skip connection's share of Δ_{H,ℓ−1}, which does not pass through σ_{ℓ−1}).
        n_prev = len(a[ell - 1])
        back = [tuple(p[1].a[i] for p in parts) for i in range(n_prev)]
        skip = [tuple(p[1].h[i] if p[1].h is not None else sp.S.Zero for p in parts) for i in range(n_prev)]
        act, th_prev, h_prev = acts[ell - 2], thetas[ell - 2], hs[ell - 2]
        d_theta = [tuple(tuple(b[o] * g[0] for o in range(k)) for g in grad_theta_sigma(act, th, h))
                   for b, th, h in zip(back, th_prev, h_prev)]  # fmt: skip
        d_H = [
            tuple(b[o] * dsigma_dh(act, th, h)[0] + s[o] for o in range(k))
            for b, s, th, h in zip(back, skip, th_prev, h_prev)
        ]
    ordered = {}
    for ell in range(1, L + 1):
        ordered[f"W_{ell}"], ordered[f"theta_{ell}"] = out[f"W_{ell}"], out[f"theta_{ell}"]
    unit = tuple(tuple(sp.S.One if o == c else sp.S.Zero for o in range(k)) for c in range(k))
    ordered["b_out"] = unit if inst.readout.bias else tuple((sp.S.Zero,) * k for _ in range(k))
    return ordered


def _zip_outputs(per_output: list):
    """k nested trees of scalars (one per output) → one tree whose leaves are k-tuples."""
    first = per_output[0]
    if isinstance(first, tuple):
        return tuple(_zip_outputs([t[i] for t in per_output]) for i in range(len(first)))
    return tuple(per_output)


def rates(inst: Instance) -> dict[str, tuple]:
    """G_• = −E_P ⟨∂_2 L(y, ŷ(x; ρ)), Δ_•(x)⟩, E_P the mean over the instance's symbolic batch."""
    per_sample = []
    for x, y in zip(inst.xs, inst.ys):
        dl = loss_grad(inst.loss, y, yhat(inst, x))
        per_sample.append(_contract(deltas(inst, x), dl))
    B = len(per_sample)
    return _tree_map(lambda *vals: -sum(vals, sp.S.Zero) / B, *per_sample)


def _contract(tree, dl):
    """⟨∂_2 L, Δ⟩ over the output index at every leaf (a leaf is a k-tuple)."""
    if isinstance(tree, dict):
        return {key: _contract(v, dl) for key, v in tree.items()}
    if _is_leaf(tree):
        return sum((a * b for a, b in zip(dl, tree)), sp.S.Zero)
    return tuple(_contract(t, dl) for t in tree)


def _is_leaf(t) -> bool:
    # k ≥ 1, so a leaf is never empty; an empty tuple is the θ of a q = 0 neuron.
    return isinstance(t, tuple) and len(t) > 0 and all(isinstance(v, sp.Basic) for v in t)


def _tree_map(fn, *trees):
    t0 = trees[0]
    if isinstance(t0, dict):
        return {key: _tree_map(fn, *(t[key] for t in trees)) for key in t0}
    if isinstance(t0, tuple):
        return tuple(_tree_map(fn, *parts) for parts in zip(*trees))
    return fn(*trees)
