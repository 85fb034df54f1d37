#!/usr/bin/env bash
# The main job on the embedded default: `clipgrad demo`, the CleanCLIP study on
# Fashion-MNIST from Debian's package (clean and poisoned pretraining, CLIP /
# CleanCLIP / supervised fine-tuning, clean accuracy and attack success rate of
# every stage) -> runs/demo/{results.json,results.md,report.html}.
# Extra arguments go to `clipgrad demo` (e.g. --attack all --seeds 3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec build/clipgrad demo "$@"
