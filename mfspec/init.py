"""Initialization laws (paper Sec. 3.2 prediction statement; Sec. 4.2.1 "usual" init).

The law of the finite network at t = 0 (docs/formal_system.md sec. 1):

- layer 1: neurons (θ_{1,i}, w_{1,i}) iid, θ from ``theta[0]``, each entry of w from ``w1``;
- layer ℓ ≥ 2: θ_{ℓ,j} iid from ``theta[ℓ-1]``, and ``W_ℓ[j, i] = m_ℓ(θ_{ℓ,j}, θ_{ℓ-1,i}) + noise_ℓ · ε``
  with ε iid N(0, 1): a kernel whose conditional mean f = m_ℓ is what the limit keeps;
- the optional output bias b_out from ``out_bias``.

A per-neuron law with zero spread is an *atom*: such a layer ℓ ≥ 2 collapses to one particle
in the limit (docs/formal_system.md sec. 3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class Law(eqx.Module):
    """A law of per-neuron vectors in R^q (abstract)."""

    def sample(self, key, n: int, q: int):
        raise NotImplementedError

    @property
    def is_atom(self) -> bool:
        return False

    def check(self, q: int, where: str) -> None:
        """Raise if this law cannot produce vectors of size q."""


class Normal(Law):
    """Independent N(mean_i, std_i²) components, one (mean, std) per component of θ.

    A single (mean, std) for a θ with q ≥ 2 components is refused, unless asked for with
    ``Normal.iid(mean, std)`` (every component iid): broadcasting a scalar law silently gave the
    output weight β and the bias b of a head the same law.
    """

    mean: tuple[float, ...] = eqx.field(static=True)
    std: tuple[float, ...] = eqx.field(static=True)
    broadcast: bool = eqx.field(static=True, default=False)  # one (mean, std) for every component

    def __init__(
        self, mean: float | Sequence[float] = 0.0, std: float | Sequence[float] = 1.0, *, iid: bool = False
    ):
        self.mean = tuple(float(m) for m in (mean if isinstance(mean, Sequence) else [mean]))
        self.std = tuple(float(s) for s in (std if isinstance(std, Sequence) else [std]))
        self.broadcast = bool(iid)
        for field, vals in (("mean", self.mean), ("std", self.std)):
            if not all(math.isfinite(v) for v in vals):
                raise ValueError(f"Normal.{field} must be finite, got {vals}")
        if any(s < 0 for s in self.std):
            raise ValueError(f"Normal.std must be >= 0, got {self.std}")
        if iid and (len(self.mean) != 1 or len(self.std) != 1):
            raise ValueError(f"Normal.iid takes one mean and one std, got mean={self.mean}, std={self.std}")

    def __repr__(self) -> str:
        show = lambda v: f"{v[0]:g}" if len(v) == 1 else "[" + ", ".join(f"{x:g}" for x in v) + "]"  # noqa: E731
        return f"Normal(mean={show(self.mean)}, std={show(self.std)}{', iid' if self.broadcast else ''})"

    @classmethod
    def iid(cls, mean: float = 0.0, std: float = 1.0) -> Normal:
        """Every component of θ iid N(mean, std²), whatever q."""
        return cls(mean, std, iid=True)

    def check(self, q: int, where: str) -> None:
        for field, vals in (("mean", self.mean), ("std", self.std)):
            if len(vals) not in (1, q):
                raise ValueError(f"{where}: Normal.{field} has {len(vals)} entries but θ has q = {q}")
        if q >= 2 and not self.broadcast and len(self.mean) == 1 and len(self.std) == 1:
            raise ValueError(
                f"{where}: Normal(mean={self.mean[0]:g}, std={self.std[0]:g}) is one law for a θ with q = {q} "
                f"components; give one per component, Normal([m_1..m_{q}], [s_1..s_{q}]), or say that they "
                f"are iid: mf.init.Normal.iid({self.mean[0]:g}, {self.std[0]:g})"
            )

    def sample(self, key, n: int, q: int):
        mean = jnp.broadcast_to(jnp.asarray(self.mean), (q,))
        std = jnp.broadcast_to(jnp.asarray(self.std), (q,))
        return mean + std * jax.random.normal(key, (n, q))

    @property
    def is_atom(self) -> bool:
        return all(s == 0 for s in self.std)


def Atom(value: float | Sequence[float] = 0.0) -> Normal:
    """A point mass (zero spread)."""
    return Normal(value, 0.0)


class Custom(Law):
    """A user sampler ``sample(key, n, q) -> (n, q)``; ``atom=True`` declares a point mass."""

    fn: Callable = eqx.field(static=True)
    atom: bool = eqx.field(static=True, default=False)

    def sample(self, key, n: int, q: int):
        out = jnp.asarray(self.fn(key, n, q))
        if out.shape != (n, q):
            raise ValueError(f"Custom law returned shape {out.shape}, expected {(n, q)}")
        return out

    @property
    def is_atom(self) -> bool:
        return self.atom


class Kernel(eqx.Module):
    """Law of W_ℓ entries: W[j, i] = mean(θ_{ℓ,j}, θ_{ℓ-1,i}) + noise · N(0, 1).

    ``mean`` is a float, a tuple of s floats (a local layer's weight w ∈ R^s), or a function of
    (θ_j of shape (q_ℓ,), θ'_i of shape (q_{ℓ-1},)) returning a scalar (or an s-vector); ``noise``
    a float or one per component. Only ``mean`` enters the limit of a dense layer
    (docs/formal_system.md sec. 2); a local operation nonlinear in w keeps the noise (sec. 6).
    """

    mean: float | tuple | Callable = eqx.field(static=True, default=1.0)
    noise: float | tuple = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        means = self.mean if isinstance(self.mean, tuple) else (self.mean,)
        for m in means:
            if not callable(m) and not (isinstance(m, (int, float)) and math.isfinite(m)):
                raise ValueError(f"Kernel.mean must be finite or a function, got {self.mean!r}")
        noises = self.noise if isinstance(self.noise, tuple) else (self.noise,)
        for v in noises:
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"Kernel.noise must be a finite number >= 0, got {self.noise!r}")

    def check(self, s: int, where: str, q: int | None = None, q_prev: int | None = None) -> None:
        """Raise if this kernel cannot produce weights in R^s; a callable mean is probed once at
        θ = 0 (shapes (q,) and (q_prev,)) and must return a scalar (or an s-vector)."""
        for field in ("mean", "noise"):
            vals = getattr(self, field)
            if isinstance(vals, tuple) and len(vals) not in (1, s):
                raise ValueError(
                    f"{where}: Kernel.{field} has {len(vals)} entries but the weight has s = {s}"
                )
        if callable(self.mean) and q is not None and q_prev is not None:
            try:
                shape = jnp.shape(self.mean(jnp.zeros(q), jnp.zeros(q_prev)))
            except Exception as err:  # the user's function fails on θ vectors of these sizes
                raise ValueError(
                    f"{where}: Kernel.mean fails on θ_j of shape ({q},) and θ'_i of shape ({q_prev},): {err}"
                ) from None
            if shape not in ((), (1,), (s,)):
                want = "a scalar" if s == 1 else f"a scalar or an {s}-vector"
                raise ValueError(
                    f"{where}: Kernel.mean must return {want} per pair of neurons, got shape {shape}"
                )

    def mean_matrix(self, theta, theta_prev):
        """f_ℓ on the support: F[j, i] = mean(θ_j, θ'_i), shape (n_ℓ, n_{ℓ-1})."""
        if callable(self.mean):
            return jax.vmap(lambda a: jax.vmap(lambda b: self.mean(a, b))(theta_prev))(theta)
        return jnp.full((theta.shape[0], theta_prev.shape[0]), self.mean, dtype=theta.dtype)

    def mean_tensor(self, theta, theta_prev, s: int):
        """The mean of an s-vector weight on every pair, shape (n_ℓ, n_{ℓ-1}, s)."""
        if callable(self.mean):
            m = jax.vmap(lambda a: jax.vmap(lambda b: jnp.asarray(self.mean(a, b)))(theta_prev))(theta)
            return jnp.broadcast_to(m.reshape(*m.shape[:2], -1), (*m.shape[:2], s)).astype(theta.dtype)
        mean = jnp.broadcast_to(jnp.asarray(self.mean, theta.dtype), (s,))
        return jnp.broadcast_to(mean, (theta.shape[0], theta_prev.shape[0], s))

    def mean_on(self, theta, theta_prev, dtype, s: int | None = None):
        """The kernel's mean on particles (its noise is dropped), in ``dtype``: (M, M') or (M, M', s)."""
        theta, theta_prev = jnp.asarray(theta, dtype), jnp.asarray(theta_prev, dtype)
        if s is not None:
            return jnp.asarray(self.mean_tensor(theta, theta_prev, s), dtype)
        if callable(self.mean):
            return jnp.asarray(self.mean_matrix(theta, theta_prev), dtype)
        return jnp.asarray(np.full((theta.shape[0], theta_prev.shape[0]), self.mean), dtype)

    def sample(self, key, theta, theta_prev, s: int | None = None):
        """W (n_ℓ, n_{ℓ-1}), or (n_ℓ, n_{ℓ-1}, s) for an s-vector weight."""
        if s is None:
            m = self.mean_matrix(theta, theta_prev)
            noise = self.noise[0] if isinstance(self.noise, tuple) else self.noise
            return m + noise * jax.random.normal(key, m.shape, m.dtype)
        m = self.mean_tensor(theta, theta_prev, s)
        noise = jnp.broadcast_to(jnp.asarray(self.noise, m.dtype), (s,))
        return m + noise * jax.random.normal(key, m.shape, m.dtype)


class Init(eqx.Module):
    """The initialization law of every layer.

    Arguments:
        w1: law of each entry of W_1 (a scalar ``Normal``), e.g. ``Normal(0, τ1/√d)``.
        theta: one law per layer ℓ = 1..L for θ_ℓ ∈ R^{q_ℓ}.
        kernels: one ``Kernel`` per layer ℓ = 2..L for the entries of W_ℓ (a scalar ``Law`` for the
            filter taps of a convolution, ``mf.conv.ConvSpec``).
        out_bias: law of each entry of b_out (used when the spec has an output bias).
    """

    w1: Law
    theta: tuple[Law, ...]
    kernels: tuple[Kernel | Law, ...]
    out_bias: Law = Atom(0.0)


class Usual(eqx.Module):
    """The paper's init (Sec. 4.2.1), resolved against an architecture by ``Spec``.

    W_1 entries N(0, τ1²/d); W_ℓ (ℓ ≥ 2) entries N(μ2, τ2²); θ components with role "weight"
    (the output weights β) N(μ2, τ2²); role "bias" N(μ3, τ3²); b_out N(μ3, τ3²) as in the paper,
    unless ``tau_out`` is given. A random b_out is one global number: it does not average out as n
    grows, so a network with τ3 > 0 has no deterministic limit unless ``tau_out=0``.
    """

    tau1: float = eqx.field(static=True, default=math.sqrt(2.0))
    mu2: float = eqx.field(static=True, default=1.0)
    tau2: float = eqx.field(static=True, default=0.1)
    mu3: float = eqx.field(static=True, default=0.0)
    tau3: float = eqx.field(static=True, default=0.0)
    tau_out: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.tau_out is not None and not (math.isfinite(self.tau_out) and self.tau_out >= 0):
            raise ValueError(f"usual init: tau_out must be a finite number >= 0, got {self.tau_out!r}")
        for name in ("tau1", "mu2", "tau2", "mu3", "tau3"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"usual init: {name} must be a finite number, got {v!r}")
        for name in ("tau1", "tau2", "tau3"):
            if getattr(self, name) < 0:
                raise ValueError(f"usual init: {name} must be >= 0, got {getattr(self, name)}")

    def resolve(self, input_dim: int, layers) -> Init:
        """The ``Init`` of an architecture: ``layers`` are layer kinds (or bare activations)."""
        thetas = []
        for ell, layer in enumerate(layers, start=1):
            act = getattr(layer, "act", layer)
            means, stds = [], []
            for sym, role in zip(act.theta, act.roles):
                if role == "weight":
                    means.append(self.mu2), stds.append(self.tau2)
                elif role == "bias":
                    means.append(self.mu3), stds.append(self.tau3)
                else:
                    raise ValueError(
                        f"usual init: layer {ell} θ component {sym} has role 'other', which the "
                        "usual init does not cover; pass init=mf.init.Init(...) with its law"
                    )
            thetas.append(Normal(means or 0.0, stds or 0.0))
        return Init(
            w1=Normal(0.0, self.tau1 / math.sqrt(input_dim)),
            theta=tuple(thetas),
            kernels=tuple(Kernel(self.mu2, self.tau2) for _ in layers[1:]),
            out_bias=Normal(self.mu3, self.tau3 if self.tau_out is None else self.tau_out),
        )


def usual(
    tau1: float = math.sqrt(2.0),
    mu2: float = 1.0,
    tau2: float = 0.1,
    mu3: float = 0.0,
    tau3: float = 0.0,
    *,
    tau_out: float | None = None,
) -> Usual:
    """The paper's usual initialization (Sec. 4.2.1); defaults are Fig. 5's. ``tau_out`` overrides
    the spread of b_out (default τ3, as in the paper)."""
    return Usual(tau1, mu2, tau2, mu3, tau3, tau_out)
