#include "dist/communicator.h"

#include <cstdlib>
#include <stdexcept>

namespace clipgrad::dist {

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

}  // namespace clipgrad::dist
