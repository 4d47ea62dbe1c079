"""Every row of docs/bad_inputs.md is a test: the bad input, built here, raises the documented error
(or warning) whose message contains the documented excerpt; and every case here has its row."""

from __future__ import annotations

import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import mfspec as mf
from mfspec.common.warnings import MFSpecWarning

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"
W, H = sp.symbols("w h", real=True)


def _spec(**over):
    kw = dict(name="bad", input_dim=4, hidden=[mf.layer(mf.act.relu)], head=mf.head(mf.act.relu),
              loss=mf.loss.squared, init=mf.init.usual(), data=mf.data.IsotropicGaussians(4, 0.4),
              lr=mf.lr.constant(0.01))  # fmt: skip
    kw.update(over)
    return mf.Spec(**kw)


def _arrays(y, d=4, n=6):
    return mf.data.ArrayData(np.random.default_rng(0).normal(size=(n, d)), np.asarray(y, float))


def _init(theta_head=None, kernel=None):
    return mf.init.Init(w1=mf.init.Normal(0.0, 0.5), theta=(mf.init.Normal(0.0, 0.1), theta_head),
                        kernels=(kernel or mf.init.Kernel(1.0, 0.1),))  # fmt: skip


def _images(y, n=6):
    """Flat 1-channel 4×4 images with labels ``y``."""
    return mf.data.ArrayData(np.random.default_rng(1).uniform(-1, 1, (n, 16)), np.asarray(y, float))


def _cnn(**over):
    kw = dict(name="bad_cnn", data=_images(np.eye(2)[[0, 1, 0, 1, 0, 1]]), loss=mf.loss.cross_entropy,
              lr=mf.lr.constant(0.01), input_shape=(1, 4, 4), layers=(mf.conv.ConvLayer(), mf.conv.ConvLayer()))  # fmt: skip
    kw.update(over)
    return mf.conv.ConvSpec(**kw)


def _conv_after_dense():
    cnn = _cnn()
    return mf.Spec(name="mixed", input_dim=16, layers=(mf.Input(mf.layer(mf.act.relu)), cnn.layers[1]),
                   loss=cnn.loss, init=cnn.init, data=cnn.data, lr=cnn.lr)  # fmt: skip


def _random_out_bias_limit():
    mf.solve_limit(_spec(init=mf.init.usual(tau3=0.3)), t1=0.1)


#: id → (build, ValueError / TypeError / MFSpecWarning). The message excerpts live in the doc.
CASES = {
    "labels-01-sign": (lambda: _spec(data=_arrays([0, 1, 1, 0, 1, 0])), ValueError),
    "regression-sign": (lambda: _spec(data=_arrays([0.3, -1.2, 2.0, 0.1, 0.5, -0.4])), MFSpecWarning),
    "random-out-bias-limit": (_random_out_bias_limit, ValueError),
    "scalar-law-vector-theta": (lambda: _spec(init=_init(theta_head=mf.init.Normal(1.0, 0.1))), ValueError),
    "logistic-labels": (
        lambda: _spec(loss=mf.loss.logistic(), data=_arrays([-1, 0, 1, 1, -1, 0])),
        ValueError,
    ),
    "cross-entropy-rows": (
        lambda: _spec(
            head=mf.head(mf.act.relu, outputs=3),
            loss=mf.loss.cross_entropy,
            data=_arrays(np.eye(3)[[0, 1, 2, 0, 1, 2]] + np.eye(3)[[1, 1, 1, 1, 1, 1]]),
        ),
        ValueError,
    ),  # fmt: skip
    "regression-argmax": (
        lambda: _spec(
            head=mf.head(mf.act.relu, outputs=2), loss=mf.loss.squared, data=_arrays(np.full((6, 2), 0.5))
        ),
        MFSpecWarning,
    ),  # fmt: skip
    "name-path": (lambda: _spec(name="runs/a"), ValueError),
    "annealed-power": (lambda: mf.lr.annealed(0.1, -0.1), ValueError),
    "kernel-mean-shape": (
        lambda: _spec(
            init=_init(mf.init.Normal([1.0, 0.0], [0.1, 0.0]), mf.init.Kernel(lambda a, b: jnp.ones(3)))
        ),
        ValueError,
    ),  # fmt: skip
    "sigma-without-h": (lambda: mf.Activation(sp.Symbol("b") ** 2, theta=(sp.Symbol("b"),), h=H), ValueError),
    "loss-without-yhat": (
        lambda: mf.loss.Loss(sp.Symbol("y") ** 2, y=[sp.Symbol("y")], yhat=[sp.Symbol("yh")]),
        ValueError,
    ),  # fmt: skip
    "full-batch-sampler": (lambda: _spec(batch_size="full"), ValueError),
    "local-as-layer-1": (
        lambda: _spec(
            hidden=None, head=None, layers=(mf.local(W * H, w=W, h=H), mf.Dense(mf.head(mf.act.relu)))
        ),
        ValueError,
    ),  # fmt: skip
    "input-as-layer-2": (
        lambda: _spec(
            hidden=None, head=None, layers=(mf.Input(mf.layer(mf.act.relu)), mf.Input(mf.head(mf.act.relu)))
        ),
        ValueError,
    ),  # fmt: skip
    "dense-weight-law": (
        lambda: _spec(init=_init(mf.init.Normal([1.0, 0.0], [0.1, 0.0]), mf.init.Normal(1.0, 0.1))),
        TypeError,
    ),  # fmt: skip
    "input-dim": (lambda: _spec(data=mf.data.IsotropicGaussians(5, 0.4)), ValueError),
    "loss-k": (lambda: _spec(loss=mf.loss.squared(3)), ValueError),
    "label-k": (lambda: _spec(data=mf.data.ArrayData(np.zeros((5, 4)), np.zeros((5, 3)))), ValueError),
    "non-finite-data": (lambda: mf.data.ArrayData(np.full((3, 4), np.nan), np.ones(3)), ValueError),
    "width": (lambda: _spec().network((4, 0), None), ValueError),
    "resolution": (lambda: mf.Resolution(m1=0), ValueError),
    "usual-role-other": (
        lambda: _spec(hidden=[mf.Activation(sp.tanh(sp.Symbol("a") * H), theta=(sp.Symbol("a"),), h=H)]),
        ValueError,
    ),  # fmt: skip
    "residual-width": (
        lambda: _spec(
            hidden=None,
            head=None,
            layers=(mf.Input(mf.layer(mf.act.relu)), mf.Residual(mf.head(mf.act.relu))),
        ).network((4, 3), None),
        ValueError,
    ),  # fmt: skip
    "residual-first": (
        lambda: _spec(hidden=None, head=None, layers=(mf.Residual(mf.head(mf.act.relu)),)),
        ValueError,
    ),
    "cnn-labels": (lambda: _cnn(data=_images(np.eye(2)[[0, 1, 0, 1, 0, 1]] * 2)), ValueError),
    "cnn-geometry": (lambda: _cnn(layers=(mf.conv.ConvLayer(kernel=5, padding=0),)), ValueError),
    "cnn-widths": (lambda: _cnn().network((3, 0), None), ValueError),
    "conv-after-dense": (_conv_after_dense, ValueError),
    "layer-count-init": (
        lambda: _spec(
            init=mf.init.Init(w1=mf.init.Normal(0, 0.5), theta=(mf.init.Normal(0, 1),), kernels=())
        ),
        ValueError,
    ),  # fmt: skip
}


def _doc_rows() -> dict[str, str]:
    """id → message excerpt, from the table of docs/bad_inputs.md (id and excerpt in backticks)."""
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\|\s*`([\w-]+)`\s*\|.*\|\s*`(.+)`\s*\|\s*$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_the_doc_has_a_row_for_every_case_and_no_other():
    rows = _doc_rows()
    assert len(rows) >= 15
    assert set(rows) == set(CASES), (sorted(set(rows) - set(CASES)), sorted(set(CASES) - set(rows)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_the_documented_message(case):
    build, kind = CASES[case]
    excerpt = _doc_rows()[case]
    if issubclass(kind, Warning):
        with pytest.warns(kind) as record:
            build()
        messages = [str(r.message) for r in record if issubclass(r.category, kind)]
    else:
        with pytest.raises(kind) as info:
            build()
        messages = [str(info.value)]
    assert any(excerpt in m for m in messages), f"{case}: {excerpt!r} not in {messages}"


def test_regression_targets_record_no_classification_error():
    with pytest.warns(MFSpecWarning):
        spec = _spec(data=_arrays([0.3, -1.2, 2.0, 0.1, 0.5, -0.4]))
    assert spec.loss.error == "none" and mf.metric_names(spec) == ("train_loss", "train_error")
    y, yhat = jnp.asarray([[0.3]]), jnp.asarray([[-0.2]])
    assert np.isnan(np.asarray(spec.loss.errors(y, yhat))).all()
    assert _spec(data=_arrays([1, -1, 1, 1, -1, -1])).loss.error == "sign"  # ±1 labels keep it


def test_explicit_iid_law_for_a_vector_theta_is_accepted():
    spec = _spec(init=_init(theta_head=mf.init.Normal.iid(1.0, 0.1)))
    assert spec.layers[-1].theta_law.broadcast
