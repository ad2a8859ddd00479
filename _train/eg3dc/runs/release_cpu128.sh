#!/bin/sh
# The released model (_train/released/nova3d-cpu128.pt, MODEL_CARD.md there): the 'small' preset (128 px
# output) with the CPU recipe on the broadened synthetic characters and the open real characters (their
# train splits), 60/40, one torch thread. The data:
#   python -m _scripts.data.synth --out $SYNTH --n 480 --res 128 --preset body --views 8 --seed 2 --splits 0.9,0.03,0.07
#   python -m _scripts.data.open_characters --catalogue ../shared/open_characters.tsv --mirrors MIRRORS \
#       --glb GLB_DIR --out $REAL --res 128
# Then: SYNTH=... REAL=... sh _train/eg3dc/runs/release_cpu128.sh   (resume: add --resume RUN_FOLDER)
#   python -m _scripts.release --ckpt <the run's snapshot> --out _train/released/nova3d-cpu128.pt
set -e
cd "${PROJECT_DN:-$(dirname "$0")/../../..}"
# shellcheck disable=SC2046  # the flags file is a list of words
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} exec ${PYTHON:-python} -m _train.train --name release128 --preset small \
    --data "${SYNTH:?set SYNTH}" --data "${REAL:?set REAL}" --data-weights 0.6,0.4 --device cpu \
    --batch 1 --kimg "${KIMG:-5}" --tick 0.1 --snap 2 --workers 1 --seed 0 $(cat _train/eg3dc/runs/recipe_cpu.flags) "$@"
