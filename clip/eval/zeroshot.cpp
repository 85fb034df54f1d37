#include "clip/eval/zeroshot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "tensor/device_upload.h"
#include "tensor/ops/linalg.h"

namespace clipgrad::clip {

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
    normalize_rows(features);
    float* row = weights.data<float>() + c * embed;
    for (int64_t t = 0; t < features.size(0); ++t)
      for (int64_t j = 0; j < embed; ++j) row[j] += features.data<float>()[t * embed + j];
  }
  normalize_rows(weights);
  return weights;
}

ImageFeatures image_features(ClipModel& model, const std::vector<LoaderItem>& items, int workers, int64_t batch_size,
                             bool strict, ImageTransform transform) {
  NoGradGuard no_grad;
  model.eval();
  int64_t embed = model.config().embed_dim;
  LoaderOptions options{.batch_size = batch_size,
                        .image_size = static_cast<int>(model.config().image_resolution),
                        .workers = workers,
                        .shuffle = false,
                        .drop_last = false,
                        .seed = 0,
                        .strict = strict};
  Loader loader(items, options, std::move(transform));
  loader.start_epoch(0);
  DeviceUpload upload(model.logit_scale.value().device());  // the batches go where the model is
  std::vector<float> values;
  ImageFeatures out;
  for (Batch batch; loader.next(batch);) {
    Tensor features = model.encode_image(Variable(upload(batch.pixels))).value().to(Device::CPU);
    values.insert(values.end(), features.data<float>(), features.data<float>() + features.numel());
    out.rows.insert(out.rows.end(), batch.indices.begin(), batch.indices.end());
  }
  out.skipped = loader.skipped_in_epoch();
  out.features = Tensor::from_vector<float>({static_cast<int64_t>(out.rows.size()), embed}, values);
  return out;
}

Accuracy score(const Tensor& logits, const std::vector<int64_t>& labels, int64_t classes) {
  int64_t n = logits.size(0);
  if (logits.size(1) != classes || static_cast<int64_t>(labels.size()) != n)
    throw std::invalid_argument("score: logits " + shape_str(logits.shape()) + " for " + std::to_string(labels.size()) +
                                " labels and " + std::to_string(classes) + " classes");
  Accuracy accuracy;
  accuracy.n = n;
  accuracy.per_class.assign(classes, 0.0);
  accuracy.per_class_count.assign(classes, 0);
  int64_t top1 = 0, top5 = 0;
  const float* p = logits.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t label = labels[i];
    if (label < 0 || label >= classes)
      throw std::invalid_argument("label " + std::to_string(label) + " outside the " + std::to_string(classes) +
                                  " classes");
    const float* row = p + i * classes;
    // Rank of the true class: classes scoring strictly higher (ties resolved in its favour).
    int64_t higher = 0;
    for (int64_t c = 0; c < classes; ++c) higher += row[c] > row[label];
    top1 += higher == 0;
    top5 += higher < 5;
    accuracy.per_class[label] += higher == 0;
    accuracy.per_class_count[label] += 1;
  }
  for (int64_t c = 0; c < classes; ++c)
    accuracy.per_class[c] = accuracy.per_class_count[c] ? accuracy.per_class[c] / accuracy.per_class_count[c]
                                                        : std::numeric_limits<double>::quiet_NaN();
  accuracy.top1 = n ? double(top1) / n : 0;
  accuracy.top5 = n ? double(top5) / n : 0;
  return accuracy;
}

Accuracy evaluate_zero_shot(ClipModel& model, const Tokenizer& tokenizer, const ClassNames& classes,
                            const LabelledDataset& data, int workers, bool strict, ImageTransform transform) {
  Tensor weights = zero_shot_weights(model, tokenizer, classes);  // [C, E]
  ImageFeatures images = image_features(model, loader_items(data), workers, 256, strict, std::move(transform));
  normalize_rows(images.features);
  const int64_t classes_count = weights.size(0);
  Tensor logits = ops::matmul(images.features, weights, false, true);  // [n, C]
  std::vector<int64_t> labels;
  for (int64_t row : images.rows) labels.push_back(data[row].label);
  Accuracy accuracy = score(logits, labels, classes_count);
  accuracy.skipped = images.skipped;
  return accuracy;
}

}  // namespace clipgrad::clip
