"""Fig. 10: tanh nets with annealed rates α_k = α k^(-0.1), τ1 = √2, μ2 = 1, μ3 = τ3 = 0.
This file: isotropic Gaussians, 5 layers, τ2 = 3, α = 0.003 (Fig. 10, first row); the MNIST and
CIFAR-10 rows are tanh_annealed_mnist.py and tanh_annealed_cifar10.py."""

from _paper import fully_connected

import mfspec as mf

spec = fully_connected(
    name="tanh_annealed_isotropic", data=mf.data.IsotropicGaussians(32, 0.4), layers=5, phi=mf.act.tanh,
    loss=mf.loss.squared, tau2=3.0, lr=mf.lr.annealed(0.003, 0.1),
)  # fmt: skip


presets = {
    "default": mf.Run(widths=(50, 100, 200), seeds=1, iterations=5000, num_evals=25, eval_samples=4000),
    "paper": mf.Run(
        widths=(50, 100, 200, 400, 800), seeds=1, iterations=100_000, num_evals=60, eval_samples=10_000
    ),
    "tiny": mf.Run(widths=(6,), seeds=1, iterations=5, num_evals=3, eval_samples=20),
}
