// One element from one dtype to another, the same function on the CPU
// (Tensor::to, the CPU kernel of ops::convert) and in CUDA kernels (the CUDA
// kernel of ops::convert), so both devices give the same bits. bfloat16 goes
// through float: widening is exact, narrowing rounds to nearest even from
// float (tensor/float16.h); f64 -> bf16 rounds to f32 first, as PyTorch's
// c10::BFloat16 does. Everything else is C++'s conversion (floating to
// integer truncates toward zero; out of range is undefined, as in C++).
#pragma once

#include <type_traits>

#include "tensor/float16.h"
#include "tensor/tensor.h"

namespace clipgrad {

template <class To, class From>
CLIPGRAD_HOST_DEVICE inline To convert_element(From value) {
  if constexpr (std::is_same_v<From, bfloat16>) {
    return convert_element<To>(bfloat16_to_float(value.bits));
  } else if constexpr (std::is_same_v<To, bfloat16>) {
    return bfloat16{float_to_bfloat16(static_cast<float>(value))};
  } else {
    return static_cast<To>(value);
  }
}

}  // namespace clipgrad
