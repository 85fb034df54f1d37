// Zero-shot classification and linear probes with a trained CLIP.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "clip/data/dataset.h"
#include "clip/data/loader.h"
#include "clip/model/model.h"
#include "clip/text/tokenizer.h"

namespace clipgrad::clip {

// A model whose scores cannot rank anything: a NaN or infinite feature or
// score, or an image for which every class scores the same. Evaluating such a
// model would report whatever the tie rule says, so it is an error; callers
// name the checkpoint.
class BrokenModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Class embeddings -> f32 [classes, E]: for each class, the mean of its
// L2-normalised template embeddings, normalised again (OpenAI's notebook).
// Throws BrokenModelError when a text feature is not finite.
Tensor zero_shot_weights(ClipModel& model, const Tokenizer& tokenizer, const ClassNames& classes);

// Image features in eval mode, no graph -> f32 [rows, E]. Images that could not
// be read (missing, corrupt, too large) are skipped and counted. Throws
// BrokenModelError, naming the image, when a feature is not finite.
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

// The same for every batch of epoch 0 of `source` (webdataset shards with cls
// members); `name_of(index)` names a sample in errors. Throws when no image at
// all could be read.
ImageFeatures image_features(
    ClipModel& model, BatchSource& source, const std::function<std::string(int64_t)>& name_of = [](int64_t index) {
      return "sample " + std::to_string(index);
    });

struct Accuracy {
  double top1 = 0, top5 = 0;
  std::vector<double> per_class;  // top-1 per class (NaN for a class with no samples)
  std::vector<int64_t> per_class_count;
  int64_t n = 0;        // images scored
  int64_t skipped = 0;  // images that could not be read
};

// logits [n, C] and labels [n] -> top-1/top-5/per-class accuracy. An image is
// correct at top-k when fewer than k other classes score at least as high as
// its true class: ties count against the true class, as a pessimistic
// evaluator counts them. Throws BrokenModelError for a NaN or infinite score or
// a row that scores every class the same (naming row_names[i] where given),
// and invalid_argument for no rows, fewer than 2 classes or a label outside them.
Accuracy score(const Tensor& logits, const std::vector<int64_t>& labels, int64_t classes,
               const std::vector<std::string>& row_names = {});

// The checks of score on logits alone (for classifiers that only take an argmax).
void check_scores(const Tensor& logits, const std::vector<std::string>& row_names = {});

// Zero-shot accuracy on a labelled dataset; `transform` as in image_features (index: the dataset row).
// Throws when no image could be read, and BrokenModelError as above.
Accuracy evaluate_zero_shot(ClipModel& model, const Tokenizer& tokenizer, const ClassNames& classes,
                            const LabelledDataset& data, int workers = 2, bool strict = false,
                            ImageTransform transform = nullptr, bool exact_resize = false);

// Zero-shot accuracy on the labelled batches of `source` (shards with cls members).
Accuracy evaluate_zero_shot(ClipModel& model, const Tokenizer& tokenizer, const ClassNames& classes,
                            BatchSource& source);

}  // namespace clipgrad::clip
