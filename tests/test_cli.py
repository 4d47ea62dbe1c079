"""``mfspec run`` / ``mfspec limit`` end to end on the bundled spec's tiny preset; their flags; the
evaluation grid ``eval_iterations``."""

import json
import signal
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import mfspec.cli as cli
import mfspec.run.sweep as sweep
from mfspec.cli import main
from mfspec.finite.curves import eval_iterations


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


def _count_train(monkeypatch, interrupt_at: int | None = None, sigterm: bool = False) -> list:
    """Patch the sweep's ``train`` to record each call; the call ``interrupt_at`` raises
    KeyboardInterrupt (as Ctrl-C does) or, with ``sigterm``, sends SIGTERM to this process."""
    calls, real_train = [], sweep.train

    def counted(*a, **kw):
        calls.append(1)
        if len(calls) == interrupt_at:
            if not sigterm:
                raise KeyboardInterrupt
            signal.raise_signal(signal.SIGTERM)
        return real_train(*a, **kw)

    monkeypatch.setattr(sweep, "train", counted)
    return calls


def _curves(out) -> list[dict]:
    """The curves of OUT/results.json without their wall times."""
    curves = json.loads((out / "results.json").read_text())["curves"]
    return [{k: v for k, v in c.items() if k != "seconds"} for c in curves]


@pytest.mark.parametrize("sigterm", [False, True])
def test_finished_curves_survive_an_interrupted_sweep(tmp_path, monkeypatch, capsys, sigterm):
    args = ["run", "--preset", "tiny", "--out", str(tmp_path), "--quiet", "--no-limit"]
    handler = signal.getsignal(signal.SIGTERM)
    _count_train(monkeypatch, interrupt_at=2, sigterm=sigterm)
    with pytest.raises(KeyboardInterrupt):
        main(args)
    assert signal.getsignal(signal.SIGTERM) is handler  # restored after the sweep
    res = json.loads((tmp_path / "results.json").read_text())
    assert [c["width"] for c in res["curves"]] == [8]
    assert (
        f"interrupted: kept 1 finished curves (n=8 seed 0) in {tmp_path / 'results.json'}; "
        "rerun the same command to skip them" in capsys.readouterr().err
    )
    # The same command again trains only the missing curve, to the results of an uninterrupted run.
    calls = _count_train(monkeypatch)
    assert main(args) == 0
    assert len(calls) == 1
    assert "reusing 1 finished curve(s)" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["run", "--preset", "tiny", "--out", str(tmp_path / "ref"), "--quiet", "--no-limit"]) == 0
    assert _curves(tmp_path) == _curves(tmp_path / "ref")  # floats bitwise, as JSON keeps them


def test_results_of_another_run_are_not_overwritten(tmp_path, monkeypatch, capsys):
    args = ["run", "--preset", "tiny", "--out", str(tmp_path), "--quiet", "--no-limit", "--widths", "8"]
    assert main(args) == 0
    before = (tmp_path / "results.json").read_text()
    calls = _count_train(monkeypatch)
    for flags, what in [
        (["--iterations", "12"], "config.run.iterations: 50 in the file, 12 now"),
        (["--dtype", "float32"], 'dtype: "float64" in the file, "float32" now'),
        (["--seed", "3"], "seed: 0 in the file, 3 now"),
        (["--variant", "tau2=3"], "config.spec.init"),
    ]:
        assert main([*args, *flags]) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / 'results.json'} holds another run (" in err and what in err, err
        assert "use another --out, delete it, or pass --fresh" in err
    assert calls == [] and (tmp_path / "results.json").read_text() == before
    assert main([*args, "--fresh"]) == 0  # retrains, overwriting the file
    assert len(calls) == 1 and "reusing" not in capsys.readouterr().err
    assert main(args) == 0  # finished already: nothing to train
    assert len(calls) == 1 and _curves(tmp_path)[0]["width"] == 8
    assert main([*args, "--limit-m1", "64"]) == 0  # the limit's resolution does not shape the finite curves
    assert len(calls) == 1 and "reusing 1 finished curve" in capsys.readouterr().err
    (tmp_path / "results.json").write_text("{")
    assert main(args) == 2
    assert "is not a readable results file" in capsys.readouterr().err


def test_random_output_bias_with_a_limit_stops_before_training(tmp_path, capsys, monkeypatch):
    """τ3 > 0 and no tau_out: the net has no deterministic limit, so `mfspec run` (which would draw
    one) and `mfspec limit` refuse before any training, naming tau_out=0; --no-limit trains."""
    f = tmp_path / "random_bias.py"
    f.write_text(
        textwrap.dedent(
            """
            import mfspec as mf
            spec = mf.Spec(name="random_bias", input_dim=2, hidden=[mf.layer(mf.act.tanh)],
                           head=mf.head(mf.act.tanh), loss=mf.loss.squared(1),
                           init=mf.init.usual(tau1=1.0, mu2=0.0, tau2=1.0, mu3=0.0, tau3=0.5),
                           data=mf.data.IsotropicGaussians(2, delta=0.5), lr=mf.lr.constant(0.01),
                           batch_size=4)
            presets = {"default": mf.Run(widths=[4], seeds=1, iterations=3, num_evals=2, eval_samples=8)}
            """
        )
    )
    monkeypatch.setattr(sweep, "train", lambda *a, **kw: pytest.fail("trained"))
    for command in ("run", "limit"):
        assert main([command, str(f), "--out", str(tmp_path / command), "--quiet"]) == 2
        assert "tau_out=0" in capsys.readouterr().err
        assert not (tmp_path / command / "results.json").exists()
    monkeypatch.undo()
    assert main(["run", str(f), "--out", str(tmp_path / "ok"), "--quiet", "--no-limit"]) == 0


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


@pytest.mark.parametrize(
    "flag, value",
    [("--limit-m1", "0"), ("--limit-dt", "-1"), ("--limit-qmc", "-3"), ("--limit-replicates", "1")],
)
def test_bad_resolution_flag_fails_before_training(tmp_path, capsys, flag, value):
    code = main(["run", "--preset", "tiny", "--out", str(tmp_path), "--quiet", flag, value])
    assert code == 2
    assert flag in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


# --------------------------------------------------------------------------- run/limit flags


def test_run_and_limit_take_the_same_overrides(tmp_path):
    flags = ["--preset", "tiny", "--quiet", "--iterations", "12", "--num-evals", "4", "--eval-samples", "64"]
    assert (
        main(["run", *flags, "--widths", "8", "--seeds", "2", "--no-limit", "--out", str(tmp_path / "r")])
        == 0
    )
    assert main(["limit", *flags, "--out", str(tmp_path / "l")]) == 0
    run = json.loads((tmp_path / "r" / "results.json").read_text())
    lim = json.loads((tmp_path / "l" / "results.json").read_text())
    # 4 evaluations of 12 steps: 0, then the geometric grid 1, √12 ≈ 3.46, 12.
    assert [c["iteration"] for c in run["curves"]] == [[0, 1, 3, 12]] * 2
    assert [(c["width"], c["seed"]) for c in run["curves"]] == [(8, 0), (8, 1)]
    (curve,) = lim["curves"]
    assert curve["kind"] == "limit" and curve["iteration"] == [0, 1, 3, 12]
    assert curve["t"] == pytest.approx([0, 1e-3, 3e-3, 12e-3])
    for res in (run, lim):
        assert res["dtype"] == "float64"  # JAX's default here: conftest turns x64 mode on
        cfg = res["config"]["run"]
        assert (cfg["iterations"], cfg["num_evals"], cfg["eval_samples"]) == (12, 4, 64)
    assert run["config"]["run"]["widths"] == [8] and run["config"]["run"]["seeds"] == 2
    assert lim["config"]["run"]["widths"] == [8, 16]  # the preset's: limit takes no --widths


def test_dtype_reaches_training_and_limit(tmp_path, monkeypatch):
    seen, events = [], []
    real_train, real_limit, real_load = sweep.train, cli.limit_record, cli.load_spec_file
    real_update = jax.config.update

    def train(spec, net, *a, **kw):
        seen.append(("train", jax.tree.leaves(net.params())[0].dtype))
        return real_train(spec, net, *a, **kw)

    def limit_record(*a, dtype=None, **kw):
        seen.append(("limit", dtype))
        return real_limit(*a, dtype=dtype, **kw)

    def update(name, value):
        events.append((name, value))
        return real_update(name, value)

    monkeypatch.setattr(sweep, "train", train)
    monkeypatch.setattr(cli, "limit_record", limit_record)
    monkeypatch.setattr(cli, "load_spec_file", lambda *a: events.append("load") or real_load(*a))
    monkeypatch.setattr(jax.config, "update", update)
    base = ["run", "--preset", "tiny", "--widths", "8", "--iterations", "6", "--num-evals", "3", "--quiet"]
    assert main([*base, "--dtype", "float64", "--out", str(tmp_path / "a")]) == 0
    assert seen == [("train", np.float64), ("limit", np.float64)]
    assert events == [("jax_enable_x64", True), "load"]  # x64 is on before the spec file runs
    seen.clear()
    assert main([*base, "--dtype", "float32", "--out", str(tmp_path / "b")]) == 0  # even with x64 on
    assert seen == [("train", np.float32), ("limit", np.float32)]
    assert json.loads((tmp_path / "b" / "results.json").read_text())["dtype"] == "float32"
    seen.clear()
    assert main([*base, "--out", str(tmp_path / "d")]) == 0  # JAX's default: float64 here (conftest)
    assert seen == [("train", np.float64), ("limit", np.float64)]
    seen.clear()
    assert (
        main(
            [
                "limit",
                "--preset",
                "tiny",
                "--iterations",
                "6",
                "--dtype",
                "float64",
                "--out",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    assert seen == [("limit", np.float64)]


def test_default_and_float64_from_a_fresh_process(tmp_path):
    # conftest turns x64 on for this process; a new one starts without it, as a user's shell does.
    script = textwrap.dedent(f"""
        import jax
        import mfspec.run.sweep as sweep
        from mfspec.cli import main

        assert not jax.config.jax_enable_x64
        real = sweep.train
        def train(spec, net, *a, **kw):
            print("PARAMS", jax.tree.leaves(net.params())[0].dtype)
            return real(spec, net, *a, **kw)
        sweep.train = train
        args = ["run", "--preset", "tiny", "--widths", "4", "--iterations", "3", "--num-evals", "2",
                "--eval-samples", "16", "--no-limit", "--quiet"]
        assert main([*args, "--out", {str(tmp_path / "default")!r}]) == 0
        raise SystemExit(main([*args, "--dtype", "float64", "--out", {str(tmp_path / "f64")!r}]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["PARAMS float32", "PARAMS float64"]
    for name, dtype in (("default", "float32"), ("f64", "float64")):
        assert json.loads((tmp_path / name / "results.json").read_text())["dtype"] == dtype


@pytest.mark.parametrize(
    "command, flag, value",
    [
        ("run", "--num-evals", "0"),
        ("limit", "--num-evals", "0"),
        ("run", "--iterations", "0"),
        ("limit", "--iterations", "-3"),
        ("run", "--eval-samples", "0"),
        ("limit", "--eval-samples", "-1"),
        ("run", "--seeds", "0"),
        ("run", "--widths", "8 0"),
        ("limit", "--limit-m1", "0"),
    ],
)
def test_bad_run_flag_fails_before_the_spec_file_runs(tmp_path, capsys, monkeypatch, command, flag, value):
    monkeypatch.setattr(cli, "load_spec_file", lambda *a: pytest.fail("the spec file ran"))
    code = main([command, "--preset", "tiny", "--out", str(tmp_path), "--quiet", flag, *value.split()])
    assert code == 2
    assert f"{flag} {value}:" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()


def test_bad_dtype_and_run_only_flags(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--dtype", "float16"])
    assert "--dtype: invalid choice: 'float16'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["limit", "--widths", "8"])  # the limit has no width
    assert "unrecognized arguments: --widths" in capsys.readouterr().err


# --------------------------------------------------------------------------- eval_iterations


@pytest.mark.parametrize(
    "iterations, num_evals, expected",
    [
        (1, 1, (1,)),  # one evaluation: the final one
        (1, 2, (0, 1)),
        (1, 5, (0, 1)),  # at most iterations + 1 points
        (0, 3, (0,)),
        (5, 100, (0, 1, 2, 3, 4, 5)),
        (100, 2, (0, 100)),
        (100, 3, (0, 1, 100)),
        (1000, 5, (0, 1, 10, 100, 1000)),
        (50, 5, (0, 1, 4, 14, 50)),  # 50^(1/3) = 3.68, 50^(2/3) = 13.57
        (10, 6, (0, 1, 2, 3, 6, 10)),  # 10^(j/4) = 1, 1.78, 3.16, 5.62, 10
        (6, 6, (0, 1, 2, 3, 4, 6)),  # 6^(j/4) = 1, 1.57, 2.45, 3.83, 6: collisions move up by one
    ],
)
def test_eval_iterations_hand_checked(iterations, num_evals, expected):
    assert eval_iterations(iterations, num_evals) == expected


@pytest.mark.parametrize("iterations", [1, 2, 3, 7, 50, 999, 3000, 100_000])
@pytest.mark.parametrize("num_evals", [1, 2, 3, 5, 30, 41, 60, 200, 5000])
def test_eval_iterations_exact_count_and_endpoints(iterations, num_evals):
    pts = eval_iterations(iterations, num_evals)
    assert len(pts) == min(num_evals, iterations + 1)
    assert all(isinstance(p, int) for p in pts)
    assert all(b > a for a, b in zip(pts, pts[1:]))
    assert pts[-1] == iterations
    if num_evals >= 2:
        assert pts[0] == 0


def test_eval_iterations_41_of_3000_is_log_spaced():
    pts = eval_iterations(3000, 41)
    assert len(pts) == 41  # the old grid dropped rounding duplicates: 36
    assert pts[:15] == tuple(range(15))  # where the geometric grid is denser than the integers
    # the rest: 3000^(j/39), rounded
    assert pts[21:] == tuple(round(3000 ** (j / 39)) for j in range(20, 40))


@pytest.mark.parametrize("args", [(10, 0), (-1, 3), (10, 2.5), (True, 3)])
def test_eval_iterations_rejects_bad_arguments(args):
    with pytest.raises(ValueError, match="eval_iterations: (iterations|num_evals) must be an int"):
        eval_iterations(*args)
