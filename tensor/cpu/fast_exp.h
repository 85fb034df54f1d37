// exp for f32 loops that must vectorise. glibc's vector expf is only declared
// under -ffast-math, so a call to std::exp keeps a loop scalar; this inline
// version (Cephes' expf: x = n ln2 + r, a degree-6 polynomial in r, times 2^n
// built in the exponent bits) has no calls and no branches. Relative error
// under 2 ulp over [-87, 88]; below that it returns 0, above it +inf, and NaN
// stays NaN, as std::exp.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace clipgrad::cpu {

inline float exp_f32(float x) {
  constexpr float kMax = 88.3762626647949f, kMin = -87.3365447504f;
  const float clamped = x < kMin ? kMin : (x > kMax ? kMax : x);
  const float n = std::floor(clamped * 1.44269504088896341f + 0.5f);
  float r = clamped - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;  // ln 2 split in two for an exact reduction
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e_r = p * r2 + r + 1.0f;
  const float scale = std::bit_cast<float>(static_cast<int32_t>(n + 127.0f) << 23);  // 2^n
  const float y = e_r * scale;
  return x != x ? x : (x < kMin ? 0.0f : (x > kMax ? INFINITY : y));
}

// std::exp for f64 (gradcheck precision), exp_f32 for f32.
template <class T>
inline T exp_vectorisable(T x) {
  if constexpr (sizeof(T) == 4) {
    return exp_f32(x);
  } else {
    return std::exp(x);
  }
}

}  // namespace clipgrad::cpu
