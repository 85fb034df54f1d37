// The pixel arithmetic of the BadNet patch and the Blended trigger, on 8-bit
// images. Values are computed in [0, 1] units (pixel / 255), clamped to [0, 1]
// and rounded to the nearest level: never wrapped (the reference code's
// ToPILImage wraps out-of-range patch values mod 256 and truncates).
#pragma once

#include <cstdint>
#include <vector>

#include "cleanclip/attack/attack_config.h"
#include "io/image.h"
#include "tensor/random.h"

namespace clipgrad::cleanclip {

// Independent random streams of one attack seed: one per (key, purpose), so
// that a trigger drawn for one image does not depend on any other image.
enum class TriggerStream : uint64_t {
  kPatch = 1,         // badnet / label-consistent: location, then noise (key: the image)
  kBlendPattern = 2,  // blended: the fixed pattern (key: the image size)
  kBlendFresh = 3,    // blended --fresh-noise (key: the image)
  kWaNetGrid = 4,     // wanet: the control grid (key: 0)
  kRowChoice = 5,     // which rows are poisoned (key: 0)
  kCaption = 6,       // the template of a poisoned caption (key: the row)
};
uint64_t stream_seed(uint64_t attack_seed, uint64_t key, TriggerStream stream);

// [0, 1] -> 8-bit: clamped, then round to nearest.
uint8_t to_level(double value);

// 16/224 of the shorter side, rounded to nearest, at least 2.
int default_patch_size(int width, int height);

// BadNet: the P x P patch mean_c + N(0, 1) (mean_c: the image's mean of channel c, in [0, 1]),
// at a top-left corner uniform in [0, W - P] x [0, H - P] (drawn first: top, then left) or at all
// four corners (the same patch). Noise is drawn after the location, channel-major ([3, P, P]).
// patch_size 0 means default_patch_size. Throws if the patch does not fit in the image.
struct PatchPlacement {
  int size = 0;
  std::vector<int> lefts, tops;  // one corner per patch copy
};
PatchPlacement apply_badnet_patch(io::Image& image, int patch_size, PatchLocation location, Generator& generator);

// Uniform [0, 1) noise, [3, H, W] channel-major, in draw order.
std::vector<float> uniform_noise(int width, int height, Generator& generator);

// Blended: pixel = clamp(0.8 * pixel / 255 + 0.2 * noise) for noise [3, H, W] in [0, 1].
void apply_blend(io::Image& image, const std::vector<float>& noise);

}  // namespace clipgrad::cleanclip
