"""Printable building blocks of the formal system: named calls, ∫ · ρ_ℓ, E_P, ⟨·,·⟩, D_2 f{·}.

The formal system (eq. 39) integrates over laws of functions, which SymPy cannot represent as
integrals; these small ``sp.Expr`` nodes carry the structure and print themselves in text
(``sp.sstr``) and LaTeX (``sp.latex``). Each name has a text form and a LaTeX form, side by side.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter


def _tex_of(name: str) -> str:
    """LaTeX of a short name: "Delta_{theta,2}" → "\\Delta_{\\theta,2}" (greek words prefixed)."""
    out = name.replace("grad~", "\\tilde{nabla}").replace("yhat", "\\hat{y}")
    for word in ("Delta", "Theta", "theta", "sigma", "rho", "nabla", "partial", "xi", "beta", "omega"):
        out = out.replace(word, "\\" + word + " ")
    out = out.replace("·", "\\cdot ").replace("ℓ", "\\ell ")
    return (
        out.replace(" _", "_")
        .replace(" ,", ",")
        .replace(" }", "}")
        .replace(" '", "'")
        .replace(" )", ")")
        .strip()
    )


_TEXT = {
    "grad~": "∇̃",
    "yhat": "ŷ",
    "Theta": "Θ",
    "Delta": "Δ",
    "theta": "θ",
    "sigma": "σ",
    "rho": "ρ",
    "nabla": "∇",
    "partial": "∂",
    "xi": "ξ",
    "beta": "β",
    "omega": "ω",
}


def _text_of(name: str) -> str:
    out = name
    for word, glyph in _TEXT.items():
        out = out.replace(word, glyph)
    return out.replace("{", "").replace("}", "")


class Var(sp.Expr):
    """A named variable (θ, θ', f, g, w, x, y, n_ℓ …); name in LaTeX-like ASCII, e.g. "theta'"."""

    is_commutative = True

    def __new__(cls, name):
        # SymPy rebuilds nodes as ``func(*args)``: accept the stored Symbol as well as a str.
        return sp.Expr.__new__(cls, sp.Symbol(name) if isinstance(name, str) else name)

    @property
    def name(self) -> str:
        return self.args[0].name

    def _sympystr(self, printer):
        return _text_of(self.name)

    def _latex(self, printer):
        return _tex_of(self.name)


class Call(sp.Expr):
    """``name(args; params)``, e.g. H_ℓ(f; x), Δ_{θ,ℓ}(θ, f; x), σ_ℓ(θ, h), f(θ', g)."""

    is_commutative = True

    def __new__(cls, name: str, args=(), params=()):
        name = sp.Symbol(name) if isinstance(name, str) else name
        return sp.Expr.__new__(cls, name, sp.Tuple(*args), sp.Tuple(*params))

    def _parts(self, printer):
        args = ", ".join(printer._print(a) for a in self.args[1])
        params = ", ".join(printer._print(a) for a in self.args[2])
        return args + (f"; {params}" if params else "")

    def _sympystr(self, printer):
        return f"{_text_of(self.args[0].name)}({self._parts(printer)})"

    def _latex(self, printer):
        return f"{_tex_of(self.args[0].name)}\\left({self._parts(printer)}\\right)"


class RhoIntegral(sp.Expr):
    """∫ integrand ρ_ℓ(dθ, dg): the integral over the layer-ℓ law (a sum on particles)."""

    is_commutative = True

    def __new__(cls, integrand, ell: int, theta: Var, g: Var):
        return sp.Expr.__new__(cls, integrand, sp.Integer(ell), theta, g)

    def _sympystr(self, printer):
        integrand, ell, th, g = self.args
        return f"∫ {printer._print(integrand)} ρ_{ell}(d{printer._print(th)}, d{printer._print(g)})"

    def _latex(self, printer):
        integrand, ell, th, g = self.args
        return (
            rf"\int {printer._print(integrand)}\,\rho_{{{ell}}}"
            rf"\left(d{printer._print(th)}, d{printer._print(g)}\right)"
        )


class ExpectP(sp.Expr):
    """E_P[ · ] over (x, y) ~ P."""

    is_commutative = True

    def _sympystr(self, printer):
        return f"E_P[{printer._print(self.args[0])}]"

    def _latex(self, printer):
        return rf"\mathbb{{E}}_{{P}}\left[{printer._print(self.args[0])}\right]"


class ExpectNoise(sp.Expr):
    """E_ω[ · ] over a local operation's initial weight noise ω (docs/formal_system.md sec. 6)."""

    is_commutative = True

    def _sympystr(self, printer):
        return f"E_ω[{printer._print(self.args[0])}]"

    def _latex(self, printer):
        return rf"\mathbb{{E}}_{{\omega}}\left[{printer._print(self.args[0])}\right]"


class Inner(sp.Expr):
    """⟨a, b⟩ (a contraction over θ components or output indices)."""

    is_commutative = True

    def _sympystr(self, printer):
        return f"⟨{printer._print(self.args[0])}, {printer._print(self.args[1])}⟩"

    def _latex(self, printer):
        return rf"\left\langle {printer._print(self.args[0])}, {printer._print(self.args[1])}\right\rangle"


class D2(sp.Expr):
    """D_2 f(θ', g){h}: the derivative of f in its function argument g, in the direction h."""

    is_commutative = True

    def __new__(cls, f: Call, direction):
        return sp.Expr.__new__(cls, f, direction)

    def _sympystr(self, printer):
        return f"D_2 {printer._print(self.args[0])}{{{printer._print(self.args[1])}}}"

    def _latex(self, printer):
        return rf"D_{{2}} {printer._print(self.args[0])}\left\{{{printer._print(self.args[1])}\right\}}"


class TextPrinter(StrPrinter):
    """``sp.sstr`` with Σ written out (StrPrinter would print ``Sum(expr, (i, 1, n))``)."""

    def _print_Sum(self, expr):
        body = self._print(expr.function)
        (i, lo, hi), *more = expr.limits
        inner = f"Σ_{{{self._print(i)}={self._print(lo)}..{self._print(hi)}}} [{body}]"
        for j, lo2, hi2 in more:
            inner = f"Σ_{{{self._print(j)}={self._print(lo2)}..{self._print(hi2)}}} {inner}"
        return inner

    def _print(self, expr, **kwargs):
        # Indexed carries its own printing hook, which would bypass ``_print_Indexed``.
        if isinstance(expr, sp.Indexed):
            base = _text_of(str(expr.base))
            return f"{base}[{', '.join(self._print(i) for i in expr.indices)}]"
        return super()._print(expr, **kwargs)


class TexPrinter(LatexPrinter):
    """``sp.latex`` with indexed names (W_2, θ_1, ∇̃_{h_2} ŷ, …) written through ``_tex_of``."""

    def _print(self, expr, **kwargs):
        if isinstance(expr, sp.Indexed):
            base = _tex_of(str(expr.base))
            return f"{{{base}}}_{{{','.join(self._print(i) for i in expr.indices)}}}"
        return super()._print(expr, **kwargs)


def text(expr) -> str:
    return TextPrinter().doprint(expr)


def latex(expr) -> str:
    return TexPrinter().doprint(expr)
