// JPEG through libjpeg-turbo (full and DCT-scaled) and the limits checked
// before any pixel buffer exists.
#include "io/jpeg.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "io/decode.h"

namespace clipgrad::io {
namespace {

// A photo-like test image: smooth shading, a few hard edges and fine texture.
Image test_picture(int width, int height) {
  Image image(width, height);
  uint32_t state = 12345;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      state = state * 1664525u + 1013904223u;
      const double noise = static_cast<double>(state >> 24) / 255.0 - 0.5;
      const double u = static_cast<double>(x) / width, v = static_cast<double>(y) / height;
      const bool disc = (u - 0.6) * (u - 0.6) + (v - 0.4) * (v - 0.4) < 0.04;
      for (int c = 0; c < 3; ++c) {
        double value = 120 + 80 * std::sin(6.0 * u + c) * std::cos(4.0 * v - c) + 12 * noise + (disc ? 50 : 0);
        image.pixel(x, y)[c] = static_cast<uint8_t>(std::clamp(value, 0.0, 255.0));
      }
    }
  return image;
}

// What CLIP's preprocessing sees, in 8-bit: shorter side to `size`, centre crop.
Image resized_crop(const Image& image, int size) {
  Image resized = resize_shorter_side(image, size);
  return crop(resized, static_cast<int>(std::nearbyint((resized.width - size) / 2.0)),
              static_cast<int>(std::nearbyint((resized.height - size) / 2.0)), size, size);
}

TEST(Jpeg, DraftScaleIsPillows) {
  EXPECT_EQ(jpeg_draft_scale(640, 480, 298, 224), 2);
  EXPECT_EQ(jpeg_draft_scale(447, 447, 224, 224), 1);  // not twice as large: full decode
  EXPECT_EQ(jpeg_draft_scale(4000, 3000, 298, 224), 8);
  EXPECT_EQ(jpeg_draft_scale(1000, 900, 248, 224), 4);
  EXPECT_EQ(jpeg_draft_scale(640, 480, 0, 0), 1);
}

TEST(Jpeg, DecodesFullAndScaledSizes) {
  const std::string bytes = encode_jpeg(test_picture(641, 479), 92);
  Image full = decode_jpeg(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.jpg");
  EXPECT_EQ(full.width, 641);
  EXPECT_EQ(full.height, 479);
  double error = 0;
  Image original = test_picture(641, 479);
  for (size_t i = 0; i < full.rgb.size(); ++i) error += std::abs(full.rgb[i] - original.rgb[i]);
  EXPECT_LT(error / full.rgb.size(), 6.0);  // quality 92: a few levels
  for (int scale : {2, 4, 8}) {
    Image scaled = decode_jpeg(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.jpg", scale);
    EXPECT_EQ(scaled.width, (641 + scale - 1) / scale);
    EXPECT_EQ(scaled.height, (479 + scale - 1) / scale);
  }
}

// The stated bound of DCT-domain scaling (docs/cli.md, bench/RESULTS.md): after
// CLIP's resize and crop, the scaled path is within a few levels of the exact
// one on average; single pixels at hard edges differ more.
TEST(Jpeg, ScaledDecodeIsWithinItsBoundOfTheExactPath) {
  const std::string bytes = encode_jpeg(test_picture(800, 600), 90);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  Image exact =
      resized_crop(decode_image_bytes(data, bytes.size(), "t.jpg", {.shorter_side = 224, .exact = true}), 224);
  Image drafted = decode_image_bytes(data, bytes.size(), "t.jpg", {.shorter_side = 224});
  EXPECT_EQ(drafted.width, 400);  // 1/2: 600 // 224 = 2
  Image scaled = resized_crop(drafted, 224);
  double total = 0;
  int worst = 0;
  for (size_t i = 0; i < exact.rgb.size(); ++i) {
    const int difference = std::abs(exact.rgb[i] - scaled.rgb[i]);
    total += difference;
    worst = std::max(worst, difference);
  }
  EXPECT_LT(total / exact.rgb.size(), 2.0);
  EXPECT_LT(worst, 64);
}

TEST(Jpeg, CorruptTruncatedAndOversizedFilesThrow) {
  const std::string bytes = encode_jpeg(test_picture(64, 48), 90);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  EXPECT_THROW(decode_jpeg(data, bytes.size() / 2, "half.jpg"), std::runtime_error);
  EXPECT_THROW(decode_image_bytes(data, 40, "head.jpg"), std::runtime_error);
  // The frame header (SOF0: FF C0, length, precision, height, width) claims 60000 x 60000.
  std::string huge = bytes;
  const size_t sof = huge.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  huge[sof + 5] = huge[sof + 7] = static_cast<char>(0xEA);
  huge[sof + 6] = huge[sof + 8] = static_cast<char>(0x60);
  try {
    decode_image_bytes(reinterpret_cast<const uint8_t*>(huge.data()), huge.size(), "huge.jpg");
    FAIL() << "a 60000x60000 JPEG was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("--max-image-pixels"), std::string::npos) << error.what();
  }
  // The limits given, not only the defaults: 64 x 48 is 3072 pixels.
  EXPECT_THROW(decode_jpeg(data, bytes.size(), "t.jpg", 1, {.max_pixels = 3071}), std::runtime_error);
  EXPECT_EQ(decode_jpeg(data, bytes.size(), "t.jpg", 1, {.max_pixels = 3072}).width, 64);
  EXPECT_THROW(decode_image_bytes(data, bytes.size(), "t.jpg", {.limits = {.max_pixels = 3072, .max_aspect = 1.2}}),
               std::runtime_error);
}

}  // namespace
}  // namespace clipgrad::io
