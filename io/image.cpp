#include "io/image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "io/atomic_file.h"

namespace clipgrad::io {

Image::Image(int width, int height) : width(width), height(height), rgb(static_cast<size_t>(width) * height * 3, 0) {
  if (width < 0 || height < 0)
    throw std::invalid_argument("Image: negative size " + std::to_string(width) + "x" + std::to_string(height));
}

namespace detail {
extern thread_local size_t stb_allocation_cap;  // io/stb_image.cpp
}

namespace {

// Holds stb_image's allocations on this thread to `cap` bytes each, while it lives.
class StbAllocationCap {
 public:
  explicit StbAllocationCap(size_t cap) : previous_(detail::stb_allocation_cap) { detail::stb_allocation_cap = cap; }
  ~StbAllocationCap() { detail::stb_allocation_cap = previous_; }
  StbAllocationCap(const StbAllocationCap&) = delete;
  StbAllocationCap& operator=(const StbAllocationCap&) = delete;

 private:
  size_t previous_;
};

}  // namespace

namespace {
ImageLimits process_image_limits;
}  // namespace

const ImageLimits& default_image_limits() { return process_image_limits; }

void set_default_image_limits(const ImageLimits& limits) {
  if (!(limits.max_pixels > 0) || !(limits.max_aspect >= 1))
    throw std::invalid_argument("image limits: max_pixels must be positive and max_aspect at least 1");
  process_image_limits = limits;
}

void check_image_size(const std::string& what, int64_t width, int64_t height, int channels, const ImageLimits& limits) {
  const std::string size = std::to_string(width) + " x " + std::to_string(height);
  auto refuse = [&](const std::string& why) { throw std::runtime_error("image '" + what + "' is " + size + why); };
  if (width <= 0 || height <= 0) refuse(": it has no pixels");
  int64_t pixels = 0, bytes = 0;
  if (__builtin_mul_overflow(width, height, &pixels) || pixels > limits.max_pixels)
    refuse(" pixels, more than the " + std::to_string(limits.max_pixels) +
           " allowed (--max-image-pixels; a decompression bomb?)");
  const double aspect = static_cast<double>(std::max(width, height)) / static_cast<double>(std::min(width, height));
  if (!(aspect <= limits.max_aspect)) {
    char text[64];
    std::snprintf(text, sizeof text, "%.0f:1, more than the %g:1 allowed", aspect, limits.max_aspect);
    refuse(": an aspect ratio of " + std::string(text) + " (--max-image-aspect)");
  }
  if (channels < 1 || __builtin_mul_overflow(pixels, static_cast<int64_t>(channels), &bytes) ||
      static_cast<uint64_t>(bytes) > SIZE_MAX / 16)
    refuse(" with " + std::to_string(channels) + " channels: too many bytes to decode");
}

namespace {

// stb's decoding, checked: `info(w, h, channels)` reads the header, `load(w, h,
// channels)` decodes to RGB.
template <class Info, class Load>
Image decode_checked(const std::string& what, const ImageLimits& limits, Info info, Load load) {
  int width = 0, height = 0, channels_in_file = 0;
  auto undecodable = [&] {
    return std::runtime_error("cannot decode image '" + what + "': " + stbi_failure_reason() +
                              " (expected a JPEG, PNG, WebP or BMP file)");
  };
  // The header alone first: the size is checked before any pixel is allocated.
  if (!info(&width, &height, &channels_in_file)) throw undecodable();
  check_image_size(what, width, height, channels_in_file, limits);
  // No buffer of stb's needs more than 16 bytes a pixel (16-bit RGBA rows with their
  // filter bytes, padded JPEG blocks); a stream that inflates past it fails instead.
  const StbAllocationCap cap(static_cast<size_t>(width) * static_cast<size_t>(height) * 16 + (size_t(1) << 20));
  const int header_width = width, header_height = height;
  uint8_t* decoded = load(&width, &height, &channels_in_file);
  if (!decoded) throw undecodable();
  std::unique_ptr<uint8_t, void (*)(void*)> owned(decoded, stbi_image_free);
  if (width != header_width || height != header_height)
    throw std::runtime_error("image '" + what + "' changed while it was read");
  Image image;
  image.width = width;
  image.height = height;
  image.rgb.assign(decoded, decoded + static_cast<size_t>(width) * height * 3);
  return image;
}

}  // namespace

Image decode_png_or_bmp(const uint8_t* bytes, size_t size, const std::string& label, const ImageLimits& limits) {
  if (size > static_cast<size_t>(INT32_MAX)) throw std::runtime_error("image '" + label + "' is larger than 2 GiB");
  const int length = static_cast<int>(size);
  return decode_checked(
      label, limits, [&](int* w, int* h, int* c) { return stbi_info_from_memory(bytes, length, w, h, c); },
      [&](int* w, int* h, int* c) { return stbi_load_from_memory(bytes, length, w, h, c, 3); });
}

// ---- PIL's resampling (libImaging/Resample.c), reproduced exactly ----

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic_kernel(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// For each output position along one axis: the first input index, how many
// inputs contribute, and their fixed-point weights.
struct AxisWeights {
  int taps = 0;                // weights per output position (PIL's ksize)
  std::vector<int> first;      // [out]
  std::vector<int> count;      // [out]
  std::vector<int32_t> fixed;  // [out, taps]
};

AxisWeights axis_weights(int in_size, int out_size) {
  constexpr double kernel_support = 2.0;
  double scale = static_cast<double>(in_size) / out_size;
  double filter_scale = std::max(scale, 1.0);  // widen the kernel only when shrinking
  double support = kernel_support * filter_scale;
  AxisWeights weights;
  weights.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  weights.first.resize(out_size);
  weights.count.resize(out_size);
  weights.fixed.assign(static_cast<size_t>(out_size) * weights.taps, 0);
  std::vector<double> w(weights.taps);
  for (int out = 0; out < out_size; ++out) {
    double center = (out + 0.5) * scale;
    double inverse_scale = 1.0 / filter_scale;
    int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double total = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = bicubic_kernel((x + xmin - center + 0.5) * inverse_scale);
      total += w[x];
    }
    int32_t* fixed = weights.fixed.data() + static_cast<size_t>(out) * weights.taps;
    for (int x = 0; x < xmax; ++x) {
      double normalised = total != 0.0 ? w[x] / total : w[x];
      double scaled = normalised * (1 << kPrecisionBits);
      fixed[x] = static_cast<int32_t>(normalised < 0 ? scaled - 0.5 : scaled + 0.5);
    }
    weights.first[out] = xmin;
    weights.count[out] = xmax;
  }
  return weights;
}

inline uint8_t clip8(int32_t accumulator) {
  return static_cast<uint8_t>(std::clamp(accumulator >> kPrecisionBits, 0, 255));
}

// Resamples rows [row_begin, row_end) of `in` horizontally to out.width.
void resample_horizontal(const Image& in, int row_begin, Image& out, const AxisWeights& weights) {
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* row = in.pixel(0, y + row_begin);
    for (int x = 0; x < out.width; ++x) {
      const int32_t* k = weights.fixed.data() + static_cast<size_t>(x) * weights.taps;
      const uint8_t* src = row + static_cast<size_t>(weights.first[x]) * 3;
      int32_t acc0 = 1 << (kPrecisionBits - 1), acc1 = acc0, acc2 = acc0;
      for (int t = 0; t < weights.count[x]; ++t) {
        acc0 += src[t * 3 + 0] * k[t];
        acc1 += src[t * 3 + 1] * k[t];
        acc2 += src[t * 3 + 2] * k[t];
      }
      uint8_t* dst = out.pixel(x, y);
      dst[0] = clip8(acc0);
      dst[1] = clip8(acc1);
      dst[2] = clip8(acc2);
    }
  }
}

// Resamples `in` vertically to out.height; row indices in `weights` are offset
// by row_offset (the rows the horizontal pass skipped).
void resample_vertical(const Image& in, int row_offset, Image& out, const AxisWeights& weights) {
  const size_t row_stride = static_cast<size_t>(in.width) * 3;
  std::vector<int32_t> accumulator(row_stride);  // [width * 3]
  for (int y = 0; y < out.height; ++y) {
    const int32_t* k = weights.fixed.data() + static_cast<size_t>(y) * weights.taps;
    const uint8_t* src = in.rgb.data() + static_cast<size_t>(weights.first[y] - row_offset) * row_stride;
    // Tap-outer order keeps the inner loop contiguous, so it vectorises.
    std::fill(accumulator.begin(), accumulator.end(), 1 << (kPrecisionBits - 1));
    for (int t = 0; t < weights.count[y]; ++t) {
      const uint8_t* src_row = src + t * row_stride;
      for (size_t i = 0; i < row_stride; ++i) accumulator[i] += src_row[i] * k[t];
    }
    uint8_t* dst = out.pixel(0, y);
    for (size_t i = 0; i < row_stride; ++i) dst[i] = clip8(accumulator[i]);
  }
}

}  // namespace

Image resize_bicubic(const Image& image, int width, int height) {
  if (width <= 0 || height <= 0)
    throw std::invalid_argument("resize_bicubic: target size " + std::to_string(width) + "x" + std::to_string(height) +
                                " must be positive");
  if (image.width <= 0 || image.height <= 0) throw std::invalid_argument("resize_bicubic: source image is empty");
  if (width == image.width && height == image.height) return image;
  AxisWeights vertical = axis_weights(image.height, height);
  if (width == image.width) {
    Image out(width, height);
    resample_vertical(image, 0, out, vertical);
    return out;
  }
  AxisWeights horizontal = axis_weights(image.width, width);
  // Pillow 13 runs the vertical pass first when the height shrinks by more
  // than twice as many pixels as the width (python-pillow/Pillow#9549); the
  // order matters because the intermediate image is rounded to uint8.
  const bool vertical_first = height < image.height && image.height - height > 2 * (image.width - width);
  if (vertical_first) {
    Image shrunk(image.width, height);
    resample_vertical(image, 0, shrunk, vertical);
    Image out(width, height);
    resample_horizontal(shrunk, 0, out, horizontal);
    return out;
  }
  // Only the rows the vertical pass will read, as Pillow does.
  int row_begin = vertical.first.front();
  int row_end = vertical.first.back() + vertical.count.back();
  Image stretched(width, row_end - row_begin);
  resample_horizontal(image, row_begin, stretched, horizontal);
  if (height == image.height) return stretched;
  Image out(width, height);
  resample_vertical(stretched, row_begin, out, vertical);
  return out;
}

Image crop(const Image& image, int left, int top, int width, int height) {
  if (left < 0 || top < 0 || width < 0 || height < 0 || left + width > image.width || top + height > image.height)
    throw std::out_of_range("crop: window " + std::to_string(width) + "x" + std::to_string(height) + " at (" +
                            std::to_string(left) + "," + std::to_string(top) + ") does not fit in a " +
                            std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
  Image out(width, height);
  for (int y = 0; y < height; ++y)
    std::memcpy(out.pixel(0, y), image.pixel(left, top + y), static_cast<size_t>(width) * 3);
  return out;
}

Image resize_shorter_side(const Image& image, int size) {
  if (size <= 0) throw std::invalid_argument("resize_shorter_side: size " + std::to_string(size) + " must be positive");
  int shorter = std::min(image.width, image.height);
  int longer = std::max(image.width, image.height);
  if (shorter <= 0) throw std::invalid_argument("resize_shorter_side: image is empty");
  if (shorter == size) return image;
  int new_longer = static_cast<int>(static_cast<double>(size) * longer / shorter);
  return image.width <= image.height ? resize_bicubic(image, size, new_longer)
                                     : resize_bicubic(image, new_longer, size);
}

void preprocess(const Image& image, int size, const ChannelNormalization& normalization, float* pixels) {
  Image resized = resize_shorter_side(image, size);
  // Python's round() is half-to-even, as is nearbyint in the default rounding mode.
  int top = static_cast<int>(std::nearbyint((resized.height - size) / 2.0));
  int left = static_cast<int>(std::nearbyint((resized.width - size) / 2.0));
  const size_t plane = static_cast<size_t>(size) * size;
  for (int y = 0; y < size; ++y) {
    const uint8_t* src = resized.pixel(left, top + y);
    for (int x = 0; x < size; ++x) {
      for (int c = 0; c < 3; ++c) {
        float unit = static_cast<float>(src[x * 3 + c]) / 255.0f;
        pixels[c * plane + static_cast<size_t>(y) * size + x] = (unit - normalization.mean[c]) / normalization.std[c];
      }
    }
  }
}

std::string encode_png(int width, int height, int channels, const uint8_t* data, const std::string& name) {
  if (channels < 1 || channels > 4)
    throw std::invalid_argument("PNG '" + name + "': channels must be 1..4, got " + std::to_string(channels));
  if (width <= 0 || height <= 0)
    throw std::invalid_argument("PNG '" + name + "': size " + std::to_string(width) + "x" + std::to_string(height) +
                                " must be positive");
  std::string encoded;
  auto append = [](void* context, void* bytes, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(bytes), static_cast<size_t>(size));
  };
  if (!stbi_write_png_to_func(append, &encoded, width, height, channels, data, width * channels))
    throw std::runtime_error("cannot encode PNG '" + name + "': the encoder failed");
  return encoded;
}

void write_png(const std::string& path, int width, int height, int channels, const uint8_t* data) {
  // stb's file writer ignores a failed fwrite or fclose: the PNG is encoded in memory and
  // written by write_file_atomic, which checks every step.
  write_file_atomic(path, encode_png(width, height, channels, data, path));
}

}  // namespace clipgrad::io
