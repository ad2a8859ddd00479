#!/bin/sh
# The demo's CPU run: tiny networks on synthetic characters, batch 1 (on a CPU budget more optimizer
# steps beat bigger batches) with the CPU recipe (recipe_cpu.flags: reconstruction losses only, on the
# random views too, docs/RESULTS.md), about 20 minutes per kimg on one core.
#   DATA=out/demo/data KIMG=2 sh _train/eg3dc/runs/cpu_tiny.sh [extra flags]
# Snapshots: _train/eg3dc/runs/cpu_tiny/<run>/ -> inferquery cpu_tiny-<run>-<kimg>
set -e
cd "${PROJECT_DN:-$(dirname "$0")/../../..}"
# shellcheck disable=SC2046  # the flags file is a list of words
exec ${PYTHON:-python} -m _train.train --name cpu_tiny --preset tiny --data "${DATA:-_data/synth}" --device cpu \
    --batch 1 --kimg "${KIMG:-2}" --tick 0.1 --snap 5 --workers 1 $(cat _train/eg3dc/runs/recipe_cpu.flags) "$@"
