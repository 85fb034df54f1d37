#include "io/decode.h"

#include <stb_image.h>
#include <webp/decode.h>

#include <fstream>
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "io/jpeg.h"

namespace clipgrad::io {

void check_image_limits(int64_t width, int64_t height, const std::string& name) {
  constexpr int64_t kMaxSide = 32768, kMaxPixels = int64_t(1) << 28;
  if (width <= 0 || height <= 0 || width > kMaxSide || height > kMaxSide || width * height > kMaxPixels)
    throw std::runtime_error("image '" + name + "' is " + std::to_string(width) + "x" + std::to_string(height) +
                             ": outside the limits (each side 1 to " + std::to_string(kMaxSide) + ", at most " +
                             std::to_string(kMaxPixels) + " pixels)");
}

namespace {

bool is_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

bool is_webp(const uint8_t* data, size_t size) {
  return size >= 12 && std::equal(data, data + 4, "RIFF") && std::equal(data + 8, data + 12, "WEBP");
}

Image decode_webp(const uint8_t* data, size_t size, const std::string& name) {
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(data, size, &features) != VP8_STATUS_OK)
    throw std::runtime_error("cannot decode WebP '" + name + "': bad header");
  if (features.has_animation) throw std::runtime_error("cannot decode WebP '" + name + "': animated WebP");
  check_image_limits(features.width, features.height, name);
  Image image(features.width, features.height);
  if (!WebPDecodeRGBInto(data, size, image.rgb.data(), image.rgb.size(), image.width * 3))
    throw std::runtime_error("cannot decode WebP '" + name + "': corrupt or truncated data");
  return image;  // alpha, if any, is dropped, as convert("RGB") does
}

Image decode_stb(const uint8_t* data, size_t size, const std::string& name) {
  const int length = static_cast<int>(std::min<size_t>(size, INT32_MAX));
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(data, length, &width, &height, &channels))
    throw std::runtime_error("cannot decode image '" + name + "': " + stbi_failure_reason() +
                             " (expected a JPEG, PNG, WebP or BMP file)");
  check_image_limits(width, height, name);
  uint8_t* decoded = stbi_load_from_memory(data, length, &width, &height, &channels, 3);
  if (!decoded) throw std::runtime_error("cannot decode image '" + name + "': " + stbi_failure_reason());
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.assign(decoded, decoded + static_cast<size_t>(width) * height * 3);
  stbi_image_free(decoded);
  return image;
}

}  // namespace

Image decode_image_bytes(const uint8_t* data, size_t size, const std::string& name, DecodeHint hint) {
  if (is_webp(data, size)) return decode_webp(data, size, name);
  if (!is_jpeg(data, size)) return decode_stb(data, size, name);
  int scale = 1;
  if (hint.shorter_side > 0 && !hint.exact) {
    int width = 0, height = 0;
    jpeg_dimensions(data, size, name, width, height);
    // The size resize_shorter_side makes: the shorter side hint.shorter_side, the longer in proportion.
    const int shorter = std::min(width, height), longer = std::max(width, height);
    const int resized_longer =
        shorter > 0 ? static_cast<int>(static_cast<double>(hint.shorter_side) * longer / shorter) : 0;
    scale = width <= height ? jpeg_draft_scale(width, height, hint.shorter_side, resized_longer)
                            : jpeg_draft_scale(width, height, resized_longer, hint.shorter_side);
  }
  return decode_jpeg(data, size, name, scale);
}

Image decode_image_file(const std::string& path, DecodeHint hint) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("image file not found: '" + path + "'");
  const std::streamoff size = in.tellg();
  if (size < 0) throw std::runtime_error("cannot read image file '" + path + "'");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size))
    throw std::runtime_error("cannot read image file '" + path + "'");
  return decode_image_bytes(bytes.data(), bytes.size(), path, hint);
}

}  // namespace clipgrad::io
