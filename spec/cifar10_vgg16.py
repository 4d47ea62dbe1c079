"""Fig. 11: 4-layer ReLU nets on VGG16 features of CIFAR-10 (d = 8192), read from a local
features file $MFSPEC_DATA/cifar10_vgg16.npz; α = 0.02, τ1 = √2, μ2 = 1, τ2 = 0.1, μ3 = τ3 = 0."""

from _paper import fully_connected

import mfspec as mf

data = mf.data.features(mf.data.data_dir("cifar10_vgg16.npz"))
spec = fully_connected(name="cifar10_vgg16", data=data, layers=4, lr=mf.lr.constant(0.02))
presets = {
    "default": mf.Run(widths=(50, 100, 200), seeds=1, iterations=2000, num_evals=20, eval_samples=2000),
    "paper": mf.Run(
        widths=(200, 400, 800, 1600, 2400), seeds=1, iterations=100_000, num_evals=60, eval_samples=10_000
    ),
    "tiny": mf.Run(widths=(6,), seeds=1, iterations=5, num_evals=3, eval_samples=20),
}
