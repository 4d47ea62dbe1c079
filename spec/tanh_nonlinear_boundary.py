"""A tanh net with random biases everywhere (no layer collapses) on a finite task without symmetry:
x ~ N(0, I_8), y = sign(⟨x, 1⟩/√8 + (x_1² − 1)/2), 512 train / 512 test samples drawn here from a
fixed seed. The limit's expectation over P is exact (full batch) and it runs on 8-dimensional
particles. The finite-n → limit study of ``examples/convergence.py`` and the limit-accuracy table
of ``bench/bench_limit.py`` use it as their task without symmetry."""

import math

from _data import nonlinear_boundary_data

import mfspec as mf


def make(mu3: float = 0.2, w1_mean: float = 0.3) -> mf.Spec:
    """A 5-layer tanh net with random biases (τ = 0.5 for every bias: no layer collapses) on
    ``nonlinear_boundary_data``: W_1 entries N(w1_mean, 1/d), W_ℓ entries N(1, 0.5²), output
    weights β ~ N(1, 0.5²), biases N(μ3, 0.5²), and the one global output bias at 0 (a random b_out
    would not average out with n).

    Why W_1 has a mean (and why not the isotropic Gaussians): with a rotation-invariant W_1 law,
    ŷ depends on x only through |x| at t = 0 and, for tanh, only weakly, so every sample has the same
    sign for a while and whole classes flip at once when ŷ's constant part crosses 0. The limit's
    error curve then jumps, and no finite net can follow a jump uniformly in t: its jump time is off
    by O(n^-1/2), and the sup over t catches the full jump. Measured on the isotropic Gaussians
    (t ≤ 30, n = 50..800): loss slopes −0.71 / −0.87, error sup-distance ≈ 0.47 at every n; on this
    task with w1_mean = 0 the error sup-distance stayed at 0.05-0.13. A W_1 mean gives ŷ a
    first-order dependence on x from the start, so the boundary sweeps the data gradually.

    Measured (``python examples/convergence.py --spec tanh``: t ≤ 30, α = 1e-2, 3 seeds,
    n = 50..800, 677 s on 2 cores): test-loss sup-distance RMS 7.3e-2 → 1.7e-2, slopes −0.58 (RMS)
    and −0.75 (seed mean); test error 5.4e-2 → 1.7e-2, slopes −0.38 and −0.36.
    """
    data = nonlinear_boundary_data()
    d = data.input_dim
    head = mf.head(mf.act.tanh, outputs=1)
    init = mf.init.Init(
        w1=mf.init.Normal(w1_mean, 1 / math.sqrt(d)),
        theta=(*3 * [mf.init.Normal(mu3, 0.5)], mf.init.Normal([1.0, mu3], [0.5, 0.5])),
        kernels=3 * (mf.init.Kernel(1.0, 0.5),),
        out_bias=mf.init.Atom(0.0),
    )
    return mf.Spec(
        name=f"tanh_nonlinear_boundary_mu3_{mu3:g}_w1mean_{w1_mean:g}",
        input_dim=d,
        hidden=3 * [mf.layer(mf.act.tanh)],
        head=head,
        loss=mf.loss.squared,
        init=init,
        data=data,
        lr=mf.lr.constant(1e-2),
        batch_size=100,
    )


spec = make()
variants = {"mu3=0": make(0.0), "w1_mean=0": make(w1_mean=0.0)}
presets = {
    "default": mf.Run(
        widths=(50, 100, 200, 400, 800), seeds=3, iterations=3000, num_evals=20, eval_samples=512
    ),
    # Not a paper figure: "paper" is the full-size study (wider nets, more seeds) for a bigger machine.
    "paper": mf.Run(
        widths=(100, 200, 400, 800, 1600, 3200), seeds=8, iterations=3000, num_evals=40, eval_samples=512
    ),  # fmt: skip
    "tiny": mf.Run(widths=(6,), seeds=1, iterations=5, num_evals=3, eval_samples=20),
}
