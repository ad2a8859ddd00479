#!/bin/sh
# The demo's CPU run: tiny networks on synthetic characters, batch 1 (on a CPU budget more optimizer
# steps beat bigger batches), about 16 minutes per kimg on 2 cores.
#   DATA=out/demo/data KIMG=2 sh _train/eg3dc/runs/cpu_tiny.sh [extra flags]
# Snapshots: _train/eg3dc/runs/cpu_tiny/<run>/ -> inferquery cpu_tiny-<run>-<kimg>
set -e
cd "${PROJECT_DN:-$(dirname "$0")/../../..}"
exec ${PYTHON:-python} -m _train.train --name cpu_tiny --preset tiny --data "${DATA:-_data/synth}" --device cpu \
    --batch 1 --kimg "${KIMG:-2}" --tick 0.1 --snap 5 --workers 1 "$@"
