#include "io/image.h"
#include "io/decode.h"

#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "io/image_reference_values.h"
#include "test_temp_dir.h"

namespace clipgrad::clip {
namespace {

using testing::TempDir;

// The synthetic image tools/image_reference.py feeds to PIL.
io::Image pattern_image(int width, int height) {
  io::Image image(width, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        image.pixel(x, y)[c] = static_cast<uint8_t>((x * 37 + y * 91 + c * 53 + x * y * 13) % 256);
  return image;
}

// An image whose three channels all equal gray[y * width + x].
io::Image gray_image(int width, int height, const std::vector<int>& gray) {
  io::Image image(width, height);
  for (int i = 0; i < width * height; ++i)
    for (int c = 0; c < 3; ++c) image.rgb[i * 3 + c] = static_cast<uint8_t>(gray[i]);
  return image;
}

std::vector<int> channel0(const io::Image& image) {
  std::vector<int> values;
  for (int i = 0; i < image.width * image.height; ++i) values.push_back(image.rgb[i * 3]);
  return values;
}

TEST(ImageTest, DecodesRgbPngWrittenByWritePng) {
  TempDir dir("image");
  io::Image image = pattern_image(5, 4);
  io::write_png(dir.file("rgb.png"), 5, 4, 3, image.rgb.data());
  io::Image decoded = io::decode_image(dir.file("rgb.png"));
  EXPECT_EQ(decoded.width, 5);
  EXPECT_EQ(decoded.height, 4);
  EXPECT_EQ(decoded.rgb, image.rgb);
}

TEST(ImageTest, GrayscaleIsReplicatedAndAlphaDropped) {
  TempDir dir("image");
  const std::vector<uint8_t> gray = {0, 50, 100, 150, 200, 255};                              // [2, 3, 1]
  const std::vector<uint8_t> gray_alpha = {0, 9, 50, 0, 100, 255, 150, 1, 200, 2, 255, 3};    // [2, 3, 2]
  const std::vector<uint8_t> rgba = {1, 2, 3, 0, 4, 5, 6, 128, 7, 8, 9, 255, 10, 11, 12, 7};  // [2, 2, 4]
  io::write_png(dir.file("gray.png"), 3, 2, 1, gray.data());
  io::write_png(dir.file("gray_alpha.png"), 3, 2, 2, gray_alpha.data());
  io::write_png(dir.file("rgba.png"), 2, 2, 4, rgba.data());

  const std::vector<uint8_t> gray_as_rgb = {0,   0,   0,   50,  50,  50,  100, 100, 100,
                                            150, 150, 150, 200, 200, 200, 255, 255, 255};
  EXPECT_EQ(io::decode_image(dir.file("gray.png")).rgb, gray_as_rgb);
  EXPECT_EQ(io::decode_image(dir.file("gray_alpha.png")).rgb, gray_as_rgb);
  io::Image from_rgba = io::decode_image(dir.file("rgba.png"));
  EXPECT_EQ(from_rgba.width, 2);
  EXPECT_EQ(from_rgba.rgb, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
}

TEST(ImageTest, DecodesBmpAndJpeg) {
  TempDir dir("image");
  io::Image image(8, 8);
  for (auto& value : image.rgb) value = 90;
  ASSERT_TRUE(stbi_write_bmp(dir.file("flat.bmp").c_str(), 8, 8, 3, image.rgb.data()));
  ASSERT_TRUE(stbi_write_jpg(dir.file("flat.jpg").c_str(), 8, 8, 3, image.rgb.data(), 95));
  EXPECT_EQ(io::decode_image(dir.file("flat.bmp")).rgb, image.rgb);
  io::Image jpeg = io::decode_image(dir.file("flat.jpg"));
  ASSERT_EQ(jpeg.rgb.size(), image.rgb.size());
  for (uint8_t value : jpeg.rgb) EXPECT_NEAR(value, 90, 2);  // lossy
}

TEST(ImageTest, MissingAndCorruptFilesNameTheFile) {
  TempDir dir("image");
  try {
    io::decode_image(dir.file("absent.png"));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("absent.png"), std::string::npos) << error.what();
  }
  std::ofstream(dir.file("corrupt.png")) << "this is not an image";
  try {
    io::decode_image(dir.file("corrupt.png"));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("cannot decode image"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("corrupt.png"), std::string::npos) << error.what();
  }
}

TEST(ImageTest, WritePngIsAtomicAndReportsBadFolders) {
  TempDir dir("image");
  io::Image image = pattern_image(3, 3);
  io::write_png(dir.file("a.png"), 3, 3, 3, image.rgb.data());
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "a.png");  // no temporary left behind
    ++files;
  }
  EXPECT_EQ(files, 1);
  std::string bad = dir.file("no/such/folder/b.png");
  try {
    io::write_png(bad, 3, 3, 3, image.rgb.data());
    FAIL() << "expected an error";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(bad), std::string::npos) << error.what();
  }
}

// Bicubic kernel (a = -0.5) at the offsets the tests below use.
constexpr double k025 = 0.8671875;   // k(0.25) = 1 - 2.5 * 0.25^2 + 1.5 * 0.25^3
constexpr double k075 = 0.2265625;   // k(0.75)
constexpr double k125 = -0.0703125;  // k(1.25) = -0.5 * (1.25^3 - 5 * 1.25^2 + 8 * 1.25 - 4)

TEST(ResizeTest, DownscaleWidensTheKernelByTheScale) {
  // 4 -> 2: scale 2, so the kernel is sampled at (input centre - output centre) / 2:
  // output 0 (centre 1.0) sees inputs 0..3 at offsets -0.25, 0.25, 0.75, 1.25.
  const std::vector<int> row = {0, 100, 200, 40};
  std::vector<int> gray;
  for (int y = 0; y < 4; ++y) gray.insert(gray.end(), row.begin(), row.end());
  io::Image out = io::resize_bicubic(gray_image(4, 4, gray), 2, 4);
  const double total = 2 * k025 + k075 + k125;
  int left = static_cast<int>(std::lround((row[0] * k025 + row[1] * k025 + row[2] * k075 + row[3] * k125) / total));
  int right = static_cast<int>(std::lround((row[0] * k125 + row[1] * k075 + row[2] * k025 + row[3] * k025) / total));
  EXPECT_EQ(left, 68);
  EXPECT_EQ(right, 122);
  EXPECT_EQ(channel0(out), (std::vector<int>{left, right, left, right, left, right, left, right}));

  // The same weights vertically, for a 4x4 -> 2x2 whose columns are equal.
  std::vector<int> columns;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) columns.push_back(row[y]);
  EXPECT_EQ(channel0(io::resize_bicubic(gray_image(4, 4, columns), 2, 2)), (std::vector<int>{68, 68, 122, 122}));
}

TEST(ResizeTest, UpscaleUsesTheUnscaledKernel) {
  // 2 -> 4: output centres at 0.25, 0.75, 1.25, 1.75 in input units; only inputs
  // within 2 contribute and weights are renormalised at the borders.
  const int a = 50, b = 200;
  auto blend = [&](double wa, double wb) { return static_cast<int>(std::lround((a * wa + b * wb) / (wa + wb))); };
  std::vector<int> expected_row = {blend(k025, k125), blend(k025, k075), blend(k075, k025), blend(k125, k025)};
  EXPECT_EQ(expected_row, (std::vector<int>{37, 81, 169, 213}));
  io::Image out = io::resize_bicubic(gray_image(2, 2, {a, b, a, b}), 4, 4);
  std::vector<int> expected;
  for (int y = 0; y < 4; ++y) expected.insert(expected.end(), expected_row.begin(), expected_row.end());
  EXPECT_EQ(channel0(out), expected);
}

TEST(ResizeTest, MatchesPilBitForBit) {
  io::Image source = pattern_image(7, 5);
  EXPECT_EQ(io::resize_bicubic(source, 3, 2).rgb, testing::kDown3x2);
  EXPECT_EQ(io::resize_bicubic(source, 11, 9).rgb, testing::kUp11x9);
  EXPECT_EQ(io::resize_bicubic(source, 7, 3).rgb, testing::kVertical7x3);
  EXPECT_EQ(io::resize_bicubic(source, 4, 5).rgb, testing::kHorizontal4x5);
  EXPECT_EQ(io::resize_bicubic(source, 10, 2).rgb, testing::kMixed10x2);
  EXPECT_EQ(io::resize_bicubic(pattern_image(20, 50), 15, 10).rgb, testing::kTallDown15x10From20x50);
  EXPECT_EQ(io::resize_bicubic(pattern_image(50, 40), 9, 7).rgb, testing::kDown9x7From50x40);
  EXPECT_EQ(io::resize_bicubic(source, 7, 5).rgb, source.rgb);
}

TEST(PreprocessTest, ShorterSideFollowsTorchvision) {
  io::Image landscape = io::resize_shorter_side(pattern_image(27, 16), 8);
  EXPECT_EQ(landscape.width, 13);  // int(8 * 27 / 16) = int(13.5)
  EXPECT_EQ(landscape.height, 8);
  io::Image portrait = io::resize_shorter_side(pattern_image(16, 27), 8);
  EXPECT_EQ(portrait.width, 8);
  EXPECT_EQ(portrait.height, 13);
  io::Image unchanged = io::resize_shorter_side(pattern_image(8, 30), 8);
  EXPECT_EQ(unchanged.rgb, pattern_image(8, 30).rgb);
}

// CLIP's constants, as the loader uses them.
constexpr io::ChannelNormalization kClip{{0.48145466f, 0.4578275f, 0.40821073f},
                                         {0.26862954f, 0.26130258f, 0.27577711f}};

TEST(PreprocessTest, ConstantImageIsNormalisedPerChannel) {
  io::Image image(30, 20);
  for (int i = 0; i < 30 * 20; ++i) {
    image.rgb[i * 3 + 0] = 0;
    image.rgb[i * 3 + 1] = 128;
    image.rgb[i * 3 + 2] = 255;
  }
  const int size = 8;
  std::vector<float> pixels(3 * size * size, NAN);  // [3, 8, 8]
  io::preprocess(image, size, kClip, pixels.data());
  const float expected[3] = {(0.0f - kClip.mean[0]) / kClip.std[0], (128 / 255.0f - kClip.mean[1]) / kClip.std[1],
                             (1.0f - kClip.mean[2]) / kClip.std[2]};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < size * size; ++i) ASSERT_FLOAT_EQ(pixels[c * size * size + i], expected[c]) << c << "," << i;
  EXPECT_NEAR(expected[0], -1.7923, 1e-4);
  EXPECT_NEAR(expected[2], 2.1459, 1e-4);
}

TEST(PreprocessTest, MatchesTorchvisionPipeline) {
  // 27x16 -> 13x8, then the crop offset (13 - 8) / 2 = 2.5 rounds half-to-even to 2.
  const int size = 8;
  std::vector<float> pixels(3 * size * size);  // [3, 8, 8]
  io::preprocess(pattern_image(27, 16), size, kClip, pixels.data());
  ASSERT_EQ(pixels.size(), testing::kPreprocess27x16.size());
  for (size_t i = 0; i < pixels.size(); ++i) EXPECT_FLOAT_EQ(pixels[i], testing::kPreprocess27x16[i]) << i;
}

}  // namespace
}  // namespace clipgrad::clip
