#include "distributed/grad_buckets.h"

#include <stdexcept>

#include "tensor/ops/elementwise.h"

namespace clipgrad::distributed {

GradientBuckets::GradientBuckets(std::vector<Variable> params, Communicator& communicator, size_t bucket_bytes,
                                 GradientReduction reduction)
    : params_(std::move(params)), communicator_(communicator), reduction_(reduction), bucket_of_param_(params_.size()) {
  if (params_.empty()) throw std::invalid_argument("GradientBuckets: no parameters");
  if (bucket_bytes == 0) throw std::invalid_argument("GradientBuckets: bucket size must be positive");
  size_t bucket_size = 0;
  for (size_t i = params_.size(); i-- > 0;) {
    const Variable& param = params_[i];
    if (param.dtype() != params_.back().dtype() || param.value().device() != params_.back().value().device())
      throw std::invalid_argument("GradientBuckets: every parameter must share one dtype and device");
    size_t bytes = param.value().nbytes();
    if (bucket_params_.empty() || (bucket_size > 0 && bucket_size + bytes > bucket_bytes)) {
      bucket_params_.emplace_back();
      bucket_size = 0;
    }
    bucket_params_.back().push_back(i);
    bucket_size += bytes;
    bucket_of_param_[i] = bucket_params_.size() - 1;
  }
  const int64_t ranks = communicator_.world_size();
  for (const auto& bucket : bucket_params_) {
    int64_t numel = 0;
    for (size_t i : bucket) numel += params_[i].numel();
    const DType dtype = params_[bucket[0]].dtype();
    const Device device = params_[bucket[0]].value().device();
    if (reduction_ == GradientReduction::all_reduce) {
      buffers_.push_back(Tensor::empty({numel}, dtype, device));
    } else {
      const int64_t segment = (numel + ranks - 1) / ranks;
      buffers_.push_back(Tensor::zeros({ranks * segment}, dtype, device));  // the padding stays zero
      shards_.push_back(Tensor::zeros({segment}, dtype, device));
    }
  }
  remaining_.resize(bucket_params_.size());
  pending_.resize(bucket_params_.size());
  for (size_t i = 0; i < params_.size(); ++i) params_[i].set_grad_final_hook([this, i] { on_grad_final(i); });
}

GradientBuckets::~GradientBuckets() {
  for (Variable& param : params_) param.set_grad_final_hook(nullptr);
}

void GradientBuckets::start_step() {
  for (size_t b = 0; b < bucket_params_.size(); ++b) {
    if (pending_[b]) throw std::logic_error("GradientBuckets::start_step: the previous step did not finish");
    remaining_[b] = bucket_params_[b].size();
  }
  started_during_backward_ = 0;
  in_backward_ = true;
}

void GradientBuckets::on_grad_final(size_t param) {
  if (!in_backward_) return;  // a backward outside a training step (the trainer's own is inside)
  size_t bucket = bucket_of_param_[param];
  if (--remaining_[bucket] == 0) {
    start_bucket(bucket);
    ++started_during_backward_;
  }
  // Without a progress thread an MPI library advances a collective only
  // inside its calls: nudge the ones in flight.
  for (auto& pending : pending_)
    if (pending) pending->test();
}

void GradientBuckets::start_bucket(size_t bucket) {
  Tensor& buffer = buffers_[bucket];
  int64_t offset = 0;
  for (size_t i : bucket_params_[bucket]) {
    const Variable& param = params_[i];
    Tensor slot = buffer.rows(offset, offset + param.numel()).reshape(param.shape());
    if (param.has_grad()) {
      slot.copy_from(param.grad());
    } else {
      slot.fill(0.0);
    }
    offset += param.numel();
  }
  const std::string what =
      " of gradient bucket " + std::to_string(bucket) + " (" + std::to_string(buffer.nbytes()) + " bytes)";
  pending_[bucket] = reduction_ == GradientReduction::all_reduce
                         ? communicator_.start_all_reduce_sum(buffer, "all-reduce" + what)
                         : communicator_.start_reduce_scatter_sum(buffer, shards_[bucket], "reduce-scatter" + what);
}

int64_t GradientBuckets::segment(size_t bucket) const {
  const int64_t numel = buffers_.at(bucket).numel();
  return reduction_ == GradientReduction::all_reduce ? numel : numel / communicator_.world_size();
}

void GradientBuckets::finish_step() {
  in_backward_ = false;
  for (size_t b = 0; b < bucket_params_.size(); ++b)
    if (!pending_[b]) start_bucket(b);
  const double inverse_world = 1.0 / communicator_.world_size();
  for (size_t b = 0; b < bucket_params_.size(); ++b) {
    pending_[b]->wait();
    pending_[b].reset();
    if (reduction_ == GradientReduction::reduce_scatter) {
      shards_[b] = ops::scale(shards_[b], inverse_world);
      for (size_t i : bucket_params_[b]) params_[i].zero_grad();  // this rank's own: not an average
      continue;
    }
    int64_t offset = 0;
    for (size_t i : bucket_params_[b]) {
      Variable& param = params_[i];
      Tensor sum = buffers_[b].rows(offset, offset + param.numel()).reshape(param.shape());
      param.zero_grad();
      param.add_grad(ops::scale(sum, inverse_world));
      offset += param.numel();
    }
  }
}

}  // namespace clipgrad::distributed
