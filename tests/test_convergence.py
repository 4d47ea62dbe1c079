"""The central claim in the default suite: finite-n networks approach the limit as n grows.

A small tanh net (d = 2, L = 2, random biases and output weights, no layer collapses) trained by
full-batch gradient descent on 64 fixed points, so that no minibatch noise sits between the
networks and the gradient flow (docs/formal_system.md sec. 2: the limit is n → ∞ *and* α ↓ 0);
widths 32..512, 4 seeds, t ≤ 4. The fitted log-log slope of the sup-over-t train-loss distance
(RMS over seeds of single runs) must be ≤ −0.3; the fluctuations of a width-n net are O(n^−1/2).
"""

from __future__ import annotations

import numpy as np

import mfspec as mf
import mfspec.testing as mft


def _spec() -> mf.Spec:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 2))
    y = np.sign(x[:, 0] + 0.5 * x[:, 1] ** 2 - 0.4)
    init = mf.init.Init(w1=mf.init.Normal(0.3, 1.0), theta=(mf.init.Normal(0.0, 0.5), mf.init.Normal([1.0, 0.0], [0.5, 0.5])),
                        kernels=(mf.init.Kernel(1.0, 0.5),), out_bias=mf.init.Atom(0.0))  # fmt: skip
    return mf.Spec(name="converge", input_dim=2, hidden=[mf.layer(mf.act.tanh)], head=mf.head(mf.act.tanh),
                   loss=mf.loss.squared, init=init, data=mf.data.ArrayData(x, y), lr=mf.lr.constant(0.05),
                   batch_size="full")  # fmt: skip


def test_finite_nets_approach_the_limit():
    rep = mft.assert_approaches_limit(_spec(), widths=(32, 64, 128, 256, 512), seeds=4, iterations=80,
                                      num_evals=10, eval_samples=64, metric="train_loss", bound=-0.3)  # fmt: skip
    print(rep.table())
    assert rep.rms[-1] < rep.rms[0] / 2.5  # 16× the width: ~4× closer at n^−1/2
