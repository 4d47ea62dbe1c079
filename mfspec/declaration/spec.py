"""The spec: one declaration of an architecture, from which both systems are generated."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import sympy as sp
from jaxtyping import PRNGKeyArray

from mfspec.act import Activation
from mfspec.common.validate import is_int, positive_int
from mfspec.data._base import Dataset
from mfspec.declaration.labels import fit_loss_to_labels
from mfspec.init import Init, Usual
from mfspec.layers.base import LayerKind
from mfspec.layers.dense import Dense
from mfspec.layers.input import Input
from mfspec.layers.readout import Readout
from mfspec.loss import Loss
from mfspec.lr import LearningRate
from mfspec.network.particles import Particles, init_network


def check_name(name, where: str) -> str:
    """A label that is also a folder name (``runs/<name>``): non-empty, no path separators."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where} must be a non-empty string, got {name!r}")
    if any(c in name for c in "/\\") or name in (".", ".."):
        raise ValueError(
            f"{where} names the output folder runs/<name>: it must not contain '/' or '\\', got {name!r}"
        )
    return name


def check_batch_size(value, data, where: str):
    """A positive int, or "full" (full-batch gradient descent) for a finite dataset."""
    if value == "full":
        if not data.is_finite:
            raise ValueError(
                f"{where} = 'full' (full-batch gradient descent) needs a finite dataset, but the data "
                f"{type(data).__name__} samples fresh points each step; give a minibatch size"
            )
        return value
    if not is_int(value) or value < 1:
        raise ValueError(f"{where} must be a positive int or 'full', got {value!r}")
    return value


def normalize_widths(width, kinds: Sequence[LayerKind]) -> tuple[int, ...]:
    """A width (the same n in every layer) or per-layer widths → a tuple n_1..n_L, checked against
    each kind (``LayerKind.check_width``: a residual layer keeps its width)."""
    L = len(kinds)
    if is_int(width):
        width = (width,) * L
    width = tuple(width)
    if len(width) != L:
        raise ValueError(f"widths {width} has {len(width)} entries but the spec has L = {L} layers")
    for ell, (n, kind) in enumerate(zip(width, kinds), start=1):
        positive_int(n, f"width n_{ell}")
        kind.check_width(n, width[ell - 2] if ell > 1 else None, f"widths {width}: layer {ell}")
    return width


class Spec(eqx.Module):
    """A multilayer network in MF scaling (docs/formal_system.md sec. 1; paper eq. 38) and how it
    is trained.

    Declare the layers either as a tuple of layer kinds (``mfspec.layers``) or with the shorthand
    ``hidden=[σ_1..σ_{L−1}], head=σ_L`` (dense layers throughout).

    Arguments:
        input_dim: d.
        layers: layer kinds ℓ = 1..L: ``mf.Input(σ_1)`` first, then ``mf.Dense(σ_ℓ)`` or
            ``mf.local(σ*, w=..., h=...)``; a bare ``Activation`` stands for ``Input`` (first) or
            ``Dense``. Hidden layers have one output; the last layer's σ_L has k ≥ 1.
        hidden: the shorthand's σ_1..σ_{L−1} (each k = 1); may be empty (L = 1).
        head: the shorthand's σ_L with k ≥ 1 outputs. The paper's "(L+1)-layers network" has
            ``len(hidden) = L - 1``: its 5-layer net has 3 hidden + 1 head.
        loss: a ``Loss`` with k outputs, or a factory ``k -> Loss`` (e.g. ``mf.loss.squared``).
        init: ``mf.init.usual(...)`` or a full ``mf.init.Init`` (one θ law per layer, the law of
            W_1's entries, one ``Kernel`` (or, for a local layer, a law) per layer ℓ ≥ 2, b_out's law).
        data: the data law P (``mf.data.*``).
        lr: ``mf.lr.constant(α)``, ``mf.lr.annealed(α)``, ...
        batch_size: SGD minibatch size (paper: 100), drawn with replacement; or "full" for exact
            full-batch gradient descent on a finite dataset (the cleanest finite → limit comparison:
            no minibatch noise, only the step α remains).
        output_bias: whether ŷ has the global bias b_out (Sec. 4.2.1's b_{L+1}).
        name: a label used in results and figures.
    """

    input_dim: int = eqx.field(static=True)
    layers: tuple[LayerKind, ...]
    readout: Readout
    loss: Loss
    init: Init
    data: Dataset
    lr: LearningRate
    batch_size: int | str = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self,
        *,
        input_dim: int,
        layers: Sequence[LayerKind | Activation] | None = None,
        hidden: Sequence[Activation] | None = None,
        head: Activation | None = None,
        loss: Loss | Callable[[int], Loss],
        init: Init | Usual,
        data: Dataset,
        lr: LearningRate,
        batch_size: int | str = 100,
        output_bias: bool = True,
        name: str = "spec",
    ):
        self.input_dim = positive_int(input_dim, "Spec.input_dim")
        kinds = _layer_kinds(layers, hidden, head)
        k = kinds[-1].k
        if not isinstance(loss, Loss):
            loss = loss(k)
        if loss.k != k:
            raise ValueError(f"Spec.loss {loss.name!r} is for k = {loss.k} outputs but the head has k = {k}")
        if not isinstance(data, Dataset):
            raise TypeError(f"Spec.data must be an mf.data source, got {data!r}")
        if data.input_dim != input_dim:
            raise ValueError(
                f"Spec.data has input dimension {data.input_dim} but Spec.input_dim = {input_dim}"
            )
        if data.outputs != k:
            raise ValueError(f"Spec.data has labels with k = {data.outputs} outputs but the head has k = {k}")
        self.data = data
        self.loss = fit_loss_to_labels(loss, data, "Spec.data")
        self.batch_size = check_batch_size(batch_size, data, "Spec.batch_size")
        if not isinstance(lr, LearningRate):
            raise TypeError(f"Spec.lr must be an mf.lr.LearningRate, got {lr!r}")
        lr.for_layers(len(kinds))  # validates per-layer schedules against L
        self.lr = lr
        if isinstance(init, Usual):
            init = init.resolve(input_dim, kinds)
        self.init = _check_init(init, kinds)
        self.layers = tuple(
            kind.bind(init.theta[i], init.w1 if i == 0 else init.kernels[i - 1])
            for i, kind in enumerate(kinds)
        )
        self.readout = Readout(bias=bool(output_bias), law=init.out_bias)
        self.name = check_name(name, "Spec.name")

    @property
    def acts(self) -> tuple[Activation, ...]:
        """σ_1..σ_L."""
        return tuple(kind.act for kind in self.layers)

    @property
    def hidden(self) -> tuple[Activation, ...]:
        """σ_1..σ_{L−1}."""
        return self.acts[:-1]

    @property
    def head(self) -> Activation:
        """σ_L."""
        return self.acts[-1]

    @property
    def output_bias(self) -> bool:
        return self.readout.bias

    @property
    def num_layers(self) -> int:
        """L, the number of layers of neurons."""
        return len(self.layers)

    @property
    def outputs(self) -> int:
        return self.layers[-1].k

    def widths(self, width: int | Sequence[int]) -> tuple[int, ...]:
        """Normalize a width (uniform) or per-layer widths to a checked tuple n_1..n_L."""
        return normalize_widths(width, self.layers)

    def network(self, width: int | Sequence[int], key: PRNGKeyArray, dtype=None) -> Particles:
        """The finite network of eq. 38 at widths n_1..n_L, drawn from the init law: an
        ``mf.MFNetwork`` (the particle state with weights π = 1/n)."""
        return init_network(self.layers, self.readout, self.widths(width), key, input_dim=self.input_dim,
                            dtype=dtype)  # fmt: skip

    def describe(self) -> dict:
        """A JSON description of the spec (results.json's ``config.spec``): enough to read what was
        run, and to rebuild it by hand."""
        return {
            "name": self.name,
            "input_dim": self.input_dim,
            "num_layers": self.num_layers,
            "layers": [{"layer": ell, **kind.describe()} for ell, kind in enumerate(self.layers, start=1)],
            "loss": {"name": self.loss.name, "expr": sp.sstr(self.loss.expr), "error": self.loss.error},
            "init": repr(self.init),
            "lr": repr(self.lr),
            "alpha": self.lr.alpha,
            "data": repr(self.data),
            "batch_size": self.batch_size,
            "output_bias": self.output_bias,
        }


def _layer_kinds(layers, hidden, head) -> tuple[LayerKind, ...]:
    """The spec's layers from ``layers=`` or the ``hidden=, head=`` shorthand, checked."""
    if layers is not None:
        if hidden is not None or head is not None:
            raise ValueError("Spec: give layers=(...) or hidden=..., head=..., not both")
        given, field = list(layers), "Spec.layers"
    else:
        if head is None:
            raise ValueError("Spec: give layers=(...) or head= (with hidden=[...] for L > 1)")
        if not isinstance(head, Activation):
            raise TypeError(f"Spec.head must be an Activation, got {head!r}")
        given, field = [*(hidden or ()), head], "Spec.hidden"
    if not given:
        raise ValueError(f"{field} is empty: a spec needs at least one layer")
    kinds = []
    for i, item in enumerate(given):
        where = f"{field}[{i}] (layer {i + 1})" if layers is not None or i < len(given) - 1 else "Spec.head"
        if isinstance(item, Activation):
            item = Input(item) if i == 0 else Dense(item)
        if not isinstance(item, LayerKind):
            raise TypeError(
                f"{where} must be a layer kind (mf.Input, mf.Dense, mf.local, ...) or an Activation, got {item!r}"
            )
        item.check_follows(kinds[-1] if kinds else None, where)
        if i < len(given) - 1 and item.k != 1:
            raise ValueError(
                f"{where} must have one output, got k = {item.k} (only the last layer has k outputs)"
            )
        kinds.append(item)
    return tuple(kinds)


def _check_init(init: Init, kinds: Sequence[LayerKind]) -> Init:
    if not isinstance(init, Init):
        raise TypeError(f"Spec.init must be mf.init.usual(...) or mf.init.Init, got {init!r}")
    L = len(kinds)
    if len(init.theta) != L:
        raise ValueError(f"Spec.init.theta has {len(init.theta)} laws but the spec has L = {L} layers")
    if len(init.kernels) != L - 1:
        raise ValueError(f"Spec.init.kernels has {len(init.kernels)} kernels but layers 2..L need {L - 1}")
    for ell, (law, kind) in enumerate(zip(init.theta, kinds), start=1):
        law.check(kind.q, f"Spec.init.theta[{ell - 1}] (layer {ell}, q = {kind.q})")
    kinds[0].bind(None, init.w1).check_weight_law("Spec.init.w1", None)
    for ell, (kernel, kind, prev) in enumerate(zip(init.kernels, kinds[1:], kinds), start=2):
        kind.bind(None, kernel).check_weight_law(f"Spec.init.kernels[{ell - 2}] (layer {ell})", prev.q)
    init.out_bias.check(1, "Spec.init.out_bias")
    return init
