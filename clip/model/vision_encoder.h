// The interface both image towers implement.
#pragma once

#include "nn/module.h"
#include "tensor/random.h"

namespace clipgrad::clip {

// The image encoders: pixels [N, 3, R, R] -> features [N, E].
class VisionEncoder : public nn::Module {
 public:
  virtual Variable forward(const Variable& pixels) = 0;
  virtual void init_openai(Generator& generator) = 0;
};

// Throws unless pixels is [N, 3, resolution, resolution], naming the encoder.
void check_pixels(const Variable& pixels, int64_t resolution, const char* encoder);

}  // namespace clipgrad::clip
