"""Fig. 5 of Nguyen 2019: a 5-layer ReLU net (L = 4: three hidden layers and the head) on the
isotropic Gaussians, d = 32, Δ = 0.4, α = 1e-3, batch 100, τ1 = √2, μ2 = 1, τ2 = 0.1, μ3 = τ3 = 0.
Variant "tau2=3": the companion initialization of Fig. 5's bottom row."""

import math

import mfspec as mf


def make(tau2=0.1, name="isotropic_gaussians"):
    return mf.Spec(
        name=name,
        input_dim=32,
        hidden=3 * [mf.layer(mf.act.relu)],  # σ_ℓ(θ, h) = relu(h + θ), ℓ = 1..3
        head=mf.head(mf.act.relu, outputs=1),  # σ_4(θ, h) = β relu(h + b)
        loss=mf.loss.squared,  # (y − ŷ)², Sec. 4.2.1
        init=mf.init.usual(tau1=math.sqrt(2), mu2=1.0, tau2=tau2, mu3=0.0, tau3=0.0),
        data=mf.data.IsotropicGaussians(dim=32, delta=0.4),
        lr=mf.lr.constant(1e-3),
        batch_size=100,
    )


spec = make()
variants = {"tau2=3": make(tau2=3.0, name="isotropic_gaussians_tau2_3")}

presets = {
    # A few minutes on 2 CPU cores.
    "default": mf.Run(
        widths=(50, 100, 200, 400), seeds=2, iterations=10_000, num_evals=30, eval_samples=4000
    ),
    # The paper's Fig. 5: 1e5 iterations, widths 50..800, 10^4 evaluation samples.
    "paper": mf.Run(
        widths=(50, 100, 200, 400, 800), seeds=1, iterations=100_000, num_evals=60, eval_samples=10_000
    ),
    # For tests: seconds.
    "tiny": mf.Run(widths=(8, 16), seeds=1, iterations=50, num_evals=5, eval_samples=200),
}
