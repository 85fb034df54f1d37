// Process-wide precision settings that kernels read.
#pragma once

namespace clipgrad {

// TF32 tensor cores for f32 GEMMs and convolutions on devices that have them
// (10 mantissa bits per product, f32 accumulation). Off by default, as in
// PyTorch; `--tf32` turns it on. The CPU ignores it.
void set_tf32(bool enabled);
bool tf32_enabled();

}  // namespace clipgrad
