#!/usr/bin/env bash
# The GPU checks of the CUDA runtime, allocator and tensor/cuda/ kernels, for
# a machine with a GPU, from a build folder configured on the CPU machine
# (-DCLIPGRAD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90) and carried over:
#   bash tests/cuda/device_checks.sh build-cuda
# Runs the three test binaries that hold CUDA tests and lists every skipped
# test: on a GPU only the no-GPU error test may skip (and the training tests,
# while the gemm/attention kernels are not merged in).
set -uo pipefail
build="${1:-build}"
nvidia-smi -L || { echo "no GPU here"; exit 1; }
status=0
run() {
  local binary="$build/tests/$1"
  shift
  echo "== $binary $*"
  "$binary" "$@" 2>&1 | tee "/tmp/device_check_$(basename "$binary").log" | grep -E '^\[  (FAILED|SKIPPED|PASSED) |Failure|error' || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
}
run test_cuda
run test_tensor_cuda
run test_clip_train --gtest_filter='CudaTraining.*'
echo "== skipped:"
grep -h -A1 '^\[ *SKIPPED' /tmp/device_check_test_*.log | grep -v '^--' || echo "(none)"
exit $status
