#!/usr/bin/env bash
# Builds what bench/device_check.sh runs on a GPU host, on this machine, and
# packs it into one compressed bundle that the device tool carries:
#
#   bash scripts/build-device.sh            -> build-device/, .device/bundle.tar.xz
#   device run: carry [".device"], command: bash bench/device_check.sh .device/bundle.tar.xz $OUT
#
# The GPU host (docs: ../shared/DESIGN.md, "The GPU host") has the CUDA
# toolkit's libraries (cudart, cuBLAS, cuDNN 9, NCCL) and the C and C++
# runtimes, but not OpenBLAS, stb, Google Benchmark, OpenMP's runtime or MPI.
# So the build is made for sm_90 with -lineinfo, without MPI, and every shared
# library a binary needs that bench/gpu_host_libraries.txt does not list is
# packed beside the binaries (bundle/lib/, found through LD_LIBRARY_PATH).
# The bundle is xz-compressed (OpenBLAS alone is 36 MB, 4 MB packed): what
# travels (the tracked tree and .device/) must stay under the device tool's
# 64 MiB, and this script checks it before it says "ready".
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-device}"
limit_mib=64
binaries=(tests/test_tensor_ops tests/test_tensor_cuda tests/test_tensor_cuda_blas tests/test_tensor_cuda_fused
          tests/test_cuda tests/test_autograd tests/test_clip_eval tests/test_clip_train tests/test_cleanclip
          clipgrad bench/cuda_kernels_bench)

bash scripts/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCLIPGRAD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCLIPGRAD_MPI=OFF >/dev/null
targets=()
for binary in "${binaries[@]}"; do targets+=("$(basename "$binary")"); done
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bundle/bin" "$stage/bundle/lib" .device
for binary in "${binaries[@]}"; do cp "$build/$binary" "$stage/bundle/bin/"; done
# Every shared library the binaries load that the GPU host lacks, resolved here.
mapfile -t host_has < <(grep -v '^#' bench/gpu_host_libraries.txt | grep -v '^$')
for library in $(ldd "$stage"/bundle/bin/* | awk '/=> \//{print $1 " " $3}' | sort -u | tr ' ' ':'); do
  soname="${library%%:*}" path="${library#*:}"
  skip=0
  for present in "${host_has[@]}"; do [[ "$soname" == $present ]] && skip=1; done
  [ "$skip" -eq 1 ] || cp -L "$path" "$stage/bundle/lib/$soname"
done
git rev-parse --short HEAD >"$stage/bundle/commit"
echo "packing $(ls "$stage/bundle/bin" | wc -l) binaries and $(ls "$stage/bundle/lib" | wc -l) libraries:" \
  "$(ls "$stage/bundle/lib" | tr '\n' ' ')"
tar -C "$stage" -cf - bundle | xz -T"$(nproc)" -6 >.device/bundle.tar.xz

tree_bytes=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
bundle_bytes=$(stat -c %s .device/bundle.tar.xz)
total_mib=$(((tree_bytes + bundle_bytes) / 1048576))
echo "the tracked tree $((tree_bytes / 1048576)) MiB + .device/bundle.tar.xz $((bundle_bytes / 1048576)) MiB" \
  "= $total_mib MiB of the $limit_mib MiB that may travel"
if [ "$total_mib" -ge "$limit_mib" ]; then
  echo "too large to carry: shrink the bundle (fewer binaries) or the tree" >&2
  exit 1
fi
bash bench/device_check.sh --dry-run .device/bundle.tar.xz "${TMPDIR:-/tmp}/device_check_dry_run"
echo "ready: carry [\".device\"], run: bash bench/device_check.sh .device/bundle.tar.xz \$OUT"
