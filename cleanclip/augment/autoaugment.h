// AutoAugment's ImageNet policy (Cubuk et al. 2019) as torchvision's
// `transforms.AutoAugment(AutoAugmentPolicy.IMAGENET)` applies it to a PIL
// image, which is what CleanCLIP's `src/data.py` uses for its in-modal views:
// one of 25 sub-policies, uniformly; each of its two steps runs with its own
// probability; a signed operation's magnitude is negated with probability 1/2.
// Magnitudes are torchvision's `_augmentation_space(10, (height, width))` bins,
// in float32 as torch.linspace computes them (so TranslateX/Y depend on the size).
//
// Where it goes: CleanCLIP applies it to the decoded image at its own size (PIL
// Image.open, no resize), then runs the CLIP preprocessing (resize, centre crop,
// normalise) on the view; do the same, autoaugment() then io::preprocess(). A
// grayscale image replicated to RGB gives what PIL gives on the "L" image.
//
// Deviations from the reference, on purpose:
// - Randomness comes from our seeded Generator, not torch's global RNG: the
//   trainer derives one generator per (seed, epoch, sample) with
//   clip::view_seed (clip/data/loader.h), so a view is reproducible bit for bit and
//   a new view is drawn each epoch. The draws, in order: the sub-policy
//   (below(25)), the two step probabilities (uniform() each, a step runs when the
//   draw is <= its probability, as torchvision's `probs[i] <= p`), then the two
//   signs (below(2) each; 0 negates, as torchvision's `signs[i] == 0`).
// - The image ops follow Pillow 13's arithmetic (image_ops.h); the ImageNet
//   policy never uses ShearY, TranslateX/Y or Brightness but they are implemented
//   and tested too.
#pragma once

#include <array>

#include "cleanclip/augment/image_ops.h"
#include "io/image.h"
#include "tensor/random.h"

namespace clipgrad::cleanclip {

// One step of a sub-policy: the operation, its probability and its magnitude bin
// (0..9; -1 for AutoContrast, Equalize and Invert, which take none).
struct AutoAugmentStep {
  AugmentOp op;
  double probability;
  int magnitude_bin;
};
using AutoAugmentSubPolicy = std::array<AutoAugmentStep, 2>;
inline constexpr int kImageNetSubPolicies = 25;

// torchvision's ImageNet table, in its order.
const std::array<AutoAugmentSubPolicy, kImageNetSubPolicies>& imagenet_policy();

// The unsigned magnitude of `op` at `bin` (0..9) for an image of this size, as
// float(magnitudes[bin]) in torchvision; 0 for a bin of -1. Throws
// std::invalid_argument on a bin outside -1..9.
double autoaugment_magnitude(AugmentOp op, int bin, int width, int height);
// Whether torchvision draws a sign for the op (the affine ops and the four enhancers).
bool autoaugment_signed(AugmentOp op);

// Sub-policy `index` (0..24) with the random choices given: apply[i] says
// whether step i runs, negate[i] whether a signed magnitude is negated.
void apply_sub_policy(io::Image& image, int index, std::array<bool, 2> apply, std::array<bool, 2> negate);

// One random sub-policy, applied in place; the image keeps its size.
void autoaugment(io::Image& image, Generator& generator);

}  // namespace clipgrad::cleanclip
