#!/usr/bin/env bash
# The main job on the embedded default: Fashion-MNIST from Debian's package ->
# CLIP trained from scratch on CPU -> zero-shot accuracy on the 10k test images.
# Extra arguments go to `clipgrad train` (e.g. --epochs 1 for a quick look).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
clipgrad=build/clipgrad
data=data/fashion-mnist
run=runs/fashion-mnist

time_stage() { local start=$SECONDS; "$@"; echo "  ($(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s)"; }

[ -f "$data/classes.json" ] || time_stage "$clipgrad" data fashion-mnist --out "$data"
time_stage "$clipgrad" train --data "$data/train.csv" --out "$run" "$@"
time_stage "$clipgrad" eval --model "$run/model.safetensors" --labels "$data/test.csv" \
  --classes "$data/classes.json" --json "$run/eval.json"
