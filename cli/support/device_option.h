// --device cpu|cuda, shared by train, eval and demo.
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace clipgrad::cli {

// The device a --device value names, once it is usable: throws a one-line
// error for an unknown name, for cuda in a build without CUDA, and for cuda
// on a machine without a GPU.
Device parse_device(const std::string& name);

}  // namespace clipgrad::cli
