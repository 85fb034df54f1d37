// Process-wide precision settings that kernels read.
#pragma once

#include <string>

namespace clipgrad {

// --precision: fp32 (the default), tf32 (set_tf32) or bf16 (set_autocast_bf16).
enum class Precision { fp32, tf32, bf16 };
void set_precision(Precision precision);  // both switches at once
const char* precision_name(Precision precision);
Precision parse_precision(const std::string& name);  // throws std::invalid_argument for another name

// TF32 tensor cores for f32 GEMMs and convolutions on devices that have them
// (10 mantissa bits per product, f32 accumulation). Off by default, as in
// PyTorch; `--tf32` turns it on. The CPU ignores it.
void set_tf32(bool enabled);
bool tf32_enabled();

// bf16 autocast, PyTorch's torch.autocast(dtype=torch.bfloat16) for linear
// layers (fn::linear, autograd/fn_linear.cpp): f32 operands rounded to bf16,
// summed in f32 on the bf16 GEMM, the output (and each gradient) rounded to
// bf16 and kept in f32. Off by default.
void set_autocast_bf16(bool enabled);
bool autocast_bf16_enabled();

}  // namespace clipgrad
