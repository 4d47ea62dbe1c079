"""The symbolic system of a spec: finite network (eq. 38, Sec. 3.1) and formal system (eq. 39,
App. A eq. 48-52), as SymPy expressions grouped into printable sections.

The equations are generated for the spec's own L, q_ℓ, k, σ_ℓ and loss: the concrete σ_ℓ, their
derivatives and ∂_2 L are computed by SymPy from the spec; the network and formal equations use
them by name (σ_ℓ, ∂_h σ_ℓ, ∇_θ σ_ℓ), the widths n_ℓ stay symbolic, and integrals over ρ_ℓ are
``RhoIntegral`` nodes. The Eulerian rate G_ℓ is given in both variants (see docs/formal_system.md):
``chain_rule`` (App. A: D_2 f{∂_t g} with ∂_t g = G_{ℓ-1}) and ``printed`` (Sec. 3.2: G_{f,ℓ-1}).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from mfspec.symbolic._notation import D2, Call, ExpectP, Inner, RhoIntegral, Var


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


TH, THP, TH2, F, G, W, X, Y, DOT = (
    Var(s) for s in ("theta", "theta'", "theta''", "f", "g", "w", "x", "y", "·")
)


def _var(ell: int) -> Var:
    """The function-valued state of a layer-ℓ neuron: w for ℓ = 1, f otherwise."""
    return W if ell == 1 else F


def _H(ell, arg):
    return Call(f"H_{ell}", [arg], [X])


def _dL():
    return Call("partial_2 L", [Y, Call("yhat", [X], [Var("rho")])])


def _rate(delta):
    return -ExpectP(Inner(_dL(), delta))


def _activations(spec) -> tuple[Equation, ...]:
    out = []
    for ell, act in enumerate(spec.acts, start=1):
        exprs = sp.Matrix(act.exprs) if act.k > 1 else act.exprs[0]
        name = f"sigma_{ell}"
        out.append(Equation(Call(name, [*act.theta, act.h]), exprs, f"{act.name}, q = {act.q}, k = {act.k}"))
        dh = sp.Matrix([sp.diff(e, act.h) for e in act.exprs]) if act.k > 1 else sp.diff(act.exprs[0], act.h)
        out.append(Equation(Call(f"partial_h sigma_{ell}", [*act.theta, act.h]), dh))
        if act.q:
            grad = sp.Matrix([[sp.diff(e, s) for e in act.exprs] for s in act.theta])
            out.append(Equation(Call(f"nabla_theta sigma_{ell}", [*act.theta, act.h]), grad, "q × k"))
    loss = spec.loss
    out.append(Equation(Call("L", [*loss.y, *loss.yhat]), loss.expr, loss.name))
    out.append(
        Equation(
            Call("partial_2 L", [*loss.y, *loss.yhat]), sp.Matrix([sp.diff(loss.expr, v) for v in loss.yhat])
        )
    )
    return tuple(out)


def _network(spec) -> tuple[tuple[Equation, ...], tuple[Equation, ...]]:
    """Eq. 38 and the scaled backward pass of Sec. 3.1, with symbolic widths n_ℓ."""
    L = spec.num_layers
    i, j, c, k = sp.symbols("i j c k", integer=True, positive=True)
    n = [sp.Symbol(f"n_{ell}", positive=True, integer=True) for ell in range(L + 1)]
    d = sp.Symbol("d", positive=True, integer=True)
    x = sp.IndexedBase("x")
    Wb = {ell: sp.IndexedBase(f"W_{ell}") for ell in range(1, L + 1)}
    h = {ell: sp.IndexedBase(f"h_{ell}") for ell in range(1, L + 1)}
    th = {ell: sp.IndexedBase(f"theta_{ell}") for ell in range(1, L + 1)}
    sig = lambda ell, m: Call(f"sigma_{ell}", [th[ell][m], h[ell][m]])  # noqa: E731
    dsig = lambda ell, m: Call(f"partial_h sigma_{ell}", [th[ell][m], h[ell][m]])  # noqa: E731
    gsig = lambda ell, m: Call(f"nabla_theta sigma_{ell}", [th[ell][m], h[ell][m]])  # noqa: E731
    fwd = [Equation(h[1][i], sp.Sum(Wb[1][i, c] * x[c], (c, 1, d)), "h_1 = W_1 x")]
    for ell in range(2, L + 1):
        fwd.append(
            Equation(
                h[ell][j],
                sp.Sum(Wb[ell][j, i] * sig(ell - 1, i), (i, 1, n[ell - 1])) / n[ell - 1],
                f"ℓ = {ell}",
            )
        )
    bout = Var("b_{out}") if spec.output_bias else sp.S.Zero
    fwd.append(Equation(Var("yhat"), sp.Sum(sig(L, i), (i, 1, n[L])) / n[L] + bout, "eq. 38"))
    gh = {ell: sp.IndexedBase(f"grad~_{{h_{ell}}} yhat") for ell in range(1, L + 1)}
    back = [
        Equation(sp.IndexedBase(f"grad~_{{Theta_{L}}} yhat")[i], gsig(L, i), f"= n_{L} ∂ŷ/∂θ_{L},i"),
        Equation(gh[L][i], dsig(L, i), f"= n_{L} ∂ŷ/∂h_{L},i"),
    ]
    for ell in range(L - 1, 0, -1):
        back_sum = sp.Sum(Wb[ell + 1][k, j] * gh[ell + 1][k], (k, 1, n[ell + 1])) / n[ell + 1]
        back.append(
            Equation(
                sp.IndexedBase(f"grad~_{{Theta_{ell}}} yhat")[j],
                back_sum * gsig(ell, j),
                f"= n_{ell} ∂ŷ/∂θ_{ell},j",
            )
        )
        back.append(Equation(gh[ell][j], back_sum * dsig(ell, j), f"= n_{ell} ∂ŷ/∂h_{ell},j"))
    for ell in range(L, 1, -1):
        back.append(
            Equation(
                sp.IndexedBase(f"grad~_{{W_{ell}}} yhat")[j, i],
                gh[ell][j] * sig(ell - 1, i),
                f"= n_{ell} n_{ell - 1} ∂ŷ/∂W_{ell}[j,i]",
            )
        )
    back.append(Equation(sp.IndexedBase("grad~_{W_1} yhat")[i, c], gh[1][i] * x[c], "= n_1 ∂ŷ/∂W_1[i,c]"))
    if spec.output_bias:
        back.append(Equation(Var("nabla_{b_{out}} yhat"), sp.S.One, "plain gradient"))
    return tuple(fwd), tuple(back)


def _formal(spec):
    """Eq. 39: forward H_ℓ, backward Δ's, rates G; App. A eq. 48-52 evolution; Sec. 3.2 Eulerian G_ℓ."""
    L = spec.num_layers
    acts = spec.acts
    fwd = [Equation(_H(1, W), Inner(W, X), "H_1(w; x) = ⟨w, x⟩")]
    for ell in range(2, L + 1):
        g = _var(ell - 1) if ell == 2 else G
        integrand = Call("f", [TH, g]) * Call(f"sigma_{ell - 1}", [TH, _H(ell - 1, g)])
        fwd.append(Equation(_H(ell, F), RhoIntegral(integrand, ell - 1, TH, g), f"ℓ = {ell}"))
    bout = Var("b_{out}") if spec.output_bias else sp.S.Zero
    yhat = RhoIntegral(Call(f"sigma_{L}", [TH, _H(L, _var(L))]), L, TH, _var(L)) + bout
    fwd.append(Equation(Call("yhat", [X], [Var("rho")]), yhat, "eq. 39"))

    back, rates, lag = [], [], []
    for ell in range(L, 0, -1):
        v = _var(ell)
        if ell < L:
            dH_next = Call(f"Delta_{{H,{ell + 1}}}", [THP, G], [X])
            B = RhoIntegral(Call("g", [TH, v]) * dH_next, ell + 1, THP, G)
            back.append(Equation(Call(f"B_{ell}", [TH, v], [X]), B, f"ℓ = {ell}"))
            factor = Call(f"B_{ell}", [TH, v], [X])
        else:
            factor = sp.S.One
        if acts[ell - 1].q:
            back.append(
                Equation(
                    Call(f"Delta_{{theta,{ell}}}", [TH, v], [X]),
                    factor * Call(f"nabla_theta sigma_{ell}", [TH, _H(ell, v)]),
                )
            )
        back.append(
            Equation(
                Call(f"Delta_{{H,{ell}}}", [TH, v], [X]),
                factor * Call(f"partial_h sigma_{ell}", [TH, _H(ell, v)]),
            )
        )
    for ell in range(L, 1, -1):
        gp = _var(ell - 1) if ell == 2 else G
        back.append(
            Equation(
                Call(f"Delta_{{W,{ell}}}", [TH, F, THP, gp], [X]),
                Call(f"Delta_{{H,{ell}}}", [TH, F], [X]) * Call(f"sigma_{ell - 1}", [THP, _H(ell - 1, gp)]),
            )
        )
    back.append(Equation(Call("Delta_{W,1}", [TH, W], [X]), Call("Delta_{H,1}", [TH, W], [X]) * X))

    for ell in range(1, L + 1):
        v = _var(ell)
        if acts[ell - 1].q:
            rates.append(
                Equation(
                    Call(f"G_{{theta,{ell}}}", [TH, v]), _rate(Call(f"Delta_{{theta,{ell}}}", [TH, v], [X]))
                )
            )
            lag.append(
                Equation(
                    Call("d/dt", [Var(f"theta_{ell}")]),
                    Call(f"G_{{theta,{ell}}}", [Var(f"theta_{ell}"), Var(f"{v.name}_{ell}")]),
                    "eq. 51-52",
                )
            )
    rates.append(Equation(Call("G_{W,1}", [TH, W]), _rate(Call("Delta_{W,1}", [TH, W], [X]))))
    lag.append(Equation(Call("d/dt", [W]), Call("G_{W,1}", [Var("theta_1"), W]), "eq. 48"))
    for ell in range(2, L + 1):
        gp = _var(ell - 1) if ell == 2 else G
        rates.append(
            Equation(
                Call(f"G_{{f,{ell}}}", [TH, F, THP, gp]),
                _rate(Call(f"Delta_{{W,{ell}}}", [TH, F, THP, gp], [X])),
            )
        )
        prev = [Var(f"theta_{ell - 1}"), W if ell == 2 else Var(f"f_{ell - 1}")]
        lag.append(
            Equation(
                Call("d/dt", [Call(f"f_{ell}", prev)]),
                Call(f"G_{{f,{ell}}}", [Var(f"theta_{ell}"), Var(f"f_{ell}"), *prev]),
                "eq. 49-50, along the characteristics",
            )
        )
    if spec.output_bias:
        rates.append(Equation(Var("G_b"), -ExpectP(_dL()), "output bias"))
        lag.append(Equation(Call("d/dt", [Var("b_{out}")]), Var("G_b")))

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
    return fwd, back, rates, lag, euler


def symbolic_system(spec) -> SymbolicSystem:
    """The finite network and the formal system of ``spec`` (MATH.md sec. 1-2), as SymPy expressions."""
    net_fwd, net_back = _network(spec)
    fwd, back, rates, lag, euler = _formal(spec)
    sections = (
        ("Activations and loss (from the spec)", _activations(spec)),
        ("Finite network, forward (eq. 38)", net_fwd),
        ("Finite network, scaled gradients (Sec. 3.1)", net_back),
        ("Formal system, forward (eq. 39)", tuple(fwd)),
        ("Formal system, backward (Sec. 3.2)", tuple(back)),
        ("Formal system, rates G = -E_P<d_2 L, Delta> (Sec. 3.2)", tuple(rates)),
        ("Evolution, Lagrangian form (App. A eq. 48-52)", tuple(lag)),
        ("Eulerian G_l, chain-rule variant (App. A; derived correct)", tuple(euler["chain_rule"])),
        ("Eulerian G_l, as printed in Sec. 3.2 (D_2 f{G_f,l-1})", tuple(euler["printed"])),
    )
    return SymbolicSystem(spec.name, L=spec.num_layers, sections=sections)
