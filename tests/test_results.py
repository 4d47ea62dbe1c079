"""results.json: every writer's output validates against the shipped schema, malformed files are
rejected with the field and the value, ``mf.load_results`` types it, and the radial limit's
population metrics match a Monte Carlo estimate."""

import copy
import json
import sys
import warnings

import equinox as eqx
import jax
import numpy as np
import pytest

import mfspec as mf
import mfspec.run.sweep as sweep
from mfspec.cli import main
from mfspec.run.limit_record import ERROR_QUANTILES, population_metrics
from mfspec.run.results import SCHEMA_VERSION
from mfspec.run.results_io import results_schema


def _validator():
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft202012Validator(results_schema())


def _read(path):
    return json.loads((path / "results.json").read_text())


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The default spec's tiny preset with its (radial) limit curve."""
    out = tmp_path_factory.mktemp("default")
    assert main(["run", "--preset", "tiny", "--out", str(out), "--quiet", "--widths", "8"]) == 0
    return out


@pytest.fixture(scope="module")
def limit_run(tmp_path_factory):
    """``mfspec limit`` on a finite dataset (particles method): no population metrics."""
    out = tmp_path_factory.mktemp("limit")
    args = ["limit", "tanh_nonlinear_boundary", "--preset", "tiny", "--out", str(out), "--quiet"]
    assert main([*args, "--limit-m1", "64", "--limit-dt", "0.05"]) == 0
    return out


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """The bundled CNN's tiny preset on small files in the CIFAR-10 binary format."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    (root / "cifar10").mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        mf.data.write_cifar_batch(
            root / "cifar10" / name, rng.integers(0, 256, (4, 3072)), rng.integers(0, 10, 4)
        )
    out = tmp_path_factory.mktemp("cnn")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(mf.data.DATA_ENV, str(root))
        assert main(["run", "cifar10_cnn", "--preset", "tiny", "--out", str(out), "--quiet"]) == 0
    return out


# --- every writer's output is valid --------------------------------------------------------------


def test_run_with_limit_is_valid_and_loads(default_run):
    data = _read(default_run)
    _validator().validate(data)
    res = mf.load_results(default_run / "results.json")
    assert res.schema_version == 1 and res.spec == "isotropic_gaussians" and res.preset == "tiny"
    assert res.widths() == (8,) and res.config["run"]["widths"] == [8]
    (fin,), lim = res.finite(), res.limit()
    raw_fin, raw_lim = data["curves"]
    assert fin.kind == "finite" and fin.width == 8 and fin.seed == 0
    np.testing.assert_array_equal(fin.iteration, raw_fin["iteration"])
    np.testing.assert_array_equal(fin.metric("test", "loss"), raw_fin["metrics"]["loss"]["test"])
    assert fin.error_bar is None and fin.population is None and fin.extra["seconds"] > 0
    assert lim.width is None and lim.seed is None and lim.extra["method"] == "radial"
    np.testing.assert_array_equal(lim.error_bar[("test", "loss")], raw_lim["error_bar"]["loss"]["test"])
    assert lim.extra["resolution"]["m1"] == raw_lim["resolution"]["m1"]


def test_run_without_limit_is_valid(tmp_path):
    assert main(["run", "--preset", "tiny", "--out", str(tmp_path), "--quiet", "--no-limit"]) == 0
    data = _read(tmp_path)
    _validator().validate(data)
    assert [c["kind"] for c in data["curves"]] == ["finite", "finite"]
    assert mf.load_results(tmp_path).limit() is None


def test_file_of_an_unfinished_sweep_is_valid(tmp_path):
    """``run_sweep`` rewrites results.json after each curve, before the CLI adds its own fields."""
    sf = mf.load_spec_file("isotropic_gaussians")
    run = mf.Run(widths=(4, (4, 5, 6, 7)), seeds=1, iterations=3, num_evals=2, eval_samples=10)
    results = sweep.new_results(sf.spec, run, spec_file=None, preset=None, seed=0)
    sweep.run_sweep(sf.spec, run, results=results, out=tmp_path, progress=False)
    data = _read(tmp_path)
    _validator().validate(data)
    assert "wall_seconds" not in data and data["curves"][1]["width"] == [4, 5, 6, 7]
    assert mf.load_results(tmp_path).widths() == (4, (4, 5, 6, 7))


def test_limit_command_is_valid(limit_run):
    data = _read(limit_run)
    _validator().validate(data)
    (lim,) = mf.load_results(limit_run).curves
    assert lim.kind == "limit" and lim.splits == ("train", "test")


def test_cnn_run_is_valid(cnn_run):
    data = _read(cnn_run)
    _validator().validate(data)
    assert {layer["kind"] for layer in data["config"]["spec"]["layers"]} == {"conv"}  # one mf.Spec layout
    res = mf.load_results(cnn_run)
    assert len(res.finite()) == 1 and res.limit() is not None  # the CNN's limit (layer kinds "conv")
    limit = next(c for c in data["curves"] if c["kind"] == "limit")
    assert limit["method"] == "particles" and limit["replicates"] == 2


# --- malformed files are rejected ----------------------------------------------------------------


def _minimal() -> dict:
    """A valid results.json written by hand: one finite curve and one limit curve."""
    series = lambda: {"loss": {"test": [1.0, 0.5]}, "error": {"test": [0.5, None]}}  # noqa: E731
    resolution = {"s_nodes": 8, "u_nodes": 256, "r_nodes": 32, "theta_nodes": 8, "m1": 1024, "qmc_points": 256,
                  "max_particles": 4096, "noise_nodes": 8, "data_samples": 8192, "dt": None, "step_divisor": 1}  # fmt: skip
    layer = {"layer": 1, "kind": "input", "sigma": ["tanh(h)"], "sigma_latex": r"\tanh h", "theta": [],
             "roles": [], "q": 0, "k": 1}  # fmt: skip
    return {
        "schema_version": 1,
        "spec": "hand",
        "spec_file": None,
        "preset": "tiny",
        "seed": 0,
        "config": {
            "spec": {
                "name": "hand",
                "input_dim": 2,
                "num_layers": 1,
                "layers": [layer],
                "loss": {"name": "squared", "expr": "(y - yhat)**2", "error": "sign"},
                "init": "Init()",
                "lr": "LearningRate(alpha=0.1)",
                "alpha": 0.1,
                "data": "D",
                "batch_size": "full",
                "output_bias": False,
            },  # fmt: skip
            "run": {
                "widths": [3],
                "seeds": 1,
                "iterations": 2,
                "num_evals": 2,
                "eval_samples": 5,
                "limit": resolution,
            },  # fmt: skip
        },
        "versions": dict.fromkeys(
            [
                "python",
                "platform",
                "mfspec",
                "jax",
                "jaxlib",
                "equinox",
                "diffrax",
                "sympy",
                "numpy",
                "scipy",
            ],
            "1",
        ),
        "curves": [
            {
                "kind": "finite",
                "width": 3,
                "seed": 0,
                "iteration": [0, 2],
                "t": [0.0, 0.2],
                "metrics": series(),
            },
            {
                "kind": "limit",
                "width": None,
                "seed": None,
                "iteration": [0, 2],
                "t": [0.0, 0.2],
                "metrics": series(),
                "error_bar": series(),
                "method": "radial",
                "solver": "heun",
                "dt": 0.01,
                "seconds_single_solve": 1.0,
                "resolution": resolution,
                "population": {"loss": [0.9, 0.4], "error": [0.5, 0.1]},
                "label": "the limit",
            },  # fmt: skip
        ],
    }


def test_hand_written_file_is_valid_and_typed(tmp_path):
    _validator().validate(_minimal())
    (tmp_path / "results.json").write_text(json.dumps(_minimal()))
    res = mf.load_results(tmp_path / "results.json")
    fin, lim = res.curves
    assert np.isnan(fin.metric("test", "error")[1]) and fin.metric("test", "error")[0] == 0.5
    np.testing.assert_array_equal(lim.population["loss"], [0.9, 0.4])
    assert lim.label == "the limit" and fin.label == "n = 3" and res.variant is None


def _breakages():
    """(name, edit of a valid file, the field, words the message must contain)."""

    def drop(key):
        return lambda d: d.pop(key)

    def setter(path, value):
        def edit(d):
            *head, last = path
            for k in head:
                d = d[k]
            d[last] = value

        return edit

    return [
        ("missing curves", drop("curves"), "top level", "'curves'"),
        ("seed as a string", setter(["seed"], "zero"), "seed", "'zero'"),
        ("unknown curve kind", setter(["curves", 0, "kind"], "banana"), "curves[0].kind", "'banana'"),
        (
            "metric values as strings",
            setter(["curves", 0, "metrics", "loss", "test"], ["1.0", "x"]),
            "curves[0].metrics.loss.test[0]",
            "'1.0'",
        ),  # fmt: skip
        ("limit without its error bar", lambda d: d["curves"][1].pop("error_bar"), "curves[1]", "error_bar"),
        ("finite curve without a seed", setter(["curves", 0, "seed"], None), "curves[0].seed", "None"),
        ("unknown top-level key", setter(["colour"], "red"), "top level", "colour"),
        (
            "unknown split",
            setter(["curves", 0, "metrics", "loss", "validation"], [1.0, 2.0]),
            "curves[0].metrics.loss",
            "validation",
        ),  # fmt: skip
        (
            "population on a particles limit",
            setter(["curves", 1, "method"], "particles"),
            "curves[1].method",
            "'radial' was expected, got 'particles'",
        ),  # fmt: skip
    ]


@pytest.mark.parametrize("name, edit, where, words", _breakages(), ids=[b[0] for b in _breakages()])
def test_schema_and_loader_reject_malformed_files(tmp_path, name, edit, where, words):
    jsonschema = pytest.importorskip("jsonschema")
    bad = _minimal()
    edit(bad)
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(bad)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError) as err:
        mf.load_results(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: {where}:") and words in msg, msg


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda d: d.pop("curves"), "top level: missing required key 'curves'"),
        (lambda d: d.update(seed="zero"), "seed: must be of type int, got 'zero'"),
        (lambda d: d["curves"][0].update(kind="banana"), "curves[0].kind: must be one of ['finite', 'limit'], got 'banana'"),
        (lambda d: d["curves"][0]["metrics"]["loss"].update(test=["1.0", None]), "curves[0].metrics.loss.test: must be an array of numbers"),
        (lambda d: d["curves"][0].update(t=[0.0]), "curves[0].t: must have 2 entries, one per iteration, got 1"),
    ],
)  # fmt: skip
def test_loader_without_jsonschema_checks_by_hand(tmp_path, monkeypatch, edit, words):
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import jsonschema now raises ImportError
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_minimal()))
    assert len(mf.load_results(path).curves) == 2
    bad = _minimal()
    edit(bad)
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="^" + __import__("re").escape(f"{path}: {words}")):
        mf.load_results(path)


def test_series_lengths_must_match_the_iterations(tmp_path):
    bad = _minimal()
    bad["curves"][1]["error_bar"]["loss"]["test"] = [0.1]
    _validator().validate(bad)  # lengths are beyond JSON Schema: the loader checks them
    (tmp_path / "results.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"curves\[1\]\.error_bar\.loss\.test: must have 2 entries"):
        mf.load_results(tmp_path / "results.json")


def test_versions(tmp_path):
    path = tmp_path / "results.json"
    old = _minimal()
    del old["schema_version"]
    path.write_text(json.dumps(old))
    with pytest.warns(UserWarning, match="no schema_version.*read as version 0"):
        assert mf.load_results(path).schema_version == 0
    for version, words in ((2, "newer mfspec"), ("1", "schema_version is '1'"), (True, "is True")):
        path.write_text(json.dumps({**_minimal(), "schema_version": version}))
        with pytest.raises(ValueError, match=words):
            mf.load_results(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        mf.load_results(path)


def test_figure_from_a_dict_and_from_records(tmp_path):
    from mfspec.run.figure import plot_results

    data = _minimal()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "no schema_version" warning
        a = plot_results(copy.deepcopy(data), tmp_path / "a.png")
        b = plot_results(mf.load_results(_write(tmp_path, data)), tmp_path / "b.png")
    assert a.stat().st_size > 10_000 and a.read_bytes() == b.read_bytes()
    data["curves"][0]["kind"] = "banana"
    with pytest.raises(ValueError, match=r"curves\[0\]\.kind"):
        plot_results(data, tmp_path / "c.png")


def _write(tmp_path, data):
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    return path


def test_schema_ships_in_the_package():
    from importlib import resources

    schema = json.loads(resources.files("mfspec.run").joinpath("results.schema.json").read_text())
    assert schema["$schema"].endswith("2020-12/schema") and schema["$id"]
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert "schema_version" in schema["required"]


# --- population metrics of the radial limit ------------------------------------------------------


def _monte_carlo(spec, system, state, n=200_000, chunk=20_000):
    """Mean and standard error of the per-sample loss and error of ŷ on n fresh draws from P."""
    x, y = spec.data.minibatch(jax.random.PRNGKey(2024), n, dtype=jax.numpy.float64)
    fwd = eqx.filter_jit(lambda p, x: system.forward(p, x))
    loss, err = [], []
    for i in range(0, n, chunk):
        yhat = fwd(state, x[i : i + chunk])
        loss.append(np.asarray(spec.loss(y[i : i + chunk], yhat)))
        err.append(np.asarray(spec.loss.errors(y[i : i + chunk], yhat)))
    loss, err = np.concatenate(loss), np.concatenate(err)
    return (loss.mean(), loss.std() / np.sqrt(n)), (err.mean(), err.std() / np.sqrt(n))


def test_population_metrics_present_only_for_the_radial_limit(default_run, limit_run):
    (lim,) = [c for c in _read(default_run)["curves"] if c["kind"] == "limit"]
    assert lim["method"] == "radial"
    assert len(lim["population"]["loss"]) == len(lim["population"]["error"]) == len(lim["iteration"])
    (other,) = _read(limit_run)["curves"]
    assert other["method"] == "particles" and "population" not in other


def test_population_loss_at_t0_matches_monte_carlo(default_run):
    """The record's t = 0 population loss against ŷ of the initial state on 200k fresh points."""
    res = mf.load_results(default_run)
    spec = mf.load_spec_file("isotropic_gaussians").spec
    system, state, _ = mf.radial_setup(spec, resolution=mf.Resolution(**res.limit().extra["resolution"]))
    (mc, se), _ = _monte_carlo(spec, system, state)
    assert abs(res.limit().population["loss"][0] - mc) < 5 * se, (res.limit().population["loss"][0], mc, se)


def test_population_metrics_after_training_match_monte_carlo():
    """At t = 3 (3000 steps at α = 1e-3) the limit classifies by a radius threshold: loss ~0.11,
    error ~0.4 %. The error, a step in |x|, is integrated on ERROR_QUANTILES quantiles per class."""
    spec = mf.load_spec_file("isotropic_gaussians").spec
    evals = spec.data.eval_sets(jax.random.PRNGKey(0), 10)
    sol = mf.solve_limit(spec, iterations=3000, num_evals=2, eval_sets=evals)
    assert sol.method == "radial"
    pop = population_metrics(spec, sol)
    (mc_loss, se_loss), (mc_err, se_err) = _monte_carlo(spec, sol.system, sol.states()[-1])
    assert abs(pop["loss"][-1] - mc_loss) < 5 * se_loss, (pop["loss"][-1], mc_loss, se_loss)
    assert 0 < mc_err < 0.05
    assert abs(pop["error"][-1] - mc_err) < 5 * se_err + 2 / ERROR_QUANTILES, (
        pop["error"][-1],
        mc_err,
        se_err,
    )
