"""The limit cut over devices and processes (mfspec/limit/mesh.py, ``mfspec run|limit --distributed``).

Reference: the same solve on one device in one process (``solve_limit(mesh=None)``, the default
path). A mesh changes only the summation order of the expectations over the data and over the
layer-1 particles, so the curves must agree to rounding: ≤ 1e-10 relative in float64 over 200 SGD
steps (the rounding of a reordered sum is ~1e-16 per step; 1e-10 leaves room for its growth along
the flow, and a wrong reduction — a share counted twice or dropped, a padded sample with weight —
moves the curves by far more than that).

Forced host devices (``--xla_force_host_platform_device_count``) must be set before JAX starts and
``jax.distributed`` joins a process once, so every solve runs in a subprocess
(tests/distributed_worker.py); the processes talk over gloo through a coordinator on localhost.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from jobs import free_port, kill_process_1

from mfspec.cli import main

WORKER = Path(__file__).with_name("distributed_worker.py")
RTOL = 1e-10
SPECS = ("isotropic", "classification")  # the default spec (radial), a finite dataset (particles)


def _worker(out: Path, spec: str, *more: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(out), spec, *more], stderr=subprocess.PIPE, text=True
    )


def _wait(*procs: subprocess.Popen, timeout: float = 120) -> None:
    for p in procs:
        _, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err[-3000:]


def _assert_same_curve(ref_file: Path, file: Path, devices: int) -> None:
    ref, got = np.load(ref_file), np.load(file)
    assert int(ref["devices"]) == 1 and int(got["devices"]) == devices
    assert int(got["steps"]) == int(ref["steps"])
    names = [k for k in ref.files if k not in ("devices", "steps", "method")]
    assert names and set(names) == {k for k in got.files if k not in ("devices", "steps", "method")}
    for k in names:
        scale = np.maximum(np.abs(ref[k]), 1e-300)
        rel = np.max(np.abs(got[k] - ref[k]) / scale)
        assert rel <= RTOL, f"{file.name} {k}: {rel:.2e} relative to one device"


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> dict[str, Path]:
    """The one-device, one-process curves of both specs."""
    folder = tmp_path_factory.mktemp("one_device")
    procs = {spec: _worker(folder / f"{spec}.npz", spec) for spec in SPECS}
    _wait(*procs.values())
    return {spec: folder / f"{spec}_1.npz" for spec in SPECS}


@pytest.mark.parametrize("spec", SPECS)
def test_two_host_devices_give_the_one_device_curve(spec, references, tmp_path):
    """2 forced host devices, all on the data axis (the expectation cut in two; the batch padded with
    a weight-0 sample when B is odd: 37 points) and all on the particle axis (layer 1 cut in two)."""
    _wait(_worker(tmp_path / "two.npz", spec, "--devices", "2", "--particle-shards", "1", "2"))
    for k in (1, 2):
        _assert_same_curve(references[spec], tmp_path / f"two_{k}.npz", devices=2)


@pytest.mark.parametrize("spec", SPECS)
def test_two_processes_give_the_one_process_curve(spec, references, tmp_path):
    """2 processes over gloo, checkpointed every 7 steps (process 0 alone writes the file): both end
    with the one-process curve."""
    coord = f"localhost:{free_port()}"
    procs = [
        _worker(tmp_path / "mp.npz", spec, "--coordinator", coord, "--num-processes", "2", "--process-id",
                str(i), "--checkpoint", str(tmp_path / "ck.npz"))
        for i in range(2)
    ]  # fmt: skip
    _wait(*procs)
    _assert_same_curve(references[spec], tmp_path / "mp_1.npz", devices=2)
    _assert_same_curve(references[spec], tmp_path / "mp_1.1.npz", devices=2)
    assert not (tmp_path / "ck.npz").exists()  # deleted by its writer when the solve ended


def _cli(tmp_path: Path, coord: str, i: int, *more: str) -> subprocess.Popen:
    args = ["limit", "tanh_nonlinear_boundary", "--preset", "tiny", "--out", str(tmp_path), "--quiet",
            "--limit-m1", "64", "--dtype", "float64", "--distributed", "--coordinator", coord,
            "--num-processes", "2", "--process-id", str(i), *more]  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "mfspec.cli", *args], stderr=subprocess.PIPE, text=True)


def test_cli_two_processes_writes_once(tmp_path):
    """``mfspec limit --distributed`` on 2 processes: process 0 writes results.json and the figure, and
    says so; process 1 is silent and writes nothing of its own."""
    coord = f"localhost:{free_port()}"
    procs = [_cli(tmp_path, coord, i, "--limit-dt", "0.05", "--limit-replicates", "2") for i in range(2)]
    errs = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs[0][-2000:] + errs[1][-2000:]
    assert (tmp_path / "results.json").exists() and (tmp_path / "figure.png").exists()
    assert "limit cut over 2 devices" in errs[0] and "wrote" in errs[0]
    assert "wrote" not in errs[1] and "limit cut" not in errs[1]


def test_killed_process_stops_the_job(tmp_path):
    """Process 1 killed (SIGKILL) mid-solve: process 0, waiting on it in a collective, ends within
    the heartbeat timeout (3 s here) with mfspec's message naming the process that stopped and
    where the limit resumes from (mfspec/common/peers.py), not JAX's fatal abort."""
    coord = f"localhost:{free_port()}"
    procs = [_cli(tmp_path, coord, i, "--limit-dt", "0.0005", "--heartbeat-timeout", "3") for i in range(2)]
    try:
        deadline = time.monotonic() + 120
        seen = ""
        while "limit cut over" not in seen:  # process 0 says it before the first solve
            assert time.monotonic() < deadline and procs[0].poll() is None, seen[-2000:]
            seen += procs[0].stderr.readline()
        time.sleep(2)  # inside the solve's collectives
        err, stopped = kill_process_1(procs)
    finally:
        for p in procs:
            p.kill()
    assert procs[0].returncode != 0
    assert not (tmp_path / "results.json").exists()
    assert procs[0].returncode == 3, err[-3000:]
    assert "mfspec: process 1 of 2 stopped reporting" in err, err[-3000:]
    assert "a rerun resumes the limit from" in err and "Terminating process" not in err, err[-3000:]
    assert stopped < 30


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--coordinator", "localhost:1234"], "--coordinator 'localhost:1234': needs --distributed"),
        (["--process-id", "1"], "--process-id 1: needs --distributed"),
        (["--distributed", "--coordinator", "nohost", "--num-processes", "2", "--process-id", "0"],
         "--coordinator 'nohost': must be HOST:PORT"),
        (["--distributed", "--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"],
         "--process-id 2: must be in [0, 2)"),
        (["--distributed", "--coordinator", "h:1", "--num-processes", "2"], "give all of --coordinator"),
        (["--distributed", "--heartbeat-timeout", "0"], "--heartbeat-timeout 0"),
        (["--particle-shards", "0"], "--particle-shards 0: must be a positive int"),
        (["--particle-shards", "2"], "--particle-shards 2: there is 1 device"),
    ],
)  # fmt: skip
def test_bad_distributed_flags_fail_before_compute(flags, message, tmp_path, capsys):
    """Each bad value is refused naming its flag, before any spec is loaded or process joined."""
    assert main(["limit", "--preset", "tiny", "--out", str(tmp_path), "--quiet", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()
