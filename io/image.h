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

// Bounds on the images a command accepts, checked from an image's header before
// its pixels are allocated, so that a small file cannot ask for gigabytes.
struct ImageLimits {
  // Width x height. Pillow's decompression-bomb threshold (Image.MAX_IMAGE_PIXELS:
  // 2^30 / 4 / 3 bytes, about 89.5 megapixels), which Pillow warns at and refuses at twice.
  int64_t max_pixels = 89'478'485;
  // Longer side / shorter side. CLIP's preprocessing scales the shorter side to
  // the model's resolution, so a 1 x 2,000,000 strip would become 224 x 448M.
  double max_aspect = 100;
};

// The limits every decode uses unless given others: ImageLimits{} until a
// command sets them from its --max-image-pixels and --max-image-aspect (once,
// before any image is read; the loader takes them when it is made).
const ImageLimits& default_image_limits();
void set_default_image_limits(const ImageLimits& limits);

// Throws std::runtime_error naming `what` (a file) unless width and height are
// positive, width x height is at most limits.max_pixels, the aspect ratio at most
// limits.max_aspect, and width x height x channels bytes fit in memory's address
// space. Every decoder calls it with the header's values before it allocates.
void check_image_size(const std::string& what, int64_t width, int64_t height, int channels,
                      const ImageLimits& limits = default_image_limits());

// Decodes a PNG or BMP in memory to RGB through stb_image (built with those
// decoders alone; io/decode.h picks the decoder by the first bytes and is what
// callers use). Grayscale is replicated to three channels and alpha is dropped,
// as PIL's convert("RGB") does. The header is read first and checked against
// `limits`; no allocation of the decoder exceeds the bytes that the header's
// image needs. Throws naming `label` if the bytes are not a PNG or BMP, too
// large, or cannot be decoded.
Image decode_png_or_bmp(const uint8_t* bytes, size_t size, const std::string& label, const ImageLimits& limits);

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

// Encodes an 8-bit PNG in memory, with 1 (gray), 2 (gray + alpha), 3 (RGB) or 4
// (RGBA) interleaved channels; `name` names it in errors.
std::string encode_png(int width, int height, int channels, const uint8_t* data /* [height, width, channels] */,
                       const std::string& name);

// Writes an 8-bit PNG with 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA)
// interleaved channels. Atomic: encodes in memory, writes a temporary file
// beside `path`, checks every write, then renames.
void write_png(const std::string& path, int width, int height, int channels,
               const uint8_t* data /* [height, width, channels] */);

}  // namespace clipgrad::io
