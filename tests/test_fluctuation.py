"""The n^{-1/2} fluctuation band (mfspec/limit/fluctuation.py, docs/fluctuation.md): a closed form at
t = 0, many-seed sweeps against the prediction (and a wrong prediction caught), the refusals."""

import dataclasses
import math

import jax
import numpy as np
import pytest

import mfspec as mf
import mfspec.testing as mft
from mfspec.limit.fluctuation import sampling_groups


def labels(x):
    return np.where(np.sin(2 * x[:, :1]) + 0.3 * x[:, 1:2] > 0, 1.0, -1.0)


def two_layer_relu(d=5, n_train=40, noise=0.5):
    """ŷ = (1/n₂) Σ_j (1/n₁) Σ_i W_ij relu(⟨w_i, x⟩): W_1 ~ N(0, I/d), W_ij ~ N(1, noise²), β = 1."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_train + 20, d))
    data = mf.data.ArrayData(x[:n_train], labels(x[:n_train]), x[n_train:], labels(x[n_train:]))
    init = mf.init.Init(w1=mf.init.Normal(0.0, 1 / math.sqrt(d)), theta=(mf.init.Atom(0.0), mf.init.Atom(1.0)),
                        kernels=(mf.init.Kernel(1.0, noise),), out_bias=mf.init.Atom(0.0))  # fmt: skip
    return mf.Spec(name="two_layer_relu", input_dim=d, hidden=[mf.layer(mf.act.relu, bias=False)],
                   head=mf.head(mf.act.identity, bias=False), loss=mf.loss.squared, init=init, data=data,
                   lr=mf.lr.constant(0.1), batch_size="full")  # fmt: skip


def closed_form(x, y, d, noise):
    """First-order Var of the mean squared loss at t = 0 (docs/fluctuation.md): with e = ∂L/∂ŷ on the
    points, m(x) = E relu(⟨w, x⟩) = s/√(2π) (s = |x|/√d) and the arc-cosine kernel
    K(x, x') = s s' (sin φ + (π − φ) cos φ)/(2π): V_1 = eᵀKe − (eᵀm)², P_2 = noise² eᵀKe."""
    s = np.linalg.norm(x, axis=1) / math.sqrt(d)
    m = s / math.sqrt(2 * math.pi)
    e = 2 * (m[:, None] - y).ravel() / len(x)
    cos = np.clip((x @ x.T) / np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(x, axis=1)), -1, 1)
    phi = np.arccos(cos)
    K = np.outer(s, s) * (np.sin(phi) + (math.pi - phi) * cos) / (2 * math.pi)
    eKe = e @ K @ e
    return eKe - (e @ m) ** 2, noise**2 * eKe


@pytest.mark.parametrize("m1", [256, 1024])
def test_two_layer_t0_matches_the_closed_form(m1):
    with jax.enable_x64(True):
        spec = two_layer_relu()
        es = spec.data.eval_sets(jax.random.PRNGKey(1), 100)
        band = mf.fluctuation(spec, times=[0.0, 0.1], t1=0.1, resolution=mf.Resolution(m1=m1), eval_sets=es,
                              dtype=np.float64)  # fmt: skip
    assert band.groups == ((1,), (2,))
    for name, (x, y) in es.items():
        v1, p2 = closed_form(np.asarray(x), np.asarray(y), spec.input_dim, 0.5)
        col = band.of(f"{name}_loss")
        assert band.sampling[0][0, col] == pytest.approx(v1, rel=0.02), name
        assert band.sampling[1][0, col] == 0.0  # one atom: β and W's mean are the same for every neuron
        assert band.pair[1][0, col] == pytest.approx(p2, rel=0.02), name
    # and the width scalings: V_1/n₁ + P_2/(n₁ n₂)
    v = band.variance((100, 30))[0, col]
    assert v == pytest.approx(band.sampling[0][0, col] / 100 + band.pair[1][0, col] / 3000, rel=1e-12)


def tanh_net(points=32, d=4, residual=False, batch_size="full"):
    """A small smooth 3-layer tanh net (random biases: no layer collapses), or with a residual middle."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2 * points, d))
    data = mf.data.ArrayData(x[:points], labels(x[:points]), x[points:], labels(x[points:]))
    tanh = mf.layer(mf.act.tanh)
    middle = mf.Residual(tanh, scale=1.0) if residual else mf.Dense(tanh)
    bias = mf.init.Atom(0.1) if residual else mf.init.Normal(0.2, 0.5)
    init = mf.init.Init(w1=mf.init.Normal(0.3, 1 / math.sqrt(d)), theta=(bias, bias, mf.init.Normal([1.0, 0.2], [0.5, 0.5])),
                        kernels=2 * (mf.init.Kernel(1.0, 0.5),), out_bias=mf.init.Atom(0.0))  # fmt: skip
    return mf.Spec(name="band_tanh_small", input_dim=d, layers=(mf.Input(tanh), middle, mf.Dense(mf.head(mf.act.tanh))),
                   loss=mf.loss.squared, init=init, data=data, lr=mf.lr.constant(0.05), batch_size=batch_size)  # fmt: skip


def test_seeds_scatter_as_predicted_and_a_wrong_band_is_caught():
    """48 seeds at n = 100 over t ≤ 2: the spread and every seed agree with the band (false-alarm rate
    1 % by construction); the same samples against a band 2× too wide, or 2× too narrow, fail."""
    spec = tanh_net()
    band = mf.fluctuation(spec, iterations=40, num_times=6, resolution=mf.Resolution(m1=128))
    assert band.groups == ((1,), (2,), (3,)) and band.outputs == ("train_loss", "test_loss")
    samples = mft.band_samples(spec, band, 100, seeds=48)
    for out, vals in samples.items():
        check = mft.band_check(band, 100, vals, out, false_alarm=0.01)
        assert check.ok, check.table()
        for factor in (4.0, 0.25):
            wrong = dataclasses.replace(band, sampling=band.sampling * factor, pair=band.pair * factor)
            assert not mft.band_check(wrong, 100, vals, out).ok
    # the parts: the pair noise is O(1/n) in std, far below the sampling part at n = 100
    assert np.all(band.std(100, parts="pair") < 0.3 * band.std(100, parts="sampling"))


def test_residual_chain_is_one_sampled_group():
    spec = tanh_net(residual=True)
    assert sampling_groups(spec.layers) == ((1, 2), (3,))
    band = mf.fluctuation(spec, iterations=10, num_times=3, resolution=mf.Resolution(m1=32))
    assert band.groups == ((1, 2), (3,)) and np.all(band.sampling[0] > 0)


def test_what_the_band_leaves_out_is_said():
    sgd = mf.fluctuation(tanh_net(batch_size=8), iterations=4, num_times=2, resolution=mf.Resolution(m1=16))
    assert any("minibatch SGD" in e for e in sgd.excluded)
    assert any("error metrics" in e for e in sgd.excluded)
    assert all("_error" not in o for o in sgd.outputs)


@pytest.fixture(scope="module")
def small_band():
    """One cheap band of ``tanh_net`` with ŷ at two (equal) points."""
    pts = np.zeros((2, 4))
    return mf.fluctuation(tanh_net(), iterations=4, num_times=2, resolution=mf.Resolution(m1=16), points=pts)


def test_band_of_yhat_at_points(small_band):
    band = small_band
    assert band.outputs[-2:] == ("yhat[0,0]", "yhat[1,0]")
    np.testing.assert_allclose(band.mean[:, -1], band.mean[:, -2])  # the same point twice


def test_refusals_name_the_field(small_band):
    spec = tanh_net()
    with pytest.raises(ValueError, match=r"points must have shape \(P, 4\)"):
        mf.fluctuation(spec, iterations=4, points=np.zeros((2, 3)))
    with pytest.raises(TypeError, match="resolution must be an mf.Resolution"):
        mf.fluctuation(spec, iterations=4, resolution={"m1": 8})
    with pytest.raises(ValueError, match="num_times"):
        mf.fluctuation(spec, iterations=4, num_times=0)
    band = small_band
    with pytest.raises(ValueError, match="parts must be"):
        band.variance(10, parts="both")
    with pytest.raises(ValueError, match=r"values must be \(seeds ≥ 3, 2\)"):
        mft.band_check(band, 10, np.zeros((2, 2)), "train_loss")
    with pytest.raises(ValueError, match="no output 'train_error'"):
        band.of("train_error")
