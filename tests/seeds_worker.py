"""The body of tests/test_seeds.py's device test: a batched-seeds sweep on N forced host devices.

    python tests/seeds_worker.py DEVICES DTYPE SPEC > curves.json

Forced host devices (``--xla_force_host_platform_device_count``) must be set before JAX starts,
hence a process of its own. SPEC: "default" (isotropic_gaussians) or a name of tests/helpers.py's
catalogue. Prints the sweep's finite records (JSON), the device count and the devices the carries spanned.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> None:
    devices, dtype, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    import jax

    jax.config.update("jax_enable_x64", dtype == "float64")
    import mfspec as mf
    from mfspec.finite import seeds as _seeds
    from mfspec.run.sweep import new_results, run_sweep

    spans = set()  # how many devices the trained carries span (the seed axis cut, or not)
    chunk = _seeds._run_chunk_seeds

    def spy(*args):
        out = chunk(*args)
        spans.add(len(jax.tree.leaves(out)[0].sharding.device_set))
        return out

    _seeds._run_chunk_seeds = spy

    sys.path.insert(0, str(Path(__file__).parent))
    if name == "default":
        spec = mf.load_spec_file("isotropic_gaussians").spec
    else:
        from helpers import catalogue

        spec = catalogue()[name]
    # 3 seeds: an odd count, so that 2 devices need a padded seed
    run = mf.Run(widths=(6, 9), seeds=3, iterations=200, num_evals=5, eval_samples=50)
    res = new_results(spec, run, spec_file=None, preset=None, seed=0)
    run_sweep(spec, run, results=res, progress=False, batch_seeds=True, dtype=jax.numpy.dtype(dtype))
    print(json.dumps({"devices": jax.local_device_count(), "spans": sorted(spans), "curves": res["curves"]}))


if __name__ == "__main__":
    main()
