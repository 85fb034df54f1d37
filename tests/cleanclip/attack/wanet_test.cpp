// WaNet: the control grid, the bicubic field and the bilinear warp against
// PyTorch (tests/fixtures/cleanclip_attack/wanet_reference.safetensors, made by
// tools/wanet_reference.py), and the invariants: a constant image stays
// constant, the field has the image's shape, samples stay inside the image.
#include "cleanclip/attack/wanet.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cleanclip/attack/trigger.h"
#include "io/safetensors.h"

namespace clipgrad::cleanclip {
namespace {

const std::string kReference = std::string(CLIPGRAD_FIXTURES) + "/cleanclip_attack/wanet_reference.safetensors";

std::vector<float> floats(const Tensor& tensor) {
  return std::vector<float>(tensor.data<float>(), tensor.data<float>() + tensor.numel());
}

TEST(WaNet, GridIsUniformNormalisedByItsMeanAbsoluteValue) {
  Generator generator(4);
  std::vector<float> grid = draw_wanet_grid(4, generator);
  ASSERT_EQ(grid.size(), 32u);
  Generator replay(4);
  std::vector<double> raw(32);
  double absolute = 0;
  for (double& value : raw) absolute += std::fabs(value = static_cast<float>(replay.uniform() * 2 - 1));
  double mean_absolute = 0;
  for (size_t i = 0; i < 32; ++i) {
    EXPECT_FLOAT_EQ(grid[i], static_cast<float>(raw[i] / (absolute / 32)));
    mean_absolute += std::fabs(grid[i]) / 32;
  }
  EXPECT_NEAR(mean_absolute, 1.0, 1e-6);
}

TEST(WaNet, FieldAndWarpMatchPyTorch) {
  io::SafetensorsFile reference = io::read_safetensors(kReference);
  const int k = 4, height = 7, width = 9;
  const double s = 3.0;
  std::vector<float> grid = floats(reference.at("grid"));
  std::vector<float> upsampled = upsample_bicubic_aligned(grid, 2, k, width, height);
  std::vector<float> expected = floats(reference.at("upsampled"));
  ASSERT_EQ(upsampled.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(upsampled[i], expected[i], 1e-5) << i;

  const Tensor& levels = reference.at("image");  // u8 [H, W, 3]
  io::Image image(width, height);
  std::copy_n(levels.data<uint8_t>(), image.rgb.size(), image.rgb.data());
  std::vector<double> warped = warp_values(image, wanet_field(grid, k, s, width, height));
  std::vector<float> torch_warped = floats(reference.at("warped"));
  ASSERT_EQ(warped.size(), torch_warped.size());
  int moved = 0;
  for (size_t i = 0; i < warped.size(); ++i) {
    EXPECT_NEAR(warped[i], torch_warped[i], 2e-3) << i;
    moved += std::fabs(warped[i] - image.rgb[i]) > 1;
  }
  EXPECT_GT(moved, 20);  // the warp does something at this strength
}

TEST(WaNet, UpsamplingKeepsCornersAndConstants) {
  std::vector<float> grid = {1, 2, 3, 4, 5, 6, 7, 8, 9};  // one 3x3 plane
  std::vector<float> up = upsample_bicubic_aligned(grid, 1, 3, 8, 5);
  EXPECT_FLOAT_EQ(up[0], 1);
  EXPECT_FLOAT_EQ(up[7], 3);
  EXPECT_FLOAT_EQ(up[4 * 8], 7);
  EXPECT_FLOAT_EQ(up[4 * 8 + 7], 9);
  std::vector<float> flat = upsample_bicubic_aligned(std::vector<float>(9, 0.25f), 1, 3, 8, 5);
  for (float value : flat) EXPECT_NEAR(value, 0.25f, 1e-6);
}

TEST(WaNet, FieldHasTheImageShapeAndScalesWithSOverH) {
  Generator generator(1);
  std::vector<float> grid = draw_wanet_grid(4, generator);
  std::vector<float> field = wanet_field(grid, 4, 0.5, 12, 10);
  ASSERT_EQ(field.size(), 12u * 10 * 2);  // [H, W, 2]
  std::vector<float> up = upsample_bicubic_aligned(grid, 2, 4, 12, 10);
  for (int p = 0; p < 120; ++p) {
    EXPECT_FLOAT_EQ(field[p * 2], static_cast<float>(0.5 / 10 * up[p]));
    EXPECT_FLOAT_EQ(field[p * 2 + 1], static_cast<float>(0.5 / 10 * up[120 + p]));
  }
}

TEST(WaNet, ConstantImageStaysConstantEvenUnderAStrongWarp) {
  AttackConfig config;
  config.kind = AttackKind::kWaNet;
  config.target = "bag";
  config.seed = 21;
  config.wanet_s = 8;  // offsets of several pixels, clamped at the border
  Trigger trigger(config);
  for (uint8_t level : {uint8_t{0}, uint8_t{1}, uint8_t{128}, uint8_t{254}, uint8_t{255}}) {
    io::Image image(15, 11);
    std::fill(image.rgb.begin(), image.rgb.end(), level);
    trigger.apply(image, 0);
    for (uint8_t value : image.rgb) ASSERT_EQ(value, level);
  }
  // A gradient does move.
  io::Image ramp(15, 11);
  for (size_t i = 0; i < ramp.rgb.size(); ++i) ramp.rgb[i] = static_cast<uint8_t>(i / 3 % 15 * 17);
  io::Image warped = ramp;
  trigger.apply(warped, 0);
  EXPECT_NE(warped.rgb, ramp.rgb);
}

TEST(WaNet, TriggerDrawsItsGridFromTheSeedAndKeepsAGivenOne) {
  AttackConfig config;
  config.kind = AttackKind::kWaNet;
  config.target = "bag";
  config.seed = 2;
  Trigger drawn(config), again(config);
  EXPECT_EQ(drawn.wanet_grid().size(), 32u);
  EXPECT_EQ(drawn.wanet_grid(), again.wanet_grid());
  config.wanet_grid = std::vector<float>(32, 0.0f);
  Trigger given(config);
  io::Image image(6, 6);
  for (size_t i = 0; i < image.rgb.size(); ++i) image.rgb[i] = static_cast<uint8_t>(i * 7);
  io::Image warped = image;
  given.apply(warped, 0);
  EXPECT_EQ(warped.rgb, image.rgb);  // a zero field is the identity
  config.wanet_grid.pop_back();
  EXPECT_THROW(Trigger{config}, std::invalid_argument);
}

// The reference's field (k = the image side, s = 1): upsampling a side x side grid to side x side is
// the identity, so each pixel's offset is its own uniform draw / side, with no smoothness; the k = 4
// option varies slowly from pixel to pixel.
TEST(WaNet, AtKEqualToTheSideTheFieldIsPerPixel) {
  const int side = 16;
  Generator generator(8);
  const std::vector<float> grid = draw_wanet_grid(side, generator);
  const std::vector<float> field = wanet_field(grid, side, 1.0, side, side);
  ASSERT_EQ(field.size(), static_cast<size_t>(side * side * 2));
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < 2; ++c)
        ASSERT_NEAR(field[(y * side + x) * 2 + c], grid[(c * side + y) * side + x] / side, 1e-6)
            << x << "," << y << " channel " << c;

  // Mean absolute change of the x offset between horizontal neighbours, over the mean absolute offset.
  const auto roughness = [&](const std::vector<float>& f) {
    double step = 0, size = 0;
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        size += std::fabs(f[(y * side + x) * 2]);
        if (x > 0) step += std::fabs(f[(y * side + x) * 2] - f[(y * side + x - 1) * 2]);
      }
    return step / (side - 1) / (size / side);
  };
  Generator smooth_generator(8);
  const std::vector<float> smooth = wanet_field(draw_wanet_grid(4, smooth_generator), 4, 1.0, side, side);
  EXPECT_GT(roughness(field), 0.8);  // independent uniform neighbours: 2/3 of the range apart on average
  EXPECT_LT(roughness(smooth), 0.4);
}

}  // namespace
}  // namespace clipgrad::cleanclip
