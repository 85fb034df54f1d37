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

// What the image will be preprocessed to: a JPEG whose shorter side is at least
// twice `shorter_side` is decoded at 1/2, 1/4 or 1/8 scale (jpeg_draft_scale of
// the size resize_shorter_side gives), unless `exact`. 0: full size.
struct DecodeHint {
  int shorter_side = 0;
  bool exact = false;
};

// The largest image any decoder accepts: each side at most 32,768 pixels and at
// most 2^28 pixels in all (1 GiB of RGB pixels and less of the decoder's own
// buffers). Throws naming `name` past them.
// (A stand-in: io/image.h gets the project's common limit check; this calls it once merged.)
void check_image_limits(int64_t width, int64_t height, const std::string& name);

Image decode_image_bytes(const uint8_t* data, size_t size, const std::string& name, DecodeHint hint = {});
Image decode_image_file(const std::string& path, DecodeHint hint = {});

}  // namespace clipgrad::io
