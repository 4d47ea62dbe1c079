"""A tiny-width instance of a spec with symbolic weights (docs/formal_system.md sec. 4, E2).

The instance keeps the spec's own layer kinds, σ_ℓ (and σ*) and loss, at small widths n_1..n_L and
input dimension d, with one SymPy symbol per trainable scalar (each kind names its own weights:
``LayerKind.sym_weights``). ``layers_for`` picks L layers from the spec so that L = 2 and L = 3
instances exist for every spec with L ≥ 2 and every kind of the spec appears in one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy as sp

from mfspec.layers.base import LayerKind, tied_widths
from mfspec.layers.dense import Dense
from mfspec.layers.input import Input
from mfspec.layers.readout import Readout
from mfspec.loss import Loss


@dataclass(frozen=True)
class Instance:
    """Symbols of a width-(n_1..n_L) network with input dimension d and a batch of B samples.

    Attributes:
        kinds: the layer kinds ℓ = 1..L; readout: the head's readout; loss: the spec's loss.
        weights[ℓ-1]: layer ℓ's incoming weights as nested tuples (``LayerKind.sym_weights``:
        (n_1, d) for the input layer, (n_ℓ, n_{ℓ-1}) dense, (n_ℓ, n_{ℓ-1}, s) local);
        thetas[ℓ-1][i][c]: component c of θ_{ℓ,i}; out_bias: k symbols, or zeros when the spec has
        none; xs[b][c], ys[b][o]: the batch.
    """

    kinds: tuple[LayerKind, ...]
    readout: Readout
    loss: Loss
    widths: tuple[int, ...]
    d: int
    weights: tuple
    thetas: tuple
    out_bias: tuple[sp.Expr, ...]
    xs: tuple[tuple[sp.Symbol, ...], ...]
    ys: tuple[tuple[sp.Symbol, ...], ...]

    @property
    def L(self) -> int:
        return len(self.kinds)

    @property
    def k(self) -> int:
        return self.kinds[-1].k

    @property
    def acts(self):
        return tuple(kind.act for kind in self.kinds)

    def params(self) -> dict[str, tuple]:
        """Trainable symbols in the order of ``Particles.params()``: W_ℓ, θ_ℓ per layer, then b_out."""
        out = {}
        for ell, (w, th) in enumerate(zip(self.weights, self.thetas), start=1):
            out[f"W_{ell}"], out[f"theta_{ell}"] = w, th
        out["b_out"] = self.out_bias
        return out

    def map(self, fn: Callable[[sp.Expr], sp.Expr]) -> Instance:
        """The same instance with ``fn`` applied to every σ_ℓ, σ* and the loss (e.g. kink smoothing)."""
        kinds = tuple(kind.map_exprs(fn) for kind in self.kinds)
        loss = Loss(
            fn(self.loss.expr), y=self.loss.y, yhat=self.loss.yhat, error=self.loss.error, name=self.loss.name
        )
        return Instance(**{**self.__dict__, "kinds": kinds, "loss": loss})


def layers_for(spec, L: int) -> tuple[LayerKind, ...]:
    """L layer kinds from ``spec``: its first layer, L − 2 of its middle layers (kinds other than
    dense first, so that a local operation is in the L = 3 instance; the first layer's σ as a dense
    layer when the spec has none), its last layer; the spec's own layers at its own L. L = 1 takes the last layer's σ as the input layer."""
    kinds = spec.layers
    if L == len(kinds):  # the spec itself, in its own order
        return tuple(kinds)
    if L == 1:
        last = kinds[-1]
        return (last if last.reads_input else Input(last.act, last.theta_law),)
    if len(kinds) == 1:
        raise ValueError(f"spec {spec.name!r} has no hidden layer to build an L = {L} instance from")
    pool = sorted(kinds[1:-1], key=lambda kind: isinstance(kind, Dense)) or [Dense(kinds[0].act)]
    middle = [pool[min(i, len(pool) - 1)] for i in range(L - 2)]
    return (kinds[0], *middle, kinds[-1])


def instance(spec, widths: Sequence[int], d: int, *, batch: int = 1) -> Instance:
    """A symbolic instance of ``spec`` at widths n_1..n_L (L = len(widths); tied where a kind keeps
    the width below), input dim d."""
    kinds = layers_for(spec, len(widths))
    widths = tied_widths(kinds, widths)
    k = kinds[-1].k

    def real(name):
        return sp.Symbol(name, real=True)

    weights = tuple(kind.sym_weights(ell, n, widths[ell - 2] if ell > 1 else d)
                    for ell, (kind, n) in enumerate(zip(kinds, widths), start=1))  # fmt: skip
    thetas = tuple(
        tuple(tuple(real(f"{s.name}{ell}_{i}") for s in kind.act.theta) for i in range(n))
        for ell, (kind, n) in enumerate(zip(kinds, widths), start=1)
    )
    xs = tuple(tuple(real(f"x{b}_{c}") for c in range(d)) for b in range(batch))
    ys = tuple(tuple(real(f"y{b}_{o}") for o in range(k)) for b in range(batch))
    return Instance(
        kinds, spec.readout, spec.loss, widths, d, weights, thetas, spec.readout.sym_bias(k), xs, ys
    )


def sigma(act, theta: Sequence[sp.Expr], h: sp.Expr) -> tuple[sp.Expr, ...]:
    """σ(θ, h) as k expressions (xreplace: simultaneous, no re-simplification of the template)."""
    rep = dict(zip(act.theta, theta)) | {act.h: h}
    return tuple(e.xreplace(rep) for e in act.exprs)


def dsigma_dh(act, theta: Sequence[sp.Expr], h: sp.Expr) -> tuple[sp.Expr, ...]:
    """∂_h σ(θ, h), k expressions: differentiated on the template, then evaluated."""
    rep = dict(zip(act.theta, theta)) | {act.h: h}
    return tuple(sp.diff(e, act.h).xreplace(rep) for e in act.exprs)


def grad_theta_sigma(act, theta: Sequence[sp.Expr], h: sp.Expr) -> tuple[tuple[sp.Expr, ...], ...]:
    """∇_θ σ(θ, h) as a (q, k) nested tuple."""
    rep = dict(zip(act.theta, theta)) | {act.h: h}
    return tuple(tuple(sp.diff(e, s).xreplace(rep) for e in act.exprs) for s in act.theta)


def loss_value(loss: Loss, y: Sequence[sp.Expr], yhat: Sequence[sp.Expr]) -> sp.Expr:
    return loss.expr.xreplace(dict(zip(loss.y, y)) | dict(zip(loss.yhat, yhat)))


def loss_grad(loss: Loss, y: Sequence[sp.Expr], yhat: Sequence[sp.Expr]) -> tuple[sp.Expr, ...]:
    """∂_2 L(y, ŷ): k expressions."""
    rep = dict(zip(loss.y, y)) | dict(zip(loss.yhat, yhat))
    return tuple(sp.diff(loss.expr, v).xreplace(rep) for v in loss.yhat)
