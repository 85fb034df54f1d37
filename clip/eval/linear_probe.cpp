#include "clip/eval/linear_probe.h"

#include <numeric>
#include <stdexcept>

#include "autograd/functional.h"
#include "nn/optim.h"
#include "tensor/ops/shape.h"

namespace clipgrad::clip {

// features [n, E] -> its rows scaled to unit length (a new tensor).
static Tensor normalized(const Tensor& features) {
  NoGradGuard no_grad;
  return fn::l2_normalize(Variable(features), -1).value();
}

static Tensor label_tensor(const std::vector<int64_t>& labels, const std::vector<int64_t>& rows) {
  std::vector<int32_t> values;
  for (int64_t row : rows) values.push_back(static_cast<int32_t>(labels[row]));
  return Tensor::from_vector<int32_t>({static_cast<int64_t>(rows.size())}, values);
}

ProbeResult linear_probe(const Tensor& train_features, const std::vector<int64_t>& train_labels,
                         const Tensor& test_features, const std::vector<int64_t>& test_labels, int64_t classes,
                         const ProbeOptions& options) {
  int64_t n = train_features.size(0), embed = train_features.size(1);
  if (n == 0) throw std::invalid_argument("linear probe: no training features");
  if (static_cast<int64_t>(train_labels.size()) != n ||
      static_cast<int64_t>(test_labels.size()) != test_features.size(0))
    throw std::invalid_argument("linear probe: features and labels differ in count");
  Tensor train = normalized(train_features), test = normalized(test_features);

  Variable weight(Tensor::zeros({classes, embed}), true);  // [C, E]
  Variable bias(Tensor::zeros({classes}), true);           // [C]
  nn::AdamW optimizer({{{weight}, options.weight_decay}, {{bias}, 0.0}}, options.lr);
  Generator generator(options.seed);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  int64_t batches = (n + options.batch_size - 1) / options.batch_size;
  int64_t step = 0, total = batches * options.epochs;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[generator.below(i + 1)]);
    for (int64_t b = 0; b < batches; ++b) {
      std::vector<int64_t> rows(order.begin() + b * options.batch_size,
                                order.begin() + std::min(n, (b + 1) * options.batch_size));
      Variable logits = fn::linear(Variable(ops::index_rows(train, rows)), weight, bias);
      Variable loss = fn::cross_entropy(logits, label_tensor(train_labels, rows));
      optimizer.zero_grad();
      loss.backward();
      optimizer.set_lr(nn::warmup_cosine_lr(options.lr, step++, 0, total));
      optimizer.step();
    }
  }

  NoGradGuard no_grad;
  auto logits_of = [&](const Tensor& x) { return fn::linear(Variable(x), weight, bias).value(); };
  ProbeResult result;
  result.train_top1 = score(logits_of(train), train_labels, classes).top1;
  result.test = score(logits_of(test), test_labels, classes);
  return result;
}

}  // namespace clipgrad::clip
