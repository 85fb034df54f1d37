// The scenes testbed: Fashion-MNIST items placed, scaled, rotated and coloured
// on textured backgrounds, with compositional captions (clip/data/scene_captions.h),
// a harder, offline stand-in for CC3M made from what the machine has
// (Debian's dataset-fashion-mnist and wordnet-base). docs/study.md describes it.
//
//   train.csv     image,caption,label   pretraining scenes of 1-3 items (55%, 35%, 10%) drawn from
//                                        Fashion-MNIST training images [0, 54000)
//   finetune.csv  image,caption,label   clean scenes of items from training images
//                                        [54000, 60000): disjoint from the pretraining
//                                        set, for the defences
//   test.csv      image,label           one test item per scene (test image i in scene i),
//                                        for zero-shot classification and the ASR
//   classes.json  the ten class names and the 80 ImageNet templates
//   scenes.json   the options it was made with
// label: the class of the scene's largest item (the supervised defence's target).
// Every scene is a function of (seed, split, index) alone: the same options
// write the same bytes, on any number of threads.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace clipgrad::clip {

struct SceneOptions {
  std::string out;
  std::string fashion_mnist = "/usr/share/datasets/fashion-mnist";
  std::string wordnet = "/usr/share/wordnet";
  int canvas = 64;                   // square canvases, px
  int64_t train = 20000;             // pretraining scenes
  int64_t finetune = 2000;           // clean fine-tuning scenes (disjoint items)
  int64_t test = 2000;               // test scenes (at most 10,000: one test item each)
  int min_item = 26, max_item = 42;  // an item's side on the canvas, px (Fashion-MNIST's is 28)
  double max_rotation_degrees = 30;  // rotations uniform in [-max, max]
  double mention = 0.5;              // how often a caption says an item's colour, size or place (each)
  uint64_t seed = 0;

  nlohmann::json to_json() const;  // the fields above but out and the source folders
};

// Writes the testbed into options.out (created); prints one summary line.
// Throws when Fashion-MNIST or WordNet is missing, or on options out of range.
void prepare_scenes(const SceneOptions& options);

}  // namespace clipgrad::clip
