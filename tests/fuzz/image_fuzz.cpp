// libFuzzer target: image decoding (stb's PNG, JPEG and BMP decoders behind the
// header check, io/image.h) and CLIP's preprocessing (bicubic resize of the
// shorter side, centre crop, normalisation) on what decodes. The last byte
// picks the model resolution. A std::runtime_error naming the input is the
// expected answer to bad input; anything else is a bug. -malloc_limit_mb
// holds decoding to the limits below (1 megapixel: at most ~17 MB of stb's).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "io/decode.h"
#include "io/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipgrad::io;
  if (size == 0) return 0;
  const ImageLimits limits{.max_pixels = 1 << 20, .max_aspect = 100};
  Image image;
  try {
    image = decode_image_bytes(data, size, "fuzz-input", {.limits = limits});
  } catch (const std::runtime_error&) {
    return 0;
  }
  if (image.width < 1 || image.height < 1 || image.rgb.size() != size_t(image.width) * image.height * 3)
    throw std::logic_error("decoded an image of inconsistent size");
  const int resolution = 8 + data[size - 1] % 57;  // 8 .. 64: ViT and ResNet inputs in miniature
  const ChannelNormalization normalization{{0.48145466f, 0.4578275f, 0.40821073f},
                                           {0.26862954f, 0.26130258f, 0.27577711f}};
  std::vector<float> pixels(3 * size_t(resolution) * resolution);
  preprocess(image, resolution, normalization, pixels.data());
  for (float value : pixels)
    if (!std::isfinite(value) || std::fabs(value) > 3) throw std::logic_error("a preprocessed value out of range");
  return 0;
}
