"""Shared builder for the paper's fully connected experiments (Sec. 4.2.1): the "usual" (L+1)-layer
network ŷ = (1/n_L) β σ(b_L + W_L/n_{L-1} σ(... σ(b_1 + W_1 x))) + b_{L+1} with the usual init.

Spec files import it with ``from _paper import fully_connected`` (the spec folder is on the path
while a spec file runs). ``layers`` counts as the paper does: "4-layers" = L = 3 layers of neurons.
"""

import math

import mfspec as mf

SQRT2 = math.sqrt(2)


def fully_connected(*, name, data, layers, phi=mf.act.relu, loss=mf.loss.cross_entropy, lr,
                    tau1=SQRT2, mu2=1.0, tau2=0.1, mu3=0.0, tau3=0.0, batch_size=100):  # fmt: skip
    return mf.Spec(
        name=name,
        input_dim=data.input_dim,
        hidden=(layers - 2) * [mf.layer(phi)],
        head=mf.head(phi, outputs=data.outputs),
        loss=loss,
        init=mf.init.usual(tau1=tau1, mu2=mu2, tau2=tau2, mu3=mu3, tau3=tau3),
        data=data,
        lr=lr,
        batch_size=batch_size,
    )
