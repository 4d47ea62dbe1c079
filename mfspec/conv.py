"""CNNs in MF scaling (paper App. C, Table 1): ``mf.conv.ConvSpec(...)`` builds the ``mf.Spec`` of
a CNN whose layers are ``mf.Conv`` kinds (``mfspec.layers.conv``; its limit in docs/formal_system.md
sec. 8); ``mf.conv.ConvLayer`` is one row of Table 1 and ``mf.conv.TABLE1`` the paper's seven."""

from mfspec.declaration.cnn import ConvSpec
from mfspec.layers._conv_ops import TABLE1, ConvLayer

__all__ = ["TABLE1", "ConvLayer", "ConvSpec"]
