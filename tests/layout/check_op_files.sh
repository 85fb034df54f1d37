#!/usr/bin/env bash
# Every raw op of tensor/ops/op_list.h, X(FAMILY, NAME), is two hops from its
# name: its CPU kernel is defined in tensor/cpu/FAMILY.cpp, its CUDA kernel in
# tensor/cuda/FAMILY.cu (or blas/FAMILY.cpp, fused/FAMILY.cu), and its test
# entry (a case, or the case of the op whose vjp runs it) is in
# tests/tensor/ops/op_cases.cpp. Run by ctest; prints every op that breaks it.
set -euo pipefail
root="${1:?usage: check_op_files.sh SOURCE_ROOT}"
cd "$root"
failures=0
# A definition: a line (not a call, not a declaration) that names the op as a function at its start.
defines() { grep -qE "^[A-Za-z0-9_:<>]+( [A-Za-z0-9_:<>]+)* ${2}\(" $1 2>/dev/null; }
while read -r family name; do
  if ! defines "tensor/cpu/$family.cpp" "$name"; then
    echo "$name: no CPU kernel in tensor/cpu/$family.cpp"
    failures=$((failures + 1))
  fi
  cuda_files=$(ls tensor/cuda/$family.cu tensor/cuda/blas/$family.cpp tensor/cuda/blas/$family.cu \
                  tensor/cuda/fused/$family.cu 2>/dev/null || true)
  if [ -z "$cuda_files" ] || ! defines "$cuda_files" "$name"; then
    echo "$name: no CUDA kernel in tensor/cuda/{,blas/,fused/}$family.*"
    failures=$((failures + 1))
  fi
  if ! grep -q "RawOp::$name\b" tests/tensor/ops/op_cases.cpp; then
    echo "$name: no entry in tests/tensor/ops/op_cases.cpp"
    failures=$((failures + 1))
  fi
done < <(sed -n 's/^ *X(\([a-z_]*\), *\([a-z_0-9]*\)).*/\1 \2/p' tensor/ops/op_list.h)
ops=$(grep -c '^ *X(' tensor/ops/op_list.h)
if [ "$failures" -gt 0 ]; then
  echo "$failures op(s) out of place"
  exit 1
fi
echo "op files: each of the $ops raw ops has its CPU kernel, its CUDA kernel and its test entry where its family says"
