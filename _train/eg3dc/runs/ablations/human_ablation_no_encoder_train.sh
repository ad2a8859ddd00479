#!/bin/sh
# Ablation on NOVA-Human: no multi-granularity encoder. Everything else as the body run.
# Snapshots: _train/eg3dc/runs/human_ablation_no_encoder/<run>/. GPUs: NGPUS=8 sh <this file>. Extra flags pass through.
exec sh "$(dirname "$0")/../launch.sh" --name human_ablation_no_encoder --preset body --batch 16 --kimg 25000 \
    --tick 4 --snap 10 --encoder none "$@"
