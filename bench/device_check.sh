#!/usr/bin/env bash
# The GPU checks of clipgrad, in one run on a GPU host, from a build made elsewhere
# (cmake -DCLIPGRAD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90, then the whole build):
#
#   bash bench/device_check.sh BUILD_DIR OUT_DIR
#
#   1 the CUDA tests (CPU vs CUDA for every op of tensor/cuda)      OUT_DIR/test_cuda.log, .xml
#   2 the PyTorch parity fixtures on the GPU (models, CleanCLIP loss) OUT_DIR/parity_*cuda.log
#   3 compute-sanitizer memcheck and racecheck over the CUDA tests,
#     small shapes (CLIPGRAD_CUDA_TEST_SMALL=1)                      OUT_DIR/memcheck.log, racecheck.log
#   4 the kernel benchmarks (GEMM peak, copy bandwidth, kernels)     OUT_DIR/kernels.json, kernels.log
#   5 clipgrad bench and the PyTorch peer, vit-b-32 and rn50,
#     fp32 and tf32, batch 256                                       OUT_DIR/{clipgrad,pytorch}_<model>_<precision>.json
#   6 the NCCL world on every GPU of the host (distributed_probe under
#     mpirun; one process still makes every NCCL call)               OUT_DIR/nccl.log
#
# The binaries link OpenMPI's library when the build found it; a GPU image
# without OpenMPI cannot start them. Build for such a host with
# -DCLIPGRAD_MPI=OFF (step 6 then skips), or carry OpenMPI's runtime there.
#
# Each step has its own timeout and the whole run a budget of 8 minutes
# (TOTAL_SECONDS): a step that would start past it is skipped and says so.
# Prints a status line per step, then LAST the table clipgrad vs PyTorch.
# Without a GPU it says so and exits 0 having run nothing.
set -uo pipefail
build="${1:?usage: device_check.sh BUILD_DIR OUT_DIR}"
out="${2:?usage: device_check.sh BUILD_DIR OUT_DIR}"
source_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$out"
total_seconds="${TOTAL_SECONDS:-480}"
batch="${BENCH_BATCH:-256}"
started=$(date +%s)
rm -f "$out"/clipgrad_*.json "$out"/pytorch_*.json "$out/kernels.json"  # no stale results in the table
summary=()

has_gpu() {
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q "^GPU"
}

if ! has_gpu; then
  echo "device_check: no GPU on this host (nvidia-smi lists none): nothing run" | tee "$out/summary.txt"
  exit 0
fi
nvidia-smi -L | tee "$out/gpu.txt"

# cuDNN: the build's headers may be newer than the host's library (cuDNN 9 keeps its ABI);
# PyTorch's own copy goes first when it is there.
torch_cudnn=$(python3 -c "import nvidia.cudnn, os; print(os.path.join(nvidia.cudnn.__path__[0], 'lib'))" 2>/dev/null)
if [ -n "$torch_cudnn" ] && [ -d "$torch_cudnn" ]; then
  export LD_LIBRARY_PATH="$torch_cudnn${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "device_check: cuDNN from $torch_cudnn"
fi

# run_step NAME TIMEOUT LOG COMMAND...: runs within both its timeout and what is left of the budget.
run_step() {
  local name="$1" limit="$2" log="$3"
  shift 3
  local left=$((total_seconds - ($(date +%s) - started)))
  if [ "$left" -lt 10 ]; then
    summary+=("$(printf '%-34s SKIPPED (budget of %ss spent)' "$name" "$total_seconds")")
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit="$left"
  local begin=$(date +%s)
  timeout --kill-after=5 "$limit" "$@" >"$log" 2>&1
  local status=$?
  local seconds=$(($(date +%s) - begin))
  local verdict="ok"
  [ "$status" -ne 0 ] && verdict="FAILED (exit $status)"
  [ "$status" -eq 124 ] && verdict="TIMED OUT after ${limit}s"
  summary+=("$(printf '%-34s %-26s %4ss  %s' "$name" "$verdict" "$seconds" "$log")")
  return 0
}

sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)

run_step "CUDA tests" 60 "$out/test_cuda.log" "$build/tests/test_cuda" --gtest_output="xml:$out/test_cuda.xml"
# The build's fixture path is the build machine's: the parity tests read this tree's instead.
export CLIPGRAD_FIXTURES_DIR="$source_root/tests/fixtures"
run_step "parity on the GPU (models)" 45 "$out/parity_cuda.log" \
  "$build/tests/test_clip_eval" --gtest_filter='ParityCuda.*'
run_step "parity on the GPU (CleanCLIP loss)" 20 "$out/parity_cleanclip_cuda.log" \
  "$build/tests/test_cleanclip" --gtest_filter='ParityCuda.*'
if [ -n "$sanitizer" ]; then
  run_step "memcheck (small shapes)" 70 "$out/memcheck.log" env CLIPGRAD_CUDA_TEST_SMALL=1 \
    "$sanitizer" --tool memcheck --error-exitcode 1 "$build/tests/test_cuda"
  # racecheck looks at shared memory: the kernels that use it (attention, contrastive columns, batch norm sums).
  run_step "racecheck (small shapes)" 50 "$out/racecheck.log" env CLIPGRAD_CUDA_TEST_SMALL=1 \
    "$sanitizer" --tool racecheck --error-exitcode 1 "$build/tests/test_cuda" \
    --gtest_filter='CudaAttention.*:CudaContrastive.*:CudaBatchNorm.*'
else
  summary+=("$(printf '%-34s SKIPPED (no compute-sanitizer)' "memcheck, racecheck")")
fi
run_step "kernel benchmarks" 60 "$out/kernels.log" "$build/bench/cuda_kernels_bench" \
  --benchmark_min_time=0.1 --benchmark_out="$out/kernels.json" --benchmark_out_format=json

run_step "NCCL and MPI worlds (distributed_probe)" 60 "$out/nccl.log" "$build/tests/test_distributed" \
  --gtest_filter='WorldProcesses.*'

have_torch=0
python3 -c "import torch; assert torch.cuda.is_available()" >/dev/null 2>&1 && have_torch=1
for model in vit-b-32 rn50; do
  for precision in fp32 tf32; do
    run_step "clipgrad bench $model $precision" 30 "$out/clipgrad_${model}_${precision}.log" \
      "$build/clipgrad" bench --model "$model" --batch "$batch" --precision "$precision" --device cuda \
      --steps 5 --warmup 2 --json "$out/clipgrad_${model}_${precision}.json"
    if [ "$have_torch" -eq 1 ]; then
      run_step "pytorch $model $precision" 30 "$out/pytorch_${model}_${precision}.log" \
        python3 "$source_root/bench/pytorch_peer.py" --model "$model" --batch "$batch" --precision "$precision" \
        --device cuda --steps 5 --warmup 2 --json "$out/pytorch_${model}_${precision}.json"
    fi
  done
done
[ "$have_torch" -eq 1 ] || summary+=("$(printf '%-34s SKIPPED (no torch with CUDA)' "pytorch peer")")

{
  echo "device_check: $(($(date +%s) - started))s on $(head -1 "$out/gpu.txt")"
  printf '%s\n' "${summary[@]}"
  echo
  # The table, LAST: one row per model and precision.
  printf '%-10s %-5s %16s %16s %8s %16s %16s\n' model prec "clipgrad samp/s" "pytorch samp/s" ratio \
    "clipgrad MiB" "pytorch MiB"
  for model in vit-b-32 rn50; do
    for precision in fp32 tf32; do
      python3 - "$out/clipgrad_${model}_${precision}.json" "$out/pytorch_${model}_${precision}.json" \
        "$model" "$precision" <<'PY'
import json, sys
def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
ours, theirs, model, precision = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3], sys.argv[4]
def cell(result, key, digits):
    return f"{result[key]:.{digits}f}" if result else "n/a"
ratio = f"{ours['samples_per_s'] / theirs['samples_per_s']:.2f}" if ours and theirs else "n/a"
print(f"{model:<10} {precision:<5} {cell(ours, 'samples_per_s', 1):>16} {cell(theirs, 'samples_per_s', 1):>16} "
      f"{ratio:>8} {cell(ours, 'peak_memory_mib', 0):>16} {cell(theirs, 'peak_memory_mib', 0):>16}")
PY
    done
  done
} | tee "$out/summary.txt"
