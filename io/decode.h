// Images from bytes in memory (webdataset members) or files, in the format
// their first bytes say: JPEG through libjpeg-turbo (io/jpeg.h), WebP through
// libwebp, PNG, BMP and the rest through stb_image. Every decoder's width and
// height are read from the header and checked against the limits before the
// pixels are allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/image.h"

namespace clipgrad::io {

struct DecodeOptions {
  // What the image will be preprocessed to: a JPEG whose shorter side is at
  // least twice `shorter_side` is decoded at 1/2, 1/4 or 1/8 scale
  // (jpeg_draft_scale of the size resize_shorter_side gives), unless `exact`.
  // 0: full size.
  int shorter_side = 0;
  bool exact = false;
  // Checked against each decoder's header before a pixel is allocated (io/image.h).
  ImageLimits limits = default_image_limits();
};

// Decodes the bytes of a JPEG, PNG, WebP or BMP to RGB; `name` names them in errors.
Image decode_image_bytes(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& options = {});
// The same from a file, which must be a regular file (never /dev/zero) of at
// most max_image_file_bytes(options.limits).
Image decode_image(const std::string& path, const DecodeOptions& options = {});

// The most bytes an image file within `limits` can need: 16 a pixel (16-bit
// RGBA, uncompressed) and 1 MiB of headers. A larger file is refused unread.
uint64_t max_image_file_bytes(const ImageLimits& limits = default_image_limits());

}  // namespace clipgrad::io
