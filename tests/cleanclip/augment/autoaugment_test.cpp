// AutoAugment against torchvision + Pillow: every operation at several
// magnitudes on seven small images (one grayscale, computed by PIL in "L" mode),
// and all 25 ImageNet sub-policies with each
// combination of signs, from tests/fixtures/autoaugment/autoaugment_cases.safetensors
// (made by tools/autoaugment_reference.py). Every case must match byte for byte:
// PIL's arithmetic here is integer or single-precision float in a fixed order,
// and we repeat it operation by operation, so there is no tolerance.
#include "cleanclip/augment/autoaugment.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "io/safetensors.h"

namespace clipgrad::cleanclip {
namespace {

const std::string kCases = std::string(CLIPGRAD_FIXTURES) + "/autoaugment/autoaugment_cases.safetensors";

const io::SafetensorsFile& fixture() {
  static const io::SafetensorsFile file = io::read_safetensors(kCases);
  return file;
}

io::Image image_from(const Tensor& tensor) {
  const auto& shape = tensor.shape();
  io::Image image(static_cast<int>(shape.at(1)), static_cast<int>(shape.at(0)));
  const uint8_t* data = tensor.data<uint8_t>();
  image.rgb.assign(data, data + tensor.numel());
  return image;
}

io::Image input(const std::string& name) { return image_from(fixture().at("input." + name)); }

// Number of bytes that differ, and the first one, for a readable failure.
std::string difference(const io::Image& got, const io::Image& want) {
  if (got.width != want.width || got.height != want.height)
    return "size " + std::to_string(got.width) + "x" + std::to_string(got.height) +
           " != " + std::to_string(want.width) + "x" + std::to_string(want.height);
  int count = 0;
  std::string first;
  for (size_t i = 0; i < got.rgb.size(); ++i)
    if (got.rgb[i] != want.rgb[i]) {
      if (count++ == 0)
        first = " first at pixel " + std::to_string(i / 3 % got.width) + "," + std::to_string(i / 3 / got.width) +
                " channel " + std::to_string(i % 3) + ": " + std::to_string(got.rgb[i]) + " vs " +
                std::to_string(want.rgb[i]);
    }
  return count ? std::to_string(count) + " bytes differ;" + first : "";
}

nlohmann::json metadata(const std::string& key) { return nlohmann::json::parse(fixture().metadata.at(key)); }

TEST(AutoAugmentOps, MatchTorchvisionOnEveryCase) {
  int single = 0;
  std::set<std::string> ops_seen;
  for (const auto& c : metadata("cases")) {
    if (!c.contains("op")) continue;
    io::Image image = input(c["image"]);
    const std::string op = c["op"];
    const double magnitude = c["magnitude"];
    apply_augment_op(image, augment_op_from_name(op), magnitude);
    EXPECT_EQ(difference(image, image_from(fixture().at(c["name"]))), "")
        << op << "(" << magnitude << ") on " << c["image"].get<std::string>();
    ops_seen.insert(op);
    ++single;
  }
  EXPECT_EQ(ops_seen.size(), static_cast<size_t>(kNumAugmentOps));
  EXPECT_GT(single, 500);
}

TEST(AutoAugmentPolicy, SubPoliciesMatchTorchvisionWithEachSign) {
  int count = 0;
  for (const auto& c : metadata("cases")) {
    if (!c.contains("sub_policy")) continue;
    io::Image image = input(c["image"]);
    const int index = c["sub_policy"];
    apply_sub_policy(image, index, {true, true}, {c["negate"][0].get<bool>(), c["negate"][1].get<bool>()});
    EXPECT_EQ(difference(image, image_from(fixture().at(c["name"]))), "")
        << "sub-policy " << index << " negate " << c["negate"].dump() << " on " << c["image"].get<std::string>();
    ++count;
  }
  EXPECT_EQ(count, 2 * kImageNetSubPolicies * 4);
}

std::string fnv1a64_hex(const std::vector<uint8_t>& bytes) {
  uint64_t h = 1469598103934665603ULL;
  for (uint8_t b : bytes) h = (h ^ b) * 1099511628211ULL;
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

TEST(AutoAugmentPolicy, FullSizeImageMatchesTorchvisionByHash) {
  // A 224x224 view (the size CLIP sees): each signed op at three bins and all
  // sub-policies with each sign, compared through the FNV-1a hash of the result.
  int count = 0;
  for (const auto& c : metadata("hashed_cases")) {
    io::Image image = input(c["image"]);
    ASSERT_EQ(image.width, 224);
    std::string label;
    if (c.contains("op")) {
      apply_augment_op(image, augment_op_from_name(c["op"].get<std::string>()), c["magnitude"].get<double>());
      label = c["op"].get<std::string>() + "(" + std::to_string(c["magnitude"].get<double>()) + ")";
    } else {
      apply_sub_policy(image, c["sub_policy"], {true, true}, {c["negate"][0].get<bool>(), c["negate"][1].get<bool>()});
      label = "sub-policy " + std::to_string(c["sub_policy"].get<int>()) + " negate " + c["negate"].dump();
    }
    EXPECT_EQ(fnv1a64_hex(image.rgb), c["fnv1a64"].get<std::string>()) << label;
    ++count;
  }
  EXPECT_GT(count, 150);
}

TEST(AutoAugmentPolicy, TableIsTorchvisionsImageNetPolicy) {
  const auto reference = metadata("policy");
  ASSERT_EQ(reference.size(), static_cast<size_t>(kImageNetSubPolicies));
  for (int i = 0; i < kImageNetSubPolicies; ++i)
    for (int j = 0; j < 2; ++j) {
      const auto& want = reference[i][j];
      const AutoAugmentStep& got = imagenet_policy()[i][j];
      EXPECT_EQ(augment_op_name(got.op), want[0].get<std::string>()) << i << "," << j;
      EXPECT_EQ(got.probability, want[1].get<double>()) << i << "," << j;
      EXPECT_EQ(got.magnitude_bin, want[2].is_null() ? -1 : want[2].get<int>()) << i << "," << j;
    }
}

TEST(AutoAugmentPolicy, MagnitudeBinsAreTorchvisionsFloat32Values) {
  const nlohmann::json magnitudes = metadata("magnitudes");
  for (const auto& [image_name, ops] : magnitudes.items()) {
    io::Image image = input(image_name);
    for (const auto& [op, bins] : ops.items())
      for (int bin = 0; bin < 10; ++bin)
        EXPECT_EQ(autoaugment_magnitude(augment_op_from_name(op), bin, image.width, image.height),
                  bins[bin].get<double>())
            << op << " bin " << bin << " on " << image_name;
  }
  // Sizes the fixture does not hold: the translate bins at 224 (torchvision: 150/331*224 over 10 bins).
  EXPECT_FLOAT_EQ(autoaugment_magnitude(AugmentOp::kTranslateX, 9, 224, 224), 150.0 / 331.0 * 224);
  EXPECT_EQ(autoaugment_magnitude(AugmentOp::kEqualize, -1, 5, 5), 0.0);
  EXPECT_THROW(autoaugment_magnitude(AugmentOp::kRotate, 10, 5, 5), std::invalid_argument);
}

TEST(AutoAugmentOps, NamesRoundTripAndUnknownNamesThrow) {
  for (int i = 0; i < kNumAugmentOps; ++i) {
    auto op = static_cast<AugmentOp>(i);
    EXPECT_EQ(augment_op_from_name(augment_op_name(op)), op);
  }
  EXPECT_THROW(augment_op_from_name("Blur"), std::invalid_argument);
  io::Image image = input("pattern");
  EXPECT_THROW(apply_augment_op(image, AugmentOp::kPosterize, 0.0), std::invalid_argument);
  EXPECT_THROW(apply_augment_op(image, AugmentOp::kPosterize, 9.0), std::invalid_argument);
}

TEST(AutoAugment, SameSeedSameImageAndSizeNeverChanges) {
  const io::Image original = input("fashion");
  // Views by FNV-1a hash of their bytes (a map keyed by the byte vectors trips a GCC 12 false warning).
  auto fingerprint = [](const std::vector<uint8_t>& bytes) {
    uint64_t h = 1469598103934665603ULL;
    for (uint8_t b : bytes) h = (h ^ b) * 1099511628211ULL;
    return h;
  };
  std::map<uint64_t, int> distinct;
  for (uint64_t row = 0; row < 200; ++row) {
    io::Image first = original, second = original;
    Generator a = Generator(mix_seed(mix_seed(mix_seed(7) ^ 0) ^ row));
    Generator b = Generator(mix_seed(mix_seed(mix_seed(7) ^ 0) ^ row));
    autoaugment(first, a);
    autoaugment(second, b);
    EXPECT_EQ(first.rgb, second.rgb) << "row " << row;
    EXPECT_EQ(first.width, original.width);
    EXPECT_EQ(first.height, original.height);
    EXPECT_EQ(first.rgb.size(), original.rgb.size());
    ++distinct[fingerprint(first.rgb)];
  }
  // 25 sub-policies x coin flips x signs: many different views, some identical to the input.
  EXPECT_GT(distinct.size(), 30u);
  EXPECT_GT(distinct[fingerprint(original.rgb)], 0);
}

TEST(AutoAugment, DrawsSubPoliciesUniformlyAndStepsWithTheirProbability) {
  // Replays autoaugment's draws to check they are consumed as documented and
  // that each sub-policy comes up about 1/25 of the time.
  std::array<int, kImageNetSubPolicies> picked{};
  const int trials = 25000;
  for (int t = 0; t < trials; ++t) {
    Generator g(1000 + t), replay(1000 + t);
    io::Image image = input("low_contrast"), expected = image;
    autoaugment(image, g);
    int index = static_cast<int>(replay.below(kImageNetSubPolicies));
    double d0 = replay.uniform(), d1 = replay.uniform();
    bool n0 = replay.below(2) == 0, n1 = replay.below(2) == 0;
    const auto& sub = imagenet_policy()[index];
    apply_sub_policy(expected, index, {d0 <= sub[0].probability, d1 <= sub[1].probability}, {n0, n1});
    ASSERT_EQ(image.rgb, expected.rgb) << "seed " << 1000 + t;
    ++picked[index];
  }
  for (int count : picked) EXPECT_NEAR(count, trials / 25.0, 5 * std::sqrt(trials / 25.0));
}

TEST(AutoAugmentOps, EmptyImageStaysEmpty) {
  for (int i = 0; i < kNumAugmentOps; ++i) {
    io::Image empty;
    auto op = static_cast<AugmentOp>(i);
    apply_augment_op(empty, op, op == AugmentOp::kPosterize ? 4.0 : 0.5);
    EXPECT_TRUE(empty.rgb.empty()) << augment_op_name(op);
  }
}

}  // namespace
}  // namespace clipgrad::cleanclip
