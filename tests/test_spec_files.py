"""Every bundled spec file loads and runs its "tiny" preset, so no spec file can rot.

MNIST, CIFAR-10 and the VGG-feature file are replaced by small files in the real formats, made here.
"""

import json

import numpy as np
import pytest
from helpers import reference_forward

import mfspec as mf
from mfspec.cli import main
from mfspec.run.specfile import bundled_specs, load_spec_file


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return mf.data.write_stand_ins(tmp_path_factory.mktemp("data"))


def test_all_paper_experiments_are_bundled():
    want = {"isotropic_gaussians", "mnist", "cifar10", "tanh_annealed", "tanh_annealed_mnist",
            "tanh_annealed_cifar10", "cifar10_vgg16", "digits", "cifar10_cnn"}  # fmt: skip
    assert want <= set(bundled_specs())


@pytest.mark.parametrize("name", bundled_specs())
def test_spec_file_tiny_preset_runs(name, data_root, tmp_path, monkeypatch):
    monkeypatch.setenv(mf.data.DATA_ENV, str(data_root))
    sf = load_spec_file(name)
    assert {"default", "paper", "tiny"} <= set(sf.presets), f"{name} lacks a preset"
    for variant in sf.variants.values():
        assert isinstance(variant, mf.Spec)
    out = tmp_path / name
    assert main(["run", name, "--preset", "tiny", "--out", str(out), "--quiet", "--no-limit"]) == 0
    res = json.loads((out / "results.json").read_text())
    finite = [c for c in res["curves"] if c["kind"] == "finite"]
    assert len(finite) == len(sf.presets["tiny"].widths) * sf.presets["tiny"].seeds
    for c in finite:
        assert all(
            v is not None and np.isfinite(v) for v in c["metrics"]["loss"][next(iter(c["metrics"]["loss"]))]
        )
    _initial_loss_is_the_reference(sf.spec, sf.presets["tiny"], finite[0])


def _initial_loss_is_the_reference(spec, run, curve):
    """The recorded loss at iteration 0 is that of the network the sweep drew, recomputed here by the
    neuron-by-neuron forward of tests/helpers.py and the loss written in numpy."""
    import jax

    from mfspec.finite.curves import eval_sets_for
    from mfspec.run.sweep import run_keys

    net = spec.network(spec.widths(run.widths[0]), run_keys(jax.random.PRNGKey(0), 0, 0)[0])
    for split, (x, y) in eval_sets_for(spec, run, jax.random.PRNGKey(0)).items():
        yhat, y = np.asarray(reference_forward(net, x), np.float64), np.asarray(y, np.float64)
        if spec.loss.name == "squared":
            want = np.mean(np.sum((y - yhat) ** 2, axis=1))
        else:  # cross-entropy: logsumexp(ŷ) − ⟨y, ŷ⟩
            top = yhat.max(axis=1, keepdims=True)
            want = np.mean(np.log(np.exp(yhat - top).sum(axis=1)) + top[:, 0] - np.sum(y * yhat, axis=1))
        assert curve["iteration"][0] == 0
        np.testing.assert_allclose(curve["metrics"]["loss"][split][0], want, rtol=2e-5, err_msg=split)


def test_missing_dataset_says_what_to_download(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(mf.data.DATA_ENV, str(tmp_path))
    assert main(["run", "mnist", "--preset", "tiny", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "download" in err and str(tmp_path / "mnist") in err
