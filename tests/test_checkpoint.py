"""Checkpoint and resume of the limit solve (``solve_limit(checkpoint=...)``, mfspec/limit/checkpoint.py):
an interrupted solve resumes to the curve of an uninterrupted one, bitwise in float64; a
checkpoint of another solve is refused; SIGTERM writes one; progress only when asked."""

from __future__ import annotations

import dataclasses
import functools
import math
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tiny_isotropic_spec

import mfspec as mf
import mfspec.limit.checkpoint as ck
from mfspec.common.interrupt import interrupt_on_sigterm

TESTS = Path(__file__).resolve().parent
RES = mf.Resolution(m1=64, data_samples=256)

#: name → (spec, solve_limit arguments): fixed-step Heun (ReLU, radial, 100 steps of 0.01) and
#: adaptive Tsit5 (tanh, particles, about 60 steps of which some are rejected). One spec object
#: each, so that the tests share compilations.
SOLVES = {
    "relu-heun-radial": (functools.cache(tiny_isotropic_spec), dict(t1=1.0, num_evals=9)),
    "tanh-tsit5-particles": (
        functools.cache(lambda: tiny_isotropic_spec(phi=mf.act.tanh)),
        dict(t1=6.0, num_evals=9, start=mf.Start(method="particles")),
    ),
}


@pytest.fixture(autouse=True, scope="module")
def x64():
    with jax.enable_x64(True):
        yield


def _solve(name: str, **kw) -> mf.LimitSolution:
    make, args = SOLVES[name]
    return mf.solve_limit(make(), resolution=RES, dtype=jnp.float64, **{**args, **kw})


def _interrupt_after(monkeypatch, finished: int) -> list:
    """Make the chunk loop raise KeyboardInterrupt (as Ctrl-C does) when chunk ``finished + 1``
    starts; returns the list of chunk calls (True: a fresh start, False: a continued loop)."""
    calls, real = [], ck.run_chunk

    def chunk(*a, **kw):
        calls.append(kw["controller_state"] is None)
        if len(calls) > finished:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(ck, "run_chunk", chunk)
    return calls


def _assert_same_solution(a: mf.LimitSolution, b: mf.LimitSolution) -> None:
    """Bitwise: the chunked solve takes the same steps as the unchunked one."""
    np.testing.assert_array_equal(a.curve.t, b.curve.t)
    for k in a.curve.metrics:
        np.testing.assert_array_equal(a.curve.metrics[k], b.curve.metrics[k], err_msg=k)
    np.testing.assert_array_equal(np.asarray(a.solution.ys), np.asarray(b.solution.ys))
    assert (a.num_steps, a.rejected, a.curve.diverged) == (b.num_steps, b.rejected, b.curve.diverged)


@pytest.mark.parametrize("name", list(SOLVES))
def test_interrupted_solve_resumes_to_the_uninterrupted_curve(name, tmp_path, monkeypatch, capsys):
    path = tmp_path / "limit.npz"
    reference = _solve(name)  # one diffeqsolve, no checkpoint
    calls = _interrupt_after(monkeypatch, finished=2)
    with pytest.raises(KeyboardInterrupt):
        _solve(name, checkpoint=mf.Checkpoint(path, every=3600))  # written only by the interrupt
    assert calls == [True, False, False]
    stored = np.load(path)
    t = float(stored["t"])
    assert 0 < t < SOLVES[name][1]["t1"] and int(stored["counts"][0]) == 50  # two chunks of 25 steps
    passed = int(np.sum(reference.curve.t <= t))
    assert stored["ys"].shape == (passed, stored["y"].size) and stored["metrics"].shape == (passed, 2)
    np.testing.assert_array_equal(stored["metrics"][:, 0], reference.curve.metrics["test_loss"][:passed])
    err = capsys.readouterr().err
    assert f"limit solve interrupted at t={t:.6g} of t1=" in err
    assert f"checkpoint {path}: rerun the same command to resume" in err

    monkeypatch.undo()
    calls = _interrupt_after(monkeypatch, finished=10**6)
    resumed = _solve(name, checkpoint=path)
    assert calls[0] is False and 1 <= len(calls) < 5  # continued from t, not started again
    _assert_same_solution(reference, resumed)
    assert not path.exists()  # a finished solve deletes its checkpoint


def test_a_solve_that_stops_early_stops_at_the_same_step(tmp_path):
    """max_steps too small for the horizon: the chunked solve (chunks of 25 and 15 steps) fails
    where the unchunked one does."""
    a = _solve("tanh-tsit5-particles", stepping=mf.Stepping(max_steps=40))
    b = _solve("tanh-tsit5-particles", stepping=mf.Stepping(max_steps=40), checkpoint=tmp_path / "c.npz")
    assert "stopped early" in a.curve.diverged
    _assert_same_solution(a, b)
    assert not (tmp_path / "c.npz").exists()


def test_checkpoint_of_another_solve_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "limit.npz"
    _interrupt_after(monkeypatch, finished=1)
    with pytest.raises(KeyboardInterrupt):
        _solve("relu-heun-radial", checkpoint=path)
    monkeypatch.undo()
    written = path.read_bytes()
    changed = {
        "resolution": dict(resolution=mf.Resolution(m1=64, data_samples=256, u_nodes=128)),
        "spec": dict(spec=tiny_isotropic_spec(alpha=2e-2)),
        "time_stepping": dict(resolution=dataclasses.replace(RES, dt=0.02)),
    }
    for what, kw in changed.items():
        spec = kw.pop("spec", tiny_isotropic_spec())
        args = {**SOLVES["relu-heun-radial"][1], "resolution": RES, **kw}
        with pytest.raises(ValueError, match="another solve") as err:
            mf.solve_limit(spec, dtype=jnp.float64, checkpoint=path, **args)
        msg = str(err.value)
        assert str(path) in msg and what in msg and f"delete {path} or use another --out" in msg
        assert "the spec or resolution changed" in msg
        assert path.read_bytes() == written  # left as it was
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=f"checkpoint {path} is not a readable limit checkpoint"):
        _solve("relu-heun-radial", checkpoint=path)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(dense=True), "dense=True"),
        (dict(every=-1.0), "Checkpoint.every must be a number of seconds >= 0, got -1.0"),
        (dict(every=math.nan), "Checkpoint.every must be a number of seconds >= 0, got nan"),
        (dict(every_steps=0), "Checkpoint.every_steps must be a positive int, got 0"),
    ],
)
def test_bad_checkpoint_arguments(tmp_path, kw, message):
    dense = kw.pop("dense", False)
    with pytest.raises(ValueError, match=message):
        mf.solve_limit(
            tiny_isotropic_spec(), t1=0.05, dense=dense, checkpoint=mf.Checkpoint(tmp_path / "c.npz", **kw)
        )
    assert not (tmp_path / "c.npz").exists()


def test_sigterm_writes_a_checkpoint_that_resumes(tmp_path):
    """A solve in another process, each chunk made slow, gets SIGTERM once its checkpoint exists:
    it writes the last finished chunk, says so, and the file resumes here to the same curve."""
    path = tmp_path / "limit.npz"
    script = textwrap.dedent(f"""
        import sys, time
        import jax
        jax.config.update("jax_enable_x64", True)
        sys.path.insert(0, {str(TESTS)!r})
        import mfspec.limit.checkpoint as ck
        import test_checkpoint as t

        real = ck.run_chunk
        def slow(*a, **kw):
            out = real(*a, **kw)
            out.ys.block_until_ready()
            time.sleep(0.3)
            return out
        ck.run_chunk = slow
        t._solve("relu-heun-radial", checkpoint=t.mf.Checkpoint({str(path)!r}, every_steps=5))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        reference = _solve("relu-heun-radial")
        deadline = time.monotonic() + 120
        while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.exists(), "no checkpoint appeared"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0, err
    assert "limit solve interrupted at t=" in err and "of t1=1" in err, err
    assert f"checkpoint {path}: rerun the same command to resume" in err
    t = float(np.load(path)["t"])
    assert 0 < t < 1
    _assert_same_solution(reference, _solve("relu-heun-radial", checkpoint=path))


def test_sigterm_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with interrupt_on_sigterm():
            signal.raise_signal(signal.SIGTERM)
            time.sleep(1)  # the handler raises here
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_swallowed_sigterm_is_raised_again_at_the_next_check():
    """A SIGTERM whose KeyboardInterrupt lands where Python drops it (a garbage-collector callback,
    a __del__: "Exception ignored") must still stop the loop: CI once saw a solve finish with exit 0
    after its SIGTERM was lost that way."""

    class Drops:
        def __del__(self):
            try:
                signal.raise_signal(signal.SIGTERM)
                time.sleep(1)
            except KeyboardInterrupt:
                pass  # what the interpreter does to an exception raised in __del__

    with interrupt_on_sigterm() as stop:
        stop.check()  # nothing arrived yet
        Drops()  # dropped at once: __del__ runs and swallows the interrupt
        with pytest.raises(KeyboardInterrupt, match="signal 15"):
            stop.check()


def test_progress_only_when_asked(tmp_path, capfd):
    _solve("relu-heun-radial")
    _solve("relu-heun-radial", checkpoint=tmp_path / "c.npz")
    assert capfd.readouterr() == ("", "")
    _solve("relu-heun-radial", checkpoint=tmp_path / "c.npz", progress=True)
    assert "t=1/1" in capfd.readouterr().err
    _solve("relu-heun-radial", progress=True)  # diffrax's own meter
    assert "100.00%" in capfd.readouterr().err
