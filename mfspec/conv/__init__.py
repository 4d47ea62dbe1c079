"""CNNs in MF scaling (paper App. C, Table 1): ``mf.conv.ConvSpec`` declares one, ``spec.network``
draws the finite ``ConvNetwork``, and ``mf.train`` / ``mfspec run`` train it with the MF-scaled SGD
of Sec. 3.1. Its limit is the formal system written for convolutional layer kinds
(``mfspec.layers.conv``, docs/formal_system.md sec. 8): ``mf.solve_limit``, ``mfspec limit``,
``equations`` and ``verify`` take a ``ConvSpec`` as they take an ``mf.Spec``."""

from mfspec.conv._network import ConvNetwork, init_conv_network
from mfspec.conv._spec import TABLE1, ConvLayer, ConvSpec

__all__ = ["TABLE1", "ConvLayer", "ConvNetwork", "ConvSpec", "init_conv_network"]
