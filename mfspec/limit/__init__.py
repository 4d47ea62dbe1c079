"""The formal limit system (paper eq. 39; App. A eq. 48-52), discretized and solved.

resolution.py   ``mf.Resolution``: the discretization's sizes, the fixed step and its divisor
formal.py       ``FormalSystem``: the Lagrangian rates G_• of a particle state; ``WeightedBatch``
particles.py    ``spec_particles``: the particle discretization of ρ^0 (a fold over the kinds)
radial.py       the symmetry-reduced system of a rotation-invariant spec
expectation.py  the data law P as the rates see it (exact, or a sample)
options.py      ``mf.Stepping``, ``mf.Start``, ``mf.Checkpoint``: the options of a solve
stepping.py     the default solver and step (Heun for a kink, Tsit5 otherwise), the step grid
solve.py        ``mf.solve_limit`` → ``LimitSolution``
checkpoint.py   a solve in chunks that resumes from a file, bitwise the same
fluctuation.py  the predicted n^{-1/2} band of a width-n network around the limit
error_bar.py    the limit curve with an honest error bar (replicates + refinement)
cost.py         what a solve will cost, before it starts
mesh.py         a solve cut over devices and processes
"""

from mfspec.limit.error_bar import LimitEstimate, limit_estimate, refinement_gap
from mfspec.limit.formal import FormalSystem, WeightedBatch
from mfspec.limit.options import Checkpoint, Start, Stepping
from mfspec.limit.particles import spec_particles
from mfspec.limit.radial import is_rotation_invariant, radial_setup
from mfspec.limit.resolution import Resolution
from mfspec.limit.solve import LimitSolution, solve_limit

__all__ = [
    "Checkpoint",
    "FormalSystem",
    "LimitEstimate",
    "LimitSolution",
    "Resolution",
    "Start",
    "Stepping",
    "WeightedBatch",
    "is_rotation_invariant",
    "limit_estimate",
    "radial_setup",
    "refinement_gap",
    "solve_limit",
    "spec_particles",
]
