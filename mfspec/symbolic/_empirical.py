"""The formal system (paper eq. 39) on the empirical measure of a tiny network (MATH.md sec. 4).

ρ_ℓ = (1/n_ℓ) Σ_i δ_(θ_{ℓ,i}, f_{ℓ,i}) with f_{ℓ,j} evaluated on the support: F_ℓ[j, i] = W_ℓ[j, i]
(App. B.1). Every ∫ · ρ_ℓ becomes a (1/n_ℓ)-weighted sum, and the backward pass is the Δ
recursion of Sec. 3.2 written out — no differentiation of ŷ happens here, which is what makes the
comparison with ``_finite`` (SymPy's own derivative of eq. 38) a real check.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from mfspec.symbolic._instance import Instance, dsigma_dh, grad_theta_sigma, loss_grad, sigma


def _mix(weights, values):
    return sum((w * v for w, v in zip(weights, values)), sp.S.Zero)


def H(inst: Instance, x: Sequence[sp.Expr]) -> list[tuple[sp.Expr, ...]]:
    """H_ℓ(f_{ℓ,j}; x) on the support, ℓ = 1..L (eq. 39 forward)."""
    pi = [sp.Rational(1, n) for n in inst.widths]
    Hs = [tuple(_mix(w, x) for w in inst.w1)]  # H_1(w; x) = ⟨w, x⟩
    for ell in range(2, inst.L + 1):
        act = inst.acts[ell - 2]
        s = [sigma(act, th, h)[0] for th, h in zip(inst.thetas[ell - 2], Hs[-1])]
        Hs.append(tuple(_mix(F_j, s) * pi[ell - 2] for F_j in inst.kernels[ell - 2]))
    return Hs


def yhat(inst: Instance, x: Sequence[sp.Expr]) -> tuple[sp.Expr, ...]:
    """ŷ(x; ρ) = ∫ σ_L(θ, H_L(f; x)) ρ_L(dθ, df) (+ b_out)."""
    Hs = H(inst, x)
    outs = [sigma(inst.acts[-1], th, h) for th, h in zip(inst.thetas[-1], Hs[-1])]
    pi_L = sp.Rational(1, inst.widths[-1])
    return tuple(pi_L * sum((o[c] for o in outs), sp.S.Zero) + inst.out_bias[c] for c in range(inst.k))


def deltas(inst: Instance, x: Sequence[sp.Expr]) -> dict[str, tuple]:
    """Δ_{W,1}, Δ_{θ,ℓ}, Δ_{W,ℓ} (and Δ_b = e_o for b_out) on the support, each leaf a k-tuple.

    Nested like ``Instance.params()``: a leaf is the Δ for that parameter, one entry per output o.
    """
    L, k = inst.L, inst.k
    pi = [sp.Rational(1, n) for n in inst.widths]
    Hs = H(inst, x)
    acts = inst.acts
    d_theta = [None] * L
    d_H = [None] * L
    # ℓ = L: Δ_{θ,L} = ∇_θ σ_L, Δ_{H,L} = ∂_h σ_L (k outputs each).
    d_theta[L - 1] = [grad_theta_sigma(acts[-1], th, h) for th, h in zip(inst.thetas[-1], Hs[-1])]
    d_H[L - 1] = [dsigma_dh(acts[-1], th, h) for th, h in zip(inst.thetas[-1], Hs[-1])]
    for ell in range(L - 1, 0, -1):
        F_next = inst.kernels[ell - 1]  # F_{ℓ+1}[j, i] = f_{ℓ+1,j}(θ_{ℓ,i}, f_{ℓ,i})
        dH_next = d_H[ell]
        thetas, act = inst.thetas[ell - 1], acts[ell - 1]
        # B_ℓ(θ_i, f_i; x) = ∫ g(θ_i, f_i) Δ_{H,ℓ+1}(θ', g; x) ρ_{ℓ+1}(dθ', dg)
        B = [
            tuple(
                pi[ell] * sum((F_next[j][i] * dH_next[j][o] for j in range(len(F_next))), sp.S.Zero)
                for o in range(k)
            )
            for i in range(len(thetas))
        ]
        d_theta[ell - 1] = [
            tuple(tuple(B[i][o] * g[0] for o in range(k)) for g in grad_theta_sigma(act, th, Hs[ell - 1][i]))
            for i, th in enumerate(thetas)
        ]
        d_H[ell - 1] = [
            tuple(B[i][o] * dsigma_dh(act, th, Hs[ell - 1][i])[0] for o in range(k))
            for i, th in enumerate(thetas)
        ]
    # Δ_{W,1}(θ, w; x) = Δ_{H,1} x ;  Δ_{W,ℓ}(θ, f, θ', g; x) = Δ_{H,ℓ}(θ, f; x) σ_{ℓ-1}(θ', H_{ℓ-1}(g; x))
    d_w1 = tuple(tuple(tuple(d_H[0][i][o] * xc for o in range(k)) for xc in x) for i in range(inst.widths[0]))
    d_kernels = []
    for ell in range(2, L + 1):
        s_prev = [sigma(acts[ell - 2], th, h)[0] for th, h in zip(inst.thetas[ell - 2], Hs[ell - 2])]
        d_kernels.append(
            tuple(
                tuple(tuple(d_H[ell - 1][j][o] * s for o in range(k)) for s in s_prev)
                for j in range(inst.widths[ell - 1])
            )
        )
    unit = tuple(tuple(sp.S.One if o == c else sp.S.Zero for o in range(k)) for c in range(k))
    return {
        "w1": d_w1,
        "thetas": tuple(tuple(tuple(comp) for comp in layer) for layer in d_theta),
        "kernels": tuple(d_kernels),
        "out_bias": unit if inst.trainable_out_bias else tuple((sp.S.Zero,) * k for _ in range(k)),
    }


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
