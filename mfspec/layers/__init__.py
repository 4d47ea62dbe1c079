"""Layer kinds: each file holds one kind's finite rule, limit rule and symbolic rule.

    Input     h_1 = ⟨w, x⟩                                  (layer 1; input.py)
    Dense     h_ℓ = (1/n_{ℓ−1}) W_ℓ σ_{ℓ−1}                   (ℓ ≥ 2; paper eq. 38-39; dense.py)
    Local     h_ℓ = (1/n_{ℓ−1}) Σ_i σ*(w_{·i}, σ_{ℓ−1,i})     (Sec. 2.4; local_operation.py)
    Conv      h_ℓ = (1/n_{ℓ−1}) W_ℓ ⊛ σ_{ℓ−1}                 (App. C; conv.py)
    Readout   ŷ = Σ_j π_{L,j} σ_L(θ_j, h_{L,j}) + b_out       (the head's output; readout.py)

plus every other public module of this folder. The contract every kind fulfils is the abstract
``LayerKind`` (base.py). The network and the formal system (``mfspec.network``, ``mfspec.limit``),
the particle discretization and the symbolic system (``mfspec.symbolic``) are folds over a spec's
layers and never name a kind.

**Adding a kind** is adding one file here that defines a ``LayerKind`` subclass and lists its
public names in ``__all__``, plus its entries in the test catalogue (``tests/helpers.catalogue``):
this package imports every public module of the folder and exports those names, and ``mfspec``
exports the kinds at the top level (docs/layer_kinds.md, "Adding a layer kind").
"""

import importlib as _importlib
import pkgutil as _pkgutil

from mfspec.layers.base import Back, Draw, LayerKind, LayerState, NoSymbolicRule, Upstream

__all__ = ["Back", "Draw", "LayerKind", "LayerState", "NoSymbolicRule", "Upstream"]

#: The public names of the kind files (every public module but base.py), in file order.
KIND_EXPORTS: list[str] = []

for _info in sorted(_pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_") and _info.name != "base":
        _module = _importlib.import_module(f"{__name__}.{_info.name}")
        for _name in _module.__all__:
            globals()[_name] = getattr(_module, _name)
            __all__.append(_name)
            KIND_EXPORTS.append(_name)
