// CLIP's symmetric InfoNCE loss with a learnable temperature.
#pragma once

#include "autograd/functional.h"
#include "distributed/communicator.h"

namespace clipgrad::clip {

// a [N, E], b [M, E] unnormalised embeddings; logit_scale [] or [1], the log of
// the inverse temperature -> [N, M] = exp(logit_scale) * normalize(a) @ normalize(b)^T
Variable scaled_cosine_logits(const Variable& a, const Variable& b, const Variable& logit_scale);

struct ContrastiveOutput {
  Variable loss;    // []
  Variable logits;  // [N, N] scaled_cosine_logits(a, b)
};

// Rows i of a and b belong together.
// loss = (cross_entropy(logits, diag) + cross_entropy(logits^T, diag)) / 2,
// fused into one op (ops::contrastive_cross_entropy) that never stores a softmax.
ContrastiveOutput contrastive_loss(const Variable& a, const Variable& b, const Variable& logit_scale);

// What one process's batch is a slice of. Data parallel: each of N ranks
// holds rows [rank*B, (rank+1)*B) of the global batch; the losses below see
// the others' rows by a gather with gradient (distributed/gather.h).
//   full loss (default): every rank computes the loss of the whole global
//     batch, the single-process loss at batch N*B (memory quadratic in N*B).
//   local_loss (open_clip's --local-loss): a rank's logits are only its rows
//     against every column and its columns against every row, [B, N*B]; the
//     mean over the ranks of their losses is the global loss, and so is the
//     gradient after the trainer's all-reduce average.
struct GlobalBatch {
  distributed::Communicator* communicator = nullptr;  // null: one process, the batch is the global batch
  bool local_loss = false;
  bool spans_processes() const { return communicator && communicator->world_size() > 1; }
  // This rank's rows of a [B, E] -> every rank's [N*B, E] (with gradient).
  Variable gather(const Variable& local, const std::string& what) const;
  // The global index of this rank's first row.
  int64_t first_row(int64_t local_rows) const;
};

// contrastive_loss over the global batch. One process: exactly contrastive_loss.
ContrastiveOutput contrastive_loss(const Variable& a, const Variable& b, const Variable& logit_scale,
                                   const GlobalBatch& global);

// One direction of InfoNCE: the mean over this rank's query rows of
// cross_entropy(exp(logit_scale) * cos(query, every key of the global batch)),
// each query's positive the key of its own row. One process: cross_entropy
// of scaled_cosine_logits(queries, keys) against the diagonal. For one
// process or a local loss (the full loss is the one-process loss of the
// gathered rows: gather them first, once).
Variable info_nce(const Variable& queries, const Variable& keys, const Variable& logit_scale, const GlobalBatch& global,
                  const std::string& what);

}  // namespace clipgrad::clip
