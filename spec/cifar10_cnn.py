"""Fig. 12 (App. C, Table 1): the 8-layer CNN on CIFAR-10 (binary batches in $MFSPEC_DATA/cifar10) in
MF scaling. Seven 3×3 convolutions with n filters (strides 2, 2, 1, 1, 1, 1, 1; ReLU; 3×3 max pools of
stride 2 after layers 5 and 7; sizes 16, 8, 8, 8, 4, 4, 2) and FC(10, 4n); h_ℓ = (1/n) W_ℓ ⊛ σ(h_{ℓ-1})
+ b_ℓ, ŷ = (1/n) ⟨β, σ(h_7)⟩ + b_out. Cross-entropy, α_k = 0.08 k^-0.1, batch 100, the whole training
set; W_1 entries N(0, 2/(9d)), other weights N(1, 0.1), biases 0.

Variant "fan_in": the same net dividing by the whole fan-in (9n in layers 2-7, 4n at the output)
instead of App. C's n. App. C's formula leaves each 3×3 sum undivided, so at init h_ℓ grows ~8× per
layer (ŷ ~ 5·10^5, initial loss ~10^4), whereas Fig. 12 starts near log 10; the variant starts there.
"""

import mfspec as mf

data = mf.data.cifar10(mf.data.data_dir("cifar10"))


def make(fan_in=False):
    return mf.conv.ConvSpec(
        name="cifar10_cnn" + ("_fan_in" if fan_in else ""),
        data=data,
        loss=mf.loss.cross_entropy,
        lr=mf.lr.annealed(0.08),
        batch_size=100,
        fan_in=fan_in,
    )


spec = make()
variants = {"fan_in": make(fan_in=True)}
# The limit's expectation over 1,000 random training images (its bias is the error bar's data part:
# the solve is repeated on 2,000), 256 layer-1 filters, two scrambles; a coarse Heun step (its dt/2
# refinement is in the bar). The full 50,000 would cost 50× per step.
_LIMIT = mf.Resolution(m1=256, data_subsample=1000, dt=0.1, replicates=2)
presets = {
    "default": mf.Run(
        widths=(8, 16, 32), seeds=1, iterations=300, num_evals=12, eval_samples=1000, limit=_LIMIT
    ),
    # Fig. 12: n = 100..800; its iteration axis ends past 10^3 and before 10^5 (no 10^5 tick): 10^4.
    "paper": mf.Run(
        widths=(100, 200, 400, 800),
        seeds=1,
        iterations=10_000,
        num_evals=40,
        eval_samples=10_000,
        limit=_LIMIT,
    ),
    "tiny": mf.Run(
        widths=(2,),
        seeds=1,
        iterations=3,
        num_evals=3,
        eval_samples=20,
        limit=mf.Resolution(m1=8, qmc_points=8, replicates=2),
    ),
}
