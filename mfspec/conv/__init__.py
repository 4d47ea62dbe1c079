"""CNNs in MF scaling (paper App. C, Table 1): ``mf.conv.ConvSpec`` declares one, ``spec.network``
draws the finite ``ConvNetwork``, and ``mf.train`` / ``mfspec run`` train it with the MF-scaled SGD
of Sec. 3.1. There is no limit solver for CNNs: the formal system of eq. 39 is fully connected."""

from mfspec.conv._network import ConvNetwork, init_conv_network
from mfspec.conv._spec import TABLE1, ConvLayer, ConvSpec

__all__ = ["TABLE1", "ConvLayer", "ConvNetwork", "ConvSpec", "init_conv_network"]
