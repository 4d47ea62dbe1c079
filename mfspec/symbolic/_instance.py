"""A tiny-width instance of a spec with symbolic weights (MATH.md sec. 4, E2).

The instance keeps the spec's own σ_ℓ and loss, at small widths n_1..n_L and input dimension d,
with one SymPy symbol per trainable scalar. Layers are taken from the spec: the first ``L - 1``
hidden activations (the last one repeated if the spec has fewer), then the spec's head, so that
L = 2 and L = 3 instances exist for every spec with L ≥ 2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy as sp

from mfspec.act import Activation
from mfspec.loss import Loss


@dataclass(frozen=True)
class Instance:
    """Symbols of a width-(n_1..n_L) network with input dimension d and a batch of B samples.

    Attributes:
        acts: σ_1..σ_L; loss: the spec's loss (k outputs).
        w1: d-long rows, ``w1[i][c]`` = W_1[i, c]; thetas[ℓ-1][i][c]: component c of θ_{ℓ,i};
        kernels[ℓ-2][j][i]: W_ℓ[j, i] (ℓ ≥ 2); out_bias: k symbols, or zeros when the spec has
        none; xs[b][c], ys[b][o]: the batch.
    """

    acts: tuple[Activation, ...]
    loss: Loss
    widths: tuple[int, ...]
    d: int
    w1: tuple[tuple[sp.Symbol, ...], ...]
    thetas: tuple[tuple[tuple[sp.Symbol, ...], ...], ...]
    kernels: tuple[tuple[tuple[sp.Symbol, ...], ...], ...]
    out_bias: tuple[sp.Expr, ...]
    trainable_out_bias: bool
    xs: tuple[tuple[sp.Symbol, ...], ...]
    ys: tuple[tuple[sp.Symbol, ...], ...]

    @property
    def L(self) -> int:
        return len(self.acts)

    @property
    def k(self) -> int:
        return self.acts[-1].k

    def params(self) -> dict[str, tuple]:
        """Trainable symbols grouped like ``mfspec.scaled_gradients``: W_1, Θ_ℓ, W_ℓ, b_out."""
        return {"w1": self.w1, "thetas": self.thetas, "kernels": self.kernels, "out_bias": self.out_bias}

    def map(self, fn: Callable[[sp.Expr], sp.Expr]) -> Instance:
        """The same instance with ``fn`` applied to every σ_ℓ and the loss (e.g. kink smoothing)."""
        acts = tuple(
            Activation([fn(e) for e in a.exprs], theta=a.theta, h=a.h, roles=a.roles, name=a.name)
            for a in self.acts
        )
        loss = Loss(
            fn(self.loss.expr), y=self.loss.y, yhat=self.loss.yhat, error=self.loss.error, name=self.loss.name
        )
        return _replace(self, acts=acts, loss=loss)


def _replace(inst: Instance, **kw) -> Instance:
    return Instance(**{**inst.__dict__, **kw})


def layers_for(spec, L: int) -> tuple[Activation, ...]:
    """σ_1..σ_L for an L-layer instance of ``spec`` (see module docstring)."""
    hidden = list(spec.hidden)
    if L > 1 and not hidden:
        raise ValueError(f"spec {spec.name!r} has no hidden layer to build an L = {L} instance from")
    chosen = [hidden[min(i, len(hidden) - 1)] for i in range(L - 1)]
    return (*chosen, spec.head)


def instance(spec, widths: Sequence[int], d: int, *, batch: int = 1) -> Instance:
    """A symbolic instance of ``spec`` at widths n_1..n_L (L = len(widths)), input dim d."""
    widths = tuple(widths)
    acts = layers_for(spec, len(widths))
    k = acts[-1].k

    def real(name):
        return sp.Symbol(name, real=True)

    w1 = tuple(tuple(real(f"W1_{i}{c}") for c in range(d)) for i in range(widths[0]))
    thetas = tuple(
        tuple(tuple(real(f"{s.name}{ell}_{i}") for s in act.theta) for i in range(n))
        for ell, (act, n) in enumerate(zip(acts, widths), start=1)
    )
    kernels = tuple(
        tuple(tuple(real(f"W{ell}_{j}{i}") for i in range(widths[ell - 2])) for j in range(widths[ell - 1]))
        for ell in range(2, len(widths) + 1)
    )
    out_bias = tuple(real(f"bout_{o}") for o in range(k)) if spec.output_bias else (sp.S.Zero,) * k
    xs = tuple(tuple(real(f"x{b}_{c}") for c in range(d)) for b in range(batch))
    ys = tuple(tuple(real(f"y{b}_{o}") for o in range(k)) for b in range(batch))
    return Instance(acts, spec.loss, widths, d, w1, thetas, kernels, out_bias, spec.output_bias, xs, ys)


def sigma(act: Activation, theta: Sequence[sp.Expr], h: sp.Expr) -> tuple[sp.Expr, ...]:
    """σ(θ, h) as k expressions (xreplace: simultaneous, no re-simplification of the template)."""
    rep = dict(zip(act.theta, theta)) | {act.h: h}
    return tuple(e.xreplace(rep) for e in act.exprs)


def dsigma_dh(act: Activation, theta: Sequence[sp.Expr], h: sp.Expr) -> tuple[sp.Expr, ...]:
    """∂_h σ(θ, h), k expressions: differentiated on the template, then evaluated."""
    rep = dict(zip(act.theta, theta)) | {act.h: h}
    return tuple(sp.diff(e, act.h).xreplace(rep) for e in act.exprs)


def grad_theta_sigma(
    act: Activation, theta: Sequence[sp.Expr], h: sp.Expr
) -> tuple[tuple[sp.Expr, ...], ...]:
    """∇_θ σ(θ, h) as a (q, k) nested tuple."""
    rep = dict(zip(act.theta, theta)) | {act.h: h}
    return tuple(tuple(sp.diff(e, s).xreplace(rep) for e in act.exprs) for s in act.theta)


def loss_value(loss: Loss, y: Sequence[sp.Expr], yhat: Sequence[sp.Expr]) -> sp.Expr:
    return loss.expr.xreplace(dict(zip(loss.y, y)) | dict(zip(loss.yhat, yhat)))


def loss_grad(loss: Loss, y: Sequence[sp.Expr], yhat: Sequence[sp.Expr]) -> tuple[sp.Expr, ...]:
    """∂_2 L(y, ŷ): k expressions."""
    rep = dict(zip(loss.y, y)) | dict(zip(loss.yhat, yhat))
    return tuple(sp.diff(loss.expr, v).xreplace(rep) for v in loss.yhat)
