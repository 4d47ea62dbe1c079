"""The CNN's limit (App. C as convolutional layer kinds, docs/formal_system.md sec. 8).

- E1: on a finite CNN's empirical measure the formal system reproduces ŷ, every scaled gradient
  (per sample and output) and the full-batch step, against the finite CNN differentiated by JAX:
  two independent computations (lax.conv forward + autodiff vs the per-kind backward with scaled
  cotangents). Both scalings; a wrong fan-in factor is caught.
- The particles of the paper's init: layer-1 Sobol filters with the right moments, layers 2..L−1
  collapsed, F = the mean filter, the head's β points.
- E3 for CNNs: the collapsed system and the one with the atoms repeated have the same rates.
- The learnable CIFAR-format data: reproducible bytes, labels a function of the coarse image.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfspec as mf
from mfspec.checks.e1 import e1_residuals
from mfspec.conv import ConvLayer, ConvSpec
from mfspec.data._learnable import coarse_features, learnable_labels, write_learnable_cifar
from mfspec.layers.conv import Conv
from mfspec.limit.formal import FormalSystem, WeightedBatch

LAYERS = (ConvLayer(stride=2), ConvLayer(pool=3), ConvLayer())  # sides 8 → 4 → 2 → 2: P = 4


def _spec(fan_in=False, k=3, n=12):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n, 3 * 8 * 8))
    y = mf.data.one_hot(rng.integers(0, k, n), k)
    return ConvSpec(name="cnn_limit", data=mf.data.ArrayData(x, y), loss=mf.loss.cross_entropy,
                    lr=mf.lr.annealed(0.08), input_shape=(3, 8, 8), layers=LAYERS, fan_in=fan_in)  # fmt: skip


@pytest.mark.parametrize("fan_in", [False, True])
def test_e1_holds_for_a_cnn(fan_in):
    res = e1_residuals(_spec(fan_in), samples=3)
    # every Δ and rate of every layer (W_ℓ filters, θ_ℓ = bias, and (b, β) at the head), ŷ and b_out
    assert len(res) == 1 + 2 * (2 * 3 + 1)
    assert max(res.values()) < 1e-12


def test_e1_catches_a_wrong_fan_in_factor(monkeypatch):
    """The formal system without the 1/s² of fan_in (App. C's literal factor in a fan_in net)."""
    jax.clear_caches()  # the kinds are static: a cached compilation would hide the fault
    monkeypatch.setattr(Conv, "scale", property(lambda self: 1.0))
    try:
        res = e1_residuals(_spec(fan_in=True), samples=2)
    finally:
        jax.clear_caches()
    assert res["yhat"] > 1e-2 and max(res.values()) > 0.5


def test_particles_of_the_paper_init():
    spec = _spec()
    p = mf.spec_particles(spec, m1=512)
    assert p.sizes == (512, 1, 256)  # layer 2 collapses; the head's β ∈ R^{3×4}: 256 Sobol points
    w1 = np.asarray(p.layers[0].w)
    assert w1.shape == (512, 3, 3, 3)
    w1_var, w_mean, w_var = 2 / (9 * 3), 1.0, 0.1  # the paper's init (App. C), ConvSpec's defaults
    assert abs(w1.mean()) < 0.01 and abs(w1.var() / w1_var - 1) < 0.05
    assert np.all(np.asarray(p.layers[1].w) == w_mean) and p.layers[1].w.shape == (1, 512, 3, 3)
    assert np.all(np.asarray(p.layers[2].w) == w_mean) and p.layers[2].w.shape == (256, 1, 3, 3)
    theta = np.asarray(p.layers[2].theta)
    assert np.all(theta[:, 0] == 0)  # biases start at 0
    beta = theta[:, 1:]
    assert abs(beta.mean() - w_mean) < 0.01 and abs(beta.var() / w_var - 1) < 0.05
    for s in p.layers:
        np.testing.assert_allclose(float(jnp.sum(s.pi)), 1.0, rtol=1e-6)


def test_collapse_is_exact_for_a_cnn():
    """E3: layer 2 as one particle or as three copies of it, weight 1/3 each, gives the same rates."""
    spec = _spec()
    with jax.enable_x64(True):
        kw = dict(m1=32, qmc_points=16, dtype=jnp.float64)
        one = mf.spec_particles(spec, **kw)
        three = mf.spec_particles(spec, collapse=False, atom_copies=3, **kw)
        assert one.sizes == (32, 1, 16) and three.sizes == (32, 3, 16)
        system = FormalSystem.from_spec(spec)
        batch = WeightedBatch.uniform(spec.data.x_train, spec.data.y_train, jnp.float64)
        g1 = system.rates(0.5, one, batch)
        g3 = system.rates(0.5, three, batch)
    np.testing.assert_allclose(g3.layers[0].w, g1.layers[0].w, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(g3.layers[2].theta, g1.layers[2].theta, rtol=1e-11, atol=1e-14)
    for c in range(3):  # each copy moves as the collapsed particle; the F into layer 3 splits in 3
        np.testing.assert_allclose(g3.layers[1].w[c], g1.layers[1].w[0], rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(g3.layers[2].w[:, c], g1.layers[2].w[:, 0], rtol=1e-11, atol=1e-14)
    assert float(jnp.abs(g1.layers[1].w).max()) > 0  # the rates are not trivially zero


def test_learnable_cifar_is_reproducible_and_its_labels_follow_the_rule(tmp_path):
    a = write_learnable_cifar(tmp_path / "a", train=40, test=10, seed=3)
    b = write_learnable_cifar(tmp_path / "b", train=40, test=10, seed=3)
    for name in ["data_batch_1.bin", "test_batch.bin"]:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    data = mf.data.cifar10(a)
    assert data.x_train.shape == (40, 3072) and data.x_test.shape == (10, 3072)
    pixels = (np.asarray(data.x_train, np.float64) + 1) / 2 * 255  # the loader's x back to bytes
    labels = learnable_labels(np.rint(pixels).reshape(-1, 3, 32, 32), seed=3)
    np.testing.assert_array_equal(labels, np.argmax(np.asarray(data.y_train), axis=1))
    assert coarse_features(np.rint(pixels).reshape(-1, 3, 32, 32)).shape == (40, 48)
    with pytest.raises(ValueError, match=r"write_learnable_cifar: train must be an int >= 5, got 2"):
        write_learnable_cifar(tmp_path / "c", train=2)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    return mf.data.write_stand_ins(tmp_path_factory.mktemp("data"))


def test_verify_table1_cnn_runs_e1(stand_ins, monkeypatch, capsys):
    """``mfspec verify spec/cifar10_cnn.py``: E1 on Table 1's 7-layer CNN (CIFAR-format stand-ins)."""
    from mfspec.cli import main

    monkeypatch.setenv(mf.data.DATA_ENV, str(stand_ins))
    assert main(["verify", "cifar10_cnn"]) == 0
    out = capsys.readouterr().out
    assert "[PASS] E1 JAX formal system L=7 n=(5, 4, 3, 3, 3, 3, 3)" in out and "layers: conv, conv" in out


@pytest.mark.slow
@pytest.mark.parametrize("variant", [[], ["--variant", "fan_in"]])
def test_run_table1_cnn_draws_its_limit(stand_ins, monkeypatch, tmp_path, variant):
    """``mfspec run spec/cifar10_cnn.py`` (tiny preset, stand-in files) ends with the limit curve and
    its error bar, in both scalings."""
    import json

    from mfspec.cli import main

    monkeypatch.setenv(mf.data.DATA_ENV, str(stand_ins))
    assert main(["run", "cifar10_cnn", "--preset", "tiny", "--out", str(tmp_path), "--quiet", *variant]) == 0
    curves = json.loads((tmp_path / "results.json").read_text())["curves"]
    assert [c["kind"] for c in curves] == ["finite", "limit"]
    assert all(np.isfinite(v) for v in curves[1]["metrics"]["loss"]["train"])
