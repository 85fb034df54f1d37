#include "dist/mpi/mpi_communicator.h"

#include <climits>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace clipgrad::dist {

namespace {

void check(int code, const std::string& what) {
  if (code == MPI_SUCCESS) return;
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, message, &length);
  throw std::runtime_error("MPI " + what + " failed: " + std::string(message, length));
}

int byte_count(size_t bytes, const std::string& what) {
  if (bytes > static_cast<size_t>(INT_MAX))
    throw std::invalid_argument("MPI " + what + ": " + std::to_string(bytes) + " bytes in one message (at most " +
                                std::to_string(INT_MAX) + "); use smaller gradient buckets");
  return static_cast<int>(bytes);
}

bool test_request(MPI_Request& request, const std::string& what) {
  int done = 0;
  check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
  return done != 0;
}

void check_reducible(const Tensor& tensor, const std::string& what) {
  if (tensor.device() != Device::CPU || (tensor.dtype() != DType::F32 && tensor.dtype() != DType::F64))
    throw std::invalid_argument("MPI " + what + ": needs an f32 or f64 CPU tensor, got " +
                                std::string(dtype_name(tensor.dtype())) + " on " + device_name(tensor.device()));
}

// segments [N * count], segment r from rank r -> [count]: their sum, added in rank order.
Tensor sum_segments_in_rank_order(const Tensor& segments, int ranks, int64_t count) {
  Tensor sum = Tensor::empty({count}, segments.dtype());
  dispatch_floating(segments.dtype(), "sum_segments_in_rank_order", [&]<class T>() {
    const T* in = segments.data<T>();
    T* out = sum.data<T>();
    std::memcpy(out, in, count * sizeof(T));
    for (int r = 1; r < ranks; ++r)
      for (int64_t i = 0; i < count; ++i) out[i] += in[r * count + i];
  });
  return sum;
}

}  // namespace

// One sum in flight: exchange segments (Ialltoall), sum this rank's segment,
// then (an all-reduce) all-gather the summed segments.
struct MpiCommunicator::SegmentedSum {
  enum class Stage { exchanging, gathering, done };
  Tensor sent;      // [N * segment]
  Tensor received;  // [N * segment]: segment `rank` of every rank
  Tensor summed;    // [segment]
  Tensor gathered;  // [N * segment]: every rank's summed segment (all-reduce)
  Tensor result;    // flat: the caller's buffer [n <= N * segment], or its shard [segment]
  int64_t segment = 0;
  bool gather = false;
  std::string what;
  MPI_Request request = MPI_REQUEST_NULL;
  Stage stage = Stage::exchanging;
};

class MpiPendingSum final : public PendingCollective {
 public:
  MpiPendingSum(MpiCommunicator& communicator, std::shared_ptr<MpiCommunicator::SegmentedSum> state)
      : communicator_(communicator), state_(std::move(state)) {}
  bool test() override {
    communicator_.advance_sums();
    return state_->stage == MpiCommunicator::SegmentedSum::Stage::done;
  }
  void wait() override { communicator_.poll_until([this] { return test(); }, state_->what, communicator_.timeout_); }

 private:
  MpiCommunicator& communicator_;
  std::shared_ptr<MpiCommunicator::SegmentedSum> state_;
};

MpiCommunicator::MpiCommunicator(std::chrono::milliseconds timeout) : timeout_(timeout) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    // Only the main thread calls MPI (the loader's threads decode images).
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
  }
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "set error handler");
  check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "comm dup");
  check(MPI_Comm_dup(MPI_COMM_WORLD, &gather_comm_), "comm dup");
  check(MPI_Comm_rank(comm_, &rank_), "comm rank");
  check(MPI_Comm_size(comm_, &world_size_), "comm size");
  MPI_Comm node_comm = MPI_COMM_NULL;
  check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node_comm), "split by node");
  check(MPI_Comm_rank(node_comm, &local_rank_), "node rank");
  MPI_Comm_free(&node_comm);
}

MpiCommunicator::~MpiCommunicator() {
  MPI_Comm_free(&gather_comm_);
  MPI_Comm_free(&comm_);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

std::unique_ptr<PendingCollective> MpiCommunicator::start_all_reduce_sum(Tensor buffer, const std::string& what) {
  check_reducible(buffer, what);
  const int64_t n = buffer.numel(), segment = (n + world_size_ - 1) / world_size_;
  Tensor sent = Tensor::zeros({world_size_ * segment}, buffer.dtype());
  sent.rows(0, n).copy_from(buffer.reshape({n}));
  return start_segmented_sum(sent, segment, buffer.reshape({n}), true, what);
}

std::unique_ptr<PendingCollective> MpiCommunicator::start_reduce_scatter_sum(Tensor full, Tensor shard,
                                                                          const std::string& what) {
  check_reducible(full, what);
  check_reducible(shard, what);
  if (full.dtype() != shard.dtype() || full.numel() != world_size_ * shard.numel())
    throw std::invalid_argument("MPI " + what + ": a shard " + shape_str(shard.shape()) + " " +
                                dtype_name(shard.dtype()) + " of " + shape_str(full.shape()) + " " +
                                dtype_name(full.dtype()) + " over " + std::to_string(world_size_) + " ranks");
  return start_segmented_sum(full.reshape({full.numel()}), shard.numel(), shard.reshape({shard.numel()}), false,
                             what);
}

std::unique_ptr<PendingCollective> MpiCommunicator::start_segmented_sum(Tensor sent, int64_t segment, Tensor result,
                                                                        bool gather, const std::string& what) {
  auto state = std::make_shared<SegmentedSum>();
  state->what = what;
  state->sent = std::move(sent);
  state->segment = segment;
  state->result = std::move(result);
  state->gather = gather;
  state->received = Tensor::empty_like(state->sent);
  int bytes = byte_count(segment * dtype_size(state->sent.dtype()), what);
  check(MPI_Ialltoall(state->sent.raw_data(), bytes, MPI_BYTE, state->received.raw_data(), bytes, MPI_BYTE, comm_,
                      &state->request),
        what);
  sums_.push_back(state);
  return std::make_unique<MpiPendingSum>(*this, state);
}

void MpiCommunicator::advance_sums() {
  using Stage = SegmentedSum::Stage;
  bool earlier_still_exchanging = false;
  for (const auto& state : sums_) {
    if (state->stage == Stage::exchanging) {
      if (earlier_still_exchanging || !test_request(state->request, state->what)) {
        earlier_still_exchanging = true;
        continue;
      }
      state->summed = sum_segments_in_rank_order(state->received, world_size_, state->segment);
      state->received = Tensor();
      if (!state->gather) {
        state->result.copy_from(state->summed);
        state->stage = Stage::done;
        continue;
      }
      state->gathered = Tensor::empty_like(state->sent);
      int bytes = byte_count(state->segment * dtype_size(state->summed.dtype()), state->what);
      check(MPI_Iallgather(state->summed.raw_data(), bytes, MPI_BYTE, state->gathered.raw_data(), bytes, MPI_BYTE,
                           gather_comm_, &state->request),
            state->what);
      state->stage = Stage::gathering;
    }
    if (state->stage == Stage::gathering && test_request(state->request, state->what)) {
      state->result.copy_from(state->gathered.rows(0, state->result.numel()));
      state->stage = Stage::done;
    }
  }
  std::erase_if(sums_, [](const auto& state) { return state->stage == Stage::done; });
}

void MpiCommunicator::poll_until(const std::function<bool()>& done, const std::string& what,
                                 std::chrono::milliseconds timeout) {
  auto start = std::chrono::steady_clock::now();
  for (int64_t polls = 0; !done(); ++polls) {
    if (std::chrono::steady_clock::now() - start > timeout)
      throw std::runtime_error("MPI " + what + " timed out after " + std::to_string(timeout.count() / 1000.0) +
                               " s on rank " + std::to_string(rank_) +
                               " (another rank died, hangs or took another path; "
                               "CLIPGRAD_COLLECTIVE_TIMEOUT sets the limit)");
    // Spin briefly (collectives of a step are quick), then stop burning the core.
    if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
    else std::this_thread::yield();
  }
}

void MpiCommunicator::wait_request(MPI_Request& request, const std::string& what, std::chrono::milliseconds timeout) {
  poll_until(
      [&] {
        advance_sums();
        return test_request(request, what);
      },
      what, timeout);
}

Tensor MpiCommunicator::all_gather_rows(const Tensor& local, const std::string& what) {
  if (local.device() != Device::CPU || local.dim() < 1)
    throw std::invalid_argument("MPI " + what + ": needs a CPU tensor with a row dimension");
  Shape shape = local.shape();
  shape[0] *= world_size_;
  Tensor gathered = Tensor::empty(shape, local.dtype());
  Tensor source = local.clone();  // contiguous and ours while the request runs
  int bytes = byte_count(source.nbytes(), what);
  MPI_Request request;
  check(MPI_Iallgather(source.raw_data(), bytes, MPI_BYTE, gathered.raw_data(), bytes, MPI_BYTE, comm_, &request),
        what);
  wait_request(request, what);
  return gathered;
}

void MpiCommunicator::broadcast(Tensor buffer, int root, const std::string& what) {
  if (buffer.device() != Device::CPU) throw std::invalid_argument("MPI " + what + ": needs a CPU tensor");
  broadcast_bytes(buffer.raw_data(), buffer.nbytes(), root, what);
}

void MpiCommunicator::broadcast_bytes(void* data, size_t bytes, int root, const std::string& what) {
  MPI_Request request;
  check(MPI_Ibcast(data, byte_count(bytes, what), MPI_BYTE, root, comm_, &request), what);
  wait_request(request, what);
}

void MpiCommunicator::slow_barrier(const std::string& what, std::chrono::milliseconds timeout) {
  MPI_Request request;
  check(MPI_Ibarrier(comm_, &request), what);
  wait_request(request, what, timeout);
}

void MpiCommunicator::abort_job(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);  // MPI_Abort does not return; this keeps [[noreturn]] honest
}

}  // namespace clipgrad::dist
