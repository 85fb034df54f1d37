// The CUDA device memory path: the caching allocator behind CUDA tensors
// (no cudaMalloc in steady state), uploads on the copy stream (straight from
// page-locked batches, or through staging buffers), device properties, and
// the errors without a GPU (which run here).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tensor/device_upload.h"
#include "tensor/tensor.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/caching_allocator.h"
#include "cuda/device.h"
#include "cuda/pinned.h"
#include "cuda/runtime.h"
#endif

using namespace clipgrad;

namespace {

std::string message_of_cuda_allocation() {
  try {
    Tensor::empty({4}, DType::F32, Device::CUDA);
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST(CudaDeviceMemory, WithoutAGpuCudaTensorsFailWithAClearMessage) {
#ifdef CLIPGRAD_HAVE_CUDA
  if (cuda::available()) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_NE(message_of_cuda_allocation().find("no CUDA device"), std::string::npos) << message_of_cuda_allocation();
#else
  EXPECT_NE(message_of_cuda_allocation().find("built without CUDA"), std::string::npos) << message_of_cuda_allocation();
#endif
  EXPECT_THROW(DeviceUpload{Device::CUDA}, std::runtime_error);
  EXPECT_THROW(DeviceUpload::host_memory(Device::CUDA), std::runtime_error);
}

TEST(CudaDeviceMemory, CpuUploadIsTheTensorItself) {
  DeviceUpload upload(Device::CPU);
  Tensor host = Tensor::full({3}, 2.0);
  EXPECT_TRUE(upload(host).same_storage(host));
  EXPECT_TRUE(host.allocated_by(DeviceUpload::host_memory(Device::CPU)));
}

#ifdef CLIPGRAD_HAVE_CUDA

TEST(CudaDeviceMemory, SteadyStateAllocatesNoNewDeviceMemory) {
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  auto step = [] {
    std::vector<Tensor> tensors;
    for (int64_t n : {1, 100, 5000, 300000, 2000000}) tensors.push_back(Tensor::zeros({n}, DType::F32, Device::CUDA));
  };
  step();
  const cuda::BlockPoolStats after_first = cuda::allocator_stats();
  for (int i = 0; i < 20; ++i) step();
  const cuda::BlockPoolStats after = cuda::allocator_stats();
  EXPECT_EQ(after.raw_allocations, after_first.raw_allocations);
  EXPECT_EQ(after.allocated_bytes, after_first.allocated_bytes);
  EXPECT_GE(after.peak_allocated_bytes, size_t(2000000) * 4);
  cuda::empty_cache();
  EXPECT_EQ(cuda::allocator_stats().reserved_bytes, cuda::allocator_stats().allocated_bytes);
}

TEST(CudaDeviceMemory, UploadsArriveBeforeLaterKernelsRead) {
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  DeviceUpload upload(Device::CUDA);
  // More uploads than staging buffers: each buffer is reused only after its copy finished.
  for (int round = 0; round < 3 * DeviceUpload::kRing; ++round) {
    std::vector<float> values(10000 + round);
    for (size_t i = 0; i < values.size(); ++i) values[i] = float(round * 100000 + i);
    Tensor host = Tensor::from_vector<float>({static_cast<int64_t>(values.size())}, values);
    Tensor device = upload(host);
    EXPECT_EQ(device.device(), Device::CUDA);
    EXPECT_EQ(device.clone().to(Device::CPU).to_vector<float>(), values) << "round " << round;
  }
  Tensor ids = Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(upload(ids).to_vector<int32_t>(), ids.to_vector<int32_t>());
  EXPECT_EQ(upload(Tensor::empty({0, 3})).shape(), (Shape{0, 3}));
  EXPECT_GT(upload.staged_bytes(), 0);
}

// A batch decoded into host_memory(CUDA) goes to the device with no staging
// copy, and its memory is reused (no new cudaHostAlloc) once its copy is done.
TEST(CudaDeviceMemory, PageLockedBatchesUploadWithoutAStagingCopy) {
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  Allocator& page_locked = DeviceUpload::host_memory(Device::CUDA);
  DeviceUpload upload(Device::CUDA);
  const int64_t raw_before = cuda::pinned_stats().raw_allocations;
  for (int round = 0; round < 4 * DeviceUpload::kRing; ++round) {
    Tensor host = Tensor::empty_in(page_locked, {3, 1000});
    std::vector<float> values(3000);
    for (size_t i = 0; i < values.size(); ++i) values[i] = float(round * 10000 + i);
    std::copy(values.begin(), values.end(), host.data<float>());
    Tensor device = upload(host.rows(1, 3));  // a view: its storage is page-locked
    EXPECT_EQ(device.to(Device::CPU).to_vector<float>(), std::vector<float>(values.begin() + 1000, values.end()))
        << "round " << round;
  }
  EXPECT_EQ(upload.staged_bytes(), 0);
  // The ring holds a source until its copy is done; after that its block is reused.
  EXPECT_LE(cuda::pinned_stats().raw_allocations - raw_before, DeviceUpload::kRing + 1);
}

TEST(CudaDeviceMemory, DescribesTheDevice) {
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  cuda::set_device(0);
  EXPECT_EQ(cuda::current_device(), 0);
  const cuda::DeviceProperties properties = cuda::device_properties(0);
  EXPECT_GT(properties.multiprocessors, 0);
  EXPECT_GT(properties.total_memory, 0u);
  EXPECT_FALSE(cuda::describe_device(0).empty());
  EXPECT_THROW(cuda::set_device(cuda::device_count()), std::invalid_argument);
}

#endif  // CLIPGRAD_HAVE_CUDA
