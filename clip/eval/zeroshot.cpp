#include "clip/eval/zeroshot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "tensor/device_upload.h"
#include "tensor/ops/linalg.h"

namespace clipgrad::clip {

namespace {

// "train.csv:17" where the caller named the row, else "image 3 of 200".
std::string row_name(const std::vector<std::string>& row_names, int64_t row, int64_t rows) {
  if (row < static_cast<int64_t>(row_names.size()) && !row_names[row].empty()) return row_names[row];
  return "image " + std::to_string(row + 1) + " of " + std::to_string(rows);
}

std::string float_text(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// The first non-finite value of values[0, count), or -1.
int64_t first_non_finite(const float* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(values[i])) return i;
  return -1;
}

}  // namespace

// Rows of x [n, E] scaled to unit length, in place.
static void normalize_rows(Tensor& x) {
  int64_t n = x.size(0), e = x.size(1);
  float* p = x.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    double norm = 0;
    for (int64_t j = 0; j < e; ++j) norm += double(p[i * e + j]) * p[i * e + j];
    float inverse = static_cast<float>(1.0 / std::max(std::sqrt(norm), 1e-12));
    for (int64_t j = 0; j < e; ++j) p[i * e + j] *= inverse;
  }
}

Tensor zero_shot_weights(ClipModel& model, const Tokenizer& tokenizer, const ClassNames& classes) {
  NoGradGuard no_grad;
  model.eval();
  int64_t embed = model.config().embed_dim;
  int64_t class_count = static_cast<int64_t>(classes.classes.size());
  if (class_count == 0) throw std::invalid_argument("zero-shot: the classes file lists no classes");
  Tensor weights = Tensor::zeros({class_count, embed});
  for (int64_t c = 0; c < class_count; ++c) {
    Tensor tokens = tokenizer.tokenize_batch(classes.prompts(c), model.config().context_length);
    // Encoded where the model is; the averaging runs on the host.
    const Device device = model.logit_scale.value().device();
    Tensor features =
        model.encode_text(model.trim_tokens(tokens).to(device)).value().to(Device::CPU).clone();  // [T, E]
    const int64_t bad = first_non_finite(features.data<float>(), features.numel());
    if (bad >= 0)
      throw BrokenModelError("the text features of the prompt '" + classes.prompts(c)[bad / embed] + "' hold " +
                             float_text(features.data<float>()[bad]));
    normalize_rows(features);
    float* row = weights.data<float>() + c * embed;
    for (int64_t t = 0; t < features.size(0); ++t)
      for (int64_t j = 0; j < embed; ++j) row[j] += features.data<float>()[t * embed + j];
  }
  normalize_rows(weights);
  return weights;
}

ImageFeatures image_features(ClipModel& model, const std::vector<LoaderItem>& items, int workers, int64_t batch_size,
                             bool strict, ImageTransform transform, bool exact_resize) {
  LoaderOptions options{.batch_size = batch_size,
                        .image_size = static_cast<int>(model.config().image_resolution),
                        .workers = workers,
                        .shuffle = false,
                        .drop_last = false,
                        .seed = 0,
                        .strict = strict,
                        .exact_resize = exact_resize,
                        .batch_memory = &DeviceUpload::host_memory(model.logit_scale.value().device())};
  if (items.empty()) throw std::invalid_argument("no image to evaluate: the dataset has no rows");
  Loader loader(items, options, std::move(transform));
  return image_features(model, loader, [&](int64_t index) {
    auto item = std::find_if(items.begin(), items.end(), [&](const LoaderItem& i) { return i.index == index; });
    if (item == items.end()) return "image " + std::to_string(index);
    return item->origin.empty() ? item->image_path : item->origin;
  });
}

ImageFeatures image_features(ClipModel& model, BatchSource& source,
                             const std::function<std::string(int64_t)>& name_of) {
  NoGradGuard no_grad;
  model.eval();
  const int64_t embed = model.config().embed_dim;
  source.start_epoch(0);
  DeviceUpload upload(model.logit_scale.value().device());  // the batches go where the model is
  std::vector<float> values;
  ImageFeatures out;
  for (Batch batch; source.next(batch);) {
    Tensor features = model.encode_image(Variable(upload(batch.pixels))).value().to(Device::CPU);
    const int64_t bad = first_non_finite(features.data<float>(), features.numel());
    if (bad >= 0) {
      throw BrokenModelError("the image features of " + name_of(batch.indices[bad / embed]) + " hold " +
                             float_text(features.data<float>()[bad]));
    }
    values.insert(values.end(), features.data<float>(), features.data<float>() + features.numel());
    out.rows.insert(out.rows.end(), batch.indices.begin(), batch.indices.end());
    out.labels.insert(out.labels.end(), batch.labels.begin(), batch.labels.end());
  }
  out.skipped = source.skipped_in_epoch();
  // Accuracy over no image would be reported as 0 (or anything): refused.
  if (out.rows.empty())
    throw std::runtime_error("none of the " + std::to_string(out.skipped) +
                             " images could be read (first: " + name_of(0) + "; see the warnings above)");
  out.features = Tensor::from_vector<float>({static_cast<int64_t>(out.rows.size()), embed}, values);
  return out;
}

void check_scores(const Tensor& logits, const std::vector<std::string>& row_names) {
  const int64_t n = logits.size(0), classes = logits.size(1);
  const float* p = logits.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p + i * classes;
    const int64_t bad = first_non_finite(row, classes);
    if (bad >= 0)
      throw BrokenModelError(row_name(row_names, i, n) + ": class " + std::to_string(bad) + " scores " +
                             float_text(row[bad]) + "; the model's outputs are not finite");
    if (classes >= 2 && std::all_of(row, row + classes, [&](float value) { return value == row[0]; }))
      throw BrokenModelError(row_name(row_names, i, n) + ": every class scores " + float_text(row[0]) +
                             "; a model that cannot tell the classes apart is not evaluated (are its weights zero?)");
  }
}

Accuracy score(const Tensor& logits, const std::vector<int64_t>& labels, int64_t classes,
               const std::vector<std::string>& row_names) {
  if (logits.dim() != 2 || logits.size(1) != classes || static_cast<int64_t>(labels.size()) != logits.size(0))
    throw std::invalid_argument("score: logits " + shape_str(logits.shape()) + " for " + std::to_string(labels.size()) +
                                " labels and " + std::to_string(classes) + " classes");
  const int64_t n = logits.size(0);
  if (n == 0) throw std::invalid_argument("score: no image to score");
  if (classes < 2)
    throw std::invalid_argument("score: " + std::to_string(classes) + " class; accuracy needs at least 2");
  for (int64_t i = 0; i < n; ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw std::invalid_argument(row_name(row_names, i, n) + ": label " + std::to_string(labels[i]) +
                                  " is not one of the " + std::to_string(classes) + " classes (0.." +
                                  std::to_string(classes - 1) + ")");
  check_scores(logits, row_names);
  Accuracy accuracy;
  accuracy.n = n;
  accuracy.per_class.assign(classes, 0.0);
  accuracy.per_class_count.assign(classes, 0);
  int64_t top1 = 0, top5 = 0;
  const float* p = logits.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = labels[i];
    const float* row = p + i * classes;
    // Rank of the true class: the other classes scoring at least as high (a tie counts against it).
    int64_t at_least = 0;
    for (int64_t c = 0; c < classes; ++c) at_least += c != label && row[c] >= row[label];
    top1 += at_least == 0;
    top5 += at_least < 5;
    accuracy.per_class[label] += at_least == 0;
    accuracy.per_class_count[label] += 1;
  }
  for (int64_t c = 0; c < classes; ++c)
    accuracy.per_class[c] = accuracy.per_class_count[c] ? accuracy.per_class[c] / accuracy.per_class_count[c]
                                                        : std::numeric_limits<double>::quiet_NaN();
  accuracy.top1 = double(top1) / n;
  accuracy.top5 = double(top5) / n;
  return accuracy;
}

Accuracy evaluate_zero_shot(ClipModel& model, const Tokenizer& tokenizer, const ClassNames& classes,
                            const LabelledDataset& data, int workers, bool strict, ImageTransform transform,
                            bool exact_resize) {
  Tensor weights = zero_shot_weights(model, tokenizer, classes);  // [C, E]
  ImageFeatures images =
      image_features(model, loader_items(data), workers, 256, strict, std::move(transform), exact_resize);
  normalize_rows(images.features);
  const int64_t classes_count = weights.size(0);
  Tensor logits = ops::matmul(images.features, weights, false, true);  // [n, C]
  std::vector<int64_t> labels;
  std::vector<std::string> row_names;
  for (int64_t row : images.rows) {
    labels.push_back(data[row].label);
    row_names.push_back(data.where(row));
  }
  Accuracy accuracy = score(logits, labels, classes_count, row_names);
  accuracy.skipped = images.skipped;
  return accuracy;
}

Accuracy evaluate_zero_shot(ClipModel& model, const Tokenizer& tokenizer, const ClassNames& classes,
                            BatchSource& source) {
  Tensor weights = zero_shot_weights(model, tokenizer, classes);  // [C, E]
  ImageFeatures images = image_features(model, source);
  normalize_rows(images.features);
  Accuracy accuracy = score(ops::matmul(images.features, weights, false, true), images.labels, weights.size(0));
  accuracy.skipped = images.skipped;
  return accuracy;
}

}  // namespace clipgrad::clip
