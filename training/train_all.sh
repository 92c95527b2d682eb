#!/usr/bin/env bash
# Train every shipped model at once on one GPU machine: the models are small, so they share one GPU while the
# CPU cores synthesise their batches. Thin launcher over the per-model scripts (see training/README.md).
#   training/train_all.sh DATA_CACHE RUNS_DIR MINUTES [ENCODER_CHECKPOINT] [MODELS...]
# With ENCODER_CHECKPOINT the inpainter is conditioned on that encoder and gets its identity/perceptual losses.
set -u
data=$1; runs=$2; minutes=$3; encoder=${4:-}; shift $(( $# < 4 ? $# : 4 ))
models=${*:-encoder segmenter inpainter detector}
mkdir -p "$runs"
declare -A workers=([encoder]=4 [segmenter]=3 [inpainter]=5 [detector]=4)
for model in $models; do
  extra=()
  [ "$model" = inpainter ] && [ -n "$encoder" ] && extra=(--encoder "$encoder")
  python -m "training.train_$model" --data "$data" --out "$runs/$model" --max-minutes "$minutes" --resume \
    --workers "${workers[$model]}" --export "$runs/$model.pt" "${extra[@]}" >"$runs/$model.log" 2>&1 &
done
wait
if [[ " $models " == *" detector "* ]]; then  # the detector's score threshold, chosen on val scenes
  python -m training.evaluate_detector --checkpoint "$runs/detector.pt" --data "$data" --split val --scenes 300 \
    --write-threshold 0.05 >>"$runs/detector.log" 2>&1
fi
for model in $models; do echo "== $model"; tail -n 4 "$runs/$model.log"; done
