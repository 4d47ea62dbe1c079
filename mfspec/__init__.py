"""mfspec: one spec, two systems — a multilayer network in mean-field scaling and its formal
limit (Nguyen 2019, "Mean Field Limit of the Learning Dynamics of Multilayer Neural Networks")."""

from mfspec import act, conv, data, init, loss, lr
from mfspec._formal import FormalSystem, WeightedBatch
from mfspec._limit import LimitSolution, refinement_gap, solve_limit
from mfspec._limit_run import solve_default_limit
from mfspec._network import MFNetwork, batch_loss, scaled_gradients
from mfspec._particles import Particles, empirical_particles, spec_particles
from mfspec._radial import is_rotation_invariant, radial_setup
from mfspec._resolution import Resolution
from mfspec._spec import Run, Spec, eval_iterations
from mfspec._specfile import load_spec_file
from mfspec._train import Curve, evaluate, metric_names, train
from mfspec.act import Activation, head, layer

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "Curve",
    "FormalSystem",
    "LimitSolution",
    "MFNetwork",
    "Particles",
    "Resolution",
    "WeightedBatch",
    "empirical_particles",
    "is_rotation_invariant",
    "radial_setup",
    "refinement_gap",
    "solve_default_limit",
    "solve_limit",
    "spec_particles",
    "Run",
    "Spec",
    "act",
    "conv",
    "batch_loss",
    "data",
    "eval_iterations",
    "evaluate",
    "head",
    "init",
    "layer",
    "load_spec_file",
    "loss",
    "lr",
    "metric_names",
    "scaled_gradients",
    "train",
]
