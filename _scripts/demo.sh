#!/usr/bin/env bash
# `make demo`: the whole pipeline on a 2-core CPU, from synthetic characters to the numbers.
# Usage: bash _scripts/demo.sh OUT_DIR   (run through make, which provides .venv)
set -euo pipefail
out=${1:-out/demo}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$out"
data="$out/data"

echo "== 1/2 synthetic characters -> $data"
"$py" -m _scripts.data.synth --out "$data" --n 40 --res 128 --preset body --views 8 --seed 0

echo "== 2/2 dataset check"
"$py" -m _scripts.data.check "$data"

echo
echo "demo finished. Wrote:"
echo "  $data/renders/human_rutileE/   synthetic characters (ortho/, rgb/, masks, xyza, meta json)"
echo "  $data/subsets/                 train/val/test split lists"
