#include "distributed/nccl/nccl_communicator.h"

#include <stdexcept>
#include <thread>

#include "cuda/check.h"
#include "cuda/stream.h"

namespace clipgrad::distributed {

namespace {

[[noreturn]] void throw_nccl(ncclResult_t result, const std::string& what) {
  throw std::runtime_error("NCCL " + what + " failed: " + ncclGetErrorString(result));
}

// The communicator is non-blocking (ncclConfig_t::blocking = 0): a call may
// return ncclInProgress and finish in NCCL's own thread. Waits until it has,
// against the timeout, so that no call can hang the process: on a timeout or
// an error the caller throws and the communicator is aborted, not destroyed.
void settle(ncclComm_t comm, ncclResult_t result, const std::string& what, std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  while (result == ncclInProgress) {
    if (std::chrono::steady_clock::now() - start > timeout)
      throw std::runtime_error("NCCL " + what + " did not finish in " + std::to_string(timeout.count() / 1000.0) +
                               " s (another rank died, hangs or took another path; CLIPGRAD_COLLECTIVE_TIMEOUT sets "
                               "the limit)");
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    if (ncclCommGetAsyncError(comm, &result) != ncclSuccess) result = ncclInternalError;
  }
  if (result != ncclSuccess) throw_nccl(result, what);
}

ncclDataType_t nccl_type(const Tensor& tensor, const std::string& what) {
  if (tensor.device() != Device::CUDA)
    throw std::invalid_argument("NCCL " + what + ": needs a CUDA tensor, got one on " + device_name(tensor.device()));
  switch (tensor.dtype()) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::BF16: return ncclBfloat16;
    default: throw std::invalid_argument("NCCL " + what + ": cannot reduce " + std::string(dtype_name(tensor.dtype())));
  }
}

// A collective enqueued on the collectives' stream, complete when its event
// is. While it waits it polls NCCL's asynchronous error, so a failed peer or
// network shows as NCCL's error at once, not as a timeout minutes later.
class NcclPendingCollective final : public PendingCollective {
 public:
  NcclPendingCollective(std::string what, ncclComm_t comm, cudaStream_t stream, std::chrono::milliseconds timeout,
                        bool& failed)
      : what_(std::move(what)), comm_(comm), timeout_(timeout), failed_(failed) {
    CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventRecord(event_, stream));
  }
  ~NcclPendingCollective() override { cudaEventDestroy(event_); }
  bool test() override {
    cudaError_t status = cudaEventQuery(event_);
    if (status == cudaErrorNotReady) return false;
    CUDA_CHECK(status);
    return true;
  }
  void wait() override {
    auto start = std::chrono::steady_clock::now();
    while (!test()) {
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        failed_ = true;
        throw_nccl(async, what_);
      }
      if (std::chrono::steady_clock::now() - start > timeout_) {
        failed_ = true;
        throw std::runtime_error("NCCL " + what_ + " timed out after " + std::to_string(timeout_.count() / 1000.0) +
                                 " s (another rank died, hangs or took another path; "
                                 "CLIPGRAD_COLLECTIVE_TIMEOUT sets the limit)");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

 private:
  std::string what_;
  ncclComm_t comm_;
  std::chrono::milliseconds timeout_;
  bool& failed_;  // the communicator's: after a failure it is aborted, not destroyed
  cudaEvent_t event_ = nullptr;
};

}  // namespace

NcclCommunicator::NcclCommunicator(std::unique_ptr<MpiCommunicator> bootstrap, std::chrono::milliseconds timeout)
    : bootstrap_(std::move(bootstrap)), timeout_(timeout) {
  int devices = 0;
  CUDA_CHECK(cudaGetDeviceCount(&devices));
  if (local_rank() >= devices)
    throw std::runtime_error("rank " + std::to_string(rank()) + " is local rank " + std::to_string(local_rank()) +
                             " on its machine, which has " + std::to_string(devices) +
                             " GPUs: start at most one process per GPU");
  CUDA_CHECK(cudaSetDevice(local_rank()));
  ncclUniqueId id;
  if (rank() == 0) {
    const ncclResult_t result = ncclGetUniqueId(&id);
    if (result != ncclSuccess) throw_nccl(result, "get unique id");
  }
  bootstrap_->broadcast_bytes(&id, sizeof id, 0, "broadcast of the NCCL unique id");
  // Non-blocking, so that joining the world has a timeout like every collective.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  const ncclResult_t init = ncclCommInitRankConfig(&comm_, world_size(), id, rank(), &config);
  try {
    settle(comm_, init, "joining the world of " + std::to_string(world_size()) + " ranks", timeout_);
  } catch (...) {
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    throw;
  }
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CUDA_CHECK(cudaEventCreateWithFlags(&compute_done_, cudaEventDisableTiming));
}

// A clean end flushes the communicator's work (ncclCommFinalize) against the
// timeout; after an error, or when that does not finish, it is aborted:
// ncclCommDestroy on a communicator whose peer is gone can wait forever.
NcclCommunicator::~NcclCommunicator() {
  if (comm_) {
    bool finalized = !failed_;
    if (finalized) {
      try {
        settle(comm_, ncclCommFinalize(comm_), "finalize", timeout_);
      } catch (const std::exception&) {
        finalized = false;
      }
    }
    finalized ? ncclCommDestroy(comm_) : ncclCommAbort(comm_);
  }
  if (compute_done_) cudaEventDestroy(compute_done_);
  if (stream_) cudaStreamDestroy(stream_);
}

void NcclCommunicator::after_compute() {
  CUDA_CHECK(cudaEventRecord(compute_done_, cuda::compute_stream()));
  CUDA_CHECK(cudaStreamWaitEvent(stream_, compute_done_, 0));
}

std::unique_ptr<PendingCollective> NcclCommunicator::pending_after_enqueue(ncclResult_t enqueued,
                                                                           const std::string& what) {
  try {
    settle(comm_, enqueued, what, timeout_);
  } catch (...) {
    failed_ = true;
    throw;
  }
  return std::make_unique<NcclPendingCollective>(what, comm_, stream_, timeout_, failed_);
}

std::unique_ptr<PendingCollective> NcclCommunicator::start_all_reduce_sum(Tensor buffer, const std::string& what) {
  if (buffer.device() == Device::CPU) return bootstrap_->start_all_reduce_sum(std::move(buffer), what);
  ncclDataType_t type = nccl_type(buffer, what);
  after_compute();
  const ncclResult_t enqueued =
      ncclAllReduce(buffer.raw_data(), buffer.raw_data(), buffer.numel(), type, ncclSum, comm_, stream_);
  return pending_after_enqueue(enqueued, what);
}

std::unique_ptr<PendingCollective> NcclCommunicator::start_reduce_scatter_sum(Tensor full, Tensor shard,
                                                                              const std::string& what) {
  if (full.device() == Device::CPU && shard.device() == Device::CPU)
    return bootstrap_->start_reduce_scatter_sum(std::move(full), std::move(shard), what);
  ncclDataType_t type = nccl_type(full, what);
  nccl_type(shard, what);  // a CUDA tensor NCCL can reduce
  check_shard(full, shard, what);
  after_compute();
  const ncclResult_t enqueued =
      ncclReduceScatter(full.raw_data(), shard.raw_data(), shard.numel(), type, ncclSum, comm_, stream_);
  return pending_after_enqueue(enqueued, what);
}

Tensor NcclCommunicator::all_gather_rows(const Tensor& local, const std::string& what) {
  if (local.device() == Device::CPU) return bootstrap_->all_gather_rows(local, what);
  if (local.dim() < 1) throw std::invalid_argument("NCCL " + what + ": needs a CUDA tensor with a row dimension");
  Shape shape = local.shape();
  shape[0] *= world_size();
  Tensor gathered = Tensor::empty(shape, local.dtype(), Device::CUDA);
  after_compute();
  const ncclResult_t enqueued =
      ncclAllGather(local.raw_data(), gathered.raw_data(), local.nbytes(), ncclUint8, comm_, stream_);
  pending_after_enqueue(enqueued, what)->wait();
  return gathered;
}

void NcclCommunicator::broadcast(Tensor buffer, int root, const std::string& what) {
  if (buffer.device() == Device::CPU) return bootstrap_->broadcast(std::move(buffer), root, what);
  after_compute();
  const ncclResult_t enqueued =
      ncclBroadcast(buffer.raw_data(), buffer.raw_data(), buffer.nbytes(), ncclUint8, root, comm_, stream_);
  pending_after_enqueue(enqueued, what)->wait();
}

void NcclCommunicator::abort_job(int exit_code) {
  if (comm_) ncclCommAbort(comm_);
  comm_ = nullptr;
  bootstrap_->abort_job(exit_code);
}

}  // namespace clipgrad::distributed
