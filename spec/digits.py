"""An MNIST-like task that runs without downloads: scikit-learn's bundled 8×8 digits (d = 64,
10 classes, 1,300 train / 497 test), pixels scaled to [−1, 1]. ReLU, cross-entropy, the usual init
(τ1 = √2, μ2 = 1, τ2 = 0.1, μ3 = τ3 = 0). Main spec: 4 layers (L = 3); variant "3layers"."""

from _paper import fully_connected

import mfspec as mf

data = mf.data.digits()


def make(layers=4):
    return fully_connected(name=f"digits_{layers}layers", data=data, layers=layers, lr=mf.lr.constant(0.05),
                           batch_size=50)  # fmt: skip


spec = make()
variants = {"3layers": make(3)}
presets = {
    "default": mf.Run(widths=(50, 100, 200, 400), seeds=2, iterations=3000, num_evals=25, eval_samples=2000),
    "paper": mf.Run(
        widths=(100, 200, 400, 800, 1600), seeds=3, iterations=20_000, num_evals=40, eval_samples=2000
    ),
    "tiny": mf.Run(widths=(6,), seeds=1, iterations=5, num_evals=3, eval_samples=50),
}
