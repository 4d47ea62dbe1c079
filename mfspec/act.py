"""Activations σ_ℓ(θ, h) as SymPy expressions (docs/formal_system.md sec. 1; paper eq. 38).

A layer-ℓ neuron with parameter θ ∈ R^q and pre-activation h outputs σ_ℓ(θ, h); the head (layer L)
may output a vector in R^k. Activations are built from scalar nonlinearities φ(z):

    mf.act.relu, tanh, sigmoid, erf, softplus, identity     # φ(z), SymPy lambdas
    mf.layer(φ)                 # σ(θ, h) = φ(h + θ),      θ = (b,)          (Sec. 4.2.1)
    mf.layer(φ, bias=False)     # σ(θ, h) = φ(h),          q = 0
    mf.head(φ, outputs=k)       # σ(θ, h) = β φ(h + b),    θ = (β_1..β_k, b)  (Sec. 4.2.1)
    mf.Activation(expr, theta=(a, b), h=h)   # any σ a user writes in SymPy

Each θ component carries a *role* ("bias", "weight" or "other") so that the paper's usual
initialization knows which law to give it; user-written activations name their own roles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
import sympy as sp

from mfspec.common.sympy_jax import to_jax

_z = sp.Symbol("z", real=True)

#: Scalar nonlinearities φ(z), as SymPy lambdas (apply with ``phi(expr)``).
relu = sp.Lambda(_z, sp.Max(0, _z))
tanh = sp.Lambda(_z, sp.tanh(_z))
sigmoid = sp.Lambda(_z, 1 / (1 + sp.exp(-_z)))
erf = sp.Lambda(_z, sp.erf(_z))
softplus = sp.Lambda(_z, sp.log(1 + sp.exp(_z)))
identity = sp.Lambda(_z, _z)

NONLINEARITIES: dict[str, sp.Lambda] = {
    "relu": relu,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "erf": erf,
    "softplus": softplus,
    "identity": identity,
}

ROLES = ("bias", "weight", "other")


class Activation(eqx.Module):
    """σ(θ, h): R^q × R → R^k, given symbolically.

    Arguments:
        expr: one SymPy expression (k = 1) or a sequence of k of them, in ``theta`` and ``h``.
        theta: the q parameter symbols, in the order θ is stored (q may be 0).
        h: the pre-activation symbol.
        roles: one of "bias" / "weight" / "other" per θ component (default "other").
        name: a short label used in printouts.
    """

    exprs: tuple[sp.Expr, ...] = eqx.field(static=True)
    theta: tuple[sp.Symbol, ...] = eqx.field(static=True)
    h: sp.Symbol = eqx.field(static=True)
    roles: tuple[str, ...] = eqx.field(static=True)
    name: str = eqx.field(static=True)
    _fn: Callable = eqx.field(static=True, repr=False)
    #: σ = β φ(θ', h) with β ⊂ θ (see ``output_weights``): (indices of β in θ, φ), or None.
    _split: tuple | None = eqx.field(static=True, repr=False)

    def __init__(
        self,
        expr: sp.Expr | Sequence[sp.Expr],
        *,
        theta: Sequence[sp.Symbol] = (),
        h: sp.Symbol,
        roles: Sequence[str] | None = None,
        name: str = "custom",
    ):
        exprs = tuple(sp.sympify(e) for e in (expr if isinstance(expr, (list, tuple)) else [expr]))
        theta = tuple(theta)
        if not isinstance(h, sp.Symbol):
            raise TypeError(f"Activation.h must be a SymPy Symbol, got {h!r}")
        for s in theta:
            if not isinstance(s, sp.Symbol):
                raise TypeError(f"Activation.theta must hold SymPy Symbols, got {s!r}")
        if len(exprs) == 0:
            raise ValueError("Activation.expr must hold at least one expression, got none")
        allowed = set(theta) | {h}
        for e in exprs:
            extra = e.free_symbols - allowed
            if extra:
                raise ValueError(
                    f"Activation.expr {e} uses symbols {sorted(map(str, extra))} that are neither "
                    f"theta={theta} nor h={h}"
                )
        if not any(e.has(h) for e in exprs):
            raise ValueError(
                f"Activation.expr {list(exprs)} does not use its input h = {h}: the neuron would ignore "
                "the previous layer"
            )
        roles = tuple(roles) if roles is not None else ("other",) * len(theta)
        if len(roles) != len(theta) or any(r not in ROLES for r in roles):
            raise ValueError(
                f"Activation.roles must give one of {ROLES} per theta component (q={len(theta)}), got {roles}"
            )
        self.exprs = exprs
        self.theta = theta
        self.h = h
        self.roles = roles
        self.name = name
        self._fn = to_jax([*theta, h], exprs)
        self._split = _split_output_weights(exprs, theta, h, self.roles)

    @property
    def q(self) -> int:
        """Number of per-neuron parameters."""
        return len(self.theta)

    @property
    def k(self) -> int:
        """Number of outputs (1 for a hidden layer)."""
        return len(self.exprs)

    def __call__(self, theta, h):
        """Evaluate σ(θ, h) elementwise.

        Arguments:
            theta: array of shape (n, q), one row per neuron (or (..., n, q), one per sample).
            h: pre-activations of shape (..., n).

        Returns:
            array of shape (..., n) if k = 1 else (..., n, k).
        """
        outs = self.components(theta, h)
        return outs[0] if self.k == 1 else jnp.stack(outs, axis=-1)

    @property
    def output_weights(self) -> tuple[tuple[int, ...], Activation] | None:
        """σ's factorization σ_c(θ, h) = β_c φ(θ', h), if it has one: (β's indices in θ, φ).

        β_1..β_k are k distinct θ components, each output is linear in its own β_c, and φ — the same
        for every output — depends on neither β (``mf.head``: β φ(h + b), φ = φ(h + b) with θ' = b).
        Such a head's readout and its pullback are matrix products (``mfspec.layers._pullbacks``).
        ``None`` when σ does not factor this way.
        """
        return self._split

    def components(self, theta, h) -> tuple:
        """σ's k outputs as a tuple of arrays shaped like ``h`` (arguments as for ``__call__``)."""
        return self._fn(*[theta[..., i] for i in range(self.q)], h)

    def map(self, fn: Callable[[sp.Expr], sp.Expr]) -> Activation:
        """The same activation with ``fn`` applied to each expression (e.g. kink smoothing)."""
        return Activation(
            [fn(e) for e in self.exprs], theta=self.theta, h=self.h, roles=self.roles, name=self.name
        )

    def latex(self) -> str:
        body = ", ".join(sp.latex(e) for e in self.exprs)
        return body if self.k == 1 else rf"\left({body}\right)"


def _split_output_weights(exprs, theta, h, roles):
    """(indices of β in θ, φ as an ``Activation`` of the other θ components) when every output is
    σ_c = β_c φ with distinct β_c and one φ free of all β; else None (``Activation.output_weights``)."""
    chosen, phi = [], None
    for e in exprs:
        for i, s in enumerate(theta):
            if i in chosen:
                continue
            rest, factor = e.as_independent(s, as_Add=False)
            if factor == s and (phi is None or rest == phi or sp.simplify(rest - phi) == 0):
                chosen.append(i)
                phi = rest if phi is None else phi
                break
        else:
            return None
    betas = [theta[i] for i in chosen]
    if phi.has(*betas) or not phi.has(h):
        return None
    keep = [i for i in range(len(theta)) if i not in chosen]
    inner = Activation(phi, theta=[theta[i] for i in keep], h=h, roles=[roles[i] for i in keep], name="phi")
    return tuple(chosen), inner


def _phi_name(phi: sp.Lambda) -> str:
    for name, f in NONLINEARITIES.items():
        if f == phi:
            return name
    return "phi"


def layer(phi: sp.Lambda, *, bias: bool = True) -> Activation:
    """A hidden layer σ(θ, h) = φ(h + θ) (θ the bias), or φ(h) without bias (q = 0)."""
    h = sp.Symbol("h", real=True)
    name = _phi_name(phi)
    if not bias:
        return Activation(phi(h), theta=(), h=h, name=name)
    b = sp.Symbol("b", real=True)
    return Activation(phi(h + b), theta=(b,), h=h, roles=("bias",), name=f"{name}(h+b)")


def head(phi: sp.Lambda, *, outputs: int = 1, bias: bool = True) -> Activation:
    """The output layer σ_L(θ, h) = β φ(h + b), θ = (β_1..β_k, b) (Sec. 4.2.1)."""
    if not isinstance(outputs, int) or outputs < 1:
        raise ValueError(f"head: outputs must be a positive int, got {outputs!r}")
    h = sp.Symbol("h", real=True)
    betas = sp.symbols(f"beta1:{outputs + 1}", real=True) if outputs > 1 else (sp.Symbol("beta", real=True),)
    name = _phi_name(phi)
    if bias:
        b = sp.Symbol("b", real=True)
        act = phi(h + b)
        theta, roles = (*betas, b), ("weight",) * outputs + ("bias",)
    else:
        act = phi(h)
        theta, roles = tuple(betas), ("weight",) * outputs
    return Activation([beta * act for beta in betas], theta=theta, h=h, roles=roles, name=f"beta*{name}")
