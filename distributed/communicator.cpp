#include "distributed/communicator.h"

#include <cstdlib>
#include <stdexcept>

namespace clipgrad::distributed {

namespace {

class CompletedCollective final : public PendingCollective {
 public:
  bool test() override { return true; }
  void wait() override {}
};

}  // namespace

std::unique_ptr<PendingCollective> SingleProcess::start_all_reduce_sum(Tensor, const std::string&) {
  return std::make_unique<CompletedCollective>();
}

std::unique_ptr<PendingCollective> SingleProcess::start_reduce_scatter_sum(Tensor full, Tensor shard,
                                                                           const std::string& what) {
  check_shard(full, shard, what);
  shard.copy_from(full.reshape(shard.shape()));
  return std::make_unique<CompletedCollective>();
}

void Communicator::check_shard(const Tensor& full, const Tensor& shard, const std::string& what) const {
  if (full.dtype() != shard.dtype() || full.numel() != world_size() * shard.numel())
    throw std::invalid_argument(name() + " " + what + ": a shard " + shape_str(shard.shape()) + " " +
                                dtype_name(shard.dtype()) + " of " + shape_str(full.shape()) + " " +
                                dtype_name(full.dtype()) + " over " + std::to_string(world_size()) + " ranks");
}

Tensor Communicator::reduce_scatter_rows(const Tensor& full, const std::string& what) {
  Shape shape = full.shape();
  if (shape.empty() || shape[0] % world_size() != 0)
    throw std::invalid_argument(name() + " " + what + ": " + shape_str(shape) + " does not split into " +
                                std::to_string(world_size()) + " row blocks");
  shape[0] /= world_size();
  Tensor source = full.reshape({full.numel()});
  Tensor mine = Tensor::empty(shape, full.dtype(), full.device());
  start_reduce_scatter_sum(source, mine.reshape({mine.numel()}), what)->wait();
  return mine;
}

void SingleProcess::abort_job(int exit_code) { std::exit(exit_code); }

std::chrono::milliseconds collective_timeout_from_env() {
  const char* text = std::getenv("CLIPGRAD_COLLECTIVE_TIMEOUT");
  if (!text || !*text) return std::chrono::seconds(300);
  char* end = nullptr;
  double seconds = std::strtod(text, &end);
  if (*end != '\0' || !(seconds > 0))
    throw std::invalid_argument(std::string("CLIPGRAD_COLLECTIVE_TIMEOUT='") + text +
                                "' must be a positive number of seconds");
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

int64_t rows_per_rank(int64_t rows, int world_size, const std::string& what) {
  if (world_size < 1 || rows % world_size != 0)
    throw std::invalid_argument(what + ": " + std::to_string(rows) + " rows do not split evenly over " +
                                std::to_string(world_size) + " processes");
  return rows / world_size;
}

}  // namespace clipgrad::distributed
