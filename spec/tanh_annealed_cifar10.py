"""Fig. 10, cifar10 row: 4-layer tanh nets, τ2 = 2, annealed α_k = 0.2 k^(-0.1), τ1 = √2, μ2 = 1,
μ3 = τ3 = 0; data from local files in $MFSPEC_DATA/cifar10."""

from _paper import fully_connected

import mfspec as mf

spec = fully_connected(
    name="tanh_annealed_cifar10", data=mf.data.cifar10(mf.data.data_dir("cifar10")), layers=4, phi=mf.act.tanh,
    tau2=2.0, lr=mf.lr.annealed(0.2, 0.1),
)  # fmt: skip
presets = {
    "default": mf.Run(widths=(50, 100, 200), seeds=1, iterations=3000, num_evals=20, eval_samples=2000),
    "paper": mf.Run(
        widths=(200, 400, 800, 1600, 2400), seeds=1, iterations=100_000, num_evals=60, eval_samples=10_000
    ),
    "tiny": mf.Run(widths=(6,), seeds=1, iterations=5, num_evals=3, eval_samples=20),
}
