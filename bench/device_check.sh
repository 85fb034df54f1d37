#!/usr/bin/env bash
# The GPU checks of clipgrad, in one run on a GPU host, from the bundle that
# scripts/build-device.sh made on the CPU machine:
#
#   bash bench/device_check.sh [--sync] BUNDLE OUT_DIR     on the GPU host (BUNDLE: .device/bundle.tar.xz)
#   bash bench/device_check.sh --dry-run BUNDLE OUT_DIR    here: the plan, the size, the library preflight
#   bash bench/device_check.sh --plan                      the steps and their timeouts (a ctest checks them)
#
# Each step runs in its own process with its own timeout; the timeouts add up
# to at most BUDGET_SECONDS (360: a run of at most 6 minutes, which leaves a
# 15-minute lease the time to fix and rerun once). The library preflight runs
# first and fails within seconds, naming any library the host lacks. Every
# CUDA test must run: a test skipped on a GPU host (but the one that checks
# the no-GPU message) fails the check. --sync sets CLIPGRAD_CUDA_SYNC=1: every
# launch waits for its kernel, so a fault is reported at the kernel that made
# it (slow; for finding the first faulting kernel). Prints a status line per
# step, then LAST the table of clipgrad against the PyTorch peer.
set -uo pipefail
source_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
budget_seconds=360

# name | timeout (s) | command, run from the bundle's bin/ ($OUT is the output folder)
steps=(
  "op table: every op, CPU vs CUDA|25|./test_tensor_ops --gtest_output=xml:\$OUT/ops.xml"
  "kernel tests|15|./test_tensor_cuda --gtest_output=xml:\$OUT/kernels.xml"
  "kernel tests: cuBLASLt, cuDNN|15|./test_tensor_cuda_blas --gtest_output=xml:\$OUT/blas.xml"
  "kernel tests: fused|15|./test_tensor_cuda_fused --gtest_output=xml:\$OUT/fused.xml"
  "CUDA runtime|10|./test_cuda --gtest_output=xml:\$OUT/runtime.xml"
  "autograd on CUDA|10|./test_autograd --gtest_filter=*Cuda* --gtest_output=xml:\$OUT/autograd.xml"
  "PyTorch parity on the GPU: models|25|./test_clip_eval --gtest_filter=ParityCuda.* --gtest_output=xml:\$OUT/parity.xml"
  "PyTorch parity: CleanCLIP loss|10|./test_cleanclip --gtest_filter=ParityCuda.* --gtest_output=xml:\$OUT/parity_cc.xml"
  "CudaTraining: 20 steps, kill and resume|30|./test_clip_train --gtest_filter=CudaTraining.* --gtest_output=xml:\$OUT/training.xml"
  "memcheck, small shapes|30|sanitize ./test_tensor_ops"
  "kernel benchmarks|25|./cuda_kernels_bench --benchmark_min_time=0.05 --benchmark_out=\$OUT/kernels.json --benchmark_out_format=json"
  "clipgrad vit-b-32 fp32|20|bench_ours vit-b-32 fp32"
  "pytorch vit-b-32 fp32|25|bench_peer vit-b-32 fp32"
  "clipgrad vit-b-32 tf32|20|bench_ours vit-b-32 tf32"
  "pytorch vit-b-32 tf32|25|bench_peer vit-b-32 tf32"
  "clipgrad rn50 tf32|20|bench_ours rn50 tf32"
  "pytorch rn50 tf32|25|bench_peer rn50 tf32"
)
# The one test that must skip on a GPU host: it checks the message a machine without one gives.
allowed_skips="CudaDeviceMemory.WithoutAGpuCudaTensorsFailWithAClearMessage"
bench_rows=("vit-b-32 fp32" "vit-b-32 tf32" "rn50 tf32")

usage() {
  sed -n '5,7p' "${BASH_SOURCE[0]}" | sed 's/^#  *//' >&2
  exit 2
}

print_plan() {
  local total=0 entry
  for entry in "${steps[@]}"; do
    IFS='|' read -r name limit command <<<"$entry"
    printf '  %-40s %4ss  %s\n' "$name" "$limit" "$command"
    total=$((total + limit))
  done
  printf '  %-40s %4ss of a budget of %ss\n' "all steps" "$total" "$budget_seconds"
  [ "$total" -le "$budget_seconds" ]
}

mode=run
sync=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) mode=dry-run; shift ;;
    --plan) mode=plan; shift ;;
    --sync) sync=1; shift ;;
    -*) usage ;;
    *) break ;;
  esac
done
if [ "$mode" = plan ]; then
  echo "device_check: the steps and their timeouts"
  print_plan
  exit $?
fi
[ $# -eq 2 ] || usage
bundle_arg="$1" out="$2"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
started=$(date +%s)

# The bundle: a folder, or the .tar.xz unpacked beside the output.
if [ -d "$bundle_arg" ]; then
  bundle="$(cd "$bundle_arg" && pwd)"
else
  mkdir -p "$out/unpacked" && tar -C "$out/unpacked" -xJf "$bundle_arg" || { echo "device_check: cannot unpack $bundle_arg"; exit 1; }
  bundle="$out/unpacked/bundle"
fi
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The build's paths are the CPU machine's: the tests and the tokenizer read this tree's.
export CLIPGRAD_FIXTURES_DIR="$source_root/tests/fixtures" CLIPGRAD_BPE="$source_root/assets/bpe_simple_vocab_16e6.txt.gz"
[ "$sync" -eq 1 ] && export CLIPGRAD_CUDA_SYNC=1

# ---- preflight: every library every binary loads, within seconds ----
missing=()
if [ "$mode" = dry-run ]; then
  mapfile -t host_has < <(grep -v '^#' "$source_root/bench/gpu_host_libraries.txt" | grep -v '^$')
  for binary in "$bundle"/bin/*; do
    for soname in $(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [ -e "$bundle/lib/$soname" ] && continue
      found=0
      for present in "${host_has[@]}"; do [[ "$soname" == $present ]] && found=1; done
      [ "$found" -eq 1 ] || missing+=("$(basename "$binary"): $soname")
    done
  done
else
  for binary in "$bundle"/bin/*; do
    while read -r soname; do missing+=("$(basename "$binary"): $soname"); done \
      < <(ldd "$binary" 2>&1 | awk '/not found/{print $1}')
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "device_check: libraries missing on this host (bench/gpu_host_libraries.txt, scripts/build-device.sh):"
  printf '  %s\n' "${missing[@]}"
  exit 1
fi
echo "device_check: preflight ok: $(ls "$bundle/bin" | wc -l) binaries, $(ls "$bundle/lib" | wc -l) carried libraries," \
  "commit $(cat "$bundle/commit" 2>/dev/null)"

if [ "$mode" = dry-run ]; then
  echo "device_check: would run, from $bundle/bin:"
  print_plan || { echo "device_check: the timeouts exceed the budget"; exit 1; }
  exit 0
fi

if ! nvidia-smi -L 2>/dev/null | grep -q "^GPU"; then
  echo "device_check: no GPU on this host (nvidia-smi lists none): nothing run" | tee "$out/summary.txt"
  exit 1
fi
nvidia-smi -L | head -1 >"$out/gpu.txt"
# cuDNN: the build's headers (9.19) may be newer than the host's library; PyTorch's copy goes first when it is there.
torch_cudnn=$(python3 -c "import nvidia.cudnn, os; print(os.path.join(nvidia.cudnn.__path__[0], 'lib'))" 2>/dev/null)
[ -n "$torch_cudnn" ] && [ -d "$torch_cudnn" ] && export LD_LIBRARY_PATH="$bundle/lib:$torch_cudnn:$LD_LIBRARY_PATH"
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
have_torch=0
python3 -c "import torch; assert torch.cuda.is_available()" >/dev/null 2>&1 && have_torch=1

sanitize() {
  [ -n "$sanitizer" ] || { echo "no compute-sanitizer here"; return 3; }
  CLIPGRAD_CUDA_TEST_SMALL=1 "$sanitizer" --tool memcheck --error-exitcode 1 "$@"
}
bench_ours() {
  ./clipgrad bench --model "$1" --batch 256 --precision "$2" --device cuda --steps 5 --warmup 2 \
    --json "$OUT/clipgrad_$1_$2.json"
}
bench_peer() {
  [ "$have_torch" -eq 1 ] || { echo "no PyTorch with CUDA here"; return 3; }
  python3 "$source_root/bench/pytorch_peer.py" --model "$1" --batch 256 --precision "$2" --device cuda \
    --steps 5 --warmup 2 --json "$OUT/pytorch_$1_$2.json"
}
export OUT="$out" sanitizer have_torch source_root
export -f sanitize bench_ours bench_peer

summary=()
for entry in "${steps[@]}"; do
  IFS='|' read -r name limit command <<<"$entry"
  log="$out/$(echo "$name" | tr -c 'a-zA-Z0-9\n' '_' | tr -s '_').log"
  begin=$(date +%s)
  (cd "$bundle/bin" && timeout --kill-after=5 "$limit" bash -c "$command") >"$log" 2>&1
  status=$?
  case "$status" in
    0) verdict="ok" ;;
    3) verdict="SKIPPED ($(tail -1 "$log"))" ;;
    124 | 137) verdict="TIMED OUT after ${limit}s" ;;
    *) verdict="FAILED (exit $status)" ;;
  esac
  summary+=("$(printf '%-40s %-26s %4ss' "$name" "$verdict" "$(($(date +%s) - begin))")")
done

# Every CUDA test ran: no skip but the allowed one.
skipped=$(grep -ho '<testcase name="[^"]*"[^>]*classname="[^"]*"[^>]*result="skipped"' "$out"/*.xml 2>/dev/null |
  sed 's/<testcase name="\([^"]*\)".*classname="\([^"]*\)".*/\2.\1/' | grep -vx "$allowed_skips" || true)
if [ -n "$skipped" ]; then
  summary+=("$(printf '%-40s %s' "CUDA tests skipped on a GPU host" "FAILED: $(echo "$skipped" | tr '\n' ' ')")")
fi

{
  echo "device_check: $(($(date +%s) - started))s on $(cat "$out/gpu.txt"), bundle of commit $(cat "$bundle/commit")"
  printf '%s\n' "${summary[@]}"
  echo
  printf '%-10s %-5s %16s %16s %8s %13s %13s\n' model prec "clipgrad samp/s" "pytorch samp/s" ratio "clipgrad MiB" \
    "pytorch MiB"
  for row in "${bench_rows[@]}"; do
    read -r model precision <<<"$row"
    python3 - "$out/clipgrad_${model}_${precision}.json" "$out/pytorch_${model}_${precision}.json" "$model" \
      "$precision" <<'PY'
import json, sys
def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
ours, theirs, model, precision = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3], sys.argv[4]
def cell(result, key, digits):
    return f"{result[key]:.{digits}f}" if result and key in result else "n/a"
ratio = f"{ours['samples_per_s'] / theirs['samples_per_s']:.2f}" if ours and theirs else "n/a"
print(f"{model:<10} {precision:<5} {cell(ours, 'samples_per_s', 1):>16} {cell(theirs, 'samples_per_s', 1):>16} "
      f"{ratio:>8} {cell(ours, 'peak_memory_mib', 0):>13} {cell(theirs, 'peak_memory_mib', 0):>13}")
PY
  done
} | tee "$out/summary.txt"
