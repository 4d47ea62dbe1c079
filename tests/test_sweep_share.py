"""The sweep's (width, seed) runs split over 2 processes (``mfspec run --distributed``; mfspec/run/share.py),
and a process killed mid-sweep (mfspec/common/peers.py).

Reference: the same ``mfspec run`` in one process. Each run is trained by one process from the same
keys, and process 0 gathers the records as JSON text (a float's repr reads back the same double),
so the finite curves in process 0's results.json must be bitwise the one-process curves (float64),
on the default spec (seeds batched, so each process's batch is another size than the reference's)
and on a finite dataset (scikit-learn's digits, seeds one at a time). The processes talk over gloo
through a coordinator on localhost.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jobs import free_port, kill_process_1

import mfspec as mf

RUNS = {
    "isotropic_gaussians": ["--preset", "tiny", "--widths", "6", "9", "--seeds", "3", "--batch-seeds"],
    "digits": ["--preset", "tiny", "--widths", "6", "8", "--seeds", "3"],
}


def _run(spec: str, out: Path, *flags: str, job: tuple[str, int] | None = None) -> subprocess.Popen:
    args = ["run", spec, "--out", str(out), "--quiet", "--no-limit", *flags]
    if job is not None:
        args += ["--distributed", "--coordinator", job[0], "--num-processes", "2", "--process-id", str(job[1])]  # fmt: skip
    return subprocess.Popen([sys.executable, "-m", "mfspec.cli", *args], stderr=subprocess.PIPE, text=True)


def _finite(out: Path) -> list[dict]:
    return [c for c in json.loads((out / "results.json").read_text())["curves"] if c["kind"] == "finite"]


@pytest.mark.parametrize("spec", sorted(RUNS))
def test_two_processes_share_the_sweep_and_gather_the_one_process_curves(spec, tmp_path):
    flags = [*RUNS[spec], "--dtype", "float64"]
    coord = f"localhost:{free_port()}"
    procs = [_run(spec, tmp_path / "one", *flags)]
    procs += [_run(spec, tmp_path / "two", *flags, job=(coord, i)) for i in range(2)]
    errs = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(e[-2000:] for e in errs)
    # each process trained its half of the 6 runs, and only process 0 wrote
    assert "process 0 of 2 trains 3 of the 6 run(s)" in errs[1], errs[1][-2000:]
    assert "process 1 of 2 trains 3 of the 6 run(s)" in errs[2], errs[2][-2000:]
    assert "wrote" in errs[1] and "wrote" not in errs[2]
    one, two = _finite(tmp_path / "one"), _finite(tmp_path / "two")
    assert [(c["width"], c["seed"]) for c in two] == [(c["width"], c["seed"]) for c in one]
    assert len(one) == 6
    for a, b in zip(one, two, strict=True):
        assert a["metrics"] == b["metrics"], (a["width"], a["seed"])
    if "--batch-seeds" in flags:  # the split shows in the batch sizes: 3 together alone, 2 + 1 in two
        assert {c.get("batched_seeds") for c in one} == {3}
        assert {c.get("batched_seeds") for c in two} == {2, None}


def test_a_killed_process_ends_the_job_naming_it_and_keeps_the_finished_curves(tmp_path):
    """Process 1 killed (SIGKILL) once process 0 has written a curve: process 0, waiting for process
    1's records, ends within the heartbeat timeout (3 s) with status 3 and mfspec's message naming
    process 1 and the file that keeps the finished curves, which is a readable results file."""
    coord = f"localhost:{free_port()}"
    flags = ["--preset", "default", "--widths", "30", "60", "--seeds", "2", "--heartbeat-timeout", "3"]
    procs = [_run("isotropic_gaussians", tmp_path, *flags, job=(coord, i)) for i in range(2)]
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "results.json").exists():
            assert time.monotonic() < deadline and procs[0].poll() is None, procs[0].stderr.read()[-3000:]
            time.sleep(0.1)
        err, stopped = kill_process_1(procs)
    finally:
        for p in procs:
            p.kill()
    assert procs[0].returncode == 3, err[-3000:]
    assert "mfspec: process 1 of 2 stopped reporting (killed or failed" in err, err[-3000:]
    assert f"kept in {tmp_path / 'results.json'}" in err and "Terminating process" not in err, err[-3000:]
    kept = mf.load_results(tmp_path / "results.json")
    assert 1 <= len([c for c in kept.curves if c.kind == "finite"]) < 4
    assert stopped < 30
