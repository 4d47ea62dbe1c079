"""A deep tanh residual net in MF scaling and its limit (docs/formal_system.md sec. 9): L = 8 layers of
neurons, h_1 = W_1 x, h_ℓ = h_{ℓ−1} + κ (1/n) W_ℓ tanh(h_{ℓ−1} + b_{ℓ−1}) for ℓ = 2..7, and the head
ŷ = (1/n) Σ_j β_j tanh(h_8 + b_j) with h_8 = (1/n) W_8 tanh(h_7 + b_7).

Task without symmetry: ``nonlinear_boundary_data`` (x ~ N(0, I_8), y = sign(⟨x, 1⟩/√8 + (x_1² − 1)/2),
512 train / 512 test), squared loss, full-batch gradient descent (α = 0.05, t ≤ 10): the limit is the
gradient flow of the training loss, with no minibatch noise between it and the networks.

Init: W_1 entries N(0.3, 1/d) (a mean, so that ŷ depends on x from t = 0), W_ℓ entries N(0.5, 1),
every hidden bias an atom (0.1) — the iid init under which a plain deep MF net degenerates: layers
2..L−1 of the variant "no_skip" (the same net, dense) collapse to one neuron (Nguyen & Pham 2001.11443),
while the skips keep layer 1's diversity in every layer; the head's β ~ N(1, 0.5²), b ~ N(0, 0.5²).

Variants: "no_skip" (dense layers 2..7: the degenerate net), "kappa=1/L" (κ = 1/8, depth-scaled).
``examples/residual.py`` measures the per-layer spread of the pre-activations (skip vs no skip) and
the finite → limit slope.
"""

import math

from _data import nonlinear_boundary_data

import mfspec as mf

L = 8
RESIDUAL = L - 2  # layers 2..7


def make(kappa: float | None = 1.0) -> mf.Spec:
    """κ = None: no skips (dense layers 2..L−1); otherwise residual layers with that κ."""
    data = nonlinear_boundary_data()
    d = data.input_dim
    hidden = mf.layer(mf.act.tanh)
    middle = [
        mf.Dense(hidden) if kappa is None else mf.Residual(hidden, scale=kappa) for _ in range(RESIDUAL)
    ]
    init = mf.init.Init(
        w1=mf.init.Normal(0.3, 1 / math.sqrt(d)),
        theta=(*(L - 1) * [mf.init.Atom(0.1)], mf.init.Normal([1.0, 0.0], [0.5, 0.5])),
        kernels=(L - 1) * (mf.init.Kernel(0.5, 1.0),),
        out_bias=mf.init.Atom(0.0),
    )
    name = (
        "residual_tanh"
        if kappa == 1.0
        else ("plain_tanh" if kappa is None else f"residual_tanh_kappa_{kappa:g}")
    )
    return mf.Spec(
        name=name,
        input_dim=d,
        layers=(mf.Input(hidden), *middle, mf.Dense(mf.head(mf.act.tanh))),
        loss=mf.loss.squared,
        init=init,
        data=data,
        lr=mf.lr.constant(0.05),
        batch_size="full",
    )


spec = make()
variants = {"no_skip": make(None), "kappa=1/L": make(1 / L)}
# 256 layer-1 Sobol points: every residual layer carries them (an M_1 × M_1 weight array each).
_LIMIT = mf.Resolution(m1=256)
presets = {
    # Minutes on 2 cores: three widths, two seeds, the limit with its error bar.
    "default": mf.Run(
        widths=(50, 100, 200), seeds=2, iterations=200, num_evals=16, eval_samples=512, limit=_LIMIT
    ),
    # The finite → limit study of examples/residual.py: n = 50..800, 4 seeds.
    "paper": mf.Run(
        widths=(50, 100, 200, 400, 800),
        seeds=4,
        iterations=200,
        num_evals=16,
        eval_samples=512,
        limit=mf.Resolution(m1=1024, replicates=2),
    ),  # fmt: skip
    "tiny": mf.Run(
        widths=(4,),
        seeds=1,
        iterations=3,
        num_evals=3,
        eval_samples=20,
        limit=mf.Resolution(m1=8, replicates=2),
    ),  # fmt: skip
}
