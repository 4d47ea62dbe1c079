"""mfspec: one spec, two systems — a multilayer network in mean-field scaling and its formal
limit (Nguyen 2019, "Mean Field Limit of the Learning Dynamics of Multilayer Neural Networks")."""

from mfspec import act, data, init, loss, lr
from mfspec._network import MFNetwork, batch_loss, scaled_gradients
from mfspec._spec import Run, Spec, eval_iterations
from mfspec._train import Curve, evaluate, metric_names, train
from mfspec.act import Activation, head, layer

__version__ = "0.1.0"

__all__ = [
    "Activation",
    "Curve",
    "MFNetwork",
    "Run",
    "Spec",
    "act",
    "batch_loss",
    "data",
    "eval_iterations",
    "evaluate",
    "head",
    "init",
    "layer",
    "loss",
    "lr",
    "metric_names",
    "scaled_gradients",
    "train",
]
