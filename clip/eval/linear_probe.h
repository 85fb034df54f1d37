// Linear probe: a logistic-regression head on frozen, L2-normalised image
// features, trained with AdamW on mini-batches.
#pragma once

#include <cstdint>
#include <vector>

#include "clip/eval/zeroshot.h"

namespace clipgrad::clip {

struct ProbeOptions {
  int64_t epochs = 30;
  int64_t batch_size = 256;
  double lr = 1e-2;
  double weight_decay = 1e-4;
  uint64_t seed = 0;
};

struct ProbeResult {
  double train_top1 = 0;
  Accuracy test;
};

// train_features [n, E], test_features [m, E] (unnormalised); labels in [0, classes).
ProbeResult linear_probe(const Tensor& train_features, const std::vector<int64_t>& train_labels,
                         const Tensor& test_features, const std::vector<int64_t>& test_labels, int64_t classes,
                         const ProbeOptions& options);

}  // namespace clipgrad::clip
