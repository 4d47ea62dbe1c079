"""The declaration of an architecture: ``mf.Spec`` (spec.py), the label checks that a loss's error
rule needs (labels.py) and the CNN builder ``mf.conv.ConvSpec`` (cnn.py)."""

from mfspec.declaration.cnn import ConvSpec
from mfspec.declaration.spec import Spec

__all__ = ["ConvSpec", "Spec"]
