#!/bin/sh
# NOVA-3D on VRoid heads (renders/rutileE, splits rutileEA_*): the original README's head run.
# Paper schedule: batch 8, R1 gamma 5 (mask branch 1), attention fusion, PAT encoder, mask branch.
# Snapshots: _train/eg3dc/runs/multi_panic3d/<run>/  -> inferquery multi_panic3d-<run>-<kimg>
# GPUs: NGPUS=8 sh <this file>   (see ../launch.sh for NNODES / NODE_RANK / MASTER / DATA). Extra flags pass through.
exec sh "$(dirname "$0")/../launch.sh" --name multi_panic3d --preset head --batch 8 --kimg 25000 --tick 4 --snap 10 \
    --fusion attention --encoder pat --mask-d "$@"
