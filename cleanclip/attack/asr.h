// Attack success rate: of the test images whose true class is not the target,
// the fraction classified as the target once the trigger is applied to them.
//
// This is the rule CleanCLIP's paper states. The reference code's printed
// zero-shot ASR (src/evaluate.py, its issue #14) instead scores the triggered
// images against their true labels, keeps the target class's own images and
// divides by all of them: it reports triggered accuracy, not ASR.
//
//   auto config = AttackConfig::load("poisoned/attack.json");
//   AsrResult result = attack_success_rate(model, test_set, class_names, config);
//   // result.asr, result.n
#pragma once

#include <cstdint>
#include <functional>

#include "cleanclip/attack/attack_config.h"
#include "clip/data/dataset.h"
#include "clip/model/model.h"
#include "clip/text/tokenizer.h"
#include "tensor/tensor.h"

namespace clipgrad::cleanclip {

// Image features [n, E] (unnormalised, as ClipModel::encode_image gives them) -> logits [n, C].
using Classifier = std::function<Tensor(const Tensor& image_features)>;

// Zero-shot: features L2-normalised, times class_weights [C, E] (clip::zero_shot_weights) transposed.
Classifier zero_shot_classifier(Tensor class_weights);

// The class index of `target` among class_names.classes: an exact match, else the one
// case-insensitive match. Throws naming the target and the classes if there is none.
int64_t target_class_index(const clip::ClassNames& class_names, const std::string& target);

struct AsrOptions {
  // Empty: zero_shot_classifier(clip::zero_shot_weights(model, tokenizer or clip::Tokenizer(), class_names)).
  Classifier classifier;
  const clip::Tokenizer* tokenizer = nullptr;  // for the default classifier; nullptr: the default BPE
  int workers = 2;                             // image decoding threads
  int64_t batch_size = 256;
  bool strict = false;  // a missing or corrupt image throws instead of being skipped
};

struct AsrResult {
  double asr = 0;            // hits / n
  int64_t n = 0;             // images counted: true class is not the target, and readable
  int64_t hits = 0;          // of those, classified as the target (no class scores higher; a tie is a hit)
  int64_t target_class = 0;  // index of the target among the classes
  int64_t excluded = 0;      // test images of the target class, not counted
  int64_t skipped = 0;       // images that could not be read
};

// Applies Trigger(attack) to each non-target test image i on the fly, keyed by
// evaluation_image_key(i) (the test row), and classifies it. The model is put in eval mode.
// Throws when no image is counted (every one skipped, or of the target class), and
// clip::BrokenModelError for scores that are not finite or do not rank the classes.
AsrResult attack_success_rate(clip::ClipModel& model, const clip::LabelledDataset& test_set,
                              const clip::ClassNames& class_names, const AttackConfig& attack,
                              const AsrOptions& options = {});

}  // namespace clipgrad::cleanclip
