"""The documentation runs: every ```python block of README.md and docs/*.md executes (the blocks of a
page in order, in one namespace, in a scratch folder), every script in examples/ runs at a tiny size,
and the API page lists exactly ``mfspec.__all__``. ``mkdocs build --strict`` runs in ``.ci/run``.

Fenced ```bash blocks are the install and test commands, which ``.ci/run`` itself executes; text
blocks are printed output. The SLURM script of examples/ needs a cluster and is only parsed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mfspec as mf

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


def run_blocks(page: Path, cwd: Path) -> int:
    """Execute the page's python blocks in order in one namespace; raise, naming the block, on error."""
    namespace: dict = {"__name__": "__doc_block__"}
    blocks = python_blocks(page)
    for i, code in enumerate(blocks, start=1):
        try:
            exec(compile(code, f"{page.name} block {i}", "exec"), namespace)
        except Exception as err:
            raise AssertionError(f"{page.name}: python block {i} of {len(blocks)} failed: {err!r}") from err
    return len(blocks)


WITH_CODE = [p for p in PAGES if python_blocks(p)]


def test_the_runner_sees_the_blocks():
    assert sum(len(python_blocks(p)) for p in PAGES) >= 6  # not vacuous: the pages hold code


@pytest.mark.parametrize("page", WITH_CODE, ids=[p.name for p in WITH_CODE])
def test_every_python_block_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert run_blocks(page, tmp_path) == len(python_blocks(page))


def test_a_broken_block_fails_the_runner(tmp_path):
    page = tmp_path / "broken.md"
    page.write_text("text\n\n```python\nimport mfspec as mf\n```\n\n```python\nmf.Spec(input_dim=0)\n```\n")
    with pytest.raises(AssertionError, match=r"broken.md: python block 2 of 2 failed"):
        run_blocks(page, tmp_path)


def test_the_api_page_lists_every_public_name():
    listed = re.findall(r"^## `mf\.(\w+)`$", (ROOT / "docs" / "api.md").read_text(), re.M)
    assert listed == list(mf.__all__)
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "api_page.py"), "--check"], capture_output=True,
                           text=True)  # fmt: skip
    assert check.returncode == 0, check.stderr


#: Each example script at a tiny size, writing into the test's scratch folder (``--out``).
EXAMPLES = {
    "convergence.py": ["--widths", "8", "16", "--seeds", "1", "--iterations", "5", "--num-evals", "3",
                       "--eval-samples", "32", "--spec", "default"],
    "tau2.py": ["--widths", "8", "16", "--seeds", "1", "--iterations", "5", "--num-evals", "3", "--eval-samples", "32"],
    "local_operation.py": ["--quick"],
    "residual.py": ["--quick"],
    "fluctuation_band.py": ["--quick"],
    "figures.py": ["isotropic_gaussians", "--preset", "tiny"],
}  # fmt: skip


def test_every_example_script_is_listed():
    scripts = {p.name for p in (ROOT / "examples").glob("*.py")}
    assert scripts == set(EXAMPLES), scripts ^ set(EXAMPLES)
    # The one shell script submits to a SLURM cluster: here it is only parsed (bash -n).
    shell = sorted((ROOT / "examples").glob("*.sh"))
    assert [p.name for p in shell] == ["slurm_limit.sh"]
    assert subprocess.run(["bash", "-n", str(shell[0])]).returncode == 0


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs_at_a_tiny_size(script, tmp_path):
    args = [*EXAMPLES[script], "--out", str(tmp_path / "out")]
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "MPLBACKEND": "Agg"}, timeout=600)  # fmt: skip
    assert done.returncode == 0, f"{script}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
