#!/bin/sh
# The ablation study of issue 9 on synthetic characters, on a CPU: one dataset, the configurations
# trained with the same seed(s), batch and budget, each measured on the held-out test split, one table.
#
#   OUT=out/ablations_synth KIMG=0.16 sh _train/eg3dc/runs/ablations_synth.sh
#
# The fusion study of docs/RESULTS.md (attention vs front_only, concat and mean; 3 seeds each, 600 images
# per run of the CPU recipe with a 64^2 render: 12 runs of 15-30 minutes with two running at once; run it
# in as many pieces as you like):
#
#   OUT=out/fusion DATA=/path/to/synth64 SEEDS="0 1 2" CONFIGS="attention front_only concat mean" KIMG=0.6 LIMIT=32 \
#       BATCH=1 OMP_NUM_THREADS=1 FLAGS="--no-sr --neural-res 64 $(cat _train/eg3dc/runs/recipe_cpu.flags)" \
#       VERSUS="attention:front_only attention:concat attention:mean" sh _train/eg3dc/runs/ablations_synth.sh
#
# Restartable: every invocation continues what is unfinished. A run with a metrics.json is kept; a run
# whose newest snapshot reached KIMG is measured; a run with a snapshot short of KIMG is continued from it
# (_train.train --resume, bit-exact; a larger KIMG lengthens finished runs that have no metrics.json yet);
# a run with no snapshot starts again. Interrupting loses at most the training since the last snapshot.
#
# Environment (all optional):
#   OUT      output folder (default out/ablations_synth): data/, runs/, metrics/, logs/
#            (train/measure logs, times.txt),
#            ablation.md (the table, with the model-free reference rows of collect_ablation)
#   DATA     an existing dataset to use (default: the small one made in OUT/data, see below)
#   KIMG     training length per run in thousands of images (default 0.16: the budget of issue 9,
#            2 to 4 minutes of training each on 2 cores)
#   SEED     training seed of every configuration when SEEDS is not set (default 0): runs
#            runs/ablsynth_<config>, metrics in metrics/<config>/metrics.json
#   SEEDS    several seeds, space separated (e.g. "0 1 2"): one run per configuration and seed,
#            runs/ablsynth_<config>_s<seed>, metrics in metrics/<config>/seed<seed>/metrics.json; the
#            table shows mean ± sample standard deviation over the seeds
#   BATCH    batch size (default 4)
#   PRESET   model preset (default tiny)
#   FLAGS    more _train.train flags for every configuration (e.g. the recipe: "--no-sr $(cat
#            _train/eg3dc/runs/recipe_cpu.flags)"); a resumed run must be given the same ones
#   TICK     progress line every TICK kimg (default 0.1)
#   SNAP     snapshot (the point a restart resumes from) every SNAP ticks (default 2: every 0.2 kimg);
#            all are kept, about 50 MB each at the tiny preset (a 5.8 kimg run: 29, 1.5 GB)
#   DEVICE   cpu | cuda (default cpu)
#   CONFIGS  which configurations, space separated (default all six:
#            attention front_only concat mean no_encoder no_mask_d)
#   LIMIT    measure only the first LIMIT test characters (default: all; docs/RESULTS.md's benchmark: 32)
#   VERSUS   "A:B ..." pairs for collect_ablation --versus: a line per pair with A's back PSNR minus B's,
#            per seed both have, its mean and minimum
#   FORCE=1  retrain from scratch and remeasure every run, finished or not
#   PYTHON   interpreter (default python; activate .venv first or set PYTHON=.venv/bin/python)
#   OMP_NUM_THREADS=1 is what docs/RESULTS.md used (one torch thread; steadier on a shared CPU)
# The small dataset is made once (seed 0, 24 characters at 64 px, 8 random views each; the 4 test
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
batch=${BATCH:-4}
preset=${PRESET:-tiny}
tick=${TICK:-0.1}
snap=${SNAP:-2}
device=${DEVICE:-cpu}
configs=${CONFIGS:-attention front_only concat mean no_encoder no_mask_d}
mkdir -p "$out"
out=$(cd "$out" && pwd)
data=${DATA:-$out/data}
runs=$out/runs
start=$(date +%s)
mkdir -p "$out/logs" "$out/metrics"

if [ -z "${DATA:-}" ] && [ ! -f "$data/.ablation-data-done" ]; then
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
    for seed in ${SEEDS:-${SEED:-0}}; do
        if [ -n "${SEEDS:-}" ]; then
            tag=${cfg}_s$seed metrics=$out/metrics/$cfg/seed$seed
        else
            tag=$cfg metrics=$out/metrics/$cfg
        fi
        name=ablsynth_$tag
        run=$runs/$name/00000
        if [ "${FORCE:-0}" = 1 ]; then
            rm -rf "$runs/$name" "$metrics/metrics.json" "$metrics/metrics.md"
        elif [ -f "$metrics/metrics.json" ]; then
            echo "== $tag: $metrics/metrics.json exists, kept (FORCE=1 redoes it)"
            continue
        fi
        # new (no snapshot), resume (the newest is short of KIMG) or done
        state=$("$py" -c 'import sys; from training.train.snapshot import run_state
print(run_state(sys.argv[1], float(sys.argv[2])))' "$run" "$kimg")
        t0=$(date +%s)
        if [ "$state" = done ]; then
            echo "== $tag: $run has reached $kimg kimg, not trained again"
        else
            if [ "$state" = resume ]; then
                set -- --resume "$run"
                echo "== $tag: continuing $name to $kimg kimg ($flags${FLAGS:+ $FLAGS})"
            else
                set --
                rm -rf "$runs/$name"
                : > "$out/logs/$tag-train.log"
                echo "== $tag: training $name for $kimg kimg ($flags${FLAGS:+ $FLAGS})"
            fi
            # shellcheck disable=SC2086  # $flags and $FLAGS are lists of words
            "$py" -m _train.train --name "$name" --preset "$preset" --data "$data" --outdir "$runs" --device "$device" \
                --batch "$batch" --kimg "$kimg" --tick "$tick" --snap "$snap" --workers 1 --seed "$seed" $flags \
                ${FLAGS:-} "$@" >> "$out/logs/$tag-train.log" 2>&1 \
                || { tail -n 20 "$out/logs/$tag-train.log" >&2; exit 1; }
        fi
        t1=$(date +%s)
        # the newest snapshot by progress (ls order puts network-snapshot-000000.004.pt before -000000.pt)
        snapshot=$("$py" -c 'import sys; from training.train.snapshot import resolve_snapshot; print(resolve_snapshot(sys.argv[1]))' \
            "$run")
        query="$name-00000-$(basename "$snapshot" .pt | sed 's/network-snapshot-//')"
        echo "== $tag: measuring $query on the test split"
        "$py" -m _scripts.eval.measure --inferquery "$query" --runs "$runs" --data "$data" --out "$metrics" \
            --res 64 --device "$device" ${LIMIT:+--limit "$LIMIT"} > "$out/logs/$tag-measure.log" 2>&1 \
            || { tail -n 20 "$out/logs/$tag-measure.log" >&2; exit 1; }
        t2=$(date +%s)
        echo "$tag $state train_s $((t1 - t0)) measure_s $((t2 - t1))" | tee -a "$out/logs/times.txt"
    done
done

"$py" -m _scripts.eval.collect_ablation --metrics "$out/metrics" --configs "$configs" --reference "$data" --res 64 \
    --versus "${VERSUS:-}" --out "$out/ablation.md"
echo "ablation study finished in $(( $(date +%s) - start )) s; table: $out/ablation.md"
