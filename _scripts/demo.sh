#!/usr/bin/env bash
# `make demo`: the whole pipeline on a 2-core CPU: the released model on held-out synthetic characters and
# on the bundled example drawings, and a short training run from scratch with the CPU recipe (it shows that
# training works; the released model is that recipe run for longer, _train/released/MODEL_CARD.md).
# Usage: bash _scripts/demo.sh OUT_DIR   (through make, which provides .venv). KIMG=0.3 sets the training length.
# Batch 1: with a budget of a few hundred images, more optimizer steps beat bigger batches (test-split
# PSNR after 200 images: 17.1 dB at batch 4, 18.1 at batch 2, 18.2 at batch 1).
set -euo pipefail
out=${1:-out/demo}
py=${PYTHON:-.venv/bin/python}
kimg=${KIMG:-0.3}
released=_train/released/nova3d-cpu128.pt
mkdir -p "$out"
out=$(cd "$out" && pwd)
data="$out/data"
runs="$out/runs"
start=$(date +%s)

echo "== 1/7 synthetic characters -> $data"
"$py" -m _scripts.data.synth --out "$data" --n 24 --res 64 --preset body --views 8 --seed 0 --splits 0.75,0.083,0.167

echo "== 2/7 dataset check"
"$py" -m _scripts.data.check "$data"

echo "== 3/7 the released model on the held-out test characters -> $out/released/test"
# --res 64: the synthetic characters are 64 px drawings (the released model renders one ray per output pixel)
"$py" -m _scripts.eval.generate --ckpt "$released" --data "$data" --out "$out/released/test" --video --frames 36 --res 64

echo "== 4/7 the released model on the example drawings (_data/examples) -> $out/released/examples"
"$py" -m _scripts.reconstruct --pairs _data/examples/pairs.txt --out "$out/released/examples" --video --frames 36

echo "== 5/7 measure the released model on the test split"
"$py" -m _scripts.eval.measure --ckpt "$released" --data "$data" --out "$out/released/metrics" --res 64

echo "== 6/7 training cpu_tiny from scratch for $kimg kimg with the CPU recipe (about 6 minutes on 2 cores)"
rm -rf "$runs/cpu_tiny/00000"
"$py" -m _train.train --name cpu_tiny --preset tiny --data "$data" --outdir "$runs" --device cpu --batch 1 \
    --kimg "$kimg" --tick 0.1 --snap 100 --workers 1 $(cat _train/eg3dc/runs/recipe_cpu.flags)
# the newest snapshot by progress (ls order puts network-snapshot-000000.004.pt before -000000.pt)
snapshot=$("$py" -c 'import sys; from training.train.snapshot import resolve_snapshot; print(resolve_snapshot(sys.argv[1]))' \
    "$runs/cpu_tiny/00000")
query="cpu_tiny-00000-$(basename "$snapshot" .pt | sed 's/network-snapshot-//')"

echo "== 7/7 the short run on the test characters ($query): views, turntable, mesh, metrics"
"$py" -m _scripts.eval.generate --inferquery "$query" --runs "$runs" --data "$data" --out "$out/results" \
    --video --frames 36 --mesh --mesh-res 64 --res 128

"$py" -m _scripts.eval.measure --inferquery "$query" --runs "$runs" --data "$data" --out "$out/metrics" --res 64

echo
echo "demo finished in $(( $(date +%s) - start )) s. Wrote:"
echo "  $data/             synthetic characters (renders/human_rutileE, subsets/)"
echo "  $out/released/     the released model: test/<id>/ and examples/<name>/ (views, turntables), metrics/"
echo "  $runs/cpu_tiny/00000/   training run: snapshot, samples-*.png, metrics.jsonl"
echo "  $out/results/      per test character: ortho_*.png, spin_*.png, turntable.gif/.mp4, mesh.ply/.glb"
echo "  $out/metrics/      metrics.md and metrics.json (the table above)"
