#!/usr/bin/env bash
# Runs every fuzz target of tests/fuzz/ (the safetensors and PyTorch readers, the
# CSV reader, image decoding + CLIP preprocessing, the JSON configs, the
# tokenizer, the tar reader of data shards) under libFuzzer with AddressSanitizer and UndefinedBehaviorSanitizer,
# SECONDS each, one after the other, and prints a line per target: inputs run,
# coverage, corpus size, and whether it failed. Needs clang (CC=clang CXX=clang++).
#
#   bash scripts/fuzz.sh [SECONDS] [BUILD_DIR] [TARGET ...]     (defaults: 60, build-fuzz, all)
#   nice -n 10 bash scripts/fuzz.sh 600                         (the run recorded in bench/RESULTS.md)
#
# Each target starts from its seed corpus (tests/fuzz/NAME_corpus/) and keeps what it
# finds in BUILD_DIR/fuzz-work/NAME/corpus; a failing input is written to
# BUILD_DIR/fuzz-work/NAME/artifacts/. Copy it into tests/fuzz/NAME_corpus/ once fixed:
# the replay test (ctest -R corpus_replay) then keeps it fixed. Every allocation is
# held to -malloc_limit_mb (a reader allocates in proportion to its input).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
build="${2:-build-fuzz}"
shift $(( $# < 2 ? $# : 2 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors torch csv image json tokenizer tar)

CC="${CC:-clang}" CXX="${CXX:-clang++}" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCLIPGRAD_FUZZ=ON \
  -DCLIPGRAD_CUDA=OFF -DCLIPGRAD_MPI=OFF -DCLIPGRAD_BENCH=OFF >/dev/null
cmake --build "$build" -j"${JOBS:-2}" --target $(printf '%s_fuzz ' "${targets[@]}") >/dev/null

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OMP_NUM_THREADS=1
status=0
for target in "${targets[@]}"; do
  work="$build/fuzz-work/$target"
  mkdir -p "$work/corpus" "$work/artifacts"
  limit=64
  extra=()
  case "$target" in
    torch) limit=128 ;;  # a file may inflate 16 MiB of entries whatever its size
    safetensors) extra=(-dict=tests/fuzz/safetensors.dict) ;;
  esac
  set +e
  "$build/tests/fuzz/${target}_fuzz" -max_total_time="$seconds" -malloc_limit_mb="$limit" -rss_limit_mb=2048 \
    -timeout=20 -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${extra[@]}" \
    "$work/corpus" "tests/fuzz/${target}_corpus" >"$work/log" 2>&1
  result=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$work/log" | tail -1 | sed -E 's/^#[0-9]+ +[A-Z]+ +//')
  if [ "$result" -eq 0 ]; then verdict="no failure"; else verdict="FAILED (exit $result; see $work/log)"; status=1; fi
  echo "$target: ${runs:-?} inputs in ${seconds} s; ${last:-?}; $verdict"
done
exit "$status"
