"""Figs. 8-9: ReLU nets on CIFAR-10 (binary batches in $MFSPEC_DATA/cifar10), cross-entropy,
α = 0.07, τ1 = √2, μ2 = 1, τ2 = 0.1, μ3 = τ3 = 0. Main spec: 4 layers; variants: 3 and 5 layers
(Fig. 8) and τ2 = 2 (Fig. 9's dotted lines)."""

from _paper import fully_connected

import mfspec as mf

data = mf.data.cifar10(mf.data.data_dir("cifar10"))


def make(layers=4, tau2=0.1):
    return fully_connected(name=f"cifar10_{layers}layers_tau2_{tau2:g}", data=data, layers=layers, tau2=tau2,
                           lr=mf.lr.constant(0.07))  # fmt: skip


spec = make()
variants = {"3layers": make(3), "5layers": make(5), "tau2=2": make(4, 2.0)}
presets = {
    "default": mf.Run(widths=(50, 100, 200), seeds=1, iterations=2000, num_evals=20, eval_samples=2000),
    "paper": mf.Run(
        widths=(200, 400, 800, 1600, 2400), seeds=1, iterations=100_000, num_evals=60, eval_samples=10_000
    ),
    "tiny": mf.Run(widths=(6,), seeds=1, iterations=5, num_evals=3, eval_samples=20),
}
