// A tiny labelled set for the supervised-defence tests: 40 28x28 PNGs in 4
// colour classes (slightly textured so no two are equal), labels.csv
// (image,label), classes.json, and an untrained vit-tiny-28 CLIP saved in the
// OpenAI layout.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "clip/checkpoint/checkpoint.h"
#include "clip/model/model.h"
#include "io/image.h"
#include "tensor/random.h"

namespace clipgrad::testing {

inline const char* const kColourNames[4] = {"red", "green", "blue", "white"};

// Writes DIR/images/*.png, DIR/labels.csv and DIR/classes.json.
inline void write_colour_squares(const std::filesystem::path& dir, int count = 40) {
  const uint8_t colours[4][3] = {{220, 30, 30}, {30, 200, 40}, {30, 40, 210}, {240, 240, 240}};
  std::filesystem::create_directories(dir / "images");
  std::ofstream labels(dir / "labels.csv");
  labels << "image,label\n";
  for (int i = 0; i < count; ++i) {
    const int c = i % 4;
    std::vector<uint8_t> pixels(28 * 28 * 3);
    for (size_t p = 0; p < pixels.size(); ++p) pixels[p] = static_cast<uint8_t>(colours[c][p % 3] + (p * 7 + i) % 13);
    const std::string name = "images/" + std::to_string(i) + ".png";
    io::write_png((dir / name).string(), 28, 28, 3, pixels.data());
    labels << name << "," << c << "\n";
  }
  std::ofstream(dir / "classes.json") << R"({"classes": ["red", "green", "blue", "white"],
    "templates": ["a photo of a {} square.", "a {} square."]})";
}

// A freshly initialised vit-tiny-28 (OpenAI's init, seeded).
inline std::shared_ptr<clip::ClipModel> tiny_clip(uint64_t seed = 11) {
  auto model = std::make_shared<clip::ClipModel>(clip::ClipConfig::named("vit-tiny-28"));
  Generator generator(seed);
  model->init_openai(generator);
  return model;
}

}  // namespace clipgrad::testing
