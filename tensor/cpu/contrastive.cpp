// The contrastive cross-entropy (declared in tensor/ops/reduce.h): the
// log-sum-exp of every row and every column of the logits from one pass with
// an online max and sum, then the gradient from a second pass. Statistics are
// kept in double, so f32 logits of large batches lose nothing to the sums.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace clipgrad::cpu {

namespace {

constexpr int64_t kColumnBlock = 64;  // columns whose statistics one thread updates row by row

// log(sum(exp(v))) over values seen one at a time: when a larger value
// arrives the sum so far is rescaled to the new maximum, so no exp overflows.
struct OnlineLogSumExp {
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0;
  void add(double value) {
    if (value > max) {
      sum = sum * std::exp(max - value) + 1;
      max = value;
    } else {
      sum += std::exp(value - max);
    }
  }
  double value() const { return max + std::log(sum); }
};

}  // namespace

ops::ContrastiveCrossEntropy contrastive_cross_entropy(const Tensor& logits, ops::ContrastiveDirections directions) {
  const int64_t n = logits.size(0);
  // The weight of each direction in the loss: CLIP averages the two.
  const bool symmetric = directions == ops::ContrastiveDirections::Symmetric;
  const double row_weight = symmetric ? 0.5 : 1.0, column_weight = symmetric ? 0.5 : 0.0;
  ops::ContrastiveCrossEntropy result{Tensor::empty({}, logits.dtype()), Tensor::empty({n, n}, logits.dtype())};
  dispatch_floating(logits.dtype(), "contrastive_cross_entropy", [&]<class T>() {
    const T* x = logits.data<T>();  // [n, n]
    std::vector<double> row_lse(n), column_lse(n, 0.0);
#pragma omp parallel for if (n * n > kParallelElements)
    for (int64_t i = 0; i < n; ++i) {
      OnlineLogSumExp row;
      for (int64_t j = 0; j < n; ++j) row.add(x[i * n + j]);
      row_lse[i] = row.value();
    }
    if (symmetric) {
      const int64_t blocks = (n + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for if (n * n > kParallelElements)
      for (int64_t block = 0; block < blocks; ++block) {
        const int64_t first = block * kColumnBlock, last = std::min(n, first + kColumnBlock);
        std::vector<OnlineLogSumExp> columns(last - first);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = first; j < last; ++j) columns[j - first].add(x[i * n + j]);
        for (int64_t j = first; j < last; ++j) column_lse[j] = columns[j - first].value();
      }
    }
    // Each direction's loss is the mean over its rows of lse - the diagonal logit.
    double loss = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double diagonal = x[i * n + i];
      loss += row_weight * (row_lse[i] - diagonal) + column_weight * (column_lse[i] - diagonal);
    }
    result.loss.data<T>()[0] = T(loss / double(n));
    // d loss / d x[i, j] = (w_row * (softmax_row - onehot) + w_col * (softmax_col - onehot)) / n
    T* grad = result.grad_logits.data<T>();
    const double row_scale = row_weight / double(n), column_scale = column_weight / double(n);
#pragma omp parallel for if (n * n > kParallelElements)
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const double value = x[i * n + j];
        double g = row_scale * std::exp(value - row_lse[i]);
        if (symmetric) g += column_scale * std::exp(value - column_lse[j]);
        if (i == j) g -= row_scale + column_scale;
        grad[i * n + j] = T(g);
      }
    }
  });
  return result;
}

}  // namespace clipgrad::cpu
