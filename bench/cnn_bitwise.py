"""The CNN's forward pass and 5 MF-scaled SGD steps, against the arrays of an earlier mfspec.

    python bench/cnn_bitwise.py compare results/cnn_steps_0e2f03b.npz   # bitwise? (~1 min on 2 cores)
    python bench/cnn_bitwise.py write OUT.npz                           # this checkout's arrays

Two geometries (three 3×3 layers on 8×8 images; Table 1 at n = 2), both scalings (App. C's
1/n_{ℓ−1} and ``fan_in``), float32 and float64: the initial network, ŷ on 12 images, the network
after 5 minibatch SGD steps (batch 4, α_k = 0.08 k^-0.1) and its curve. Arrays are stored in the
layout of ``mf.MFNetwork``'s ``params()`` leaves: w_1 (n, s, s, d), w_ℓ (n, n', s, s), θ_ℓ = (b,)
or, at the head, (b, β) with β_j[c, p] at index 1 + c·P + p. The stored file of 0e2f03b (before a
CNN was an ``mf.Spec``) was written by its ``ConvNetwork`` and rearranged into this layout, a
transposition (exact).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _images(n, seed, shape, k=10):
    import mfspec as mf

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, int(np.prod(shape)))).astype(np.float32) / 255 * 2 - 1
    return x, mf.data.one_hot(rng.integers(0, k, n), k)


def arrays() -> dict[str, np.ndarray]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import mfspec as mf

    small = (
        (3, 8, 8),
        (mf.conv.ConvLayer(stride=2), mf.conv.ConvLayer(pool=3), mf.conv.ConvLayer()),
        (3, 4, 5),
    )
    table1 = ((3, 32, 32), mf.conv.TABLE1, 2)
    out = {}
    for geom, (shape, layers, widths) in {"small": small, "table1": table1}.items():
        x, y = _images(12, 0, shape)
        data = mf.data.ArrayData(x, y, *_images(6, 1, shape))
        for fan_in in (False, True):
            spec = mf.conv.ConvSpec(name="c", data=data, loss=mf.loss.cross_entropy, lr=mf.lr.annealed(0.08),
                                    input_shape=shape, layers=layers, batch_size=4, fan_in=fan_in)  # fmt: skip
            for dt in (jnp.float32, jnp.float64):
                tag = f"{geom}_{'fan' if fan_in else 'lit'}_{jnp.dtype(dt).name}"
                net = spec.network(widths, jax.random.PRNGKey(3), dtype=dt)
                out[f"{tag}_yhat"] = np.asarray(net(jnp.asarray(x, dt)))
                es = spec.data.eval_sets(jax.random.PRNGKey(1), 6, dtype=dt)
                trained, curve = mf.train(
                    spec, net, jax.random.PRNGKey(5), iterations=5, num_evals=3, eval_sets=es
                )
                for what, n in (("init", net), ("trained", trained)):
                    for i, leaf in enumerate(jax.tree.leaves(n.params())):
                        out[f"{tag}_{what}_{i}"] = np.asarray(leaf)
                for k, v in curve.metrics.items():
                    out[f"{tag}_curve_{k}"] = np.asarray(v)
                out[f"{tag}_yhat_trained"] = np.asarray(trained(jnp.asarray(x, dt)))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("write", "compare"))
    p.add_argument("path", type=Path)
    args = p.parse_args()
    now = arrays()
    if args.command == "write":
        np.savez(args.path, **now)
        return 0
    before = np.load(args.path)
    if set(before) != set(now):
        print(f"the arrays differ in name: {sorted(set(before) ^ set(now))[:6]}")
        return 1
    differ = [k for k in sorted(now) if not np.array_equal(before[k], now[k])]
    for k in differ:
        rel = np.max(np.abs(before[k] - now[k]) / np.maximum(np.abs(before[k]), 1e-300))
        print(f"{k}: differs, max relative {rel:.2e}")
    print(f"{len(now)} arrays (forward, init, 5 SGD steps, curves; 2 geometries × 2 scalings × 2 dtypes): "
          f"{'all bitwise equal' if not differ else f'{len(differ)} differ'}")  # fmt: skip
    return 0 if not differ else 1


if __name__ == "__main__":
    sys.exit(main())
