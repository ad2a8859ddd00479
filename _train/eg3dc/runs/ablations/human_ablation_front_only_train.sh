#!/bin/sh
# Ablation on NOVA-Human: front view only (the single-view PAniC-3D-like baseline). Everything else as the body run.
# Snapshots: _train/eg3dc/runs/human_ablation_front_only/<run>/. GPUs: NGPUS=8 sh <this file>. Extra flags pass through.
exec sh "$(dirname "$0")/../launch.sh" --name human_ablation_front_only --preset body --batch 16 --kimg 25000 \
    --tick 4 --snap 10 --fusion front_only "$@"
