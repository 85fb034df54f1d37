#!/usr/bin/env bash
# Configures and builds clipgrad (Release) in build/. CUDA is built when nvcc
# is found (CLIPGRAD_CUDA=AUTO); pass extra CMake flags as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
