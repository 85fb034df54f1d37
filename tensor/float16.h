// IEEE half (F16) and bfloat16 (BF16) bit patterns <-> float: widening is
// exact; narrowing rounds to nearest, ties to even, and keeps NaNs NaN
// (bfloat16: a NaN whose payload sits only in the dropped bits stays quiet NaN).
//
// The bfloat16 pair is inline and callable from CUDA kernels too
// (CLIPGRAD_HOST_DEVICE), so the host and the device round the same way.
#pragma once

#include <bit>
#include <cstdint>

#if defined(__CUDACC__)
#define CLIPGRAD_HOST_DEVICE __host__ __device__
#else
#define CLIPGRAD_HOST_DEVICE
#endif

namespace clipgrad {

float half_to_float(uint16_t half);
uint16_t float_to_half(float value);

CLIPGRAD_HOST_DEVICE inline uint32_t float_bits(float value) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(value);
#else
  return std::bit_cast<uint32_t>(value);
#endif
}

CLIPGRAD_HOST_DEVICE inline float float_from_bits(uint32_t bits) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  return std::bit_cast<float>(bits);
#endif
}

CLIPGRAD_HOST_DEVICE inline float bfloat16_to_float(uint16_t bits) {
  return float_from_bits(static_cast<uint32_t>(bits) << 16);
}

CLIPGRAD_HOST_DEVICE inline uint16_t float_to_bfloat16(float value) {
  const uint32_t bits = float_bits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u)  // nan whose payload may sit in the dropped bits: keep it a nan
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  return static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace clipgrad
