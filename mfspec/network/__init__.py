"""The network state of both systems and its folds over the layers (docs/formal_system.md sec. 3-4).

particles.py   ``Particles`` (= ``MFNetwork``): one ``LayerState`` per layer; a finite network is
               the particle system with π = 1/n; ``init_network``, ``empirical_particles``,
               ``pack``/``unpack`` (the ODE's flat vector)
fold.py        the forward fold (eq. 38/39) and the scaled backward fold (the Δ's of eq. 39)
"""

from mfspec.network.particles import MFNetwork, Particles, empirical_particles, init_network, pack, unpack

__all__ = ["MFNetwork", "Particles", "empirical_particles", "init_network", "pack", "unpack"]
