#include "tensor/device_upload.h"

#include <cstring>
#include <stdexcept>
#include <vector>

#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/pinned.h"
#endif

namespace clipgrad {

#ifdef CLIPGRAD_HAVE_CUDA
namespace {

class PinnedHostAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override { return cuda::pinned_allocate(bytes); }
  void deallocate(void* pointer, size_t) noexcept override { cuda::pinned_deallocate(pointer); }
};

}  // namespace

// One upload in flight. `source` is declared before `copy` so that a slot's
// destructor waits for the copy before it lets the source go.
struct UploadSlot {
  cuda::PinnedBuffer staging;  // for a source in ordinary host memory
  Tensor source;               // a page-locked source, held until its copy is done
  cuda::HostToDeviceCopy copy;
};

struct DeviceUpload::Ring {
  std::vector<UploadSlot> slots = std::vector<UploadSlot>(kRing);
  size_t next = 0;
};
#else
struct DeviceUpload::Ring {};
#endif

Allocator& DeviceUpload::host_memory(Device device) {
  if (device == Device::CPU) return allocator_for(Device::CPU);
  allocator_for(device);  // throws, saying why, without CUDA or without a GPU
#ifdef CLIPGRAD_HAVE_CUDA
  static PinnedHostAllocator pinned;
  return pinned;
#else
  throw std::logic_error("DeviceUpload: no device but the CPU in this build");
#endif
}

DeviceUpload::DeviceUpload(Device device) : device_(device) {
  if (device_ == Device::CPU) return;
  allocator_for(device_);  // throws, saying why, without CUDA or without a GPU
#ifdef CLIPGRAD_HAVE_CUDA
  ring_ = std::make_unique<Ring>();
#endif
}

DeviceUpload::~DeviceUpload() = default;

Tensor DeviceUpload::operator()(const Tensor& host) {
  if (host.device() != Device::CPU)
    throw std::invalid_argument("DeviceUpload: the source must be a CPU tensor, got one on " +
                                std::string(device_name(host.device())));
  if (device_ == Device::CPU) return host;
#ifdef CLIPGRAD_HAVE_CUDA
  Tensor out = Tensor::empty(host.shape(), host.dtype(), device_);
  UploadSlot& slot = ring_->slots[ring_->next];
  ring_->next = (ring_->next + 1) % ring_->slots.size();
  slot.copy.wait();
  slot.source = Tensor();  // the copy kRing uploads ago is done: its source may be reused
  if (host.allocated_by(host_memory(device_))) {
    slot.source = host;
    slot.copy.start(out.raw_data(), host.raw_data(), host.nbytes());
  } else {
    slot.staging.reserve(host.nbytes());
    if (host.nbytes() > 0) std::memcpy(slot.staging.data(), host.raw_data(), host.nbytes());
    slot.staging.copy_to_device(out.raw_data(), host.nbytes());
    staged_bytes_ += static_cast<int64_t>(host.nbytes());
  }
  return out;
#else
  throw std::logic_error("DeviceUpload: no device but the CPU in this build");
#endif
}

}  // namespace clipgrad
