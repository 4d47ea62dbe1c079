"""The spec of a CNN in MF scaling (paper App. C): layers, data, loss, rates, init, checked once.

The default layers are Table 1's 8-layer CNN on 32×32×3 images: seven 3×3 convolutions with n
filters each (strides 2, 2, 1, 1, 1, 1, 1; ReLU; a 3×3 max pool of stride 2 after layers 5 and 7)
and the fully connected output FC(k, 4n). Counting as the fully connected specs do, the CNN has
L = 7 layers of neurons (the filters), and the output weights β belong to layer L's filters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx

from mfspec._spec import check_batch_size, check_name, normalize_widths
from mfspec.data._base import Dataset
from mfspec.loss import Loss
from mfspec.lr import LearningRate


def _positive_int(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} must be a positive int, got {value!r}")
    return value


def _nonnegative_int(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where} must be an int >= 0, got {value!r}")
    return value


def _positive_float(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{where} must be a number > 0, got {value!r}")
    return float(value)


class ConvLayer(eqx.Module):
    """One row of Table 1: CONV-(s, s, n) with a stride, ReLU, then an optional max POOL.

    Paddings are symmetric. The paper applies "appropriate paddings"; the defaults, ⌊s/2⌋ on each
    side (``kernel // 2`` for the convolution, ``pool // 2`` for the pool, whose padding never wins
    the max), give Table 1's spatial sizes 16, 8, 8, 8, 4, 4, 2 from a 32×32 image.

    Arguments:
        kernel: the receptive field s (s × s).
        stride: the convolution's stride (both dimensions).
        pool: the max pool's window (pool × pool); 0 for no pool.
        pool_stride: the pool's stride.
        padding: zeros added on each side before the convolution (default ``kernel // 2``).
        pool_padding: padding on each side before the pool, at most ``pool // 2`` so that every
            window holds a real value (default ``pool // 2``).
    """

    kernel: int = eqx.field(static=True, default=3)
    stride: int = eqx.field(static=True, default=1)
    pool: int = eqx.field(static=True, default=0)
    pool_stride: int = eqx.field(static=True, default=2)
    padding: int | None = eqx.field(static=True, default=None)
    pool_padding: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        _positive_int(self.kernel, "ConvLayer.kernel")
        _positive_int(self.stride, "ConvLayer.stride")
        _nonnegative_int(self.pool, "ConvLayer.pool (0: no pool)")
        _positive_int(self.pool_stride, "ConvLayer.pool_stride")
        if self.padding is not None:
            _nonnegative_int(self.padding, "ConvLayer.padding")
        if self.pool_padding is not None:
            _nonnegative_int(self.pool_padding, "ConvLayer.pool_padding")
            if self.pool_padding > self.pool // 2:
                raise ValueError(
                    f"ConvLayer.pool_padding must be at most pool // 2 = {self.pool // 2}, got {self.pool_padding!r}"
                )

    @property
    def pad(self) -> int:
        """The convolution's padding on each side."""
        return self.kernel // 2 if self.padding is None else self.padding

    @property
    def pool_pad(self) -> int:
        """The pool's padding on each side."""
        return self.pool // 2 if self.pool_padding is None else self.pool_padding

    def out_size(self, side: int) -> tuple[int, int]:
        """(after the convolution, after the pool) spatial side for an input of side ``side``."""
        conv = (side + 2 * self.pad - self.kernel) // self.stride + 1
        if not self.pool or conv < 1:
            return conv, conv
        return conv, (conv + 2 * self.pool_pad - self.pool) // self.pool_stride + 1


#: Table 1 (App. C): layers 1-7 of the paper's 8-layer CNN; layer 8 is the FC output.
TABLE1 = (
    ConvLayer(stride=2),
    ConvLayer(stride=2),
    ConvLayer(),
    ConvLayer(),
    ConvLayer(pool=3),
    ConvLayer(),
    ConvLayer(pool=3),
)


class ConvSpec(eqx.Module):
    """A CNN in MF scaling (App. C) and how it is trained; ``mfspec run`` takes it like an ``mf.Spec``.

    h_1 = W_1 ⊛ x + b_1, h_ℓ = (1/n_{ℓ-1}) W_ℓ ⊛ σ_{ℓ-1}(h_{ℓ-1}) + b_ℓ (ℓ = 2..L),
    ŷ = (1/n_L) ⟨β, σ_L(h_L)⟩ + b_out, where (W ⊛ u)_i = Σ_j w_ij * u_j sums over input channels,
    σ_ℓ is ReLU followed by layer ℓ's pool, and ⟨β, ·⟩ sums over filters and spatial positions.

    Arguments:
        name: a label used in results and figures.
        data: the data (``mf.data.cifar10(...)``, or any source whose flat inputs are images of
            ``input_shape`` in channel-major order, as the CIFAR-10 files store them).
        loss: a ``Loss`` with k outputs, or a factory ``k -> Loss`` (``mf.loss.cross_entropy``).
        lr: ``mf.lr.annealed(0.08)`` for Fig. 12; a per-layer schedule needs L = len(layers) entries.
        input_shape: (channels d, height, width) of an image (CIFAR-10: (3, 32, 32)).
        layers: the convolutional layers (default: Table 1).
        outputs: k, the number of outputs (default: the data's); checked against data and loss.
        batch_size: SGD minibatch size (paper: 100), or "full" (full-batch gradient descent).
        w1_var: variance of W_1's entries (default 2/(s² d), the paper's N(0, 2/(9d)) for s = 3).
        w_mean, w_var: mean and variance of the entries of W_2..W_L and β (paper: N(1, 0.1),
            read in its N(mean, variance) notation of Sec. 4.2.1).
        output_bias: whether ŷ has the trainable bias b_out (zero at init, as every bias is).
        fan_in: divide by the whole fan-in, s² n_{ℓ-1} in layer ℓ ≥ 2 and P n_L at the output,
            instead of App. C's n_{ℓ-1} and n_L. The factors are constants, so the MF scaling in n
            and the SGD factors are the same; but App. C's form leaves each s × s sum of mean-1
            weights undivided, so at init h_ℓ grows up to s² = 9 times per layer (Table 1 on
            random images: 3-8.5 times, ŷ ~ 5·10^5), while with ``fan_in`` every h_ℓ stays at the
            scale of h_1 and the logits start nearly equal.
    """

    name: str = eqx.field(static=True)
    data: Dataset
    loss: Loss
    lr: LearningRate
    input_shape: tuple[int, int, int] = eqx.field(static=True)
    layers: tuple[ConvLayer, ...] = eqx.field(static=True)
    batch_size: int | str = eqx.field(static=True)
    w1_var: float = eqx.field(static=True)
    w_mean: float = eqx.field(static=True)
    w_var: float = eqx.field(static=True)
    output_bias: bool = eqx.field(static=True)
    fan_in: bool = eqx.field(static=True)
    sides: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        *,
        name: str,
        data: Dataset,
        loss: Loss | Callable[[int], Loss],
        lr: LearningRate,
        input_shape: Sequence[int] = (3, 32, 32),
        layers: Sequence[ConvLayer] = TABLE1,
        outputs: int | None = None,
        batch_size: int | str = 100,
        w1_var: float | None = None,
        w_mean: float = 1.0,
        w_var: float = 0.1,
        output_bias: bool = True,
        fan_in: bool = False,
    ):
        self.name = check_name(name, "ConvSpec.name")
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ValueError(f"ConvSpec.input_shape must be (channels, height, width), got {input_shape!r}")
        for what, v in zip(("channels", "height", "width"), shape):
            _positive_int(v, f"ConvSpec.input_shape {what}")
        if shape[1] != shape[2]:
            raise ValueError(f"ConvSpec.input_shape must be a square image (height = width), got {shape}")
        self.input_shape = shape
        layers = tuple(layers)
        if not layers:
            raise ValueError("ConvSpec.layers must list at least one ConvLayer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, ConvLayer):
                raise TypeError(f"ConvSpec.layers[{i}] (layer {i + 1}) must be a ConvLayer, got {layer!r}")
        self.layers = layers
        self.sides = _spatial_sides(shape[1], layers)
        if not isinstance(data, Dataset):
            raise TypeError(f"ConvSpec.data must be an mf.data source, got {data!r}")
        d = shape[0] * shape[1] * shape[2]
        if data.input_dim != d:
            raise ValueError(
                f"ConvSpec.input_shape {shape} has {d} values per image but ConvSpec.data has "
                f"input dimension {data.input_dim}"
            )
        k = data.outputs
        if outputs is not None:
            _positive_int(outputs, "ConvSpec.outputs")
            if outputs != k:
                raise ValueError(f"ConvSpec.outputs = {outputs} but ConvSpec.data has labels with k = {k}")
        self.data = data
        if not isinstance(loss, Loss):
            loss = loss(k)
        if loss.k != k:
            raise ValueError(
                f"ConvSpec.loss {loss.name!r} is for k = {loss.k} outputs but the data has k = {k}"
            )
        self.loss = loss
        if not isinstance(lr, LearningRate):
            raise TypeError(f"ConvSpec.lr must be an mf.lr.LearningRate, got {lr!r}")
        lr.for_layers(len(layers))  # validates per-layer schedules against L
        self.lr = lr
        self.batch_size = check_batch_size(batch_size, data, "ConvSpec.batch_size")
        s1 = layers[0].kernel
        self.w1_var = (
            2.0 / (s1 * s1 * shape[0]) if w1_var is None else _positive_float(w1_var, "ConvSpec.w1_var")
        )
        if isinstance(w_mean, bool) or not isinstance(w_mean, (int, float)):
            raise ValueError(f"ConvSpec.w_mean must be a number, got {w_mean!r}")
        self.w_mean = float(w_mean)
        if isinstance(w_var, bool) or not isinstance(w_var, (int, float)) or w_var < 0:
            raise ValueError(f"ConvSpec.w_var must be a number >= 0, got {w_var!r}")
        self.w_var = float(w_var)
        self.output_bias = bool(output_bias)
        self.fan_in = bool(fan_in)

    @property
    def num_layers(self) -> int:
        """L, the number of layers of neurons (filters); Table 1's "8-layers" CNN has L = 7."""
        return len(self.layers)

    @property
    def outputs(self) -> int:
        return self.loss.k

    @property
    def input_dim(self) -> int:
        """d·H·W, the length of a flat input."""
        c, h, w = self.input_shape
        return c * h * w

    @property
    def positions(self) -> int:
        """Spatial positions per filter after layer L (Table 1: 2×2 = 4, so β is FC(k, 4n))."""
        return self.sides[-1] ** 2

    def widths(self, width: int | Sequence[int]) -> tuple[int, ...]:
        """Normalize a width (n filters in every layer) or per-layer widths to a tuple n_1..n_L."""
        return normalize_widths(width, self.num_layers, "CNN")

    def network(self, width: int | Sequence[int], key, dtype=None):
        """A ``ConvNetwork`` with n_ℓ filters per layer, drawn from the paper's init (App. C)."""
        from mfspec.conv._network import init_conv_network

        return init_conv_network(self, self.widths(width), key, dtype=dtype)

    def kinds(self):
        """The layer kinds of the limit system (``mfspec.layers.conv.Conv``), one per layer."""
        from mfspec.layers.conv import conv_kinds

        return conv_kinds(self)

    def limit_spec(self):
        """This CNN as ``mf.solve_limit`` and the error bar read a spec (``mfspec.conv._limit``)."""
        from mfspec.conv._limit import limit_spec

        return limit_spec(self)

    def config(self) -> dict:
        """A JSON description (``results.json``'s ``config.spec``)."""
        return {
            "name": self.name,
            "kind": "cnn",
            "input_shape": list(self.input_shape),
            "num_layers": self.num_layers,
            "layers": [
                {
                    "layer": ell,
                    "conv": f"{layer.kernel}x{layer.kernel}, stride {layer.stride}, padding {layer.pad}",
                    "sigma": "relu"
                    + (
                        f", max pool {layer.pool}x{layer.pool} stride {layer.pool_stride} padding {layer.pool_pad}"
                        if layer.pool
                        else ""
                    ),
                    "side": side,
                }
                for ell, (layer, side) in enumerate(zip(self.layers, self.sides[1:]), start=1)
            ],
            "output": f"FC({self.outputs}, {self.positions}n)",
            "loss": {"name": self.loss.name, "error": self.loss.error},
            "init": {"w1_var": self.w1_var, "w_mean": self.w_mean, "w_var": self.w_var, "biases": 0.0},
            "lr": repr(self.lr),
            "alpha": self.lr.alpha,
            "data": repr(self.data),
            "batch_size": self.batch_size,
            "output_bias": self.output_bias,
            "fan_in": self.fan_in,
        }


def _spatial_sides(side: int, layers: Sequence[ConvLayer]) -> tuple[int, ...]:
    """The image side, then each layer's output side (after its pool); raise if one is < 1."""
    sides = [side]
    for i, layer in enumerate(layers):
        conv, pooled = layer.out_size(sides[-1])
        if conv < 1:
            raise ValueError(
                f"ConvSpec.layers[{i}] (layer {i + 1}): a {layer.kernel}x{layer.kernel} convolution of "
                f"stride {layer.stride}, padding {layer.pad} on a {sides[-1]}x{sides[-1]} input gives "
                f"spatial size {conv}"
            )
        if pooled < 1:
            raise ValueError(
                f"ConvSpec.layers[{i}] (layer {i + 1}): a {layer.pool}x{layer.pool} pool of stride "
                f"{layer.pool_stride}, padding {layer.pool_pad} on a {conv}x{conv} map gives spatial "
                f"size {pooled}"
            )
        sides.append(pooled)
    return tuple(sides)
