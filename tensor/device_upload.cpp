#include "tensor/device_upload.h"

#include <cstring>
#include <stdexcept>
#include <vector>

#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/pinned.h"
#endif

namespace clipgrad {

#ifdef CLIPGRAD_HAVE_CUDA
struct DeviceUpload::Staging {
  std::vector<cuda::PinnedBuffer> buffers;
  size_t next = 0;
};
#else
struct DeviceUpload::Staging {};
#endif

DeviceUpload::DeviceUpload(Device device) : device_(device) {
  if (device_ == Device::CPU) return;
  allocator_for(device_);  // throws, saying why, without CUDA or without a GPU
#ifdef CLIPGRAD_HAVE_CUDA
  staging_ = std::make_unique<Staging>();
  staging_->buffers.resize(kStagingBuffers);
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
  cuda::PinnedBuffer& buffer = staging_->buffers[staging_->next];
  staging_->next = (staging_->next + 1) % staging_->buffers.size();
  buffer.reserve(host.nbytes());
  if (host.nbytes() > 0) std::memcpy(buffer.data(), host.raw_data(), host.nbytes());
  buffer.copy_to_device(out.raw_data(), host.nbytes());
  return out;
#else
  throw std::logic_error("DeviceUpload: no device but the CPU in this build");
#endif
}

}  // namespace clipgrad
