// The dataset the CLI and defence tests train on: 28 x 28 PNG squares in four
// colour classes (slightly textured, so no two are equal), captioned by their colour.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/image.h"

namespace clipgrad::testing {

// Writes DIR/images/I.png for I < count (image I of class I % 4: red, green,
// blue, white, with a little texture), DIR/train.csv (image,caption, and a
// label column when train_labels; captions "a photo of a red square, I"),
// DIR/test.csv (image,label: the same images) and DIR/classes.json.
inline void write_colour_squares(const std::filesystem::path& dir, int count = 40, bool train_labels = false) {
  std::filesystem::create_directories(dir / "images");
  const char* names[4] = {"red", "green", "blue", "white"};
  const uint8_t colours[4][3] = {{220, 30, 30}, {30, 200, 40}, {30, 40, 210}, {240, 240, 240}};
  std::ofstream train(dir / "train.csv"), test(dir / "test.csv");
  train << (train_labels ? "image,caption,label\n" : "image,caption\n");
  test << "image,label\n";
  for (int i = 0; i < count; ++i) {
    const int c = i % 4;
    std::vector<uint8_t> pixels(28 * 28 * 3);
    for (size_t p = 0; p < pixels.size(); ++p) pixels[p] = static_cast<uint8_t>(colours[c][p % 3] + (p * 7 + i) % 13);
    const std::string name = "images/" + std::to_string(i) + ".png";
    io::write_png((dir / name).string(), 28, 28, 3, pixels.data());
    train << name << ",\"a photo of a " << names[c] << " square, " << i << "\"";
    if (train_labels) train << "," << c;
    train << "\n";
    test << name << "," << c << "\n";
  }
  std::ofstream(dir / "classes.json") << R"({"classes": ["red", "green", "blue", "white"],
    "templates": ["a photo of a {} square.", "a {} square."]})";
}

}  // namespace clipgrad::testing
