#!/usr/bin/env bash
# The shipped weights were trained with this recipe on a 2-core CPU machine (no GPU was available), one training
# per core, each single-threaded:
#   core A: the generator conditioned on the dlib descriptor (no encoder yet), then the same run resumed with the
#           trained encoder's vector as its conditioning and identity/perceptual losses through it;
#   core B: the segmenter, then the encoder, then the face detector.
# Batch sizes and validation sizes are cut to what a CPU core gets through; everything else is the model's YAML
# config. Every step resumes: run it again with the same RUNS_DIR to continue.
#   training/train_cpu.sh DATA_CACHE RUNS_DIR GEN_MIN GEN_ENCODER_MIN SEG_MIN ENC_MIN DET_MIN
set -u
data=$1; runs=$2; gen_min=$3; gen_encoder_min=$4; seg_min=$5; enc_min=$6; det_min=$7
mkdir -p "$runs"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONUNBUFFERED=1
inpainter() {  # inpainter MINUTES [--encoder PATH]
  local minutes=$1; shift
  python -m training.train_inpainter --data "$data" --out "$runs/inpainter" --max-minutes "$minutes" --resume \
    --workers 0 --batch-size 8 --export "$runs/generator.pt" "$@" \
    --set train.val_every=500 train.val_samples=64 loss.adversarial=0.02 loss.adversarial_start=2000 \
          loss.adversarial_ramp=500 model.discriminator.base_channels=32 >>"$runs/inpainter.log" 2>&1
}
(
  inpainter "$gen_min"
  while [ ! -f "$runs/encoder.done" ]; do sleep 30; done  # phase 2 needs the encoder
  inpainter "$gen_encoder_min" --encoder "$runs/encoder.pt"
) &
(
  python -m training.train_segmenter --data "$data" --out "$runs/segmenter" --max-minutes "$seg_min" --resume \
    --workers 0 --batch-size 8 --export "$runs/segmenter.pt" \
    --set train.val_every=500 train.val_samples=128 >>"$runs/segmenter.log" 2>&1
  python -m training.train_encoder --data "$data" --out "$runs/encoder" --max-minutes "$enc_min" --resume \
    --workers 0 --batch-size 16 --export "$runs/encoder.pt" \
    --set train.val_every=500 train.val_samples=200 >>"$runs/encoder.log" 2>&1 && touch "$runs/encoder.done"
  python -m training.train_detector --data "$data" --out "$runs/detector" --max-minutes "$det_min" --resume \
    --workers 0 --batch-size 16 --export "$runs/detector.pt" \
    --set scene.height=256 scene.width=256 val.scenes=200 train.val_every=1000 >>"$runs/detector.log" 2>&1
  # Its score threshold, as the app runs it (640 px letterbox, mirror pass), on val scenes like the benchmark's.
  python -m training.evaluate_detector --checkpoint "$runs/detector.pt" --data "$data" --split val --scenes 300 \
    --write-threshold 0.05 >>"$runs/detector.log" 2>&1
) &
wait
