#!/usr/bin/env bash
# One command on a lent GPU machine (no internet; the working tree and gpu_bundle/ carried in):
#   bash training/gpu_run.sh [MINUTES] [training.gpu_run arguments...]
# Installs the carried wheels (only what python3 lacks), unpacks gpu_bundle/data.tar to local disk, profiles
# a few steps, fine-tunes the shipped generator for MINUTES (default 7) with the GPU recipe and writes the
# results into $OUT (the device's return folder; runs/gpu_out when unset). Build the bundle first, here:
#   python -m training.gpu_bundle
# CPU check of the whole path: OUT=/tmp/gpu_check bash training/gpu_run.sh 0 --device cpu --steps 3 --workers 1
set -uo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-7}; shift $(( $# > 0 ? 1 : 0 ))
bundle=gpu_bundle
out=${OUT:-runs/gpu_out}
mkdir -p "$out"
[ -f "$bundle/data.tar" ] || { echo "no $bundle/data.tar: run python -m training.gpu_bundle here and carry $bundle"; exit 2; }
python=$(command -v python3 || command -v python)
if ! "$python" -c "import kornia, efficientnet_pytorch" 2>/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/gpu_site \
    "$bundle"/wheels/*.whl || exit 3
  export PYTHONPATH=/tmp/gpu_site:$PWD/$bundle/stub${PYTHONPATH:+:$PYTHONPATH}
fi
"$python" -c "import kornia_rs" 2>/dev/null || export PYTHONPATH=$PWD/$bundle/stub${PYTHONPATH:+:$PYTHONPATH}
data=$(mktemp -d /tmp/gpu_data.XXXX)
tar -xf "$bundle/data.tar" -C "$data" || exit 4
export PYTHONUNBUFFERED=1
budget=()
[ "$minutes" != 0 ] && budget=(--minutes "$minutes")
command -v nvidia-smi >/dev/null && nvidia-smi -L
echo "cores $(nproc); data $(du -sh "$data" | cut -f1); python $("$python" -V 2>&1)"
"$python" -m training.gpu_run --data "$data/data_cache" --results "$out" "${budget[@]}" --profile "$@" \
  2>&1 | tee "$out/train.log"
rc=${PIPESTATUS[0]}
rm -rf "$data"
ls -la "$out"
exit "$rc"
