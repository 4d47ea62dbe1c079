"""mfspec: one spec, two systems — a multilayer network in mean-field scaling and its formal
limit (Nguyen 2019, "Mean Field Limit of the Learning Dynamics of Multilayer Neural Networks").

The package maps the architecture (dependencies point down this list, never up):

    common/       validation, warnings, SymPy → JAX, seed-wise products, processes
    act, init, loss, lr, data/     the declaration's vocabulary
    layers/       the layer kinds: each kind's finite, limit and symbolic rules in one file
    network/      the state of both systems (a finite net is the particle system with π = 1/n)
    declaration/  ``mf.Spec`` (and the CNN builder ``mf.conv.ConvSpec``)
    finite/       MF-scaled SGD and its curves
    limit/        the formal system, its discretization, ``mf.solve_limit`` and its error bar
    symbolic/     the update rules derived and printed with SymPy
    checks/       E1, E2, JAX vs SymPy, MF scaling, the Eulerian check: ``mfspec verify``
    run/          presets, spec files, the width sweep, results.json and the figure
    cli.py, testing.py, conv.py    the command line, helpers for a user's tests, the CNN namespace
"""

from mfspec import act, checks, conv, data, init, layers, loss, lr, symbolic
from mfspec.act import Activation, head, layer
from mfspec.checks.verify import verify
from mfspec.common.warnings import MFSpecWarning
from mfspec.declaration.spec import Spec
from mfspec.finite.curves import Curve, eval_iterations, eval_sets_for, evaluate, metric_names
from mfspec.finite.gradients import batch_loss, scaled_gradients
from mfspec.finite.train import train
from mfspec.layers import KIND_EXPORTS as _KIND_EXPORTS
from mfspec.layers import LayerKind, LayerState
from mfspec.limit.error_bar import LimitEstimate, limit_estimate, refinement_gap
from mfspec.limit.fluctuation import Band, fluctuation
from mfspec.limit.formal import FormalSystem, WeightedBatch
from mfspec.limit.options import Checkpoint, Start, Stepping
from mfspec.limit.particles import spec_particles
from mfspec.limit.radial import is_rotation_invariant, radial_setup
from mfspec.limit.resolution import Resolution
from mfspec.limit.solve import LimitSolution, solve_limit
from mfspec.network import MFNetwork, Particles, empirical_particles
from mfspec.run.preset import Run
from mfspec.run.results_io import CurveRecord, Results, load_results
from mfspec.run.specfile import load_spec_file

# Every layer kind at the top level (mf.Input, mf.Dense, mf.local, mf.Conv, ...): a kind's file
# in mfspec/layers/ is all it takes to add one.
globals().update({name: getattr(layers, name) for name in _KIND_EXPORTS})

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "Band",
    "Checkpoint",
    "Curve",
    "CurveRecord",
    "FormalSystem",
    "LayerKind",
    "LayerState",
    "LimitEstimate",
    "LimitSolution",
    "MFNetwork",
    "MFSpecWarning",
    "Particles",
    "Resolution",
    "Results",
    "Run",
    "Spec",
    "Start",
    "Stepping",
    "WeightedBatch",
    "act",
    "batch_loss",
    "checks",
    "conv",
    "data",
    "empirical_particles",
    "eval_iterations",
    "eval_sets_for",
    "evaluate",
    "fluctuation",
    "head",
    "init",
    "is_rotation_invariant",
    "layer",
    "layers",
    "limit_estimate",
    "load_results",
    "load_spec_file",
    "loss",
    "lr",
    "metric_names",
    "radial_setup",
    "refinement_gap",
    "scaled_gradients",
    "solve_limit",
    "spec_particles",
    "symbolic",
    "train",
    "verify",
    *_KIND_EXPORTS,
]
