"""The symbolic side of mfspec: the update rules derived, printed and verified.

symbolic_system(spec)          the finite network (eq. 38) and formal system (eq. 39, App. A
                               eq. 48-52) as SymPy expressions, grouped into sections
equations_text(spec, latex=)   those equations as readable text or a LaTeX document
check_e2, check_jax, check_mf_scaling   the symbolic identities (docs/formal_system.md sec. 4)

``mfspec.checks.verify(spec)`` runs them with the numeric checks on a user's spec.
"""

from mfspec.symbolic._e2 import check_e2
from mfspec.symbolic._finite import mf_scales
from mfspec.symbolic._numeric import check_jax
from mfspec.symbolic._printing import equations_text
from mfspec.symbolic._report import Check, Report
from mfspec.symbolic._scaling import check_mf_scaling
from mfspec.symbolic._system import Equation, SymbolicSystem, symbolic_system

__all__ = [
    "Check",
    "Equation",
    "Report",
    "SymbolicSystem",
    "check_e2",
    "check_jax",
    "check_mf_scaling",
    "equations_text",
    "mf_scales",
    "symbolic_system",
]
