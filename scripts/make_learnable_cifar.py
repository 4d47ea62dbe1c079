"""Write a CIFAR-10-format dataset whose labels a small CNN can learn (mfspec.data._learnable).

    python scripts/make_learnable_cifar.py data/learnable_cifar            # 2000 train, 1000 test
    python scripts/make_learnable_cifar.py OUT --train 5000 --test 1000 --seed 1

spec/learnable_cifar_cnn.py reads $MFSPEC_DATA/learnable_cifar (default data/learnable_cifar).
"""

import argparse

import numpy as np

from mfspec.data import cifar10
from mfspec.data._learnable import write_learnable_cifar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    folder = write_learnable_cifar(args.folder, train=args.train, test=args.test, seed=args.seed)
    data = cifar10(folder)
    counts = np.bincount(np.argmax(np.asarray(data.y_train), axis=1), minlength=10)
    print(f"wrote {folder}: {args.train} train, {args.test} test images; train classes {counts.tolist()}")


if __name__ == "__main__":
    main()
