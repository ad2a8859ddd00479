#!/bin/sh
# Ablation on NOVA-Human: no discriminator mask branch. Everything else as the body run.
# Snapshots: _train/eg3dc/runs/human_ablation_no_mask_d/<run>/. GPUs: NGPUS=8 sh <this file>. Extra flags pass through.
exec sh "$(dirname "$0")/../launch.sh" --name human_ablation_no_mask_d --preset body --batch 16 --kimg 25000 \
    --tick 4 --snap 10 --no-mask-d "$@"
