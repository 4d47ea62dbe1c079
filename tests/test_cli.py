"""``mfspec run`` end to end on the bundled spec's tiny preset."""

import json

import pytest

import mfspec._sweep as sweep
from mfspec.cli import main


def test_run_writes_results_and_figure(tmp_path):
    assert main(["run", "--preset", "tiny", "--out", str(tmp_path), "--quiet", "--no-limit"]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["spec"] == "isotropic_gaussians"
    assert res["config"]["run"]["widths"] == [8, 16]
    assert res["config"]["spec"]["num_layers"] == 4
    assert {"jax", "equinox", "diffrax", "sympy"} <= set(res["versions"])
    finite = [c for c in res["curves"] if c["kind"] == "finite"]
    assert [c["width"] for c in finite] == [8, 16]
    for c in finite:
        assert c["seed"] == 0 and c["iteration"][0] == 0 and c["iteration"][-1] == 50
        assert c["t"][-1] == pytest.approx(50 * 1e-3)
        assert set(c["metrics"]) == {"loss", "error"}
        assert len(c["metrics"]["loss"]["test"]) == len(c["iteration"])
    assert (tmp_path / "figure.png").stat().st_size > 10_000


def test_finished_curves_survive_an_interrupted_sweep(tmp_path, monkeypatch):
    calls = []
    real_train = sweep.train

    def train_then_interrupt(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_train(*a, **kw)

    monkeypatch.setattr(sweep, "train", train_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        main(["run", "--preset", "tiny", "--out", str(tmp_path), "--quiet", "--no-limit"])
    res = json.loads((tmp_path / "results.json").read_text())
    assert [c["width"] for c in res["curves"]] == [8]


def test_bad_spec_file_exits_with_a_message(tmp_path, capsys):
    f = tmp_path / "nospec.py"
    f.write_text("import mfspec\n")
    assert main(["run", str(f), "--out", str(tmp_path)]) == 2
    assert "defines no variable 'spec'" in capsys.readouterr().err


def test_limit_curve_has_error_bar_and_is_drawn(tmp_path):
    assert main(["run", "--preset", "tiny", "--out", str(tmp_path), "--quiet", "--widths", "8"]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    (lim,) = [c for c in res["curves"] if c["kind"] == "limit"]
    (fin,) = [c for c in res["curves"] if c["kind"] == "finite"]
    assert lim["method"] == "radial" and lim["iteration"] == fin["iteration"]
    assert lim["t"] == pytest.approx(fin["t"])
    bar = lim["error_bar"]["loss"]["test"]
    assert len(bar) == len(lim["iteration"]) and all(0 <= b < 0.05 for b in bar)
    # At t = 0 the limit's loss and an n = 8 network's differ by finite-n effects only: both near the
    # same value on the same evaluation sample.
    assert abs(lim["metrics"]["loss"]["test"][0] - fin["metrics"]["loss"]["test"][0]) < 0.3


def test_limit_resolution_flags_reach_the_solve(tmp_path):
    args = ["limit", "tanh_nonlinear_boundary", "--preset", "tiny", "--out", str(tmp_path), "--quiet"]
    assert main([*args, "--limit-m1", "64", "--limit-dt", "0.05"]) == 0
    (lim,) = json.loads((tmp_path / "results.json").read_text())["curves"]
    assert lim["method"] == "particles" and lim["dt"] == 0.05
    assert lim["resolution"]["m1"] == 64 and lim["resolution"]["dt"] == 0.05


@pytest.mark.parametrize("flag, value", [("--limit-m1", "0"), ("--limit-dt", "-1"), ("--limit-qmc", "-3")])
def test_bad_resolution_flag_fails_before_training(tmp_path, capsys, flag, value):
    code = main(["run", "--preset", "tiny", "--out", str(tmp_path), "--quiet", flag, value])
    assert code == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()
