"""The layer kind, the unit of mfspec's code: one layer's whole contract in one abstract class.

A layer ℓ of neurons (docs/formal_system.md sec. 1) has an *incoming connection* from layer ℓ−1 (or
from the input x) and, per neuron, a parameter θ ∈ R^q and an activation σ_ℓ(θ, h). The connection
is what distinguishes the kinds (``Input``: h = ⟨w, x⟩; ``Dense``: h = Σ π' W σ_{ℓ−1}; ``Local``:
h = Σ π' σ*(w, σ_{ℓ−1}); ``Conv``: h = Σ π' W ⊛ σ_{ℓ−1}; ``Residual``: h = h_{ℓ−1} + κ Σ π' W σ_{ℓ−1});
the neuron part is shared and lives here. Every other part of mfspec — the finite network, the
formal system, the particle discretization, the symbolic system, the checks — is a fold over a
spec's layers that calls only the methods declared below, so a new kind is one new file.

**One state type.** ``LayerState`` holds a layer's arrays for the finite network *and* for the
particle discretization of the limit: a finite network is the particle system whose weights are
uniform, π = 1/n (``pi=None``). So the forward pass is the same code for both systems, and identity
E1 (docs/formal_system.md sec. 4) is a statement about the backward only.

**The fold.** Forward, layer ℓ reads an ``Upstream`` — the previous layer's outputs
a_{ℓ−1} = σ_{ℓ−1}(θ, H_{ℓ−1}), its weights π_{ℓ−1} and its pre-activation H_{ℓ−1} (which a skip
connection adds to its own) — and returns H_ℓ. Backward, each layer has two cotangent slots, one
for its outputs a and one for its pre-activation h; a kind's ``weight_pullback`` returns its weight
rate and a ``Back`` whose parts are added into the previous layer's slots.

**Scaled cotangents.** The limit's backward (the Δ's of eq. 39) is reverse-mode differentiation
divided by the particle weights: a layer receives ⟨cot, Δ⟩ for its outputs *without* its own π,
and hands the previous layer its B_{ℓ−1} the same way. Nothing is ever divided by a weight, so a
particle of weight 0 (the test neurons of the Eulerian check) or a tiny Gauss–Hermite tail weight
is handled exactly.
"""

# No `from __future__ import annotations`: Equinox reads AbstractVar annotations as objects.
import abc
import dataclasses
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from equinox import AbstractClassVar, AbstractVar
from jaxtyping import Array, Float

from mfspec.act import Activation
from mfspec.init import Law
from mfspec.layers._pullbacks import head_pullback, summed_pullback
from mfspec.layers._quadrature import Discretization
from mfspec.layers.readout import Readout

__all__ = ["Back", "Draw", "LayerKind", "LayerState", "NoSymbolicRule", "Upstream", "tied_widths"]


class Upstream(NamedTuple):
    """What layer ℓ reads of the layer below it, in the forward fold (arrays, or SymPy tuples in the
    symbolic system).

    Fields:
        a: the previous layer's outputs σ_{ℓ−1}(θ, H_{ℓ−1}), (B, M') — or the input x (B, d) at ℓ = 1.
        mix: π_{ℓ−1}: a scalar 1/n_{ℓ−1} for a finite network, the particle weights (M',) for the
            limit; None at ℓ = 1.
        h: the previous layer's pre-activation H_{ℓ−1} (B, M'), for a skip connection; None at ℓ = 1.
    """

    a: Any
    mix: Any = None
    h: Any = None


class Back(NamedTuple):
    """What a layer's backward step hands the layer below: scaled cotangents to add into its slots.

    Fields:
        a: for its outputs a_{ℓ−1}: B_{ℓ−1} of eq. 39 (B, M'); None when there is no layer below.
        h: for its pre-activation H_{ℓ−1} directly (a skip connection); None for most kinds.
    """

    a: Any = None
    h: Any = None


class NoSymbolicRule(Exception):
    """Raised by a kind's ``sym_*`` methods when it has no rule of that kind; the message says why
    (``mfspec verify`` reports the check as not applicable, with that reason)."""


class LayerState(eqx.Module):
    """One layer's arrays: a finite layer of n neurons, or M particles with weights.

    Fields:
        w: the incoming weights of each neuron: (M, d) for the input layer, (M, M') for a dense
            layer (``W_ℓ`` at finite n, ``F_ℓ[j, i] = f_{ℓ,j}(particle i of layer ℓ−1)`` in the
            limit), (M, M', R, s) for a local operation (R noise nodes; R = 1 at finite n), filters
            for a convolution.
        theta: θ of each neuron, (M, q).
        pi: particle weights (M,), summing to 1; ``None`` for a finite network (π = 1/n, applied as
            a scalar).
        omega: the weights ϖ (R,) of the layer's own node axis — the noise nodes of a local
            operation's weight, or the θ nodes of a residual layer's particles (parent × node);
            ``None`` for one node.

    ``pi`` and ``omega`` are constant in time: the limit solver never moves them.
    """

    # *batch: states with leading axes (a saved time series, a vmapped batch of seeds). w's shape
    # after M depends on the kind (see above), so only its float dtype is annotated.
    w: Float[Array, "..."]
    theta: Float[Array, "*batch m q"]
    pi: Float[Array, "*batch m"] | None = None
    omega: Float[Array, "*batch r"] | None = None

    @property
    def size(self) -> int:
        """M (or n), the number of neurons or particles."""
        return int(self.theta.shape[-2])

    @property
    def mix(self):
        """π as the forward pass uses it: the scalar 1/n of a finite layer, or the weight vector."""
        return 1.0 / self.size if self.pi is None else self.pi

    def moving(self) -> tuple[jax.Array, jax.Array]:
        """The arrays that train / evolve: (w, θ)."""
        return self.w, self.theta

    def with_moving(self, w, theta) -> "LayerState":
        return LayerState(w, theta, self.pi, self.omega)

    def weights_like(self) -> jax.Array:
        """π (M,) as an array (1/M for a finite layer), for code that needs it per particle."""
        if self.pi is not None:
            return self.pi
        return jnp.full((self.size,), 1.0 / self.size, self.theta.dtype)


@dataclasses.dataclass
class Draw:
    """The randomness of one network's init (prediction statement of Sec. 3.2): a fixed key slot
    per array, so that a network is reproducible from its key.

    Keys: layer ℓ's θ takes slot ℓ of ``split(key, 2L + 2)``, W_1 slot 0, W_ℓ (ℓ ≥ 2) slot L + ℓ,
    b_out the last. ``host()`` is one NumPy generator seeded by the network key, shared by the layers
    in order: a kind whose shapes vary with every width (a convolution's filters) draws there,
    because XLA:CPU compiles a threefry draw for each new shape in seconds, longer than the draw.
    """

    key: jax.Array
    layers: int
    input_dim: int
    _rng: np.random.Generator | None = None

    def __post_init__(self):
        self.keys = jax.random.split(self.key, 2 * self.layers + 2)

    def theta(self, ell: int):
        """The key of θ_ℓ."""
        return self.keys[ell]

    def weights(self, ell: int):
        """The key of layer ℓ's incoming weights."""
        return self.keys[0] if ell == 1 else self.keys[self.layers + ell]

    def out_bias(self):
        return self.keys[-1]

    def host(self) -> np.random.Generator:
        """The shared NumPy generator (created on first use, then drawn from in layer order)."""
        if self._rng is None:
            key = self.key
            raw = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
            self._rng = np.random.default_rng(np.asarray(raw, np.uint32).ravel())
        return self._rng


class LayerKind(eqx.Module):
    """A kind of layer: everything about one layer in one place (abstract).

    A subclass declares the fields ``act`` (σ_ℓ), ``theta_law`` and ``weight_law`` (both None until
    a ``Spec`` binds them from its ``init``), the class variable ``kind_name``, and implements every
    abstract method below; the folds call nothing else. θ's MF factor is n_ℓ and both θ_ℓ and the
    incoming weights take layer ℓ's schedule ξ_ℓ (eq. 13-15), for every kind.

    Methods, by system:

    - declaration: ``check_weight_law`` (abstract), ``check_follows``, ``check_width``, ``describe``;
    - finite network: ``init``, ``weight_factor`` (the MF factor of Sec. 3.1);
    - both systems: ``preactivation`` (H_ℓ from the ``Upstream``), ``activate`` (σ_ℓ),
      ``head_output`` (ŷ when the layer is the last);
    - limit: ``weight_pullback`` (the Δ_W rate and the ``Back`` to layer ℓ−1), ``particles``
      (the discretization), ``neuron_pullback`` and ``head_pullback`` (σ_ℓ's half of eq. 39);
    - symbolic: ``weight_shape``, ``sym_weights``, ``sym_preactivation``, ``sym_pullback``,
      ``sym_clones`` (tiny-width networks for E2, the JAX-vs-SymPy check and MF scaling),
      ``eq_network``, ``eq_formal`` (the printed equations), ``eq_activations``.
    """

    act: AbstractVar[Activation]
    theta_law: AbstractVar[Law | None]
    weight_law: AbstractVar[Any]

    #: Short name used in messages, printouts and results.json.
    kind_name: AbstractClassVar[str]
    #: Whether this kind reads the input x (layer 1) rather than a previous layer.
    reads_input: ClassVar[bool] = False
    #: Whether H_ℓ reads H_{ℓ−1} itself (a skip connection): the particles of layer ℓ carry the
    #: labels of layer ℓ−1's, which the radial reduction and the Eulerian G_ℓ do not allow.
    skips: ClassVar[bool] = False
    #: Whether the trainer may scan SGD steps of a network with this kind (see ``Conv``).
    scan_steps: ClassVar[bool] = True
    #: Evaluate at most this many inputs per call (memory of feature maps), or None.
    eval_chunk: ClassVar[int | None] = None

    @property
    def q(self) -> int:
        """The dimension of θ."""
        return self.act.q

    @property
    def k(self) -> int:
        """The number of outputs of σ_ℓ (1 except for the last layer)."""
        return self.act.k

    # ---- declaration -------------------------------------------------------------------------

    def bind(self, theta_law, weight_law) -> "LayerKind":
        """This layer with its init laws (``Spec`` resolves ``init`` and binds each layer's)."""
        return dataclasses.replace(self, theta_law=theta_law, weight_law=weight_law)

    @abc.abstractmethod
    def check_weight_law(self, where: str, q_prev: int | None) -> None:
        """Raise if ``weight_law`` cannot initialize this kind's weights (``q_prev``: θ's size in
        the layer below, None at ℓ = 1)."""

    def check_follows(self, prev: "LayerKind | None", where: str) -> None:
        """Raise if this kind cannot follow ``prev`` (None: it is layer 1). Default: layer 1 reads
        the input, later layers read scalar neuron outputs (not a convolution's feature maps)."""
        if self.reads_input != (prev is None):
            why = "reads the input x" if self.reads_input else "reads a previous layer"
            first = (
                "layer 1 must read the input (mf.Input)" if prev is None else "only layer 1 reads the input"
            )
            raise ValueError(f"{where} is a layer of kind {type(self).__name__}, which {why}: {first}")
        if prev is not None and getattr(prev, "output_maps", False):
            raise ValueError(
                f"{where} is a layer of kind {type(self).__name__}, which reads one number per neuron, but "
                f"the layer below is a {type(prev).__name__} whose neurons output feature maps"
            )

    def check_width(self, n: int, n_prev: int | None, where: str) -> None:
        """Raise if this kind cannot have n neurons above a layer of ``n_prev`` (default: any n)."""

    def tied_width(self, n: int, n_prev: int | None) -> int:
        """A width this kind accepts above ``n_prev``, near n (for the tiny networks of the checks)."""
        return n

    def exprs(self) -> tuple:
        """Every SymPy expression of the layer (σ_ℓ's outputs; σ* too for a local operation)."""
        return self.act.exprs

    def map_exprs(self, fn) -> "LayerKind":
        """This layer with ``fn`` applied to its expressions (kink smoothing for E2)."""
        return dataclasses.replace(self, act=self.act.map(fn))

    def describe(self) -> dict:
        """A JSON description of the layer (results.json)."""
        act = self.act
        return {
            "kind": self.kind_name,
            "sigma": [str(e) for e in act.exprs],
            "sigma_latex": act.latex(),
            "theta": [str(s) for s in act.theta],
            "roles": list(act.roles),
            "q": self.q,
            "k": self.k,
        }

    # ---- finite network ----------------------------------------------------------------------

    @abc.abstractmethod
    def init(self, draw: Draw, ell: int, n: int, prev: "LayerState | None", dtype) -> "LayerState":
        """Layer ℓ of a finite network with n neurons, drawn from the bound laws (Sec. 3.2) with the
        keys of ``draw``; ``prev`` is the layer below (None at ℓ = 1)."""

    @abc.abstractmethod
    def weight_factor(self, n: int, n_prev: int | None) -> float:
        """The MF factor of the incoming weights' SGD step (Sec. 3.1); ``n_prev`` is None at ℓ = 1."""

    # ---- both systems ------------------------------------------------------------------------

    @abc.abstractmethod
    def preactivation(self, state: LayerState, up: Upstream):
        """H_ℓ of eq. 38 (π = 1/n) and eq. 39 (π the particle weights), (B, M) or maps."""

    def activate(self, state: LayerState, h):
        """σ_ℓ(θ, h): (B, M), or (B, M, k) for a k-output last layer."""
        return self.act(state.theta, h)

    def head_output(self, state: LayerState, h, readout: Readout, out_bias):
        """ŷ (B, k) when this is the last layer: the readout's π-weighted mean of σ_L, plus b_out."""
        return readout.forward(self.activate(state, h), state.mix, out_bias)

    # ---- limit -------------------------------------------------------------------------------

    @abc.abstractmethod
    def weight_pullback(self, state: LayerState, up: Upstream, d_h) -> tuple[Any, Back]:
        """(Σ_b ⟨cot, Δ_{W,ℓ}⟩ shaped like ``state.w``, the ``Back`` to layer ℓ−1) given d_h =
        ⟨cot, Δ_{H,ℓ}⟩ per sample (scaled cotangents: see the module docstring)."""

    def neuron_pullback(self, state: LayerState, h, back):
        """(Σ_b ⟨B_ℓ, ∇_θσ_ℓ⟩ (M, q), ⟨B_ℓ, ∂_hσ_ℓ⟩ per sample) for B_ℓ = ``back``: the neuron half of
        eq. 39's backward at a layer ℓ < L."""
        _, g_theta, d_h = summed_pullback(self.act, state.theta, h, (back,))
        return g_theta, d_h

    def head_pullback(self, state: LayerState, h, readout: Readout, out_bias):
        """ŷ and the start of eq. 39's backward when this is the last layer: (ŷ (B, k), e ↦
        (Σ_b ⟨e, Δ_{θ,L}⟩ (M, q), ⟨e, Δ_{H,L}⟩ per sample)) (``mfspec.layers._pullbacks``)."""
        return head_pullback(self, state, h, readout, out_bias)

    @abc.abstractmethod
    def particles(self, ctx: Discretization, prev: "LayerState | None", ell: int) -> "LayerState":
        """Layer ℓ's particles of the initial law ρ^0 (docs/formal_system.md sec. 3), sized by
        ``ctx.resolution``; ``prev`` is the layer below's (None at ℓ = 1)."""

    # ---- symbolic ----------------------------------------------------------------------------

    @abc.abstractmethod
    def weight_shape(self, n: int, n_prev: int) -> tuple[int, ...]:
        """The shape of a finite layer's w (``n_prev`` is d for the input layer)."""

    @abc.abstractmethod
    def sym_weights(self, ell: int, n: int, n_prev: int):
        """One SymPy symbol per weight entry, nested tuples shaped like ``weight_shape``."""

    @abc.abstractmethod
    def sym_preactivation(self, w, up: Upstream) -> tuple:
        """h_ℓ[j] of eq. 38 for symbolic weights and an ``Upstream`` of SymPy tuples."""

    @abc.abstractmethod
    def sym_pullback(self, w, up: Upstream, pi, d_h) -> tuple[Any, Back]:
        """(Δ_{W,ℓ} for one output channel, shaped like w; the ``Back`` to layer ℓ−1) given
        Δ_{H,ℓ}[j] = ``d_h`` and this layer's π (the symbolic Δ recursion of eq. 39)."""

    @abc.abstractmethod
    def sym_clones(self, ell: int, marked: Upstream, clone: Upstream, width_prev, R) -> tuple:
        """The MF-scaling construction (``mfspec.symbolic._scaling``): (h of the marked neuron, h of
        a clone, [(label, symbol)] of the marked weight, {marked symbol: clone symbol}) from the marked
        and clone outputs (and pre-activations) of the layer below; ``R`` makes a real symbol."""

    def eq_activations(self, ell: int, Call) -> list[tuple]:
        """Printed rows (lhs, rhs, note) of σ_ℓ, ∂_hσ_ℓ and ∇_θσ_ℓ (``mfspec equations``)."""
        act = self.act
        exprs = sp.Matrix(act.exprs) if act.k > 1 else act.exprs[0]
        rows = [(Call(f"sigma_{ell}", [*act.theta, act.h]), exprs, f"{act.name}, q = {act.q}, k = {act.k}")]
        dh = sp.Matrix([sp.diff(e, act.h) for e in act.exprs]) if act.k > 1 else sp.diff(act.exprs[0], act.h)
        rows.append((Call(f"partial_h sigma_{ell}", [*act.theta, act.h]), dh, ""))
        if act.q:
            grad = sp.Matrix([[sp.diff(e, s) for e in act.exprs] for s in act.theta])
            rows.append((Call(f"nabla_theta sigma_{ell}", [*act.theta, act.h]), grad, "q × k"))
        return rows

    @abc.abstractmethod
    def eq_network(self, ell: int, nt) -> tuple:
        """Printed rows of eq. 38 for this connection: (forward, back-sum to layer ℓ−1 or None,
        scaled gradient of the weights)."""

    def eq_skip(self, ell: int, nt):
        """The printed share of the scaled gradient at h_{ℓ−1} that does not pass through σ_{ℓ−1}
        (a skip connection's), or None (the default: none)."""
        return None

    def eq_formal_skip(self, ell: int, fs):
        """The same for Δ_{H,ℓ−1} of the formal system, or None (the default: none)."""
        return None

    @abc.abstractmethod
    def eq_formal(self, ell: int, fs) -> tuple:
        """Printed rows of eq. 39 for this connection: (forward, B_{ℓ−1} or None, Δ_W, G_W, the
        Lagrangian evolution)."""


def tied_widths(kinds, widths) -> tuple[int, ...]:
    """``widths`` adjusted to what each kind accepts above the one below (``LayerKind.tied_width``:
    a residual layer keeps the width of the layer below)."""
    out: list[int] = []
    for kind, n in zip(kinds, widths):
        out.append(kind.tied_width(n, out[-1] if out else None))
    return tuple(out)
