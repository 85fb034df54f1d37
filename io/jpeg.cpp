#include "io/jpeg.h"

#include <csetjmp>
#include <cstdlib>
#include <cstdio>
#include <stdexcept>
#include <vector>
#include <algorithm>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <jerror.h>

namespace clipgrad::io {

namespace {

// libjpeg reports errors through error_exit, which must not return: it jumps
// back to the setjmp in the decoding function. Nothing with a destructor is
// created between that setjmp and the end of the jpeg_* calls.
struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void on_error(j_common_ptr info) {
  auto* errors = reinterpret_cast<ErrorManager*>(info->err);
  (*info->err->format_message)(info, errors->message);
  std::longjmp(errors->jump, 1);
}

// Warnings are silent (libjpeg would print them), but a file that ends early is
// an error, as Pillow makes it: libjpeg would fill the rest with gray.
void on_message(j_common_ptr info, int level) {
  auto* errors = reinterpret_cast<ErrorManager*>(info->err);
  if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) errors->truncated = true;
}

void setup_errors(jpeg_decompress_struct& info, ErrorManager& errors) {
  info.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = on_error;
  errors.base.emit_message = on_message;
  errors.message[0] = '\0';
  errors.truncated = false;
}

std::runtime_error decode_error(const std::string& name, const char* reason) {
  return std::runtime_error("cannot decode JPEG '" + name + "': " + reason);
}

// Reads the header of the JPEG in `data`, then runs `read(info)`, which returns
// an error message or null. libjpeg's errors, read's error and a file that ends
// early all become decode_error(name, ...). The setjmp that on_error jumps back
// to is here, so while `read` calls libjpeg nothing with a destructor may live
// in it.
template <class Read>
void read_jpeg(const uint8_t* data, size_t size, const std::string& name, Read&& read) {
  jpeg_decompress_struct info;
  ErrorManager errors;
  setup_errors(info, errors);
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&info);
    throw decode_error(name, errors.message);
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, data, static_cast<unsigned long>(size));
  jpeg_read_header(&info, TRUE);
  const char* error = read(info);
  jpeg_destroy_decompress(&info);
  if (error) throw decode_error(name, error);
  if (errors.truncated) throw decode_error(name, "the file ends before the image does (truncated)");
}

}  // namespace

int jpeg_draft_scale(int image_width, int image_height, int width, int height) {
  if (width <= 0 || height <= 0) return 1;
  const int fits = std::min(image_width / width, image_height / height);
  for (int scale : {8, 4, 2})
    if (fits >= scale) return scale;
  return 1;
}

void jpeg_dimensions(const uint8_t* data, size_t size, const std::string& name, int& width, int& height) {
  read_jpeg(data, size, name, [&](jpeg_decompress_struct& info) -> const char* {
    width = static_cast<int>(info.image_width);
    height = static_cast<int>(info.image_height);
    return nullptr;
  });
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name, int scale, const ImageLimits& limits) {
  if (scale != 1 && scale != 2 && scale != 4 && scale != 8)
    throw std::invalid_argument("decode_jpeg: scale " + std::to_string(scale) + " is not 1, 2, 4 or 8");
  int width = 0, height = 0;
  jpeg_dimensions(data, size, name, width, height);
  check_image_size(name, width, height, 4, limits);  // before libjpeg or we allocate (CMYK: 4 bytes a pixel)
  // libjpeg's scaled size: each side divided by the scale, rounded up.
  Image image((width + scale - 1) / scale, (height + scale - 1) / scale);
  // CMYK rows are decoded into a scratch row of 4 bytes per pixel; Adobe's
  // inverted CMYK (nearly every CMYK JPEG) multiplies out to RGB = C * K / 255.
  std::vector<uint8_t> cmyk_row(static_cast<size_t>(image.width) * 4);
  read_jpeg(data, size, name, [&](jpeg_decompress_struct& info) -> const char* {
    info.out_color_space = JCS_EXT_RGB;  // libjpeg-turbo: RGB out of YCbCr, grayscale or (Adobe) CMYK
    if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) info.out_color_space = JCS_CMYK;
    info.scale_num = 1;
    info.scale_denom = static_cast<unsigned>(scale);
    jpeg_start_decompress(&info);
    const bool cmyk = info.out_color_space == JCS_CMYK;
    if (static_cast<int>(info.output_width) != image.width || static_cast<int>(info.output_height) != image.height ||
        info.output_components != (cmyk ? 4 : 3))
      return "unexpected output size";
    while (info.output_scanline < info.output_height) {
      uint8_t* row = cmyk ? cmyk_row.data() : image.pixel(0, static_cast<int>(info.output_scanline));
      const int y = static_cast<int>(info.output_scanline);
      jpeg_read_scanlines(&info, &row, 1);
      for (int x = 0; cmyk && x < image.width; ++x)
        for (int c = 0; c < 3; ++c) {
          const int k = cmyk_row[x * 4 + 3];
          image.pixel(x, y)[c] = static_cast<uint8_t>(cmyk_row[x * 4 + c] * k / 255);
        }
    }
    jpeg_finish_decompress(&info);
    return nullptr;
  });
  return image;
}

std::string encode_jpeg(const Image& image, int quality) {
  check_image_size("encode_jpeg", image.width, image.height, 3);
  unsigned char* buffer = nullptr;
  unsigned long length = 0;
  jpeg_compress_struct info;
  ErrorManager errors;
  info.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = on_error;
  if (setjmp(errors.jump)) {
    jpeg_destroy_compress(&info);
    std::free(buffer);
    throw std::runtime_error(std::string("cannot encode JPEG: ") + errors.message);
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, &buffer, &length);
  info.image_width = static_cast<JDIMENSION>(image.width);
  info.image_height = static_cast<JDIMENSION>(image.height);
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    auto* row = const_cast<uint8_t*>(image.pixel(0, static_cast<int>(info.next_scanline)));
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string bytes(reinterpret_cast<const char*>(buffer), length);
  std::free(buffer);
  return bytes;
}

}  // namespace clipgrad::io
