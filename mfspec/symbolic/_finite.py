"""The finite network (paper eq. 38) at tiny widths, symbolically, and its scaled gradients by sp.diff.

This is the ground truth of every check: ŷ is built from eq. 38 (each layer kind's own symbolic
pre-activation, ``LayerKind.sym_preactivation``, with π = 1/n) and differentiated by SymPy; nothing
here uses a hand-derived backward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp

from mfspec.layers.base import Upstream
from mfspec.symbolic._instance import Instance, loss_value, sigma

#: ``scales(kind, group, ell, widths)`` → the MF factor of Sec. 3.1 of a parameter group
#: ("w", "theta" or "out_bias") of layer ℓ.
Scales = Callable[[object, str, int, Sequence], sp.Expr]


def mf_scales(kind, group: str, ell: int, widths: Sequence) -> sp.Expr:
    """Sec. 3.1: the kind's factor for w (n_1 for W_1, n_ℓ n_{ℓ-1} for W_ℓ), n_ℓ for θ_ℓ, 1 for b_out.

    ``widths`` may hold integers or SymPy symbols (the MF-scaling check uses symbols).
    """
    if group == "w":
        return sp.sympify(kind.weight_factor(widths[ell - 1], widths[ell - 2] if ell > 1 else None))
    if group == "theta":
        return sp.sympify(widths[ell - 1])
    if group == "out_bias":
        return sp.S.One
    raise ValueError(f"unknown parameter group {group!r}")


def forward(inst: Instance, x: Sequence[sp.Expr]) -> tuple[tuple[sp.Expr, ...], list[tuple[sp.Expr, ...]]]:
    """ŷ (k expressions) and pre-activations [h_1..h_L] for one input: the fold of eq. 38."""
    up, hs = Upstream(tuple(x)), []
    for kind, w, thetas, n in zip(inst.kinds, inst.weights, inst.thetas, inst.widths):
        h = kind.sym_preactivation(w, up)
        hs.append(h)
        outs = [sigma(kind.act, th, hi) for th, hi in zip(thetas, h)]
        up = Upstream(tuple(o[0] for o in outs), sp.Rational(1, n), tuple(h))
    return inst.readout.sym_forward(outs, up.mix, inst.out_bias), hs


def batch_loss(inst: Instance) -> sp.Expr:
    """Minibatch-mean loss over the instance's symbolic batch (what SGD differentiates, eq. 13-15)."""
    total = sum((loss_value(inst.loss, y, forward(inst, x)[0]) for x, y in zip(inst.xs, inst.ys)), sp.S.Zero)
    return total / len(inst.xs)


def scaled_gradient(inst: Instance, expr: sp.Expr, *, scales: Scales = mf_scales) -> dict[str, tuple]:
    """n-scaled ∂expr/∂p for every trainable p, nested like ``Instance.params()``."""
    n = inst.widths

    def diff(tree, factor):
        if isinstance(tree, tuple):
            return tuple(diff(t, factor) for t in tree)
        return factor * sp.diff(expr, tree) if isinstance(tree, sp.Symbol) else sp.S.Zero

    out = {}
    for ell, kind in enumerate(inst.kinds, start=1):
        out[f"W_{ell}"] = diff(inst.weights[ell - 1], scales(kind, "w", ell, n))
        out[f"theta_{ell}"] = diff(inst.thetas[ell - 1], scales(kind, "theta", ell, n))
    out["b_out"] = diff(inst.out_bias, scales(None, "out_bias", 0, n))
    return out
