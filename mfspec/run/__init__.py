"""Experiments as ``mfspec run`` and ``mfspec limit`` run them: presets, spec files, the width
sweep, results as data (``results.json``) and the paper-style figure.

preset.py        ``mf.Run``: widths, seeds, horizon and the limit's ``Resolution`` of a preset
specfile.py      loading a spec file (``spec``, ``presets``, ``variants``)
sweep.py         the width × seed sweep, resumable; share.py: its runs over a job's processes
limit_record.py  the limit curve with its error bar, as results.json records it
results.py       results.json written atomically; results_io.py: read back, typed and validated
figure.py        the paper's layout with the limit drawn in
jobs.py          the command line's --distributed flags
"""

from mfspec.run.figure import plot_results
from mfspec.run.preset import Run
from mfspec.run.results_io import CurveRecord, Results, load_results
from mfspec.run.specfile import load_spec_file
from mfspec.run.sweep import run_keys, run_sweep

__all__ = [
    "CurveRecord",
    "Results",
    "Run",
    "load_results",
    "load_spec_file",
    "plot_results",
    "run_keys",
    "run_sweep",
]
