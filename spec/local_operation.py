"""The local operation of Sec. 2.4 in a 3-layer tanh net: h_2[j] = (1/n_1) Σ_i σ*(W_2[j, i], a_1[i]).

σ*(w, h) = tanh(w)·tanh(h): a dense layer in the variable a(w) = tanh(w) at t = 0, but nonlinear
in w, so the initial noise of W_2 (N(0.5, 1)) stays in the limit (docs/formal_system.md sec. 6):
the limit's layer-2 weights live on Gauss–Hermite noise nodes. ``examples/local_operation.py``
compares the finite nets with this limit and with two that drop the noise. Layer 1 is the identity plus a
bias (σ* reads the pre-activation, as in Sec. 2.4), layer 2 tanh(h + b) with an atomic bias (it
collapses to one particle), the head β tanh(h + b). Task: ``nonlinear_boundary_data`` (x ~ N(0, I_8),
512 train / 512 test, no symmetry), squared loss, full-batch gradient descent with α = 0.01.

Variant "tanh(wh)": σ*(w, h) = tanh(w·h), which SymPy cannot split into A(w)·B(h) (the local layer
is then evaluated on the whole grid, not by matmuls).
"""

import math

import sympy as sp
from _data import nonlinear_boundary_data

import mfspec as mf

W, H = sp.symbols("w h", real=True)
STARS = {"tanh(w)tanh(h)": sp.tanh(W) * sp.tanh(H), "tanh(wh)": sp.tanh(W * H)}


def make(star: str = "tanh(w)tanh(h)") -> mf.Spec:
    data = nonlinear_boundary_data()
    d = data.input_dim
    layers = (
        mf.Input(mf.layer(mf.act.identity)),  # a_1 = h_1 + b_1
        mf.local(
            STARS[star], w=W, h=H, act=mf.layer(mf.act.tanh)
        ),  # h_2 = mean_i σ*(w, a_1,i); tanh(h_2 + b_2)
        mf.Dense(mf.head(mf.act.tanh)),  # ŷ = mean_j β tanh(h_3 + b)
    )
    init = mf.init.Init(
        w1=mf.init.Normal(0.3, 1 / math.sqrt(d)),  # a mean, so that ŷ depends on x from t = 0
        theta=(mf.init.Normal(0.0, 0.5), mf.init.Atom(0.2), mf.init.Normal([1.0, 0.2], [0.25, 0.5])),
        kernels=(mf.init.Kernel(0.5, 1.0), mf.init.Kernel(1.0, 0.5)),
        out_bias=mf.init.Atom(0.0),
    )
    return mf.Spec(
        name="local_operation"
        + ("" if star == "tanh(w)tanh(h)" else "_" + star.replace("(", "").replace(")", "")),
        input_dim=d,
        layers=layers,
        loss=mf.loss.squared,
        init=init,
        data=data,
        lr=mf.lr.constant(1e-2),
        batch_size="full",  # gradient descent: no minibatch noise between the nets and the flow
    )


spec = make()
variants = {"tanh(wh)": make("tanh(wh)")}
presets = {
    "default": mf.Run(
        widths=(50, 100, 200, 400, 800), seeds=4, iterations=3000, num_evals=20, eval_samples=512
    ),
    # Not a paper figure: "paper" is a larger study for a bigger machine.
    "paper": mf.Run(
        widths=(100, 200, 400, 800, 1600), seeds=8, iterations=3000, num_evals=40, eval_samples=512
    ),
    "tiny": mf.Run(widths=(6,), seeds=1, iterations=5, num_evals=3, eval_samples=20),
}
