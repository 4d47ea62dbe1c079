"""Bad input gets a clear error naming the field and the value, before any compute."""

import math

import jax
import numpy as np
import pytest
import sympy as sp
from helpers import tiny_isotropic_spec

import mfspec as mf
from mfspec.run.specfile import load_spec_file


def _spec(**over):
    kw = dict(
        name="bad",
        input_dim=4,
        hidden=[mf.layer(mf.act.relu)],
        head=mf.head(mf.act.relu),
        loss=mf.loss.squared,
        init=mf.init.usual(),
        data=mf.data.IsotropicGaussians(4, 0.4),
        lr=mf.lr.constant(0.01),
    )
    kw.update(over)
    return mf.Spec(**kw)


def test_data_dimension_mismatch_names_both_dimensions():
    with pytest.raises(ValueError, match=r"input dimension 5 but Spec.input_dim = 4"):
        _spec(data=mf.data.IsotropicGaussians(5, 0.4))


def test_non_positive_input_dim():
    with pytest.raises(ValueError, match=r"Spec.input_dim must be a positive int, got 0"):
        _spec(input_dim=0)


def test_q_of_sigma_vs_init_mismatch():
    init = mf.init.Init(
        w1=mf.init.Normal(0, 0.5),
        theta=(mf.init.Normal([0.0, 0.0, 0.0], 0.1), mf.init.Normal(0.0, 1.0)),
        kernels=(mf.init.Kernel(1.0, 0.1),),
    )
    with pytest.raises(
        ValueError, match=r"theta\[0\] \(layer 1, q = 1\).*mean has 3 entries but θ has q = 1"
    ):
        _spec(init=init)


def test_init_with_wrong_number_of_layers():
    init = mf.init.Init(w1=mf.init.Normal(0, 0.5), theta=(mf.init.Normal(0, 1),), kernels=())
    with pytest.raises(ValueError, match=r"init.theta has 1 laws but the spec has L = 2"):
        _spec(init=init)


def test_usual_init_rejects_a_parameter_it_does_not_know():
    a, h = sp.symbols("a h")
    act = mf.Activation(sp.tanh(a * h), theta=(a,), h=h)  # role "other"
    with pytest.raises(ValueError, match=r"layer 1 θ component a has role 'other'"):
        _spec(hidden=[act])


@pytest.mark.parametrize("width", [0, -3, (4, 0)])
def test_non_positive_widths(width):
    spec = _spec()
    with pytest.raises(ValueError, match=r"width n_\d must be a positive int, got (0|-3)"):
        spec.network(width, jax.random.PRNGKey(0))


def test_width_tuple_of_wrong_length():
    with pytest.raises(ValueError, match=r"widths \(3, 3, 3\) has 3 entries but the spec has L = 2"):
        _spec().network((3, 3, 3), jax.random.PRNGKey(0))


def test_run_rejects_bad_widths():
    with pytest.raises(ValueError, match=r"Run.widths entries must be positive ints.*got -5"):
        mf.Run(widths=(10, -5))


def test_loss_that_does_not_fit_k():
    with pytest.raises(ValueError, match=r"loss 'squared' is for k = 3 outputs but the head has k = 1"):
        _spec(loss=mf.loss.squared(3))
    with pytest.raises(ValueError, match=r"cross_entropy needs k >= 2 outputs, got k = 1"):
        _spec(loss=mf.loss.cross_entropy)


def test_labels_that_do_not_fit_k():
    data = mf.data.ArrayData(np.zeros((5, 4)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"labels with k = 3 outputs but the head has k = 1"):
        _spec(data=data)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data(bad):
    x = np.zeros((6, 4))
    x[2, 1] = bad
    with pytest.raises(ValueError, match=r"x_train holds 1 non-finite values \(first at index \(2, 1\)"):
        mf.data.ArrayData(x, np.ones(6))


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match=r"alpha must be a finite number > 0, got -0.1"):
        mf.lr.constant(-0.1)
    with pytest.raises(ValueError, match=r"tau2 must be >= 0, got -1"):
        mf.init.usual(tau2=-1)
    with pytest.raises(ValueError, match=r"delta must lie in \(0, 1\), got 1.5"):
        mf.data.IsotropicGaussians(4, 1.5)
    with pytest.raises(ValueError, match=r"batch_size must be a positive int or 'full', got 0"):
        _spec(batch_size=0)


def test_activation_with_foreign_symbols():
    h, z = sp.symbols("h z")
    with pytest.raises(ValueError, match=r"uses symbols \['z'\] that are neither theta"):
        mf.Activation(sp.tanh(h + z), h=h)


def test_hidden_layer_must_have_one_output():
    with pytest.raises(ValueError, match=r"hidden\[0\] \(layer 1\) must have one output, got k = 2"):
        _spec(hidden=[mf.head(mf.act.relu, outputs=2)])


def test_spec_file_without_a_spec(tmp_path):
    f = tmp_path / "empty.py"
    f.write_text("x = 1\n")
    with pytest.raises(ValueError, match=r"defines no variable 'spec'"):
        load_spec_file(str(f))
    f.write_text("spec = 3\n")
    with pytest.raises(TypeError, match=r"'spec' must be an mf.Spec, got int"):
        load_spec_file(str(f))


def test_unknown_spec_name_lists_the_bundled_ones():
    with pytest.raises(FileNotFoundError, match=r"isotropic_gaussians"):
        load_spec_file("no_such_spec")


def test_divergence_names_step_and_quantity_and_keeps_curve():
    spec = tiny_isotropic_spec(alpha=50.0)  # far too large a step: the run blows up
    ev = spec.data.eval_sets(jax.random.PRNGKey(0), 50)
    net = spec.network(8, jax.random.PRNGKey(1))
    _, curve = mf.train(
        spec, net, jax.random.PRNGKey(2), iterations=400, num_evals=12, eval_sets=ev, chunk=100
    )
    assert curve.diverged is not None
    assert "diverged at step" in curve.diverged and "minibatch loss" in curve.diverged
    step = int(curve.diverged.split("step ")[1].split(" ")[0])
    # Kept: the curve up to the blow-up, all finite, all before the bad step.
    assert len(curve.iterations) >= 1
    assert all(np.isfinite(v).all() for v in curve.metrics.values())
    assert curve.iterations[-1] <= step
    assert math.isfinite(curve.t[-1])
