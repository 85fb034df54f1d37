#include "distributed/nccl/nccl_communicator.h"

#include <stdexcept>
#include <thread>

#include "cuda/check.h"
#include "cuda/stream.h"

namespace clipgrad::distributed {

namespace {

void check_nccl(ncclResult_t result, const std::string& what) {
  if (result != ncclSuccess && result != ncclInProgress)
    throw std::runtime_error("NCCL " + what + " failed: " + ncclGetErrorString(result));
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

// A collective enqueued on the compute stream, complete when its event is.
class NcclPendingCollective final : public PendingCollective {
 public:
  NcclPendingCollective(std::string what, cudaStream_t stream, std::chrono::milliseconds timeout)
      : what_(std::move(what)), timeout_(timeout) {
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
      if (std::chrono::steady_clock::now() - start > timeout_)
        throw std::runtime_error("NCCL " + what_ + " timed out after " + std::to_string(timeout_.count() / 1000.0) +
                                 " s (another rank died, hangs or took another path; "
                                 "CLIPGRAD_COLLECTIVE_TIMEOUT sets the limit)");
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

 private:
  std::string what_;
  std::chrono::milliseconds timeout_;
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
  if (rank() == 0) check_nccl(ncclGetUniqueId(&id), "get unique id");
  bootstrap_->broadcast_bytes(&id, sizeof id, 0, "broadcast of the NCCL unique id");
  check_nccl(ncclCommInitRank(&comm_, world_size(), id, rank()), "comm init rank");
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  CUDA_CHECK(cudaEventCreateWithFlags(&compute_done_, cudaEventDisableTiming));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_) ncclCommDestroy(comm_);
  if (compute_done_) cudaEventDestroy(compute_done_);
  if (stream_) cudaStreamDestroy(stream_);
}

void NcclCommunicator::after_compute() {
  CUDA_CHECK(cudaEventRecord(compute_done_, cuda::compute_stream()));
  CUDA_CHECK(cudaStreamWaitEvent(stream_, compute_done_, 0));
}

std::unique_ptr<PendingCollective> NcclCommunicator::pending_after_enqueue(const std::string& what) {
  return std::make_unique<NcclPendingCollective>(what, stream_, timeout_);
}

std::unique_ptr<PendingCollective> NcclCommunicator::start_all_reduce_sum(Tensor buffer, const std::string& what) {
  if (buffer.device() == Device::CPU) return bootstrap_->start_all_reduce_sum(std::move(buffer), what);
  ncclDataType_t type = nccl_type(buffer, what);
  after_compute();
  check_nccl(ncclAllReduce(buffer.raw_data(), buffer.raw_data(), buffer.numel(), type, ncclSum, comm_, stream_), what);
  return pending_after_enqueue(what);
}

std::unique_ptr<PendingCollective> NcclCommunicator::start_reduce_scatter_sum(Tensor full, Tensor shard,
                                                                              const std::string& what) {
  if (full.device() == Device::CPU && shard.device() == Device::CPU)
    return bootstrap_->start_reduce_scatter_sum(std::move(full), std::move(shard), what);
  ncclDataType_t type = nccl_type(full, what);
  nccl_type(shard, what);  // a CUDA tensor NCCL can reduce
  check_shard(full, shard, what);
  after_compute();
  check_nccl(ncclReduceScatter(full.raw_data(), shard.raw_data(), shard.numel(), type, ncclSum, comm_, stream_), what);
  return pending_after_enqueue(what);
}

Tensor NcclCommunicator::all_gather_rows(const Tensor& local, const std::string& what) {
  if (local.device() == Device::CPU) return bootstrap_->all_gather_rows(local, what);
  if (local.dim() < 1) throw std::invalid_argument("NCCL " + what + ": needs a CUDA tensor with a row dimension");
  Shape shape = local.shape();
  shape[0] *= world_size();
  Tensor gathered = Tensor::empty(shape, local.dtype(), Device::CUDA);
  after_compute();
  check_nccl(ncclAllGather(local.raw_data(), gathered.raw_data(), local.nbytes(), ncclUint8, comm_, stream_), what);
  pending_after_enqueue(what)->wait();
  return gathered;
}

void NcclCommunicator::broadcast(Tensor buffer, int root, const std::string& what) {
  if (buffer.device() == Device::CPU) return bootstrap_->broadcast(std::move(buffer), root, what);
  after_compute();
  check_nccl(ncclBroadcast(buffer.raw_data(), buffer.raw_data(), buffer.nbytes(), ncclUint8, root, comm_, stream_),
             what);
  pending_after_enqueue(what)->wait();
}

void NcclCommunicator::abort_job(int exit_code) {
  if (comm_) ncclCommAbort(comm_);
  comm_ = nullptr;
  bootstrap_->abort_job(exit_code);
}

}  // namespace clipgrad::distributed
