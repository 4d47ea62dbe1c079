"""The jaxtyping shape annotations of the public API, enforced as equinox enforces its own: jaxtyping's
import hook decorates every function and dataclass of ``mfspec`` with a runtime checker (beartype)
before ``mfspec`` is imported. That runs in a subprocess, so the hook does not leak into other tests.

The script checks that (1) the package imports and correct calls pass under the hook (a tiny
network: forward, batch_loss, scaled_gradients, evaluate, a few SGD steps, spec_particles,
empirical_particles, the data sources), and (2) wrongly shaped calls fail with jaxtyping's
``TypeCheckError`` naming the argument — so the checker can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("beartype", reason="beartype (the [test] extra) enforces the jaxtyping annotations")

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    from jaxtyping import TypeCheckError, install_import_hook

    assert "mfspec" not in sys.modules
    with install_import_hook(["mfspec"], "beartype.beartype"):
        import mfspec as mf
    from helpers import classification_spec  # imports mfspec (already hooked)

    import jax
    import jax.numpy as jnp
    import numpy as np

    assert hasattr(mf.Spec.network, "__wrapped__"), "the import hook did not decorate mfspec"
    spec = classification_spec(n=16)  # d = 4, k = 3, finite data (train and test sets)
    key = jax.random.PRNGKey(0)
    net = spec.network((6, 5), key)
    x, y = spec.data.minibatch(jax.random.PRNGKey(1), 7)
    out = {}

    # (1) correct calls pass
    out["yhat"] = list(net(x).shape)
    out["yhat_numpy"] = list(net(np.asarray(x)).shape)
    out["loss"] = float(mf.batch_loss(net, spec.loss, x, y))
    grads = mf.scaled_gradients(net, spec.loss, x, y)
    assert jax.tree.structure(grads) == jax.tree.structure(net.params())
    eval_sets = spec.data.eval_sets(jax.random.PRNGKey(2), 5)
    out["evaluate"] = list(mf.evaluate(net, spec.loss, eval_sets).shape)
    trained, curve = mf.train(spec, net, jax.random.PRNGKey(3), iterations=3, num_evals=2, eval_sets=eval_sets)
    out["curve"] = {k: [float(v) for v in vals] for k, vals in curve.metrics.items()}
    out["empirical"] = list(mf.empirical_particles(trained).layers[0].pi.shape)
    particles = mf.spec_particles(spec, key, m1=8, max_particles=64)
    out["particles_yhat"] = list(particles(x).shape)
    out["one_hot"] = list(mf.data.one_hot(np.array([0, 2, 1]), 3).shape)

    # (2) wrongly shaped calls fail, naming the argument
    bad = {
        "x_one_sample": lambda: net(x[0]),  # one sample (d,) without its batch axis
        "batch_mismatch": lambda: mf.batch_loss(net, spec.loss, x, y[:6]),
        "labels_1d": lambda: mf.scaled_gradients(net, spec.loss, x, y[:, 0]),
        "key": lambda: spec.network((6, 5), jnp.zeros(3)),
    }
    errors = {}
    for name, call in bad.items():
        try:
            call()
        except TypeCheckError as err:
            errors[name] = str(err)
        else:
            errors[name] = None
    out["errors"] = errors
    print("RESULT " + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def hooked():
    env = dict(os.environ)
    # this checkout's mfspec and tests/helpers.py first
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "tests"), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.setdefault("JAX_PLATFORMS", "cpu")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def test_correct_calls_pass_under_the_hook(hooked):
    assert hooked["yhat"] == [7, 3] and hooked["yhat_numpy"] == [7, 3]
    assert hooked["evaluate"] == [4]  # [loss, error] on train and test
    assert hooked["empirical"] == [6]
    assert hooked["particles_yhat"] == [7, 3]
    assert hooked["one_hot"] == [3, 3]
    assert all(len(v) == 2 for v in hooked["curve"].values())


@pytest.mark.parametrize(
    "name,argument",
    [("x_one_sample", "x"), ("batch_mismatch", "y"), ("labels_1d", "y"), ("key", "key")],
)
def test_wrongly_shaped_calls_fail_naming_the_argument(hooked, name, argument):
    message = hooked["errors"][name]
    assert message is not None, f"{name}: the call passed the checker"
    assert f"parameter '{argument}'" in message, message
