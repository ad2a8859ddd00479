#!/bin/sh
# NOVA-3D on NOVA-Human full bodies (renders/human_rutileE, splits human_rutileEB_*): the README's body run.
# Paper schedule: batch 16, R1 gamma 5 (mask branch 1), attention fusion, PAT encoder, mask branch.
# Snapshots: _train/eg3dc/runs/human_mv_panic3d_mask_encoder_attention/<run>/
#   -> inferquery human_mv_panic3d_mask_encoder_attention-<run>-<kimg>
# GPUs: NGPUS=8 sh <this file>   (see ../launch.sh for NNODES / NODE_RANK / MASTER / DATA). Extra flags pass through.
exec sh "$(dirname "$0")/../launch.sh" --name human_mv_panic3d_mask_encoder_attention --preset body --batch 16 \
    --kimg 25000 --tick 4 --snap 10 --fusion attention --encoder pat --mask-d "$@"
