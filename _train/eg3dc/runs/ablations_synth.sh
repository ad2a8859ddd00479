#!/bin/sh
# The ablation study of issue 9 on synthetic characters, on a CPU: one dataset, six configurations
# trained with the same seed, batch and budget, each measured on the held-out test split, one table.
#
#   OUT=out/ablations_synth KIMG=0.16 sh _train/eg3dc/runs/ablations_synth.sh
#
# Environment (all optional):
#   OUT      output folder (default out/ablations_synth): data/, runs/, metrics/<config>/, logs/
#            (train/measure logs, times.txt),
#            ablation.md (the table, with the model-free reference rows of collect_ablation)
#   KIMG     training length per configuration in thousands of images (default 0.16: the budget of
#            docs/RESULTS.md, 2 to 4 minutes of training each on 2 cores)
#   SEED     training seed, the same for every configuration (default 0)
#   BATCH    batch size (default 4)
#   DEVICE   cpu | cuda (default cpu)
#   CONFIGS  which configurations, space separated (default all six:
#            attention front_only concat mean no_encoder no_mask_d)
#   FORCE=1  retrain and remeasure configurations that already have a metrics.json
#   PYTHON   interpreter (default python; activate .venv first or set PYTHON=.venv/bin/python)
#   OMP_NUM_THREADS=1 is what docs/RESULTS.md used (one torch thread; steadier on a shared CPU)
# The dataset is made once (seed 0, 24 characters at 64 px, 8 random views each; the 4 test
# characters also get the 60-view grid, whose elevation-0 ring is the '360' subset).
# LPIPS, CLIP and FID read weight files that are not shipped: without them they are n/a.
# The configurations (the switches of _train.train, as in _train/eg3dc/runs/ablations/):
#   attention   --fusion attention                (the full model)
#   concat      --fusion concat
#   mean        --fusion mean
#   front_only  --fusion front_only               (single-view baseline: back features never read)
#   no_encoder  --fusion attention --encoder none
#   no_mask_d   --fusion attention --no-mask-d
set -eu
cd "${PROJECT_DN:-$(dirname "$0")/../../..}"
py=${PYTHON:-python}
out=${OUT:-out/ablations_synth}
kimg=${KIMG:-0.16}
seed=${SEED:-0}
batch=${BATCH:-4}
device=${DEVICE:-cpu}
configs=${CONFIGS:-attention front_only concat mean no_encoder no_mask_d}
mkdir -p "$out"
out=$(cd "$out" && pwd)
data=$out/data
runs=$out/runs
start=$(date +%s)
mkdir -p "$out/logs" "$out/metrics"

if [ ! -f "$data/.ablation-data-done" ]; then
    echo "== synthetic characters -> $data"
    rm -rf "$data"
    "$py" -m _scripts.data.synth --out "$data" --n 24 --res 64 --preset body --views 8 --seed 0 \
        --splits 0.75,0.083,0.167 --grid eval --workers 1
    touch "$data/.ablation-data-done"
fi

for cfg in $configs; do
    case $cfg in
        attention) flags="--fusion attention" ;;
        concat) flags="--fusion concat" ;;
        mean) flags="--fusion mean" ;;
        front_only) flags="--fusion front_only" ;;
        no_encoder) flags="--fusion attention --encoder none" ;;
        no_mask_d) flags="--fusion attention --no-mask-d" ;;
        *) echo "unknown configuration '$cfg'" >&2; exit 2 ;;
    esac
    metrics=$out/metrics/$cfg
    if [ -f "$metrics/metrics.json" ] && [ "${FORCE:-0}" != 1 ]; then
        echo "== $cfg: $metrics/metrics.json exists, kept (FORCE=1 redoes it)"
        continue
    fi
    name=ablsynth_$cfg
    rm -rf "$runs/$name" "$metrics"
    t0=$(date +%s)
    echo "== $cfg: training $name for $kimg kimg ($flags)"
    # shellcheck disable=SC2086  # $flags is a list of words
    "$py" -m _train.train --name "$name" --preset tiny --data "$data" --outdir "$runs" --device "$device" \
        --batch "$batch" --kimg "$kimg" --tick 0.1 --snap 1000 --workers 1 --seed "$seed" $flags \
        > "$out/logs/$cfg-train.log" 2>&1 || { tail -n 20 "$out/logs/$cfg-train.log" >&2; exit 1; }
    t1=$(date +%s)
    # the newest snapshot by progress (ls order puts network-snapshot-000000.004.pt before -000000.pt)
    snapshot=$("$py" -c 'import sys; from training.train.snapshot import resolve_snapshot; print(resolve_snapshot(sys.argv[1]))' \
        "$runs/$name/00000")
    query="$name-00000-$(basename "$snapshot" .pt | sed 's/network-snapshot-//')"
    echo "== $cfg: measuring $query on the test split"
    "$py" -m _scripts.eval.measure --inferquery "$query" --runs "$runs" --data "$data" --out "$metrics" \
        --res 64 --device "$device" > "$out/logs/$cfg-measure.log" 2>&1 \
        || { tail -n 20 "$out/logs/$cfg-measure.log" >&2; exit 1; }
    t2=$(date +%s)
    echo "$cfg train_s $((t1 - t0)) measure_s $((t2 - t1))" | tee -a "$out/logs/times.txt"
done

"$py" -m _scripts.eval.collect_ablation --metrics "$out/metrics" --configs "$configs" --reference "$data" --res 64 \
    --out "$out/ablation.md"
echo "ablation study finished in $(( $(date +%s) - start )) s; table: $out/ablation.md"
