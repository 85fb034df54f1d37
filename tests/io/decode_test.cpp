// The format dispatch of io/decode.h: JPEG, WebP, PNG and BMP by their first
// bytes, the same pixels from a file as from memory, and the files refused
// before they are read (not a regular file, larger than any allowed image).
#include "io/decode.h"

#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <webp/encode.h>

#include <fstream>
#include <functional>

#include "io/jpeg.h"
#include "test_temp_dir.h"

namespace clipgrad::io {
namespace {

using testing::TempDir;

Image gradient(int width, int height) {
  Image image(width, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) image.pixel(x, y)[c] = static_cast<uint8_t>((x * 7 + y * 13 + c * 50) % 256);
  return image;
}

std::string error_of(const std::function<void()>& decode) {
  try {
    decode();
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "no error";
}

TEST(Decode, WebpAndPngBytesByTheirSignature) {
  Image picture = gradient(37, 23);
  uint8_t* webp = nullptr;
  const size_t webp_size = WebPEncodeLosslessRGB(picture.rgb.data(), 37, 23, 37 * 3, &webp);
  ASSERT_GT(webp_size, 0u);
  Image decoded = decode_image_bytes(webp, webp_size, "t.webp");
  EXPECT_EQ(decoded.rgb, picture.rgb);  // lossless
  EXPECT_THROW(decode_image_bytes(webp, webp_size - 20, "cut.webp"), std::runtime_error);
  EXPECT_NE(error_of([&] {
              decode_image_bytes(webp, webp_size, "t.webp", {.limits = {.max_pixels = 100}});
            }).find("--max-image-pixels"),
            std::string::npos);
  WebPFree(webp);
  EXPECT_THROW(decode_image_bytes(reinterpret_cast<const uint8_t*>("not an image"), 12, "x.png"), std::runtime_error);
}

TEST(Decode, AFileGivesThePixelsOfItsBytes) {
  TempDir dir("decode");
  const Image picture = gradient(19, 11);
  ASSERT_TRUE(stbi_write_png(dir.file("p.png").c_str(), 19, 11, 3, picture.rgb.data(), 19 * 3));
  ASSERT_TRUE(stbi_write_bmp(dir.file("p.bmp").c_str(), 19, 11, 3, picture.rgb.data()));
  std::ofstream(dir.file("p.jpg"), std::ios::binary) << encode_jpeg(picture, 90);
  EXPECT_EQ(decode_image(dir.file("p.png")).rgb, picture.rgb);
  EXPECT_EQ(decode_image(dir.file("p.bmp")).rgb, picture.rgb);
  const std::string jpeg = encode_jpeg(picture, 90);
  EXPECT_EQ(decode_image(dir.file("p.jpg")).rgb,
            decode_jpeg(reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size(), "p.jpg").rgb);
}

TEST(Decode, FilesThatCannotBeAnAllowedImageAreRefusedBeforeTheyAreRead) {
  TempDir dir("decode_refused");
  EXPECT_NE(error_of([] { decode_image("/dev/zero"); }).find("image file not found: '/dev/zero'"), std::string::npos);
  EXPECT_NE(error_of([&] { decode_image(dir.file("")); }).find("image file not found"), std::string::npos);
  // At most 16 bytes a pixel and 1 MiB: with 10 pixels allowed, 1 MiB + 161 bytes is too many.
  std::ofstream(dir.file("big.png"), std::ios::binary) << std::string((1 << 20) + 161, 'x');
  const std::string message = error_of([&] { decode_image(dir.file("big.png"), {.limits = {.max_pixels = 10}}); });
  EXPECT_NE(message.find("is 1048737 bytes, more than an image of the allowed pixels needs"), std::string::npos)
      << message;
  // Within the bound the bytes are read, and refused as what they are.
  EXPECT_NE(error_of([&] { decode_image(dir.file("big.png")); }).find("cannot decode image"), std::string::npos);
}

}  // namespace
}  // namespace clipgrad::io
