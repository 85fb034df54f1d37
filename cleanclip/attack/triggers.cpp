#include "cleanclip/attack/triggers.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace clipgrad::cleanclip {

namespace {

std::string size_str(const io::Image& image) {
  return std::to_string(image.width) + "x" + std::to_string(image.height);
}

}  // namespace

uint64_t stream_seed(uint64_t attack_seed, uint64_t key, TriggerStream stream) {
  return mix_seed(mix_seed(mix_seed(attack_seed) ^ static_cast<uint64_t>(stream)) ^ key);
}

uint8_t to_level(double value) {
  value = std::clamp(value, 0.0, 1.0);
  return static_cast<uint8_t>(std::floor(value * 255.0 + 0.5));
}

int default_patch_size(int width, int height) {
  int shorter = std::min(width, height);
  return std::max(2, static_cast<int>(std::lround(shorter * 16.0 / 224.0)));
}

PatchPlacement apply_badnet_patch(io::Image& image, int patch_size, PatchLocation location, Generator& generator) {
  const int width = image.width, height = image.height;
  const int size = patch_size > 0 ? patch_size : default_patch_size(width, height);
  if (size > width || size > height)
    throw std::invalid_argument("badnet: a " + std::to_string(size) + "x" + std::to_string(size) +
                                " patch does not fit in a " + size_str(image) + " image (use a smaller --patch-size)");
  // Per-channel mean in [0, 1]; exact integer sums, so it does not depend on summation order.
  double mean[3];
  for (int c = 0; c < 3; ++c) {
    uint64_t sum = 0;
    for (size_t p = 0; p < static_cast<size_t>(width) * height; ++p) sum += image.rgb[p * 3 + c];
    mean[c] = static_cast<double>(sum) / (255.0 * width * height);
  }
  PatchPlacement placement;
  placement.size = size;
  if (location == PatchLocation::kRandom) {
    placement.tops.push_back(static_cast<int>(generator.below(height - size + 1)));
    placement.lefts.push_back(static_cast<int>(generator.below(width - size + 1)));
  } else {
    placement.tops = {0, 0, height - size, height - size};
    placement.lefts = {0, width - size, 0, width - size};
  }
  std::vector<uint8_t> patch(static_cast<size_t>(size) * size * 3);  // [P, P, 3] interleaved
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x)
        patch[(static_cast<size_t>(y) * size + x) * 3 + c] = to_level(mean[c] + generator.normal());
  for (size_t copy = 0; copy < placement.tops.size(); ++copy)
    for (int y = 0; y < size; ++y)
      std::copy_n(patch.data() + static_cast<size_t>(y) * size * 3, size * 3,
                  image.pixel(placement.lefts[copy], placement.tops[copy] + y));
  return placement;
}

std::vector<float> uniform_noise(int width, int height, Generator& generator) {
  std::vector<float> noise(static_cast<size_t>(3) * width * height);
  for (float& value : noise) value = static_cast<float>(generator.uniform());
  return noise;
}

void apply_blend(io::Image& image, const std::vector<float>& noise) {
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  if (noise.size() != plane * 3)
    throw std::invalid_argument("blended: noise of " + std::to_string(noise.size()) + " values for a " +
                                size_str(image) + " image");
  for (size_t p = 0; p < plane; ++p)
    for (int c = 0; c < 3; ++c) {
      uint8_t& level = image.rgb[p * 3 + c];
      level = to_level(0.8 * (level / 255.0) + 0.2 * noise[c * plane + p]);
    }
}

}  // namespace clipgrad::cleanclip
