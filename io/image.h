// Image decoding, PIL-exact bicubic resizing and torchvision-style preprocessing.
//
// The preprocessing reproduces torchvision's pipeline (Resize(size, BICUBIC),
// CenterCrop(size), ToTensor, Normalize) on PIL images, so that pixels fed to a
// checkpoint match what it was trained with.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace clipgrad::io {

// 8-bit RGB, interleaved, row-major: rgb[(y * width + x) * 3 + channel].
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // [height, width, 3]

  Image() = default;
  Image(int width, int height);  // zero-filled
  uint8_t* pixel(int x, int y) { return rgb.data() + (static_cast<size_t>(y) * width + x) * 3; }
  const uint8_t* pixel(int x, int y) const { return rgb.data() + (static_cast<size_t>(y) * width + x) * 3; }
};

// Per-RGB-channel normalisation: (value / 255 - mean) / std.
struct ChannelNormalization {
  float mean[3];
  float std[3];
};

// Decodes PNG, JPEG or BMP (stb_image) to RGB. Grayscale is replicated to three
// channels and alpha is dropped, as PIL's convert("RGB") does. JPEG pixels may
// differ from libjpeg's by a few levels (stb's IDCT and chroma upsampling).
// Throws with the file name if it is missing or cannot be decoded.
Image decode_image(const std::string& path);

// PIL's Image.resize(size, Image.BICUBIC) on an RGB image, bit for bit (Pillow
// 13): two separable passes rounded to uint8 in between, the a = -0.5 cubic
// kernel widened by the downscale factor when shrinking (antialiasing), weights
// normalised and applied in 22-bit fixed point. The horizontal pass runs first
// unless the height shrinks by more than twice as many pixels as the width
// (Pillow < 13 always ran it first; results then differ by a level or so).
Image resize_bicubic(const Image& image, int width, int height);

// The [left, left + width) x [top, top + height) window; must lie inside the image.
Image crop(const Image& image, int left, int top, int width, int height);

// torchvision's Resize(size) on a PIL image: the shorter side becomes `size`, the
// longer int(size * long / short); returns the image unchanged if already so.
Image resize_shorter_side(const Image& image, int size);

// torchvision's Resize(size) + CenterCrop(size) + ToTensor + Normalize:
// resize_shorter_side, centre crop size x size (top = round-half-even((height -
// size) / 2), as CenterCrop), scale to [0, 1] and normalise, in float32 as torch does.
void preprocess(const Image& image, int size, const ChannelNormalization& normalization,
                float* pixels /* [3, size, size] */);

// Writes an 8-bit PNG with 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA)
// interleaved channels. Atomic: writes a temporary file beside `path`, then renames.
void write_png(const std::string& path, int width, int height, int channels,
               const uint8_t* data /* [height, width, channels] */);

}  // namespace clipgrad::io
