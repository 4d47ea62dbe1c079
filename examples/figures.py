"""Reproduce the paper's figures (Sec. 4.2, App. C) with the limit drawn in, one ``mfspec run`` each.

    python examples/figures.py                   # the figures that need no download (CPU presets)
    python examples/figures.py --all             # also MNIST / CIFAR-10 / VGG16 features, if present
    python examples/figures.py digits isotropic_gaussians       # chosen figures
    python examples/figures.py --preset paper    # the paper's settings (hours; a GPU helps)
    python examples/figures.py --gallery         # also copy each figure.png into docs/gallery/

Each figure runs into ``runs/figures/<name>/`` (results.json + figure.png). Figures whose data is not
on disk are skipped with the message that says what to download and where to put it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from mfspec.cli import main as mfspec_main

ROOT = Path(__file__).resolve().parents[1]

#: name → (paper figure, mfspec run arguments, needs data files). The τ2 = 3 companion runs one seed
#: per width, as the gallery shows it.
FIGURES: dict[str, tuple[str, list[str], bool]] = {
    "isotropic_gaussians": ("Fig. 5, τ2 = 0.1", ["isotropic_gaussians"], False),
    "isotropic_gaussians_tau2_3": (
        "Fig. 5, τ2 = 3",
        ["isotropic_gaussians", "--variant", "tau2=3", "--seeds", "1"],
        False,
    ),
    "digits": ("MNIST-like, no download (Fig. 6's setting), 4 layers", ["digits"], False),
    "digits_3layers": ("MNIST-like, no download, 3 layers", ["digits", "--variant", "3layers"], False),
    "mnist": ("Fig. 6, MNIST 4 layers", ["mnist"], True),
    "mnist_tau2_2": ("Fig. 7, MNIST τ2 = 2", ["mnist", "--variant", "tau2=2"], True),
    "cifar10": ("Fig. 8, CIFAR-10 4 layers", ["cifar10"], True),
    "cifar10_tau2_2": ("Fig. 9, CIFAR-10 τ2 = 2", ["cifar10", "--variant", "tau2=2"], True),
    "tanh_annealed": ("Fig. 10, tanh, annealed rate", ["tanh_annealed"], False),
    "tanh_annealed_mnist": ("Fig. 10, tanh, annealed rate, MNIST", ["tanh_annealed_mnist"], True),
    "tanh_annealed_cifar10": ("Fig. 10, tanh, annealed rate, CIFAR-10", ["tanh_annealed_cifar10"], True),
    "cifar10_vgg16": ("Fig. 11, CIFAR-10 on VGG16 features", ["cifar10_vgg16"], True),
    "cifar10_cnn": ("Fig. 12, the 8-layer MF CNN on CIFAR-10", ["cifar10_cnn"], True),
    "residual_tanh": (
        "not in the paper: an 8-layer tanh residual net (docs/residual.md)",
        ["residual_tanh"],
        False,
    ),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "names", nargs="*", help=f"figures to make (default: those without data files): {list(FIGURES)}"
    )
    ap.add_argument("--all", action="store_true", help="every figure whose data is on disk")
    ap.add_argument("--preset", default="default", help="spec preset: default (CPU, minutes) or paper")
    ap.add_argument("--gallery", action="store_true", help="copy each figure into docs/gallery/")
    ap.add_argument("--out", type=Path, default=Path("runs/figures"))
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        ap.error(f"unknown figure(s) {unknown}; choose from {list(FIGURES)}")
    names = args.names or [n for n, (_, _, data) in FIGURES.items() if args.all or not data]
    failed = []
    for name in names:
        title, run_args, _ = FIGURES[name]
        out = args.out / name
        print(f"\n== {name}: {title} → {out}", flush=True)
        start = time.perf_counter()
        try:
            code = mfspec_main(["run", *run_args, "--preset", args.preset, "--out", str(out)])
        except (FileNotFoundError, ValueError) as err:  # missing data files: the loader says what to do
            print(f"skipped {name}: {err}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"{name}: {time.perf_counter() - start:.0f} s", flush=True)
        if code == 0 and args.gallery:
            shutil.copy(out / "figure.png", ROOT / "docs" / "gallery" / f"{name}.png")
    if failed:
        print(f"\nskipped (data missing or invalid): {failed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
