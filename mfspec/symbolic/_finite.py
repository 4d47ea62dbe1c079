"""The finite network (paper eq. 38) at tiny widths, symbolically, and its scaled gradients by sp.diff.

This is the ground truth of every check: ŷ is built literally from eq. 38 and differentiated by
SymPy; nothing here uses a hand-derived backward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp

from mfspec.symbolic._instance import Instance, loss_value, sigma

#: ``scales(group, ell, widths)`` → the MF factor of Sec. 3.1 for a parameter group.
Scales = Callable[[str, int, Sequence], sp.Expr]


def mf_scales(group: str, ell: int, widths: Sequence) -> sp.Expr:
    """Sec. 3.1: n_1 for W_1, n_ℓ for Θ_ℓ, n_ℓ n_{ℓ-1} for W_ℓ (ℓ ≥ 2), 1 for b_out.

    ``widths`` may hold integers or SymPy symbols (the MF-scaling check uses symbols).
    """
    if group == "w1":
        return sp.sympify(widths[0])
    if group == "thetas":
        return sp.sympify(widths[ell - 1])
    if group == "kernels":
        return sp.sympify(widths[ell - 1] * widths[ell - 2])
    if group == "out_bias":
        return sp.S.One
    raise ValueError(f"unknown parameter group {group!r}")


def forward(inst: Instance, x: Sequence[sp.Expr]) -> tuple[tuple[sp.Expr, ...], list[tuple[sp.Expr, ...]]]:
    """ŷ (k expressions) and pre-activations [h_1..h_L] for one input, eq. 38."""
    h = tuple(sum((w * xc for w, xc in zip(row, x)), sp.S.Zero) for row in inst.w1)
    hs = [h]
    for ell in range(2, inst.L + 1):
        act, n_prev = inst.acts[ell - 2], inst.widths[ell - 2]
        a = [sigma(act, th, hi)[0] for th, hi in zip(inst.thetas[ell - 2], h)]
        h = tuple(sum((w * ai for w, ai in zip(row, a)), sp.S.Zero) / n_prev for row in inst.kernels[ell - 2])
        hs.append(h)
    outs = [sigma(inst.acts[-1], th, hi) for th, hi in zip(inst.thetas[-1], h)]
    n_L = inst.widths[-1]
    yhat = tuple(sum((o[c] for o in outs), sp.S.Zero) / n_L + inst.out_bias[c] for c in range(inst.k))
    return yhat, hs


def batch_loss(inst: Instance) -> sp.Expr:
    """Minibatch-mean loss over the instance's symbolic batch (what SGD differentiates, eq. 13-15)."""
    total = sum((loss_value(inst.loss, y, forward(inst, x)[0]) for x, y in zip(inst.xs, inst.ys)), sp.S.Zero)
    return total / len(inst.xs)


def scaled_gradient(inst: Instance, expr: sp.Expr, *, scales: Scales = mf_scales) -> dict[str, tuple]:
    """n-scaled ∂expr/∂p for every trainable p, nested like ``Instance.params()``."""
    n = inst.widths

    def d(p, group, ell):
        return scales(group, ell, n) * sp.diff(expr, p)

    out_bias = tuple(d(b, "out_bias", 0) if inst.trainable_out_bias else sp.S.Zero for b in inst.out_bias)
    return {
        "w1": tuple(tuple(d(w, "w1", 1) for w in row) for row in inst.w1),
        "thetas": tuple(
            tuple(tuple(d(c, "thetas", ell) for c in th) for th in layer)
            for ell, layer in enumerate(inst.thetas, start=1)
        ),
        "kernels": tuple(
            tuple(tuple(d(w, "kernels", ell) for w in row) for row in W)
            for ell, W in enumerate(inst.kernels, start=2)
        ),
        "out_bias": out_bias,
    }
