// The trigger of an attack, applied to any image, reproducibly.
//
//   auto config = AttackConfig::load("poisoned/attack.json");
//   Trigger trigger(config);
//   trigger.apply(image, evaluation_image_key(test_row));
//
// What is random in a trigger (the badnet patch's place and noise, a fresh
// blended noise) comes from a generator seeded by (attack seed, image_key)
// alone, so the same key gives the same pixels on any thread, in any order.
// What is fixed per attack (the blended pattern, the wanet grid) comes from the
// seed, or from the config as saved.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "cleanclip/attack/attack_config.h"
#include "io/image.h"

namespace clipgrad::cleanclip {

// Keys: `clipgrad poison` keys the image of training row r by r; evaluation
// keys test image i by 2^63 + i, so a test image never reuses a training
// image's draw.
inline uint64_t training_image_key(int64_t row) { return static_cast<uint64_t>(row); }
inline uint64_t evaluation_image_key(int64_t row) { return (uint64_t{1} << 63) | static_cast<uint64_t>(row); }

class Trigger {
 public:
  // Validates the config; wanet without a saved grid draws it from the seed.
  explicit Trigger(const AttackConfig& config);

  // Applies the trigger in place. Thread-safe (the loader's workers call it
  // concurrently). Throws if a badnet patch does not fit in the image.
  void apply(io::Image& image, uint64_t image_key) const;

  const AttackConfig& config() const { return config_; }
  // wanet: the control grid [2, k, k] in use.
  const std::vector<float>& wanet_grid() const { return config_.wanet_grid; }
  // wanet: the field [H, W, 2] for a width x height image (computed once per size).
  std::shared_ptr<const std::vector<float>> wanet_field(int width, int height) const;
  // blended (not fresh): the pattern [3, H, W] for a width x height image (drawn once per size).
  std::shared_ptr<const std::vector<float>> blend_pattern(int width, int height) const;

 private:
  struct Cache;
  AttackConfig config_;
  std::shared_ptr<Cache> cache_;
};

}  // namespace clipgrad::cleanclip
