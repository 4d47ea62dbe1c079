"""Seeds trained as one vmapped program (``mfspec.finite.seeds``) against each seed trained alone.

The reference is ``mf.train`` on one network at a time — the sequential path, independent of the
batching code. Claims: on the default spec, bitwise equality of every curve and every final
parameter (float64 and float32, several compiled chunks, and through ``mfspec run``'s sweep); on
every layer kind of the test catalogue, agreement to 1e-12 relative over 40 steps — XLA:CPU does
not promise the same rounding in a batched program, and for some architectures (local layers,
some heads) the last bit differs (docs/batched_seeds.md); a diverging seed stops as alone; and the
seeds cut over 2 forced host devices give the one-device curves bitwise (default spec).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import catalogue, tiny_isotropic_spec

import mfspec as mf
from mfspec.finite.seeds import train_seeds
from mfspec.run.sweep import new_results, run_sweep

CATALOGUE = catalogue()
WORKER = Path(__file__).with_name("seeds_worker.py")


def _same(alone, together, rtol=0.0):
    (n1, c1), (n2, c2) = alone, together
    for a, b in zip(jax.tree.leaves(n1.params()), jax.tree.leaves(n2.params()), strict=True):
        np.testing.assert_allclose(
            np.asarray(b), np.asarray(a), rtol=rtol, atol=rtol * float(np.max(np.abs(a), initial=0.0))
        )
    assert c1.diverged == c2.diverged
    np.testing.assert_array_equal(c1.iterations, c2.iterations)
    for name in c1.metrics:
        np.testing.assert_allclose(c2.metrics[name], c1.metrics[name], rtol=rtol, atol=0, err_msg=name)


def _nets(spec, width, seeds, dtype):
    nets = [spec.network(spec.widths(width), jax.random.PRNGKey(10 + s), dtype=dtype) for s in range(seeds)]
    return nets, [jax.random.PRNGKey(50 + s) for s in range(seeds)]


def _check(spec, nets, keys, dtype, rtol=0.0, **kw):
    evals = jax.tree.map(lambda a: jnp.asarray(a, dtype), spec.data.eval_sets(jax.random.PRNGKey(1), 40))
    kw = dict(iterations=40, num_evals=6, eval_sets=evals, chunk=15) | kw
    together = train_seeds(spec, nets, keys, **kw)
    for net, key, tog in zip(nets, keys, together, strict=True):
        _same(mf.train(spec, net, key, **kw), tog, rtol)
    return together


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_on_the_default_spec_batched_seeds_are_bitwise_the_seeds_alone(dtype):
    with jax.enable_x64(dtype == "float64"):
        spec = mf.load_spec_file("isotropic_gaussians").spec
        _check(spec, *_nets(spec, 50, 3, dtype), dtype, iterations=300, chunk=120)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_layer_kind_batched_matches_alone_to_roundoff(name):
    with jax.enable_x64(True):
        spec = CATALOGUE[name]
        nets, keys = _nets(spec, 5, 3, jnp.float64)
        if not nets[0].scan_steps:  # a CNN steps one call at a time (Conv.scan_steps): refused, said why
            with pytest.raises(ValueError, match="steps one call at a time"):
                train_seeds(spec, nets, keys, iterations=3, eval_sets={})
            return
        _check(spec, nets, keys, jnp.float64, rtol=1e-12)


def test_a_diverging_seed_stops_as_alone_and_the_others_go_on():
    with jax.enable_x64(True):
        spec = tiny_isotropic_spec(depth=2)
        nets, keys = _nets(spec, 8, 3, jnp.float64)
        blown = jax.tree.map(lambda a: a * 1e40, nets[1].params())
        nets[1] = nets[1].with_params(blown)
        out = _check(spec, nets, keys, jnp.float64, rtol=1e-12, iterations=60)
        assert out[1][1].diverged and not out[0][1].diverged and not out[2][1].diverged
        assert len(out[0][1].iterations) == 6


def test_networks_of_other_widths_are_refused():
    spec = tiny_isotropic_spec(depth=2)
    nets = [spec.network(spec.widths(n), jax.random.PRNGKey(0)) for n in (4, 5)]
    with pytest.raises(ValueError, match=r"nets\[1\] has other shapes"):
        train_seeds(spec, nets, [jax.random.PRNGKey(1)] * 2, iterations=3, eval_sets={})


def test_the_sweep_batches_seeds_without_changing_a_bit():
    spec = mf.load_spec_file("isotropic_gaussians").spec
    run = mf.Run(widths=(6, 9), seeds=3, iterations=30, num_evals=4, eval_samples=50)
    curves = []
    for batch in (False, True):
        res = new_results(spec, run, spec_file=None, preset=None, seed=0)
        run_sweep(spec, run, results=res, progress=False, batch_seeds=batch)
        curves.append(res["curves"])
    assert [c.get("batched_seeds") for c in curves[1]] == [3] * 6
    for alone, together in zip(*curves, strict=True):
        assert (alone["width"], alone["seed"]) == (together["width"], together["seed"])
        assert alone["metrics"] == together["metrics"]


def _sweep_on_devices(devices: int, dtype: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(devices), dtype, "default"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("dtype", ["float64", pytest.param("float32", marks=pytest.mark.slow)])
def test_seeds_cut_over_two_host_devices_are_bitwise_one_device(dtype):
    """The batched sweep (2 widths x 3 seeds: an odd count, so one padded seed) on 2 forced host
    devices gives every curve of the same sweep on one device, to the last bit, and its carries
    did span both devices (one on one device)."""
    procs = {d: _sweep_on_devices(d, dtype) for d in (1, 2)}
    got = {}
    for d, p in procs.items():
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]
        got[d] = json.loads(out.splitlines()[-1])
    one, two = got[1], got[2]
    assert (one["devices"], one["spans"], two["devices"], two["spans"]) == (1, [1], 2, [2])
    assert len(one["curves"]) == len(two["curves"]) == 6
    for a, b in zip(one["curves"], two["curves"], strict=True):
        assert (a["width"], a["seed"], b["batched_seeds"]) == (b["width"], b["seed"], 3)
        assert a["metrics"] == b["metrics"], (a["width"], a["seed"])
