// Warp-wide max and sum by butterfly shuffles: every lane ends with the
// result, in the same order on every run.
#pragma once

namespace clipgrad::cuda_fused {

__device__ inline float warp_max(float value) {
  for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(0xffffffff, value, offset));
  return value;
}

__device__ inline float warp_sum(float value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_xor_sync(0xffffffff, value, offset);
  return value;
}

}  // namespace clipgrad::cuda_fused
