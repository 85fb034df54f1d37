#include "cleanclip/attack/asr.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <stdexcept>

#include "cleanclip/attack/trigger.h"
#include "clip/data/loader.h"
#include "clip/eval/zeroshot.h"
#include "tensor/ops/linalg.h"
#include "tensor/ops/reduce.h"

namespace clipgrad::cleanclip {

namespace {

std::string lower(std::string text) {
  for (char& byte : text) byte = static_cast<char>(std::tolower(static_cast<unsigned char>(byte)));
  return text;
}

}  // namespace

Classifier zero_shot_classifier(Tensor class_weights) {
  if (class_weights.dim() != 2) throw std::invalid_argument("zero_shot_classifier: class weights must be [C, E]");
  return [weights = std::move(class_weights)](const Tensor& image_features) {
    const int64_t n = image_features.size(0), embed = image_features.size(1), classes = weights.size(0);
    if (embed != weights.size(1))
      throw std::invalid_argument("zero-shot classifier: image features " + shape_str(image_features.shape()) +
                                  " for class weights " + shape_str(weights.shape()));
    if (n == 0) return Tensor::empty({0, classes});
    return ops::matmul(ops::l2_normalize(image_features, -1, 1e-12), weights, false, true);  // [n, C]
  };
}

int64_t target_class_index(const clip::ClassNames& class_names, const std::string& target) {
  const auto& classes = class_names.classes;
  for (size_t c = 0; c < classes.size(); ++c)
    if (classes[c] == target) return static_cast<int64_t>(c);
  std::optional<int64_t> match;
  for (size_t c = 0; c < classes.size(); ++c)
    if (lower(classes[c]) == lower(target)) {
      if (match) throw std::invalid_argument("attack target '" + target + "' matches several classes up to case");
      match = static_cast<int64_t>(c);
    }
  if (match) return *match;
  std::string names;
  for (const auto& name : classes) names += (names.empty() ? "" : ", ") + ("'" + name + "'");
  throw std::invalid_argument("attack target '" + target + "' is not among the classes (" + names +
                              "): evaluate on a classes file that names it");
}

AsrResult attack_success_rate(clip::ClipModel& model, const clip::LabelledDataset& test_set,
                              const clip::ClassNames& class_names, const AttackConfig& attack,
                              const AsrOptions& options) {
  AsrResult result;
  result.target_class = target_class_index(class_names, attack.target);
  const int64_t class_count = static_cast<int64_t>(class_names.classes.size());
  const Trigger trigger(attack);

  std::vector<clip::LoaderItem> items;
  for (const clip::LoaderItem& item : clip::loader_items(test_set)) {
    if (test_set[item.index].label == result.target_class)
      ++result.excluded;
    else
      items.push_back(item);
  }

  if (items.empty())
    throw std::invalid_argument("attack success rate: every image of '" + test_set.source() +
                                "' is of the target class '" + attack.target + "'; there is none to trigger");
  Classifier classifier = options.classifier;
  if (!classifier) {
    std::optional<clip::Tokenizer> own_tokenizer;
    if (!options.tokenizer) own_tokenizer.emplace();
    classifier = zero_shot_classifier(
        clip::zero_shot_weights(model, options.tokenizer ? *options.tokenizer : *own_tokenizer, class_names));
  }

  clip::ImageTransform apply_trigger = [&trigger](io::Image& image, int64_t row, Generator&) {
    trigger.apply(image, evaluation_image_key(row));
  };
  clip::ImageFeatures features =
      clip::image_features(model, items, options.workers, options.batch_size, options.strict, apply_trigger);
  result.skipped = features.skipped;
  result.n = static_cast<int64_t>(features.rows.size());

  Tensor logits = classifier(features.features);
  if (logits.dim() != 2 || logits.size(0) != result.n || logits.size(1) != class_count)
    throw std::invalid_argument("attack success rate: the classifier gave logits " + shape_str(logits.shape()) +
                                ", expected [" + std::to_string(result.n) + ", " + std::to_string(class_count) + "]");
  std::vector<std::string> row_names;
  for (int64_t row : features.rows) row_names.push_back(test_set.where(static_cast<size_t>(row)));
  clip::check_scores(logits, row_names);  // a broken model's ASR would be whatever its ties give
  const float* values = logits.data<float>();
  for (int64_t i = 0; i < result.n; ++i) {
    // A hit when no other class scores above the target: a tie counts for the attack, the
    // pessimistic reading for a defence.
    const float* row = values + i * class_count;
    const float target = row[result.target_class];
    result.hits += std::none_of(row, row + class_count, [&](float score) { return score > target; });
  }
  result.asr = static_cast<double>(result.hits) / result.n;
  return result;
}

}  // namespace clipgrad::cleanclip
