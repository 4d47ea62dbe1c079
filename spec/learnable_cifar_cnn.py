"""The CNN of App. C (Table 1) and its limit on images with a learnable label, in the CIFAR-10
binary format: made by ``python scripts/make_learnable_cifar.py data/learnable_cifar`` (each class
the argmax of a fixed random linear function of the image averaged over 8×8 blocks; see
mfspec/data/_learnable.py). Real CIFAR-10 labels are out of reach of n = 8..128 filters in a few
hundred steps; these are not, so the finite → limit study (docs/cnn_limit.md) has curves that move.

Full-batch gradient descent on the first 128 training images with α_k = 1.0 · k^-0.1 (App. C's
annealing at a larger α: at Fig. 12's 0.08 the loss moves by 0.07 in 100 steps): the limit is the
gradient flow of that training loss, so the width error is not mixed with minibatch noise.
Variant "fan_in": the whole fan-in divides each sum (9n in layers 2-7, 4n at the output); the spec
itself is App. C's literal scaling, whose initial loss is ~10^4.
"""

import mfspec as mf

data = mf.data.cifar10(mf.data.data_dir("learnable_cifar"), train_limit=128, test_limit=500)


def make(fan_in=False):
    return mf.conv.ConvSpec(
        name="learnable_cifar_cnn" + ("_fan_in" if fan_in else ""),
        data=data,
        loss=mf.loss.cross_entropy,
        lr=mf.lr.annealed(1.0),
        batch_size="full",
        fan_in=fan_in,
    )


spec = make()
variants = {"fan_in": make(fan_in=True)}
_LIMIT = mf.Resolution(m1=128, dt=0.2, replicates=2)
presets = {
    # Minutes on 2 cores: three widths, one seed, the limit with its error bar.
    "default": mf.Run(
        widths=(8, 16, 32), seeds=1, iterations=200, num_evals=16, eval_samples=500, limit=_LIMIT
    ),
    # The finite → limit study of docs/cnn_limit.md: n = 8..128, 3 seeds.
    "paper": mf.Run(
        widths=(8, 16, 32, 64, 128), seeds=3, iterations=200, num_evals=16, eval_samples=500, limit=_LIMIT
    ),
    "tiny": mf.Run(
        widths=(2,),
        seeds=1,
        iterations=3,
        num_evals=3,
        eval_samples=20,
        limit=mf.Resolution(m1=8, dt=0.5, replicates=2),
    ),  # fmt: skip
}
