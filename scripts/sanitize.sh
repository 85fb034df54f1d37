#!/usr/bin/env bash
# Builds the whole project under AddressSanitizer and UndefinedBehaviorSanitizer
# (-DCLIPGRAD_SANITIZE=ON; CPU only: the CUDA emulator's fibers switch stacks
# behind ASan's back) and runs the whole test suite in it. Any memory error,
# leak or undefined behaviour fails the test that caused it. Slow: run it niced.
#
#   nice -n 10 bash scripts/sanitize.sh [BUILD_DIR] [ctest arguments ...]   (default: build-sanitize)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-sanitize}"
shift $(( $# < 1 ? $# : 1 ))
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCLIPGRAD_SANITIZE=ON -DCLIPGRAD_CUDA=OFF -DCLIPGRAD_BENCH=OFF \
  >/dev/null
cmake --build "$build" -j"${JOBS:-2}"
# A failed allocation returns null (the out-of-memory tests ask for terabytes on purpose).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$build" && ctest -j"${JOBS:-2}" --output-on-failure "$@"
