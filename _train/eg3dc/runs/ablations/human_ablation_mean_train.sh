#!/bin/sh
# Ablation on NOVA-Human: mean of front and back tokens. Everything else as the body run.
# Snapshots: _train/eg3dc/runs/human_ablation_mean/<run>/. GPUs: NGPUS=8 sh <this file>. Extra flags pass through.
exec sh "$(dirname "$0")/../launch.sh" --name human_ablation_mean --preset body --batch 16 --kimg 25000 \
    --tick 4 --snap 10 --fusion mean "$@"
