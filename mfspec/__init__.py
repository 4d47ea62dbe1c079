"""mfspec: one spec, two systems — a multilayer network in mean-field scaling and its formal
limit (Nguyen 2019, "Mean Field Limit of the Learning Dynamics of Multilayer Neural Networks")."""

from mfspec import act, conv, data, init, layers, loss, lr
from mfspec._curves import Curve, eval_iterations, evaluate, metric_names
from mfspec._expectation import refinement_gap
from mfspec._formal import FormalSystem, WeightedBatch
from mfspec._limit import LimitSolution, solve_limit
from mfspec._limit_run import solve_default_limit
from mfspec._network import batch_loss, scaled_gradients
from mfspec._particles import spec_particles
from mfspec._radial import is_rotation_invariant, radial_setup
from mfspec._resolution import Resolution
from mfspec._results_io import CurveRecord, Results, load_results
from mfspec._spec import Run, Spec
from mfspec._specfile import load_spec_file
from mfspec._state import MFNetwork, Particles, empirical_particles
from mfspec._train import train
from mfspec._warnings import MFSpecWarning
from mfspec.act import Activation, head, layer

# Every layer kind at the top level (mf.Input, mf.Dense, mf.local, ...): a kind's file in
# mfspec/layers/ is all it takes to add one.
globals().update({name: getattr(layers, name) for name in layers.__all__})

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "Curve",
    "CurveRecord",
    "FormalSystem",
    "LimitSolution",
    "MFNetwork",
    "MFSpecWarning",
    "Particles",
    "Resolution",
    "Results",
    "Run",
    "Spec",
    "WeightedBatch",
    "act",
    "batch_loss",
    "conv",
    "data",
    "empirical_particles",
    "eval_iterations",
    "evaluate",
    "head",
    "init",
    "is_rotation_invariant",
    "layer",
    "layers",
    "load_results",
    "load_spec_file",
    "loss",
    "lr",
    "metric_names",
    "radial_setup",
    "refinement_gap",
    "scaled_gradients",
    "solve_default_limit",
    "solve_limit",
    "spec_particles",
    "train",
    *layers.__all__,
]
