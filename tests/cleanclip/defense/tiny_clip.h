// An untrained vit-tiny-28 CLIP for the supervised-defence tests (which train
// it on colour_squares.h).
#pragma once

#include <cstdint>
#include <memory>

#include "clip/model/model.h"
#include "tensor/random.h"

namespace clipgrad::testing {

// A freshly initialised vit-tiny-28 (OpenAI's init, seeded).
inline std::shared_ptr<clip::ClipModel> tiny_clip(uint64_t seed = 11) {
  auto model = std::make_shared<clip::ClipModel>(clip::ClipConfig::named("vit-tiny-28"));
  Generator generator(seed);
  model->init_openai(generator);
  return model;
}

}  // namespace clipgrad::testing
