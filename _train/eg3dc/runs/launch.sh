#!/bin/sh
# Shared launcher of the run configs in this folder: torchrun over NGPUS processes on this node,
# several nodes when NNODES > 1. Every run config ends with `exec sh launch.sh <train flags>`.
#   NGPUS      processes (GPUs) per node         default: all visible GPUs (nvidia-smi), else 1
#   NNODES     nodes                             default 1
#   NODE_RANK  this node's index                 default 0
#   MASTER     host:port of node 0 (multi-node)  default localhost:29500
#   DATA       data root                         default $PROJECT_DN/_data/lustrous
#   PYTHON     interpreter                       default python
set -e
cd "${PROJECT_DN:-$(dirname "$0")/../../..}"
if [ -z "$NGPUS" ]; then
    NGPUS=$(nvidia-smi -L 2>/dev/null | wc -l)
    [ "$NGPUS" -gt 0 ] || NGPUS=1
fi
NNODES=${NNODES:-1}
DATA=${DATA:-${PROJECT_DN:-.}/_data/lustrous}
if [ "$NNODES" -gt 1 ]; then
    dist="--nnodes=$NNODES --node_rank=${NODE_RANK:-0} --rdzv_backend=c10d --rdzv_endpoint=${MASTER:-localhost:29500}"
else
    dist="--standalone --nnodes=1"
fi
exec ${PYTHON:-python} -m torch.distributed.run $dist --nproc_per_node="$NGPUS" -m _train.train --data "$DATA" "$@"
