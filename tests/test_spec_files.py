"""Every bundled spec file loads and runs its "tiny" preset, so no spec file can rot.

MNIST, CIFAR-10 and the VGG-feature file are replaced by small files in the real formats, made here.
"""

import json

import numpy as np
import pytest

import mfspec as mf
from mfspec._specfile import bundled_specs, load_spec_file
from mfspec.cli import main


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    (root / "mnist").mkdir()
    for split, n in (("train", 30), ("t10k", 12)):
        mf.data.write_idx(root / "mnist" / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        mf.data.write_idx(root / "mnist" / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n))
    (root / "cifar10").mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        mf.data.write_cifar_batch(
            root / "cifar10" / name, rng.integers(0, 256, (4, 3072)), rng.integers(0, 10, 4)
        )
    np.savez(
        root / "cifar10_vgg16.npz",
        x_train=rng.normal(size=(20, 8192)).astype(np.float32),
        y_train=rng.integers(0, 10, 20),
        x_test=rng.normal(size=(8, 8192)).astype(np.float32),
        y_test=rng.integers(0, 10, 8),
    )
    return root


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
        assert isinstance(variant, (mf.Spec, mf.conv.ConvSpec))
    out = tmp_path / name
    assert main(["run", name, "--preset", "tiny", "--out", str(out), "--quiet", "--no-limit"]) == 0
    res = json.loads((out / "results.json").read_text())
    finite = [c for c in res["curves"] if c["kind"] == "finite"]
    assert len(finite) == len(sf.presets["tiny"].widths) * sf.presets["tiny"].seeds
    for c in finite:
        assert all(
            v is not None and np.isfinite(v) for v in c["metrics"]["loss"][next(iter(c["metrics"]["loss"]))]
        )


def test_missing_dataset_says_what_to_download(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(mf.data.DATA_ENV, str(tmp_path))
    assert main(["run", "mnist", "--preset", "tiny", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "download" in err and str(tmp_path / "mnist") in err
