// BadNet patch and Blended trigger on small images: where the patch goes, how
// big it is, that its values are mean + N(0, 1) clamped (never wrapped), the
// blend formula, the fixed pattern, and that triggers are keyed reproducibly.
#include "cleanclip/attack/triggers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "cleanclip/attack/trigger.h"

namespace clipgrad::cleanclip {
namespace {

io::Image pattern_image(int width, int height, int salt = 0) {
  io::Image image(width, height);
  for (size_t i = 0; i < image.rgb.size(); ++i) image.rgb[i] = static_cast<uint8_t>((i * 37 + salt * 11) % 251);
  return image;
}

io::Image constant_image(int width, int height, uint8_t level) {
  io::Image image(width, height);
  std::fill(image.rgb.begin(), image.rgb.end(), level);
  return image;
}

// Pixels that differ between two images of the same size, as (x, y).
std::set<std::pair<int, int>> changed_pixels(const io::Image& a, const io::Image& b) {
  std::set<std::pair<int, int>> changed;
  for (int y = 0; y < a.height; ++y)
    for (int x = 0; x < a.width; ++x)
      for (int c = 0; c < 3; ++c)
        if (a.pixel(x, y)[c] != b.pixel(x, y)[c]) changed.insert({x, y});
  return changed;
}

TEST(BadNet, DefaultPatchSizeIs16Over224OfTheShorterSideAtLeast2) {
  EXPECT_EQ(default_patch_size(224, 224), 16);
  EXPECT_EQ(default_patch_size(448, 224), 16);
  EXPECT_EQ(default_patch_size(28, 28), 2);
  EXPECT_EQ(default_patch_size(10, 10), 2);
  EXPECT_EQ(default_patch_size(100, 300), 7);  // 7.14
}

TEST(BadNet, PatchIsTheImageMeanPlusUnitNoiseAtTheDrawnCorner) {
  const io::Image original = pattern_image(13, 9);
  io::Image image = original;
  Generator generator(42);
  PatchPlacement placement = apply_badnet_patch(image, 4, PatchLocation::kRandom, generator);

  // Replay the draws: top, then left, then noise [3, P, P].
  Generator replay(42);
  const int top = static_cast<int>(replay.below(9 - 4 + 1)), left = static_cast<int>(replay.below(13 - 4 + 1));
  ASSERT_EQ(placement.tops, std::vector<int>{top});
  ASSERT_EQ(placement.lefts, std::vector<int>{left});
  double mean[3] = {0, 0, 0};
  for (int y = 0; y < 9; ++y)
    for (int x = 0; x < 13; ++x)
      for (int c = 0; c < 3; ++c) mean[c] += original.pixel(x, y)[c] / 255.0 / (13 * 9);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) {
        double value = std::clamp(mean[c] + replay.normal(), 0.0, 1.0);
        EXPECT_EQ(image.pixel(left + x, top + y)[c], static_cast<uint8_t>(std::floor(value * 255 + 0.5)))
            << "channel " << c << " at " << x << "," << y;
      }
  // Nothing outside the patch changes.
  for (auto [x, y] : changed_pixels(original, image)) {
    EXPECT_GE(x, left);
    EXPECT_LT(x, left + 4);
    EXPECT_GE(y, top);
    EXPECT_LT(y, top + 4);
  }
}

TEST(BadNet, OutOfRangeValuesAreClampedNotWrapped) {
  // A white image: mean 1, so mean + noise > 1 wherever the noise is positive; wrapping would give
  // small values there, clamping gives 255. A black image: 0 wherever the noise is negative.
  for (uint8_t level : {uint8_t{255}, uint8_t{0}}) {
    io::Image image = constant_image(8, 8, level);
    Generator generator(5);
    PatchPlacement placement = apply_badnet_patch(image, 8, PatchLocation::kRandom, generator);
    Generator replay(5);
    replay.below(1);
    replay.below(1);
    int clamped = 0;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) {
          double noise = replay.normal();
          if ((level == 255 && noise > 0) || (level == 0 && noise < 0)) {
            EXPECT_EQ(image.pixel(x, y)[c], level);
            ++clamped;
          }
        }
    EXPECT_GT(clamped, 50);  // about half of 192
    EXPECT_EQ(placement.size, 8);
  }
}

TEST(BadNet, LocationIsUniformOverEveryPlaceThePatchFits) {
  // 6x5 image, 3x3 patch: corners in [0, 3] x [0, 2], all 12 reached, none outside.
  std::set<std::pair<int, int>> corners;
  for (uint64_t key = 0; key < 400; ++key) {
    io::Image image = pattern_image(6, 5);
    Generator generator(key);
    PatchPlacement placement = apply_badnet_patch(image, 3, PatchLocation::kRandom, generator);
    ASSERT_LE(placement.lefts[0], 3);
    ASSERT_LE(placement.tops[0], 2);
    corners.insert({placement.lefts[0], placement.tops[0]});
  }
  EXPECT_EQ(corners.size(), 12u);
}

TEST(BadNet, FourCornersPutsTheSamePatchInEachCorner) {
  io::Image image = pattern_image(11, 7);
  Generator generator(3);
  apply_badnet_patch(image, 3, PatchLocation::kFourCorners, generator);
  const int lefts[4] = {0, 8, 0, 8}, tops[4] = {0, 0, 4, 4};
  for (int corner = 1; corner < 4; ++corner)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x)
        for (int c = 0; c < 3; ++c)
          EXPECT_EQ(image.pixel(lefts[corner] + x, tops[corner] + y)[c], image.pixel(x, y)[c]);
  io::Image original = pattern_image(11, 7);
  EXPECT_EQ(changed_pixels(original, image).count({5, 3}), 0u);  // the middle is untouched
}

TEST(BadNet, PatchLargerThanTheImageIsAnError) {
  io::Image image = pattern_image(5, 9);
  Generator generator(0);
  EXPECT_THROW(apply_badnet_patch(image, 6, PatchLocation::kRandom, generator), std::invalid_argument);
}

TEST(Blended, IsPointEightImagePlusPointTwoNoiseRounded) {
  io::Image image = pattern_image(5, 4);
  const io::Image original = image;
  Generator generator(9);
  std::vector<float> noise = uniform_noise(5, 4, generator);
  ASSERT_EQ(noise.size(), 60u);
  apply_blend(image, noise);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) {
        double value = 0.8 * original.pixel(x, y)[c] / 255.0 + 0.2 * noise[(c * 4 + y) * 5 + x];
        EXPECT_EQ(image.pixel(x, y)[c], static_cast<uint8_t>(std::floor(value * 255 + 0.5)));
      }
  EXPECT_THROW(apply_blend(image, std::vector<float>(59)), std::invalid_argument);
}

TEST(Blended, OnePatternPerSizeUnlessFreshNoise) {
  AttackConfig config;
  config.kind = AttackKind::kBlended;
  config.target = "bag";
  config.seed = 11;
  Trigger fixed(config);
  // Black images isolate the noise term: 0.2 * noise.
  io::Image first = constant_image(6, 6, 0), second = constant_image(6, 6, 0);
  fixed.apply(first, 1);
  fixed.apply(second, 2);
  EXPECT_EQ(first.rgb, second.rgb);
  std::vector<float> pattern = *fixed.blend_pattern(6, 6);
  for (size_t p = 0; p < 36; ++p)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(first.rgb[p * 3 + c], to_level(0.2 * pattern[c * 36 + p]));

  config.fresh_noise = true;
  Trigger fresh(config);
  io::Image a = constant_image(6, 6, 0), b = constant_image(6, 6, 0), a_again = constant_image(6, 6, 0);
  fresh.apply(a, 1);
  fresh.apply(b, 2);
  fresh.apply(a_again, 1);
  EXPECT_NE(a.rgb, b.rgb);
  EXPECT_EQ(a.rgb, a_again.rgb);

  config.fresh_noise = false;
  config.seed = 12;
  io::Image other_seed = constant_image(6, 6, 0);
  Trigger(config).apply(other_seed, 1);
  EXPECT_NE(other_seed.rgb, first.rgb);
}

TEST(Trigger, SameSeedAndKeyGiveTheSamePixelsAndOtherKeysOthers) {
  AttackConfig config;
  config.target = "bag";
  config.seed = 3;
  for (AttackKind kind : {AttackKind::kBadNet, AttackKind::kLabelConsistent}) {
    config.kind = kind;
    Trigger trigger(config), copy(config);
    io::Image a = pattern_image(20, 20), b = pattern_image(20, 20), c = pattern_image(20, 20);
    trigger.apply(a, 7);
    copy.apply(b, 7);
    trigger.apply(c, 8);
    EXPECT_EQ(a.rgb, b.rgb);
    EXPECT_NE(a.rgb, c.rgb);
  }
  EXPECT_NE(training_image_key(5), evaluation_image_key(5));
}

TEST(Trigger, RejectsBadParameters) {
  AttackConfig config;
  config.target = "";
  EXPECT_THROW(Trigger{config}, std::invalid_argument);
  config.target = "bag";
  config.patch_size = 1;
  EXPECT_THROW(Trigger{config}, std::invalid_argument);
  config.kind = AttackKind::kWaNet;
  config.wanet_k = 1;
  EXPECT_THROW(Trigger{config}, std::invalid_argument);
}

}  // namespace
}  // namespace clipgrad::cleanclip
