"""MF scaling keeps pre-activations, the output and the entries of W_ℓ (ℓ ≥ 2) O(1) as n grows,
at init and after training (docs/formal_system.md sec. 1: "that is the point of the scalings")."""

import jax
import jax.numpy as jnp
import numpy as np
from helpers import tiny_isotropic_spec

import mfspec as mf

WIDTHS = (50, 200, 800, 3200)


def _stats(net, x):
    yhat, hs = net(x, with_preactivations=True)
    out = {f"h_{i + 1}": float(jnp.sqrt(jnp.mean(h**2))) for i, h in enumerate(hs)}
    out["yhat"] = float(jnp.sqrt(jnp.mean(yhat**2)))
    return out


def test_quantities_stay_order_one_across_widths_at_init_and_after_training():
    # τ2, τ3 > 0 so that every layer carries randomness that could scale badly if mis-scaled; ReLU
    # (the paper's σ) so that each layer's limit is non-zero and a vanishing quantity is an error too.
    spec = tiny_isotropic_spec(depth=3, dim=8, tau2=0.5, tau3=0.3, alpha=0.05, batch=16, phi=mf.act.relu)
    x, _ = spec.data.minibatch(jax.random.PRNGKey(0), 64, dtype=jnp.float32)
    ev = spec.data.eval_sets(jax.random.PRNGKey(1), 64, dtype=jnp.float32)
    table = {}
    for n in WIDTHS:
        net0 = spec.network(n, jax.random.PRNGKey(2), dtype=jnp.float32)
        net1, curve = mf.train(spec, net0, jax.random.PRNGKey(3), iterations=40, num_evals=3, eval_sets=ev)
        row = {f"init {k}": v for k, v in _stats(net0, x).items()}
        row.update({f"trained {k}": v for k, v in _stats(net1, x).items()})
        for ell, (l0, l1) in enumerate(zip(net0.layers[1:], net1.layers[1:]), start=2):
            w0, w1 = l0.w, l1.w
            row[f"|W_{ell}| rms"] = float(jnp.sqrt(jnp.mean(w1**2)))
            # The change of one entry is O(1) in MF scaling (it would vanish like 1/n under NTK-like
            # scaling and grow without the n_ℓ n_{ℓ-1} factor being balanced by the 1/n sums).
            row[f"ΔW_{ell} rms"] = float(jnp.sqrt(jnp.mean((w1 - w0) ** 2)))
        row["Δh_1 rms"] = float(
            jnp.sqrt(
                jnp.mean(
                    (net1(x, with_preactivations=True)[1][0] - net0(x, with_preactivations=True)[1][0]) ** 2
                )
            )
        )
        table[n] = row
    names = list(table[WIDTHS[0]])
    report = "\n".join(f"{k:>18}: " + "  ".join(f"{table[n][k]:9.4f}" for n in WIDTHS) for k in names)
    for k in names:
        vals = np.array([table[n][k] for n in WIDTHS])
        assert np.all(np.isfinite(vals)) and np.all(vals > 1e-4), f"{k} vanishes:\n{report}"
        # Over a 64-fold range of n an O(1) quantity moves by a bounded factor; a 1/n or n error
        # would move it by 64, a 1/√n one by 8.
        assert vals.max() / vals.min() < 2.0, f"{k} is not O(1) across n = {WIDTHS}:\n{report}"
