#include "clip/train/loss.h"

#include <numeric>
#include <stdexcept>

#include "distributed/gather.h"

namespace clipgrad::clip {

Variable scaled_cosine_logits(const Variable& a, const Variable& b, const Variable& logit_scale) {
  Variable scale = fn::exp(fn::reshape(logit_scale, {}));
  Variable similarity = fn::matmul(fn::l2_normalize(a, -1), fn::l2_normalize(b, -1), false, true);
  return fn::mul(similarity, scale);
}

ContrastiveOutput contrastive_loss(const Variable& a, const Variable& b, const Variable& logit_scale) {
  Variable logits = scaled_cosine_logits(a, b, logit_scale);
  return {fn::contrastive_cross_entropy(logits, ops::ContrastiveDirections::Symmetric), logits};
}

Variable GlobalBatch::gather(const Variable& local, const std::string& what) const {
  return distributed::all_gather_with_grad(local, *communicator, what);
}

int64_t GlobalBatch::first_row(int64_t local_rows) const {
  return spans_processes() ? communicator->rank() * local_rows : 0;
}

// i32 [n] = first, first + 1, ..., first + n - 1.
static Tensor targets_from(int64_t first, int64_t n) {
  std::vector<int32_t> targets(n);
  std::iota(targets.begin(), targets.end(), static_cast<int32_t>(first));
  return Tensor::from_vector<int32_t>({n}, targets);
}

ContrastiveOutput contrastive_loss(const Variable& a, const Variable& b, const Variable& logit_scale,
                                   const GlobalBatch& global) {
  if (!global.spans_processes()) return contrastive_loss(a, b, logit_scale);
  Variable all_a = global.gather(a, "image features"), all_b = global.gather(b, "text features");
  if (!global.local_loss) return contrastive_loss(all_a, all_b, logit_scale);
  Tensor targets = targets_from(global.first_row(a.size(0)), a.size(0)).to(a.value().device());
  Variable logits_a = scaled_cosine_logits(a, all_b, logit_scale);  // [B, N*B]
  Variable logits_b = scaled_cosine_logits(b, all_a, logit_scale);  // [B, N*B]
  Variable loss = fn::scale(fn::add(fn::cross_entropy(logits_a, targets), fn::cross_entropy(logits_b, targets)), 0.5);
  return {loss, logits_a};
}

Variable info_nce(const Variable& queries, const Variable& keys, const Variable& logit_scale, const GlobalBatch& global,
                  const std::string& what) {
  if (!global.spans_processes())
    return fn::contrastive_cross_entropy(scaled_cosine_logits(queries, keys, logit_scale),
                                         ops::ContrastiveDirections::RowsOnly);
  if (!global.local_loss)
    throw std::logic_error("info_nce of " + what + ": the full loss over processes takes the gathered rows");
  Variable all_keys = global.gather(keys, what + " keys");
  return fn::cross_entropy(
      scaled_cosine_logits(queries, all_keys, logit_scale),
      targets_from(global.first_row(queries.size(0)), queries.size(0)).to(queries.value().device()));
}

}  // namespace clipgrad::clip
