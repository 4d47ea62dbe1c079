"""The spec: one declaration of an architecture, from which both systems are generated."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx

from mfspec._resolution import DEFAULT as DEFAULT_RESOLUTION
from mfspec._resolution import Resolution
from mfspec.act import Activation
from mfspec.data._base import Dataset
from mfspec.init import Init, Usual
from mfspec.loss import Loss
from mfspec.lr import LearningRate


def _positive_int(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} must be a positive int, got {value!r}")
    return value


def normalize_widths(width, num_layers: int, what: str = "spec") -> tuple[int, ...]:
    """A width (the same n in every layer) or per-layer widths → a checked tuple n_1..n_L."""
    if isinstance(width, int) and not isinstance(width, bool):
        width = (width,) * num_layers
    width = tuple(width)
    if len(width) != num_layers:
        raise ValueError(
            f"widths {width} has {len(width)} entries but the {what} has L = {num_layers} layers"
        )
    for ell, n in enumerate(width, start=1):
        _positive_int(n, f"width n_{ell}")
    return width


class Spec(eqx.Module):
    """A multilayer network in MF scaling (MATH.md sec. 1; paper eq. 38) and how it is trained.

    Arguments:
        input_dim: d.
        hidden: activations σ_1..σ_{L-1} of the hidden layers (each k = 1); may be empty (L = 1).
        head: σ_L, the last layer's activation, with k ≥ 1 outputs. The paper's "(L+1)-layers
            network" has ``len(hidden) = L - 1``: its 5-layer net has 3 hidden + 1 head.
        loss: a ``Loss`` with k outputs, or a factory ``k -> Loss`` (e.g. ``mf.loss.squared``).
        init: ``mf.init.usual(...)`` or a full ``mf.init.Init``.
        data: the data law P (``mf.data.*``).
        lr: ``mf.lr.constant(α)``, ``mf.lr.annealed(α)``, ...
        batch_size: SGD minibatch size (paper: 100).
        output_bias: whether ŷ has the global bias b_out (Sec. 4.2.1's b_{L+1}).
        name: a label used in results and figures.
    """

    input_dim: int = eqx.field(static=True)
    hidden: tuple[Activation, ...]
    head: Activation
    loss: Loss
    init: Init
    data: Dataset
    lr: LearningRate
    batch_size: int = eqx.field(static=True)
    output_bias: bool = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self,
        *,
        input_dim: int,
        hidden: Sequence[Activation],
        head: Activation,
        loss: Loss | Callable[[int], Loss],
        init: Init | Usual,
        data: Dataset,
        lr: LearningRate,
        batch_size: int = 100,
        output_bias: bool = True,
        name: str = "spec",
    ):
        self.input_dim = _positive_int(input_dim, "Spec.input_dim")
        self.batch_size = _positive_int(batch_size, "Spec.batch_size")
        hidden = tuple(hidden)
        for i, act in enumerate(hidden, start=1):
            if not isinstance(act, Activation):
                raise TypeError(f"Spec.hidden[{i - 1}] (layer {i}) must be an Activation, got {act!r}")
            if act.k != 1:
                raise ValueError(f"Spec.hidden[{i - 1}] (layer {i}) must have one output, got k = {act.k}")
        if not isinstance(head, Activation):
            raise TypeError(f"Spec.head must be an Activation, got {head!r}")
        self.hidden, self.head = hidden, head
        k = head.k
        if not isinstance(loss, Loss):
            loss = loss(k)
        if loss.k != k:
            raise ValueError(f"Spec.loss {loss.name!r} is for k = {loss.k} outputs but the head has k = {k}")
        self.loss = loss
        if not isinstance(data, Dataset):
            raise TypeError(f"Spec.data must be an mf.data source, got {data!r}")
        if data.input_dim != input_dim:
            raise ValueError(
                f"Spec.data has input dimension {data.input_dim} but Spec.input_dim = {input_dim}"
            )
        if data.outputs != k:
            raise ValueError(f"Spec.data has labels with k = {data.outputs} outputs but the head has k = {k}")
        self.data = data
        if not isinstance(lr, LearningRate):
            raise TypeError(f"Spec.lr must be an mf.lr.LearningRate, got {lr!r}")
        lr.for_layers(len(hidden) + 1)  # validates per-layer schedules against L
        self.lr = lr
        if isinstance(init, Usual):
            init = init.resolve(input_dim, (*hidden, head))
        self.init = _check_init(init, (*hidden, head))
        self.output_bias = bool(output_bias)
        if not isinstance(name, str) or not name:
            raise ValueError(f"Spec.name must be a non-empty string, got {name!r}")
        self.name = name

    @property
    def acts(self) -> tuple[Activation, ...]:
        """σ_1..σ_L."""
        return (*self.hidden, self.head)

    @property
    def num_layers(self) -> int:
        """L, the number of layers of neurons."""
        return len(self.hidden) + 1

    @property
    def outputs(self) -> int:
        return self.head.k

    def widths(self, width: int | Sequence[int]) -> tuple[int, ...]:
        """Normalize a width (uniform) or per-layer widths to a checked tuple n_1..n_L."""
        return normalize_widths(width, self.num_layers, "spec")

    def network(self, width: int | Sequence[int], key, dtype=None):
        """The finite network of MATH.md sec. 1 at widths n_1..n_L, drawn from the init law."""
        from mfspec._network import init_network

        return init_network(self, self.widths(width), key, dtype=dtype)


def _check_init(init: Init, acts: Sequence[Activation]) -> Init:
    if not isinstance(init, Init):
        raise TypeError(f"Spec.init must be mf.init.usual(...) or mf.init.Init, got {init!r}")
    L = len(acts)
    if len(init.theta) != L:
        raise ValueError(f"Spec.init.theta has {len(init.theta)} laws but the spec has L = {L} layers")
    if len(init.kernels) != L - 1:
        raise ValueError(f"Spec.init.kernels has {len(init.kernels)} kernels but layers 2..L need {L - 1}")
    for ell, (law, act) in enumerate(zip(init.theta, acts), start=1):
        law.check(act.q, f"Spec.init.theta[{ell - 1}] (layer {ell}, q = {act.q})")
    init.w1.check(1, "Spec.init.w1")
    init.out_bias.check(1, "Spec.init.out_bias")
    return init


class Run(eqx.Module):
    """How big an experiment is: the width sweep, seeds and horizon (a spec file's preset).

    Arguments:
        widths: the uniform widths n to train (or per-layer tuples).
        seeds: number of seeds per width.
        iterations: SGD steps per run.
        num_evals: number of log-spaced evaluation iterations (0 and the last are included).
        eval_samples: size of each fixed evaluation sample (paper: 10^4).
        limit: the limit solve's ``Resolution`` (default: ``Resolution()``), for a task that needs
            more particles or a finer step than the defaults.
    """

    widths: tuple = eqx.field(static=True, default=(50, 100, 200))
    seeds: int = eqx.field(static=True, default=1)
    iterations: int = eqx.field(static=True, default=1000)
    num_evals: int = eqx.field(static=True, default=30)
    eval_samples: int = eqx.field(static=True, default=2000)
    limit: Resolution = eqx.field(static=True, default=DEFAULT_RESOLUTION)

    def __check_init__(self):
        if not self.widths:
            raise ValueError("Run.widths must list at least one width")
        for n in self.widths:
            ns = (n,) if isinstance(n, int) else tuple(n)
            if not ns or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in ns):
                raise ValueError(f"Run.widths entries must be positive ints (or tuples of them), got {n!r}")
        _positive_int(self.seeds, "Run.seeds")
        _positive_int(self.iterations, "Run.iterations")
        _positive_int(self.num_evals, "Run.num_evals")
        _positive_int(self.eval_samples, "Run.eval_samples")
        if not isinstance(self.limit, Resolution):
            raise TypeError(f"Run.limit must be an mf.Resolution, got {self.limit!r}")


def eval_iterations(iterations: int, num_evals: int) -> tuple[int, ...]:
    """Log-spaced iterations in [0, iterations], always including 0 and ``iterations``."""
    pts = {0, iterations}
    if num_evals > 2:
        ratio = math.log(iterations) / (num_evals - 2) if iterations > 1 else 0.0
        pts.update(int(round(math.exp(ratio * i))) for i in range(num_evals - 1))
    return tuple(sorted(p for p in pts if 0 <= p <= iterations))
