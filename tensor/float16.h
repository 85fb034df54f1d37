// IEEE half (F16) and bfloat16 (BF16) bit patterns <-> float: widening is
// exact; narrowing rounds to nearest, ties to even, and keeps NaNs NaN
// (bfloat16: a NaN whose payload sits only in the dropped bits stays quiet NaN).
#pragma once

#include <cstdint>

namespace clipgrad {

float half_to_float(uint16_t half);
uint16_t float_to_half(float value);
float bfloat16_to_float(uint16_t bits);
uint16_t float_to_bfloat16(float value);

}  // namespace clipgrad
