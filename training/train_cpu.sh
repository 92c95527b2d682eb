#!/usr/bin/env bash
# The v1 weights were trained with this on a 2-core CPU machine (no GPU was available): the generator on one core for
# the whole budget, the segmenter then the encoder on the other. Batch sizes and validation sizes are cut to what a
# CPU core gets through; everything else is the model's YAML config. Resumable: run it again to continue.
#   training/train_cpu.sh DATA_CACHE RUNS_DIR GENERATOR_MINUTES SEGMENTER_MINUTES ENCODER_MINUTES
set -u
data=$1; runs=$2; gen_min=$3; seg_min=$4; enc_min=$5
mkdir -p "$runs"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
python -m training.train_inpainter --data "$data" --out "$runs/inpainter" --max-minutes "$gen_min" --resume \
  --workers 0 --batch-size 8 --export "$runs/generator.pt" \
  --set train.val_every=500 train.val_samples=64 loss.adversarial=0.02 loss.adversarial_start=2000 \
        loss.adversarial_ramp=500 model.discriminator.base_channels=32 >"$runs/inpainter.log" 2>&1 &
(
  python -m training.train_segmenter --data "$data" --out "$runs/segmenter" --max-minutes "$seg_min" --resume \
    --workers 0 --batch-size 8 --export "$runs/segmenter.pt" \
    --set train.val_every=500 train.val_samples=128 >"$runs/segmenter.log" 2>&1
  python -m training.train_encoder --data "$data" --out "$runs/encoder" --max-minutes "$enc_min" --resume \
    --workers 0 --batch-size 16 --export "$runs/encoder.pt" \
    --set train.val_every=500 train.val_samples=200 >"$runs/encoder.log" 2>&1
) &
wait
