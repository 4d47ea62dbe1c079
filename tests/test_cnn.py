"""The CNN of App. C / Table 1 in MF scaling: forward against a loop-written reference, the MF
factors of Sec. 3.1 against autodiff of that reference, O(1) across widths, and input checks."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import reference_cnn_forward

import mfspec as mf
from mfspec.cli import main
from mfspec.conv import TABLE1, ConvLayer, ConvSpec
from mfspec.finite.train import _sgd_step
from mfspec.layers._conv_ops import max_pool


def _images(n, seed=0, shape=(3, 32, 32), k=10):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, int(np.prod(shape)))).astype(np.float32) / 255 * 2 - 1
    return x, mf.data.one_hot(rng.integers(0, k, n), k)


def _cifar_like(n=40, k=10, shape=(3, 32, 32)):
    x, y = _images(n, 0, shape, k)
    xt, yt = _images(n // 2, 1, shape, k)
    return mf.data.ArrayData(x, y, xt, yt)


DATA = _cifar_like()
# A 3-layer CNN with each kind of Table 1 layer (stride 2; pool; stride 1) on 8×8 images: sides
# 8 → 4 → 2 → 2, so β has P = 4 positions. Smaller graphs than Table 1's compile in a fraction.
SMALL = {"input_shape": (3, 8, 8), "layers": (ConvLayer(stride=2), ConvLayer(pool=3), ConvLayer())}
SMALL_DATA = _cifar_like(20, shape=(3, 8, 8))
# Compiled once per shape: op-by-op dispatch of the loop reference would dominate the file's time.
reference = eqx.filter_jit(reference_cnn_forward)
forward = eqx.filter_jit(lambda net, x, **kw: net(x, **kw))


def _spec(**kw):
    kw = {"name": "cnn", "data": DATA, "loss": mf.loss.cross_entropy, "lr": mf.lr.annealed(0.08), **kw}
    return ConvSpec(**kw)


def _bias_noise(net, seed, scale=0.3):
    """Non-zero biases and b_out (zero at the paper's init), so their terms are checked too."""
    rng = np.random.default_rng(seed)
    layers, out_bias = net.params()
    layers = tuple((w, th.at[:, 0].set(scale * rng.normal(size=th.shape[0]))) for w, th in layers)
    return net.with_params((layers, jnp.asarray(scale * rng.normal(size=out_bias.shape), out_bias.dtype)))


def _sides(net, x):
    """The spatial side of each layer's maps after its pool, from the forward pass."""
    _, hs = forward(net, x, with_preactivations=True)
    return tuple(int(max_pool(h, kind.layer).shape[1]) for h, kind in zip(hs, net.kinds))


# --- (a) forward -----------------------------------------------------------------------------


def test_table1_shapes_and_forward_match_the_loop_reference():
    spec = _spec()
    assert spec.num_layers == 7 and all(isinstance(k, mf.Conv) for k in spec.layers)
    assert spec.layers[-1].positions == 4 and spec.layers[-1].q == 1 + 10 * 4  # FC(10, 4n): θ = (b, β)
    net = _bias_noise(spec.network((3, 2, 3, 2, 3, 2, 3), jax.random.PRNGKey(0)), 1)
    x, _ = DATA.minibatch(jax.random.PRNGKey(2), 5, dtype=jnp.float64)
    assert _sides(net, x) == (16, 8, 8, 8, 4, 4, 2)
    yhat, hs = forward(net, x, with_preactivations=True)
    # Table 1's spatial sizes before each pool: 16, 8, 8, 8, 8 (→ pool 4), 4, 4 (→ pool 2).
    assert [h.shape[1:3] for h in hs] == [(16, 16), (8, 8), (8, 8), (8, 8), (8, 8), (4, 4), (4, 4)]
    ref_yhat, ref_hs = reference(net, x, with_preactivations=True)
    for ell, (h, r) in enumerate(zip(hs, ref_hs), start=1):
        np.testing.assert_allclose(
            h, jnp.transpose(r, (0, 2, 3, 1)), rtol=1e-12, atol=1e-9, err_msg=f"h_{ell}"
        )
    np.testing.assert_allclose(yhat, ref_yhat, rtol=1e-12)
    assert yhat.shape == (5, 10)


@pytest.mark.parametrize("fan_in", [False, True])
def test_other_strides_pools_and_paddings_match_the_reference(fan_in):
    layers = (ConvLayer(kernel=5, stride=1, padding=0), ConvLayer(stride=2, pool=2, pool_stride=1),
              ConvLayer(kernel=1, padding=1, pool=3, pool_stride=3, pool_padding=0))  # fmt: skip
    data = _cifar_like(12, k=3, shape=(2, 11, 11))
    spec = _spec(data=data, input_shape=(2, 11, 11), layers=layers, fan_in=fan_in)
    net = _bias_noise(spec.network((3, 2, 4), jax.random.PRNGKey(3)), 4)
    x, _ = data.minibatch(jax.random.PRNGKey(5), 4, dtype=jnp.float64)
    # 11-5+1 = 7; (7+2-3)//2+1 = 4, pool 2 pad 1 stride 1: 5; (5+2-1)+1 = 7, pool 3 pad 0 stride 3: 2
    assert _sides(net, x) == (7, 5, 2)
    np.testing.assert_allclose(forward(net, x), reference(net, x), rtol=1e-12)


def test_chunked_evaluation_equals_one_batch(monkeypatch):
    spec = _spec(data=SMALL_DATA, **SMALL)
    net = spec.network(2, jax.random.PRNGKey(0))
    x, _ = SMALL_DATA.minibatch(jax.random.PRNGKey(1), 11, dtype=jnp.float64)
    whole = np.asarray(net(x))
    monkeypatch.setattr(mf.Conv, "eval_chunk", 4)  # 11 = 4 + 4 + 3: two chunks and a rest
    np.testing.assert_allclose(net(x), whole, rtol=1e-13)


# --- (b) MF factors and the trainer's step ---------------------------------------------------


def _mf_factors(widths):
    """Sec. 3.1 for the CNN, written out: n_1 (W_1), n_ℓ n_{ℓ-1} (W_ℓ), n_ℓ (b_ℓ and, at L, β), 1 (b_out)."""
    w = [widths[0]] + [widths[i] * widths[i - 1] for i in range(1, len(widths))]
    return tuple((fw, n) for fw, n in zip(w, widths)), 1


@pytest.mark.parametrize("fan_in", [False, True])
def test_scaled_gradients_and_one_sgd_step_are_the_mf_update_of_the_reference(fan_in):
    spec = _spec(batch_size=6, lr=mf.lr.annealed(0.08), data=SMALL_DATA, fan_in=fan_in, **SMALL)
    widths = (2, 3, 4)
    net = _bias_noise(spec.network(widths, jax.random.PRNGKey(6)), 7, scale=0.1)
    key, k = jax.random.PRNGKey(8), 4
    x, y = SMALL_DATA.minibatch(jax.random.fold_in(key, k), spec.batch_size, dtype=jnp.float64)

    def risk(p):
        return jnp.mean(spec.loss(y, reference_cnn_forward(net.with_params(p), x)))

    g = jax.jit(jax.grad(risk))(net.params())
    want = jax.tree.map(lambda f, gg: f * gg, _mf_factors(widths), g)
    got = eqx.filter_jit(mf.scaled_gradients)(net, spec.loss, x, y)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)

    rate = 0.08 * (k + 1) ** -0.1  # α_k = 0.08 k^-0.1 for the paper's 1-based k (step k = 4 is its 5th)
    p, _ = eqx.filter_jit(_sgd_step)(spec, net, net.params(), key, jnp.asarray(k))
    for new, old, upd in zip(jax.tree.leaves(p), jax.tree.leaves(net.params()), jax.tree.leaves(want)):
        np.testing.assert_allclose(new, old - rate * upd, rtol=1e-10, atol=1e-12)


def test_frozen_output_bias_and_per_layer_rates():
    xi = [mf.lr.Constant(float(ell)) for ell in range(1, 4)]
    lr = mf.lr.per_layer(0.01, xi, out=mf.lr.Constant(5.0))
    spec = _spec(output_bias=False, lr=lr, batch_size=4, data=SMALL_DATA, **SMALL)
    net = spec.network(2, jax.random.PRNGKey(0))
    x, y = SMALL_DATA.minibatch(jax.random.fold_in(jax.random.PRNGKey(1), 0), 4, dtype=jnp.float64)
    g = eqx.filter_jit(mf.scaled_gradients)(net, spec.loss, x, y)
    p, _ = eqx.filter_jit(_sgd_step)(spec, net, net.params(), jax.random.PRNGKey(1), jnp.asarray(0))
    start = net.params()
    for ell in range(3):  # ξ_ℓ = ℓ moves W_ℓ and θ_ℓ = b_ℓ (and β at ℓ = L = 3)
        for part in range(2):
            np.testing.assert_allclose(p[0][ell][part], start[0][ell][part] - 0.01 * (ell + 1) * g[0][ell][part],
                                       rtol=1e-12)  # fmt: skip
    np.testing.assert_array_equal(p[1], start[1])


# --- (c) O(1) across widths ------------------------------------------------------------------


@pytest.mark.parametrize("fan_in", [False, True])
def test_preactivations_and_output_are_order_one_across_widths_at_init(fan_in):
    spec = _spec(fan_in=fan_in)
    x, _ = DATA.minibatch(jax.random.PRNGKey(0), 16, dtype=jnp.float32)
    table = {}
    for n in (8, 32, 128):
        net = spec.network(n, jax.random.PRNGKey(n), dtype=jnp.float32)
        yhat, hs = forward(net, x, with_preactivations=True)
        table[n] = [float(np.sqrt(np.mean(np.square(a)))) for a in (*hs, yhat)]  # RMS of h_1..h_7, ŷ
    vals = np.array(list(table.values()))  # (widths, quantities)
    report = "\n".join(f"n = {n:4d}: " + " ".join(f"{v:9.3g}" for v in row) for n, row in table.items())
    assert np.all(np.isfinite(vals)) and np.all(vals > 1e-3), report
    # A 1/n or n mis-scaling moves a quantity by 16 over n = 8..128, a 1/√n one by 4.
    assert np.all(vals.max(0) / vals.min(0) < 1.5), f"not O(1) across n (h_1..h_7, ŷ):\n{report}"
    if fan_in:
        assert vals.max() < 10, report  # fan-in averages keep every layer at the scale of h_1
    else:
        # App. C's 1/n_{ℓ-1} leaves the 3×3 sum undivided: each layer ~s² = 9 times the last.
        growth = vals[0, 1:7] / vals[0, :6]
        assert np.all((growth > 3) & (growth < 10)), report


# --- (d) bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"input_shape": (3, 28, 28)}, r"input_shape \(3, 28, 28\) has 2352 values .* input dimension 3072"),
        ({"input_shape": (3, 32)}, r"input_shape must be \(channels, height, width\)"),
        ({"input_shape": (0, 32, 32)}, r"input_shape channels must be a positive int, got 0"),
        ({"outputs": 5}, r"ConvSpec.outputs = 5 .* k = 10"),
        ({"loss": mf.loss.cross_entropy(3)}, r"ConvSpec.loss .* k = 3 .* k = 10"),
        ({"batch_size": 0}, r"ConvSpec.batch_size must be a positive int or 'full', got 0"),
        ({"w1_var": -1.0}, r"ConvSpec.w1_var must be a finite number > 0, got -1.0"),
        ({"lr": mf.lr.per_layer(0.1, [mf.lr.Constant()] * 3)}, r"3 schedules .* L = 7"),
        ({"layers": ()}, r"ConvSpec.layers must list at least one"),
        ({"layers": (ConvLayer(kernel=5, padding=0),) * 8}, r"layers\[7\] \(layer 8\): a 5x5 convolution .* 4x4 input gives spatial size 0"),
        ({"layers": (*TABLE1, ConvLayer(pool=3, pool_stride=2, pool_padding=0))}, r"layers\[7\] \(layer 8\): a 3x3 pool .* 2x2 map gives spatial size 0"),
        ({"layers": ("conv",)}, r"ConvSpec.layers\[0\] \(layer 1\) must be a ConvLayer"),
    ],
)  # fmt: skip
def test_bad_spec_input_names_the_field_and_value(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _spec(**kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"stride": 0}, r"ConvLayer.stride must be a positive int, got 0"),
        ({"kernel": -3}, r"ConvLayer.kernel must be a positive int, got -3"),
        ({"pool": -1}, r"ConvLayer.pool \(0: no pool\) must be an int >= 0, got -1"),
        ({"pool": 3, "pool_padding": 2}, r"pool_padding must be at most pool // 2 = 1, got 2"),
        ({"padding": 1.5}, r"ConvLayer.padding must be an int >= 0, got 1.5"),
    ],
)
def test_bad_layer_input_names_the_field_and_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvLayer(**kwargs)


def test_bad_widths_name_the_layer_and_value():
    spec = _spec()
    with pytest.raises(ValueError, match=r"width n_3 must be a positive int, got 0"):
        spec.network((4, 4, 0, 4, 4, 4, 4), jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"width n_1 must be a positive int, got -2"):
        spec.widths(-2)
    with pytest.raises(ValueError, match=r"has 3 entries but the spec has L = 7"):
        spec.widths((4, 4, 4))


# --- the command line ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cnn_spec_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("cnn")
    f = root / "cnn.py"
    f.write_text(
        "import numpy as np\nimport mfspec as mf\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.uniform(-1, 1, (24, 3 * 8 * 8)).astype(np.float32)\n"
        "y = mf.data.one_hot(rng.integers(0, 3, 24), 3)\n"
        "layers = (mf.conv.ConvLayer(stride=2), mf.conv.ConvLayer(pool=3))\n"
        "spec = mf.conv.ConvSpec(name='cnn_small', data=mf.data.ArrayData(x[:16], y[:16], x[16:], y[16:]),\n"
        "    loss=mf.loss.cross_entropy, lr=mf.lr.constant(0.05), input_shape=(3, 8, 8), layers=layers, batch_size=8)\n"
        "presets = {'tiny': mf.Run(widths=(2,), iterations=6, num_evals=3, eval_samples=8,\n"
        "    limit=mf.Resolution(m1=16, qmc_points=16, replicates=2))}\n"
    )
    return f


def test_run_draws_the_cnn_limit_with_its_error_bar(cnn_spec_file, tmp_path):
    argv = [
        "run",
        str(cnn_spec_file),
        "--preset",
        "tiny",
        "--out",
        str(tmp_path),
        "--quiet",
        "--limit-m1",
        "16",
    ]
    assert main(argv) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert [c["kind"] for c in res["curves"]] == ["finite", "limit"]
    config = res["config"]["spec"]
    assert [la["kind"] for la in config["layers"]] == ["conv", "conv"] and config["num_layers"] == 2
    assert set(res["curves"][0]["metrics"]["loss"]) == {"train", "test"}
    limit = res["curves"][1]
    assert limit["method"] == "particles" and limit["replicates"] >= 2
    assert all(v is not None and np.isfinite(v) for v in limit["metrics"]["loss"]["train"])
    assert all(v is not None and v >= 0 for v in limit["error_bar"]["loss"]["train"])
    assert (tmp_path / "figure.png").stat().st_size > 10_000


def test_limit_equations_and_verify_accept_a_cnn(cnn_spec_file, tmp_path, capsys):
    assert main(["limit", str(cnn_spec_file), "--preset", "tiny", "--out", str(tmp_path), "--quiet"]) == 0
    assert [c["kind"] for c in json.loads((tmp_path / "results.json").read_text())["curves"]] == ["limit"]
    assert main(["equations", str(cnn_spec_file)]) == 0
    text = capsys.readouterr().out
    assert "h_2[j] = Σ_{i=1..n_1} [conv(W_2[j, i], σ_1(θ_1[i], h_1[i]))]/n_1" in text
    assert "Δ_W,2(θ, f, θ', w; x) = corr(Δ_H,2(θ, f; x), σ_1(θ', H_1(w; x)))" in text
    assert main(["verify", str(cnn_spec_file)]) == 0
    out = capsys.readouterr().out
    assert "[PASS] E1 JAX formal system L=2" in out
    # every further check, or why it does not apply to a convolution
    for check in ("E2 symbolic L=2", "E2 symbolic L=3", "JAX vs SymPy L=2", "MF scaling", "Eulerian G_l"):
        assert f"[SKIP] {check}" in out, out
    assert out.count("a convolution's pre-activation is a feature map") == 5, out
