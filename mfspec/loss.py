"""Losses L(y, ŷ) as SymPy expressions, with their classification-error rule.

Labels are always float vectors y ∈ R^k: ±1 for a single-output classifier (Sec. 4.2.1),
one-hot rows for k classes. ``squared`` is the paper's (y − ŷ)² summed over outputs (no ½).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
import sympy as sp

from mfspec.common.sympy_jax import to_jax


class Loss(eqx.Module):
    """L(y, ŷ) for k outputs.

    Arguments:
        expr: SymPy expression in ``y`` and ``yhat`` (k symbols each).
        y, yhat: the k label symbols and the k output symbols.
        error: "sign" (k = 1: error when y·ŷ < 0), "argmax" (k > 1) or "none".
        k: the number of outputs the loss fits; ``None`` means any k (built per call).
        name: label for printouts.
    """

    expr: sp.Expr = eqx.field(static=True)
    y: tuple[sp.Symbol, ...] = eqx.field(static=True)
    yhat: tuple[sp.Symbol, ...] = eqx.field(static=True)
    error: str = eqx.field(static=True)
    name: str = eqx.field(static=True)
    _fn: Callable = eqx.field(static=True, repr=False)

    def __init__(
        self,
        expr: sp.Expr,
        *,
        y: Sequence[sp.Symbol],
        yhat: Sequence[sp.Symbol],
        error: str = "none",
        name: str = "custom",
    ):
        y, yhat = tuple(y), tuple(yhat)
        if len(y) != len(yhat) or not y:
            raise ValueError(f"Loss: y and yhat need the same positive length, got {len(y)} and {len(yhat)}")
        if error not in ("sign", "argmax", "none"):
            raise ValueError(f"Loss.error must be 'sign', 'argmax' or 'none', got {error!r}")
        if error == "sign" and len(y) != 1:
            raise ValueError(f"Loss.error='sign' needs k = 1 output, got k = {len(y)}")
        expr = sp.sympify(expr)
        extra = expr.free_symbols - set(y) - set(yhat)
        if extra:
            raise ValueError(f"Loss.expr uses symbols {sorted(map(str, extra))} that are not y or yhat")
        if not expr.free_symbols & set(yhat):
            raise ValueError(f"Loss.expr {expr} does not depend on yhat = {yhat}: nothing would train")
        self.expr, self.y, self.yhat, self.error, self.name = expr, y, yhat, error, name
        self._fn = to_jax([*y, *yhat], [expr])

    @property
    def k(self) -> int:
        return len(self.y)

    def without_error(self) -> Loss:
        """The same loss with no classification-error rule (a regression: errors are NaN)."""
        return Loss(self.expr, y=self.y, yhat=self.yhat, error="none", name=self.name)

    def __call__(self, y, yhat):
        """Per-sample loss; ``y`` and ``yhat`` have shape (..., k); returns shape (...)."""
        args = [y[..., i] for i in range(self.k)] + [yhat[..., i] for i in range(self.k)]
        return self._fn(*args)[0]

    def errors(self, y, yhat):
        """Per-sample 0/1 classification error, shape (...); NaN when the loss has no rule."""
        if self.error == "sign":
            # P(y ŷ < 0) (Sec. 4.2.1); an exact tie ŷ = 0 (e.g. a limit whose output is 0 by
            # symmetry) counts as a coin flip rather than as correct.
            prod = y[..., 0] * yhat[..., 0]
            return jnp.where(prod < 0, 1.0, jnp.where(yhat[..., 0] == 0, 0.5, 0.0)).astype(yhat.dtype)
        if self.error == "argmax":
            return (jnp.argmax(yhat, -1) != jnp.argmax(y, -1)).astype(yhat.dtype)
        return jnp.full(yhat.shape[:-1], jnp.nan, yhat.dtype)


def _symbols(k: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
    if k == 1:
        return (sp.Symbol("y", real=True),), (sp.Symbol("yhat", real=True),)
    return sp.symbols(f"y1:{k + 1}", real=True), sp.symbols(f"yhat1:{k + 1}", real=True)


def squared(k: int = 1) -> Loss:
    """L = Σ_i (y_i − ŷ_i)², the paper's squared loss (Sec. 4.2.1); sign error for k = 1."""
    y, yh = _symbols(k)
    return Loss(
        sum((a - b) ** 2 for a, b in zip(y, yh)),
        y=y,
        yhat=yh,
        error="sign" if k == 1 else "argmax",
        name="squared",
    )


def cross_entropy(k: int) -> Loss:
    """Softmax cross-entropy against one-hot y: L = logsumexp(ŷ) − ⟨y, ŷ⟩ (k ≥ 2)."""
    if k < 2:
        raise ValueError(f"cross_entropy needs k >= 2 outputs, got k = {k}")
    y, yh = _symbols(k)
    # Written with the max subtracted so the compiled code does not overflow for large logits.
    m = sp.Max(*yh)
    lse = m + sp.log(sum(sp.exp(v - m) for v in yh))
    return Loss(lse - sum(a * b for a, b in zip(y, yh)), y=y, yhat=yh, error="argmax", name="cross_entropy")


def logistic() -> Loss:
    """L = log(1 + exp(−y ŷ)) for y ∈ {±1}, k = 1."""
    y, yh = _symbols(1)
    z = -y[0] * yh[0]
    # softplus(z) written stably: max(z, 0) + log(1 + exp(−|z|)).
    return Loss(sp.Max(z, 0) + sp.log(1 + sp.exp(-sp.Abs(z))), y=y, yhat=yh, error="sign", name="logistic")
