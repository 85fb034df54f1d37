// Zero-shot classification and linear probes with a trained CLIP.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clip/data/dataset.h"
#include "clip/data/loader.h"
#include "clip/model/model.h"
#include "clip/text/tokenizer.h"

namespace clipgrad::clip {

// Class embeddings -> f32 [classes, E]: for each class, the mean of its
// L2-normalised template embeddings, normalised again (OpenAI's notebook).
Tensor zero_shot_weights(ClipModel& model, const Tokenizer& tokenizer, const ClassNames& classes);

// Image features in eval mode, no graph -> f32 [rows, E]. Rows whose image was
// skipped (missing or corrupt) are listed in `skipped_rows`.
struct ImageFeatures {
  Tensor features;            // [rows kept, E], unnormalised
  std::vector<int64_t> rows;  // dataset row of each feature
  int64_t skipped = 0;
  std::vector<int64_t> labels;  // a BatchSource's: each feature's class (Batch::labels)
};
// `transform` (optional) changes each decoded image before preprocessing (e.g. a
// trigger applied on the fly); it gets the item's index and must be thread-safe.
// exact_resize: no DCT-domain scaling of large JPEGs (io/decode.h).
ImageFeatures image_features(ClipModel& model, const std::vector<LoaderItem>& items, int workers = 2,
                             int64_t batch_size = 256, bool strict = false, ImageTransform transform = nullptr,
                             bool exact_resize = false);

// The same for every batch of epoch 0 of `source` (webdataset shards with cls members).
ImageFeatures image_features(ClipModel& model, BatchSource& source);

struct Accuracy {
  double top1 = 0, top5 = 0;
  std::vector<double> per_class;  // top-1 per class (NaN for a class with no samples)
  std::vector<int64_t> per_class_count;
  int64_t n = 0;        // images scored
  int64_t skipped = 0;  // images that could not be read
};

// logits [n, C] and labels [n] -> top-1/top-5/per-class accuracy.
Accuracy score(const Tensor& logits, const std::vector<int64_t>& labels, int64_t classes);

// Zero-shot accuracy on a labelled dataset; `transform` as in image_features (index: the dataset row).
Accuracy evaluate_zero_shot(ClipModel& model, const Tokenizer& tokenizer, const ClassNames& classes,
                            const LabelledDataset& data, int workers = 2, bool strict = false,
                            ImageTransform transform = nullptr, bool exact_resize = false);

// Zero-shot accuracy on the labelled batches of `source` (shards with cls members).
Accuracy evaluate_zero_shot(ClipModel& model, const Tokenizer& tokenizer, const ClassNames& classes,
                            BatchSource& source);

}  // namespace clipgrad::clip
