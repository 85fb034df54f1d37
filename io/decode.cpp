#include "io/decode.h"

#include <webp/decode.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "io/jpeg.h"

namespace clipgrad::io {

namespace {

bool is_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

bool is_webp(const uint8_t* data, size_t size) {
  return size >= 12 && std::equal(data, data + 4, "RIFF") && std::equal(data + 8, data + 12, "WEBP");
}

Image decode_webp(const uint8_t* data, size_t size, const std::string& name, const ImageLimits& limits) {
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(data, size, &features) != VP8_STATUS_OK)
    throw std::runtime_error("cannot decode WebP '" + name + "': bad header");
  if (features.has_animation) throw std::runtime_error("cannot decode WebP '" + name + "': animated WebP");
  check_image_size(name, features.width, features.height, features.has_alpha ? 4 : 3, limits);
  Image image(features.width, features.height);
  if (!WebPDecodeRGBInto(data, size, image.rgb.data(), image.rgb.size(), image.width * 3))
    throw std::runtime_error("cannot decode WebP '" + name + "': corrupt or truncated data");
  return image;  // alpha, if any, is dropped, as convert("RGB") does
}

}  // namespace

Image decode_image_bytes(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options) {
  if (is_webp(data, size)) return decode_webp(data, size, name, options.limits);
  if (!is_jpeg(data, size)) return decode_png_or_bmp(data, size, name, options.limits);
  int scale = 1;
  if (options.shorter_side > 0 && !options.exact) {
    int width = 0, height = 0;
    jpeg_dimensions(data, size, name, width, height);
    // The size resize_shorter_side makes: the shorter side options.shorter_side, the longer in proportion.
    const int shorter = std::min(width, height), longer = std::max(width, height);
    const int resized_longer =
        shorter > 0 ? static_cast<int>(static_cast<double>(options.shorter_side) * longer / shorter) : 0;
    scale = width <= height ? jpeg_draft_scale(width, height, options.shorter_side, resized_longer)
                            : jpeg_draft_scale(width, height, resized_longer, options.shorter_side);
  }
  return decode_jpeg(data, size, name, scale, options.limits);
}

uint64_t max_image_file_bytes(const ImageLimits& limits) {
  return 16 * static_cast<uint64_t>(std::max<int64_t>(limits.max_pixels, 0)) + (uint64_t(1) << 20);
}

Image decode_image(const std::string& path, const DecodeOptions& options) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) throw std::runtime_error("image file not found: '" + path + "'");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open image file '" + path + "'");
  const std::streamoff size = in.tellg();
  if (size < 0) throw std::runtime_error("cannot read image file '" + path + "'");
  if (static_cast<uint64_t>(size) > max_image_file_bytes(options.limits))
    throw std::runtime_error("image file '" + path + "' is " + std::to_string(size) +
                             " bytes, more than an image of the allowed pixels needs (--max-image-pixels)");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size))
    throw std::runtime_error("cannot read image file '" + path + "'");
  return decode_image_bytes(bytes.data(), bytes.size(), path, options);
}

}  // namespace clipgrad::io
