#!/bin/bash
# The limit of a spec solved by several processes under SLURM (README "More than one machine").
# One task per node here; each task is one JAX process with the CPUs (or GPUs) of its node.
# `mfspec limit --distributed` finds the coordinator, the number of processes and its own index
# in SLURM's environment (jax.distributed.initialize); process 0 writes OUT/results.json, the
# figure and the checkpoints, so OUT must be on a file system every node sees.
#
#   sbatch examples/slurm_limit.sh digits runs/digits_limit
#
#SBATCH --job-name=mfspec-limit
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --time=01:00:00
#SBATCH --output=mfspec-limit-%j.log
set -euo pipefail

SPEC=${1:-digits}
OUT=${2:-runs/${SPEC}_limit}

# A rerun of the same command resumes the solves from OUT/limit_checkpoints.
srun python -m mfspec.cli limit "$SPEC" --out "$OUT" --distributed --quiet
