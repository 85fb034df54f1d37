#include "distributed/mpi/mpi_communicator.h"

#include <climits>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace clipgrad::distributed {

namespace {

// Memory MPI can read and write: a CPU tensor's; under the CUDA emulator a
// CUDA tensor's too (emulated device memory is host memory, and every launch
// has finished when it returns), so the MPI world stands in for NCCL there.
bool in_host_memory(const Tensor& tensor) {
#ifdef CLIPGRAD_CUDA_EMULATE
  if (tensor.device() == Device::CUDA) return true;
#endif
  return tensor.device() == Device::CPU;
}

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

int element_count(int64_t elements, const std::string& what) {
  if (elements > INT_MAX)
    throw std::invalid_argument("MPI " + what + ": " + std::to_string(elements) + " elements in one message (at most " +
                                std::to_string(INT_MAX) + "); use smaller gradient buckets");
  return static_cast<int>(elements);
}

MPI_Datatype mpi_type(DType dtype) { return dtype == DType::F64 ? MPI_DOUBLE : MPI_FLOAT; }

bool test_request(MPI_Request& request, const std::string& what) {
  int done = 0;
  check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
  return done != 0;
}

void check_reducible(const Tensor& tensor, const std::string& what) {
  if (!in_host_memory(tensor) || (tensor.dtype() != DType::F32 && tensor.dtype() != DType::F64))
    throw std::invalid_argument("MPI " + what + ": needs an f32 or f64 CPU tensor, got " +
                                std::string(dtype_name(tensor.dtype())) + " on " + device_name(tensor.device()));
}

// into[i] = the sum over r of segments[r * count + i], added in rank order.
void sum_segments_in_rank_order(const Tensor& segments, int ranks, Tensor& into) {
  const int64_t count = into.numel();
  dispatch_floating(segments.dtype(), "sum_segments_in_rank_order", [&]<class T>() {
    // Host memory either way (in_host_memory): raw pointers, since data<T>() refuses an emulated CUDA tensor.
    const T* in = static_cast<const T*>(segments.raw_data());
    T* out = static_cast<T*>(into.raw_data());
    std::memcpy(out, in, count * sizeof(T));
    for (int r = 1; r < ranks; ++r)
      for (int64_t i = 0; i < count; ++i) out[i] += in[r * count + i];
  });
}

}  // namespace

// One sum in flight: exchange segments (Ialltoallv: rank r receives segment r
// of every rank's buffer), add them in rank order, then (an all-reduce)
// all-gather the summed segments in place. The all-reduce's segments are as
// even as can be (the first n % N ranks have one element more), so the
// caller's buffer is sent from, summed into and gathered into directly.
struct MpiCommunicator::SegmentedSum {
  enum class Stage { exchanging, gathering, done };
  Tensor sent;                       // flat: the caller's buffer (all-reduce) or its full [N * S] (reduce-scatter)
  Tensor summed;                     // this rank's segment: a view of `sent` (all-reduce) or the caller's shard
  Tensor received;                   // scratch [N * count]: segment `rank` of every rank
  std::vector<int> counts, offsets;  // per rank: its segment of `sent`
  std::vector<int> received_counts, received_offsets;  // per rank: where its part of segment `rank` lands
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
  void wait() override {
    communicator_.poll_until([this] { return test(); }, state_->what, communicator_.timeout_);
  }

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
  const int64_t n = buffer.numel();
  std::vector<int> counts(world_size_), offsets(world_size_);
  for (int r = 0, offset = 0; r < world_size_; ++r) {
    counts[r] = element_count(n / world_size_ + (r < n % world_size_ ? 1 : 0), what);
    offsets[r] = offset;
    offset += counts[r];
  }
  Tensor flat = buffer.reshape({n});
  Tensor mine = flat.rows(offsets[rank_], offsets[rank_] + counts[rank_]);
  return start_segmented_sum(flat, mine, std::move(counts), std::move(offsets), true, what);
}

std::unique_ptr<PendingCollective> MpiCommunicator::start_reduce_scatter_sum(Tensor full, Tensor shard,
                                                                             const std::string& what) {
  check_reducible(full, what);
  check_reducible(shard, what);
  check_shard(full, shard, what);
  const int count = element_count(shard.numel(), what);
  std::vector<int> counts(world_size_, count), offsets(world_size_);
  for (int r = 0; r < world_size_; ++r) offsets[r] = r * count;
  return start_segmented_sum(full.reshape({full.numel()}), shard.reshape({shard.numel()}), std::move(counts),
                             std::move(offsets), false, what);
}

std::unique_ptr<PendingCollective> MpiCommunicator::start_segmented_sum(Tensor sent, Tensor summed,
                                                                        std::vector<int> counts,
                                                                        std::vector<int> offsets, bool gather,
                                                                        const std::string& what) {
  auto state = std::make_shared<SegmentedSum>();
  state->what = what;
  state->sent = std::move(sent);
  state->summed = std::move(summed);
  state->counts = std::move(counts);
  state->offsets = std::move(offsets);
  state->gather = gather;
  const int mine = state->counts[rank_];
  state->received = take_scratch(int64_t(world_size_) * mine, state->sent.dtype());
  state->received_counts.assign(world_size_, mine);
  for (int r = 0; r < world_size_; ++r) state->received_offsets.push_back(r * mine);
  const MPI_Datatype type = mpi_type(state->sent.dtype());
  check(MPI_Ialltoallv(state->sent.raw_data(), state->counts.data(), state->offsets.data(), type,
                       state->received.raw_data(), state->received_counts.data(), state->received_offsets.data(), type,
                       comm_, &state->request),
        what);
  sums_.push_back(state);
  return std::make_unique<MpiPendingSum>(*this, state);
}

Tensor MpiCommunicator::take_scratch(int64_t numel, DType dtype) {
  auto found = scratch_.find({numel, dtype});
  if (found == scratch_.end()) return Tensor::empty({numel}, dtype);
  Tensor tensor = std::move(found->second);
  scratch_.erase(found);
  return tensor;
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
      sum_segments_in_rank_order(state->received, world_size_, state->summed);
      const std::pair<int64_t, DType> key{state->received.numel(), state->received.dtype()};
      scratch_.emplace(key, std::move(state->received));
      if (!state->gather) {
        state->stage = Stage::done;
        continue;
      }
      check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, state->sent.raw_data(), state->counts.data(),
                            state->offsets.data(), mpi_type(state->sent.dtype()), gather_comm_, &state->request),
            state->what);
      state->stage = Stage::gathering;
    }
    if (state->stage == Stage::gathering && test_request(state->request, state->what)) state->stage = Stage::done;
  }
  std::erase_if(sums_, [](const auto& state) { return state->stage == Stage::done; });
}

void MpiCommunicator::poll_until(const std::function<bool()>& done, const std::string& what,
                                 std::chrono::milliseconds timeout) {
  // MPI moves a large message's fragments only inside its calls: a collective
  // is polled without pause (as MPI_Wait itself spins) for its first two
  // seconds, which cover any bucket of a step; a longer wait is a rank
  // waiting for another's work, polled every millisecond.
  constexpr auto kSpin = std::chrono::seconds(2);
  const auto start = std::chrono::steady_clock::now();
  while (!done()) {
    const auto waited = std::chrono::steady_clock::now() - start;
    if (waited > timeout)
      throw std::runtime_error("MPI " + what + " timed out after " + std::to_string(timeout.count() / 1000.0) +
                               " s on rank " + std::to_string(rank_) +
                               " (another rank died, hangs or took another path; "
                               "CLIPGRAD_COLLECTIVE_TIMEOUT sets the limit)");
    if (waited > kSpin) std::this_thread::sleep_for(std::chrono::milliseconds(1));
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
  if (!in_host_memory(local) || local.dim() < 1)
    throw std::invalid_argument("MPI " + what + ": needs a CPU tensor with a row dimension");
  Shape shape = local.shape();
  shape[0] *= world_size_;
  Tensor gathered = Tensor::empty(shape, local.dtype(), local.device());
  int bytes = byte_count(local.nbytes(), what);  // `local` stays the caller's until this returns
  MPI_Request request;
  check(MPI_Iallgather(local.raw_data(), bytes, MPI_BYTE, gathered.raw_data(), bytes, MPI_BYTE, comm_, &request), what);
  wait_request(request, what);
  return gathered;
}

void MpiCommunicator::broadcast(Tensor buffer, int root, const std::string& what) {
  if (!in_host_memory(buffer)) throw std::invalid_argument("MPI " + what + ": needs a CPU tensor");
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

}  // namespace clipgrad::distributed
