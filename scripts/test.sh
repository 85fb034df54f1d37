#!/usr/bin/env bash
# Builds everything and runs the whole test suite, the CUDA tests included:
#   - on a machine with an NVIDIA GPU, against the GPU (CLIPGRAD_CUDA=AUTO);
#   - elsewhere, under the SIMT emulator (CLIPGRAD_CUDA=EMULATE: our CUDA
#     sources compiled as C++ and run on the CPU; cuda/emulator/README.md),
#     and, when nvcc is found, the real CUDA code is compiled as well
#     (build-cuda/: the CUDA runtime and kernel libraries only), so both stay true.
# Extra arguments go to CMake for build/ (e.g. -DCLIPGRAD_CUDA=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
cuda_mode=()
if ! nvidia-smi -L >/dev/null 2>&1; then
  cuda_mode=(-DCLIPGRAD_CUDA=EMULATE)
fi
bash scripts/build.sh "${cuda_mode[@]}" "$@"
if [ ${#cuda_mode[@]} -gt 0 ] && { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }; then
  echo "== compiling the CUDA backend with nvcc (sm_90) in build-cuda/"
  cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DCLIPGRAD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCLIPGRAD_BENCH=OFF >/dev/null
  cmake --build build-cuda -j"$(nproc)" --target clipgrad_cuda clipgrad_tensor_cuda
fi
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 900
