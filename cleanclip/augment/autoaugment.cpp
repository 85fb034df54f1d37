#include "cleanclip/augment/autoaugment.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace clipgrad::cleanclip {
namespace {

// torch.linspace(start, end, 10)[i] in float32: the step is rounded to float,
// the first half counts up from start and the second half down from end, each
// value rounded once (the products are exact in double).
double linspace10(double start_value, double end_value, int i) {
  const float start = static_cast<float>(start_value), end = static_cast<float>(end_value);
  const float step = (end - start) / 9.0f;
  double value = i < 5 ? static_cast<double>(start) + static_cast<double>(step) * i
                       : static_cast<double>(end) - static_cast<double>(step) * (9 - i);
  return static_cast<float>(value);
}

constexpr AutoAugmentStep step(AugmentOp op, double probability, int bin) { return {op, probability, bin}; }

}  // namespace

const std::array<AutoAugmentSubPolicy, kImageNetSubPolicies>& imagenet_policy() {
  using enum AugmentOp;
  static const std::array<AutoAugmentSubPolicy, kImageNetSubPolicies> policy = {{
      {step(kPosterize, 0.4, 8), step(kRotate, 0.6, 9)},    {step(kSolarize, 0.6, 5), step(kAutoContrast, 0.6, -1)},
      {step(kEqualize, 0.8, -1), step(kEqualize, 0.6, -1)}, {step(kPosterize, 0.6, 7), step(kPosterize, 0.6, 6)},
      {step(kEqualize, 0.4, -1), step(kSolarize, 0.2, 4)},  {step(kEqualize, 0.4, -1), step(kRotate, 0.8, 8)},
      {step(kSolarize, 0.6, 3), step(kEqualize, 0.6, -1)},  {step(kPosterize, 0.8, 5), step(kEqualize, 1.0, -1)},
      {step(kRotate, 0.2, 3), step(kSolarize, 0.6, 8)},     {step(kEqualize, 0.6, -1), step(kPosterize, 0.4, 6)},
      {step(kRotate, 0.8, 8), step(kColor, 0.4, 0)},        {step(kRotate, 0.4, 9), step(kEqualize, 0.6, -1)},
      {step(kEqualize, 0.0, -1), step(kEqualize, 0.8, -1)}, {step(kInvert, 0.6, -1), step(kEqualize, 1.0, -1)},
      {step(kColor, 0.6, 4), step(kContrast, 1.0, 8)},      {step(kRotate, 0.8, 8), step(kColor, 1.0, 2)},
      {step(kColor, 0.8, 8), step(kSolarize, 0.8, 7)},      {step(kSharpness, 0.4, 7), step(kInvert, 0.6, -1)},
      {step(kShearX, 0.6, 5), step(kEqualize, 1.0, -1)},    {step(kColor, 0.4, 0), step(kEqualize, 0.6, -1)},
      {step(kEqualize, 0.4, -1), step(kSolarize, 0.2, 4)},  {step(kSolarize, 0.6, 5), step(kAutoContrast, 0.6, -1)},
      {step(kInvert, 0.6, -1), step(kEqualize, 1.0, -1)},   {step(kColor, 0.6, 4), step(kContrast, 1.0, 8)},
      {step(kEqualize, 0.8, -1), step(kEqualize, 0.6, -1)},
  }};
  return policy;
}

double autoaugment_magnitude(AugmentOp op, int bin, int width, int height) {
  if (bin < -1 || bin > 9)
    throw std::invalid_argument("autoaugment_magnitude: bin " + std::to_string(bin) + " of " +
                                std::string(augment_op_name(op)) + " is outside 0..9 (or -1 for none)");
  if (bin == -1) return 0.0;
  switch (op) {
    case AugmentOp::kShearX:
    case AugmentOp::kShearY: return linspace10(0.0, 0.3, bin);
    case AugmentOp::kTranslateX: return linspace10(0.0, 150.0 / 331.0 * width, bin);
    case AugmentOp::kTranslateY: return linspace10(0.0, 150.0 / 331.0 * height, bin);
    case AugmentOp::kRotate: return linspace10(0.0, 30.0, bin);
    case AugmentOp::kBrightness:
    case AugmentOp::kColor:
    case AugmentOp::kContrast:
    case AugmentOp::kSharpness: return linspace10(0.0, 0.9, bin);
    // 8 - round(arange(10) / 2.25): bits 8, 8, 7, 7, 6, 6, 5, 5, 4, 4.
    case AugmentOp::kPosterize: return 8.0 - std::nearbyint(static_cast<float>(bin) / 2.25f);
    case AugmentOp::kSolarize: return linspace10(255.0, 0.0, bin);
    case AugmentOp::kAutoContrast:
    case AugmentOp::kEqualize:
    case AugmentOp::kInvert: return 0.0;
  }
  throw std::invalid_argument("autoaugment_magnitude: unknown AugmentOp");
}

bool autoaugment_signed(AugmentOp op) {
  switch (op) {
    case AugmentOp::kShearX:
    case AugmentOp::kShearY:
    case AugmentOp::kTranslateX:
    case AugmentOp::kTranslateY:
    case AugmentOp::kRotate:
    case AugmentOp::kBrightness:
    case AugmentOp::kColor:
    case AugmentOp::kContrast:
    case AugmentOp::kSharpness: return true;
    default: return false;
  }
}

void apply_sub_policy(io::Image& image, int index, std::array<bool, 2> apply, std::array<bool, 2> negate) {
  if (index < 0 || index >= kImageNetSubPolicies)
    throw std::invalid_argument("apply_sub_policy: index " + std::to_string(index) + " is outside 0..24");
  const AutoAugmentSubPolicy& sub_policy = imagenet_policy()[index];
  // torchvision computes every magnitude from the size before the first step; the
  // size never changes, so computing it per step is the same.
  for (int i = 0; i < 2; ++i) {
    if (!apply[i]) continue;
    const AutoAugmentStep& s = sub_policy[i];
    double magnitude = autoaugment_magnitude(s.op, s.magnitude_bin, image.width, image.height);
    if (autoaugment_signed(s.op) && negate[i]) magnitude = -magnitude;
    apply_augment_op(image, s.op, magnitude);
  }
}

void autoaugment(io::Image& image, Generator& generator) {
  const int index = static_cast<int>(generator.below(kImageNetSubPolicies));
  const double draw0 = generator.uniform(), draw1 = generator.uniform();
  const bool negate0 = generator.below(2) == 0, negate1 = generator.below(2) == 0;
  const AutoAugmentSubPolicy& sub_policy = imagenet_policy()[index];
  apply_sub_policy(image, index, {draw0 <= sub_policy[0].probability, draw1 <= sub_policy[1].probability},
                   {negate0, negate1});
}

}  // namespace clipgrad::cleanclip
