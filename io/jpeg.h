// JPEG decoding through libjpeg-turbo, optionally scaled in the DCT domain.
//
// libjpeg-turbo can decode at 1/2, 1/4 or 1/8 of the size by running a smaller
// inverse DCT on each block: for an image much larger than it will be resized to,
// that skips most of the decoding work (Pillow's Image.draft() does the same).
// The result is not that of a full decode followed by the resize: the scaled IDCT
// is itself a (box-like) downscale, so the resize starts from other pixels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/image.h"

namespace clipgrad::io {

// The DCT scale Pillow's draft("RGB", (width, height)) picks: the largest of 8, 4,
// 2 and 1 that is at most min(image_width // width, image_height // height), so
// that the scaled image still covers width x height. 1 when width or height is 0.
int jpeg_draft_scale(int image_width, int image_height, int width, int height);

// Decodes a baseline or progressive JPEG to RGB (libjpeg's islow IDCT and fancy
// upsampling, Pillow's defaults; grayscale and CMYK/YCCK converted), at 1/scale
// of its size (scale 1, 2, 4 or 8; libjpeg rounds each side up). The size is read
// from the header and checked against `limits` (io/image.h) before any pixel buffer
// exists. Throws naming `name` for a corrupt or truncated file.
Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name, int scale = 1,
                  const ImageLimits& limits = default_image_limits());

// The width and height in a JPEG's header (scale 1); throws naming `name` if unreadable.
void jpeg_dimensions(const uint8_t* data, size_t size, const std::string& name, int& width, int& height);

// Encodes RGB as a baseline JPEG (4:2:0 chroma, as Pillow and img2dataset write
// by default) at `quality` (1..100): for tests and tools.
std::string encode_jpeg(const Image& image, int quality = 95);

}  // namespace clipgrad::io
