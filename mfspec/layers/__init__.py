"""Layer kinds: each file holds one kind's finite rule, limit rule and symbolic rule.

    Input     h_1 = ⟨w, x⟩                              (layer 1; input.py)
    Dense     h_ℓ = (1/n_{ℓ−1}) W_ℓ σ_{ℓ−1}               (ℓ ≥ 2; paper eq. 38-39; dense.py)
    Readout   ŷ = Σ_j π_{L,j} σ_L(θ_j, h_{L,j}) + b_out   (the head's output; readout.py)

plus every other public module of this folder (the local operation σ*(w, h) of Sec. 2.4 is one).
Each layer ℓ also has its neurons' θ_ℓ and σ_ℓ(θ, h) (``LayerKind.act``, in ``_base.py``). The
network (``mfspec._state``), the formal system (``mfspec._formal``), the particle discretization
(``mfspec._particles``) and the symbolic system (``mfspec.symbolic``) are folds over a spec's
layers and never name a kind.

**Adding a kind** is adding one file here that defines a ``LayerKind`` subclass and lists its
public names in ``__all__``: this package imports every public module of the folder and exports
those names, as ``mfspec`` does at the top level (README, "Adding a layer kind").
"""

import importlib as _importlib
import pkgutil as _pkgutil

from mfspec.layers._base import LayerKind, LayerState, summed_pullback

__all__ = ["LayerKind", "LayerState", "summed_pullback"]

for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        _module = _importlib.import_module(f"{__name__}.{_info.name}")
        for _name in _module.__all__:
            globals()[_name] = getattr(_module, _name)
            __all__.append(_name)
