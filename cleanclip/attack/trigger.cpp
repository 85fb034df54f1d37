#include "cleanclip/attack/trigger.h"

#include <map>
#include <mutex>
#include <utility>

#include "cleanclip/attack/triggers.h"
#include "cleanclip/attack/wanet.h"
#include "tensor/random.h"

namespace clipgrad::cleanclip {

// Per-size fields and patterns, shared by the copies of a Trigger.
struct Trigger::Cache {
  std::mutex mutex;
  std::map<std::pair<int, int>, std::shared_ptr<const std::vector<float>>> fields, patterns;
};

namespace {

uint64_t size_key(int width, int height) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(width)) << 32) | static_cast<uint32_t>(height);
}

}  // namespace

Trigger::Trigger(const AttackConfig& config) : config_(config), cache_(std::make_shared<Cache>()) {
  config_.validate();
  if (config_.kind == AttackKind::kWaNet && config_.wanet_grid.empty()) {
    Generator generator(stream_seed(config_.seed, 0, TriggerStream::kWaNetGrid));
    config_.wanet_grid = draw_wanet_grid(config_.wanet_k, generator);
  }
}

std::shared_ptr<const std::vector<float>> Trigger::wanet_field(int width, int height) const {
  std::lock_guard lock(cache_->mutex);
  auto& field = cache_->fields[{width, height}];
  if (!field)
    field = std::make_shared<const std::vector<float>>(
        cleanclip::wanet_field(config_.wanet_grid, config_.wanet_k, config_.wanet_s, width, height));
  return field;
}

std::shared_ptr<const std::vector<float>> Trigger::blend_pattern(int width, int height) const {
  std::lock_guard lock(cache_->mutex);
  auto& pattern = cache_->patterns[{width, height}];
  if (!pattern) {
    Generator generator(stream_seed(config_.seed, size_key(width, height), TriggerStream::kBlendPattern));
    pattern = std::make_shared<const std::vector<float>>(uniform_noise(width, height, generator));
  }
  return pattern;
}

void Trigger::apply(io::Image& image, uint64_t image_key) const {
  switch (config_.kind) {
    case AttackKind::kBadNet:
    case AttackKind::kLabelConsistent: {
      Generator generator(stream_seed(config_.seed, image_key, TriggerStream::kPatch));
      apply_badnet_patch(image, config_.patch_size, config_.patch_location, generator);
      return;
    }
    case AttackKind::kBlended: {
      if (config_.fresh_noise) {
        Generator generator(stream_seed(config_.seed, image_key, TriggerStream::kBlendFresh));
        apply_blend(image, uniform_noise(image.width, image.height, generator));
      } else {
        apply_blend(image, *blend_pattern(image.width, image.height));
      }
      return;
    }
    case AttackKind::kWaNet: apply_warp(image, *wanet_field(image.width, image.height)); return;
  }
}

}  // namespace clipgrad::cleanclip
