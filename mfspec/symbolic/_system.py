"""The symbolic system of a spec: finite network (eq. 38, Sec. 3.1) and formal system (eq. 39,
App. A eq. 48-52), as SymPy expressions grouped into printable sections.

The equations are generated for the spec's own layers, L, q_ℓ, k, σ_ℓ and loss: the concrete σ_ℓ
(and σ*), their derivatives and ∂_2 L are computed by SymPy from the spec; the network and formal
equations are folds over the layer kinds, each writing its own connection (``LayerKind.eq_network``,
``LayerKind.eq_formal``) and using the σ's by name (σ_ℓ, ∂_h σ_ℓ, ∇_θ σ_ℓ); the widths n_ℓ stay
symbolic, and integrals over ρ_ℓ are ``RhoIntegral`` nodes. The Eulerian rate G_ℓ of a dense net is
given in both variants (see docs/formal_system.md sec. 5): ``chain_rule`` (App. A: D_2 f{∂_t g}
with ∂_t g = G_{ℓ-1}) and ``printed`` (Sec. 3.2: G_{f,ℓ-1}).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from mfspec.layers.dense import Dense
from mfspec.symbolic._notation import D2, Call, ExpectNoise, ExpectP, Inner, RhoIntegral, Var


@dataclass(frozen=True)
class Equation:
    """``lhs = rhs`` with a note (index range, paper reference)."""

    lhs: sp.Basic
    rhs: sp.Basic
    note: str = ""


@dataclass(frozen=True)
class SymbolicSystem:
    """Sections (title, equations) in reading order, for one spec."""

    spec_name: str
    L: int
    sections: tuple[tuple[str, tuple[Equation, ...]], ...]

    def section(self, title_start: str) -> tuple[Equation, ...]:
        for title, eqs in self.sections:
            if title.startswith(title_start):
                return eqs
        raise KeyError(f"no section starting with {title_start!r}; have {[t for t, _ in self.sections]}")


TH, THP, F, G, W, X, Y, DOT = (Var(s) for s in ("theta", "theta'", "f", "g", "w", "x", "y", "·"))


def _var(ell: int) -> Var:
    """The function-valued state of a layer-ℓ neuron: w for ℓ = 1, f otherwise."""
    return W if ell == 1 else F


def _H(ell, arg):
    return Call(f"H_{ell}", [arg], [X])


def _dL():
    return Call("partial_2 L", [Y, Call("yhat", [X], [Var("rho")])])


def _rate(delta):
    return -ExpectP(Inner(_dL(), delta))


class _FormalNotation:
    """What a layer kind needs to write its formal-system equations (``LayerKind.eq_formal``)."""

    TH, THP, F, G, W, X = TH, THP, F, G, W, X
    Var, Call, Inner, Rho, Eomega = Var, Call, Inner, RhoIntegral, ExpectNoise
    H = staticmethod(_H)
    rate = staticmethod(_rate)
    var = staticmethod(_var)

    @staticmethod
    def f_evolution(ell: int) -> tuple:
        """d/dt f_ℓ(θ_{ℓ−1}, w or f_{ℓ−1}) = G_{f,ℓ}(...) along the characteristics (App. A eq. 49-50):
        the Lagrangian row of a layer ℓ ≥ 2 whose incoming weights are a function f_ℓ."""
        prev = [Var(f"theta_{ell - 1}"), W if ell == 2 else Var(f"f_{ell - 1}")]
        return (Call("d/dt", [Call(f"f_{ell}", prev)]),
                Call(f"G_{{f,{ell}}}", [Var(f"theta_{ell}"), Var(f"f_{ell}"), *prev]),
                "eq. 49-50, along the characteristics")  # fmt: skip

    @staticmethod
    def prev_var(ell: int) -> Var:
        """The state of a layer-(ℓ−1) neuron as the argument of f_ℓ: w for ℓ = 2, g otherwise."""
        return _var(ell - 1) if ell == 2 else G


class _NetworkNotation:
    """Indexed symbols of eq. 38 for ``LayerKind.eq_network``."""

    def __init__(self, L: int):
        self.i, self.j, self.c, self.k = sp.symbols("i j c k", integer=True, positive=True)
        self.n = [sp.Symbol(f"n_{ell}", positive=True, integer=True) for ell in range(L + 1)]
        self.d = sp.Symbol("d", positive=True, integer=True)
        self.x = sp.IndexedBase("x")
        self.W = {ell: sp.IndexedBase(f"W_{ell}") for ell in range(1, L + 1)}
        self.h = {ell: sp.IndexedBase(f"h_{ell}") for ell in range(1, L + 1)}
        self.th = {ell: sp.IndexedBase(f"theta_{ell}") for ell in range(1, L + 1)}
        self.gh = {ell: sp.IndexedBase(f"grad~_{{h_{ell}}} yhat") for ell in range(1, L + 1)}
        self.Call = Call

    def sig(self, ell, m, name="sigma"):
        return Call(f"{name}_{ell}", [self.th[ell][m], self.h[ell][m]])


def _activations(spec) -> tuple[Equation, ...]:
    out = []
    for ell, kind in enumerate(spec.layers, start=1):
        out += [Equation(*row) for row in kind.eq_activations(ell, Call)]
    loss = spec.loss
    out.append(Equation(Call("L", [*loss.y, *loss.yhat]), loss.expr, loss.name))
    out.append(
        Equation(
            Call("partial_2 L", [*loss.y, *loss.yhat]), sp.Matrix([sp.diff(loss.expr, v) for v in loss.yhat])
        )
    )
    return tuple(out)


def _network(spec) -> tuple[tuple[Equation, ...], tuple[Equation, ...]]:
    """Eq. 38 and the scaled backward pass of Sec. 3.1, with symbolic widths n_ℓ: a fold over the kinds."""
    L = spec.num_layers
    nt = _NetworkNotation(L)
    i, j = nt.i, nt.j
    rows = [kind.eq_network(ell, nt) for ell, kind in enumerate(spec.layers, start=1)]
    fwd = [Equation(*fwd_row) for fwd_row, _, _ in rows]
    bout = Var("b_{out}") if spec.output_bias else sp.S.Zero
    fwd.append(Equation(Var("yhat"), sp.Sum(nt.sig(L, i), (i, 1, nt.n[L])) / nt.n[L] + bout, "eq. 38"))
    back = [
        Equation(
            sp.IndexedBase(f"grad~_{{Theta_{L}}} yhat")[i],
            nt.sig(L, i, "nabla_theta sigma"),
            f"= n_{L} ∂ŷ/∂θ_{L},i",
        ),
        Equation(nt.gh[L][i], nt.sig(L, i, "partial_h sigma"), f"= n_{L} ∂ŷ/∂h_{L},i"),
    ]
    for ell in range(L - 1, 0, -1):
        back_sum = rows[ell][1]  # layer ℓ+1's connection carries the scaled cotangent back
        back.append(Equation(sp.IndexedBase(f"grad~_{{Theta_{ell}}} yhat")[j], back_sum * nt.sig(ell, j, "nabla_theta sigma"),
                             f"= n_{ell} ∂ŷ/∂θ_{ell},j"))  # fmt: skip
        skip = spec.layers[ell].eq_skip(ell + 1, nt)  # a skip connection of layer ℓ+1 reads h_ℓ itself
        h_grad = back_sum * nt.sig(ell, j, "partial_h sigma") + (sp.S.Zero if skip is None else skip)
        back.append(Equation(nt.gh[ell][j], h_grad, f"= n_{ell} ∂ŷ/∂h_{ell},j"))
    back += [Equation(*grad_row) for _, _, grad_row in reversed(rows)]
    if spec.output_bias:
        back.append(Equation(Var("nabla_{b_{out}} yhat"), sp.S.One, "plain gradient"))
    return tuple(fwd), tuple(back)


def _formal(spec):
    """Eq. 39: forward H_ℓ, backward Δ's, rates G; App. A eq. 48-52 evolution; Sec. 3.2 Eulerian G_ℓ."""
    L = spec.num_layers
    fs = _FormalNotation()
    rows = [kind.eq_formal(ell, fs) for ell, kind in enumerate(spec.layers, start=1)]
    fwd = [Equation(*row[0]) for row in rows]
    bout = Var("b_{out}") if spec.output_bias else sp.S.Zero
    yhat = RhoIntegral(Call(f"sigma_{L}", [TH, _H(L, _var(L))]), L, TH, _var(L)) + bout
    fwd.append(Equation(Call("yhat", [X], [Var("rho")]), yhat, "eq. 39"))

    back, rates, lag = [], [], []
    for ell in range(L, 0, -1):
        v = _var(ell)
        if ell < L:
            back.append(Equation(*rows[ell][1]))  # B_ℓ, written by layer ℓ+1's kind
            factor = Call(f"B_{ell}", [TH, v], [X])
        else:
            factor = sp.S.One
        if spec.layers[ell - 1].q:
            back.append(Equation(Call(f"Delta_{{theta,{ell}}}", [TH, v], [X]),
                                 factor * Call(f"nabla_theta sigma_{ell}", [TH, _H(ell, v)])))  # fmt: skip
        skip = spec.layers[ell].eq_formal_skip(ell + 1, fs) if ell < L else None
        d_h = factor * Call(f"partial_h sigma_{ell}", [TH, _H(ell, v)])
        back.append(Equation(Call(f"Delta_{{H,{ell}}}", [TH, v], [X]), d_h if skip is None else d_h + skip))
    back += [Equation(*row[2]) for row in reversed(rows)]

    for ell, kind in enumerate(spec.layers, start=1):
        v = _var(ell)
        if kind.q:
            rates.append(
                Equation(
                    Call(f"G_{{theta,{ell}}}", [TH, v]), _rate(Call(f"Delta_{{theta,{ell}}}", [TH, v], [X]))
                )
            )
            lag.append(Equation(Call("d/dt", [Var(f"theta_{ell}")]),
                                Call(f"G_{{theta,{ell}}}", [Var(f"theta_{ell}"), Var(f"{v.name}_{ell}")]), "eq. 51-52"))  # fmt: skip
    for row in rows:
        rates.append(Equation(*row[3]))
        lag.append(Equation(*row[4]))
    if spec.output_bias:
        rates.append(Equation(Var("G_b"), -ExpectP(_dL()), "output bias"))
        lag.append(Equation(Call("d/dt", [Var("b_{out}")]), Var("G_b")))
    dense = all(isinstance(kind, Dense) for kind in spec.layers[1:])
    return fwd, back, rates, lag, _eulerian(L) if dense else None


def _eulerian(L: int) -> dict[str, list[Equation]]:
    """Sec. 3.2's Eulerian G_ℓ of a dense net in both variants of its D_2 f term."""
    euler = {"chain_rule": [], "printed": []}
    for variant, rows in euler.items():
        for ell in range(2, L + 1):
            lhs = Call(f"G_{ell}", [TH, F, THP, _var(ell - 1) if ell == 2 else G])
            if ell == 2:
                rhs = (
                    Call("G_{f,2}", [TH, F, THP, W])
                    - Inner(Call("nabla_1 f", [THP, W]), Call("G_{theta,1}", [THP, W]))
                    - Inner(Call("nabla_2 f", [THP, W]), Call("G_{W,1}", [THP, W]))
                )
                note = "Sec. 3.2 and App. A agree"
            else:
                direction = (
                    Call(f"G_{ell - 1}", [THP, G, DOT, DOT])  # ∂_t g = G_{ℓ-1}(θ', g, ·, ·)
                    if variant == "chain_rule"
                    else Call(f"G_{{f,{ell - 1}}}", [THP, G, DOT, DOT])
                )
                rhs = (
                    Call(f"G_{{f,{ell}}}", [TH, F, THP, G])
                    - Inner(Call("nabla_1 f", [THP, G]), Call(f"G_{{theta,{ell - 1}}}", [THP, G]))
                    - D2(Call("f", [THP, G]), direction)
                )
                note = (
                    "App. A chain rule: ∂_t g = G_{ℓ-1}"
                    if variant == "chain_rule"
                    else "as printed in Sec. 3.2"
                )
            rows.append(Equation(lhs, rhs, note))
        rows.append(
            Equation(
                Call("partial_t f_{ℓ}", [THP, G]),
                Call("G_{ℓ}", [Var("theta_{ℓ}"), Var("f_{ℓ}"), THP, G]),
                "at a fixed argument",
            )
        )
    return euler


def symbolic_system(spec) -> SymbolicSystem:
    """The finite network and the formal system of ``spec`` (docs/formal_system.md sec. 1-2, 6), as SymPy expressions."""
    net_fwd, net_back = _network(spec)
    fwd, back, rates, lag, euler = _formal(spec)
    sections = [
        ("Activations and loss (from the spec)", _activations(spec)),
        ("Finite network, forward (eq. 38)", net_fwd),
        ("Finite network, scaled gradients (Sec. 3.1)", net_back),
        ("Formal system, forward (eq. 39)", tuple(fwd)),
        ("Formal system, backward (Sec. 3.2)", tuple(back)),
        ("Formal system, rates G = -E_P<d_2 L, Delta> (Sec. 3.2)", tuple(rates)),
        ("Evolution, Lagrangian form (App. A eq. 48-52)", tuple(lag)),
    ]
    if euler is not None:
        sections += [
            ("Eulerian G_l, chain-rule variant (App. A; derived correct)", tuple(euler["chain_rule"])),
            ("Eulerian G_l, as printed in Sec. 3.2 (D_2 f{G_f,l-1})", tuple(euler["printed"])),
        ]
    return SymbolicSystem(spec.name, L=spec.num_layers, sections=tuple(sections))
