// CPU <-> CUDA copies keep every byte. Skips without a GPU.
#include <gtest/gtest.h>

#include "tensor/tensor.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif

using namespace clipgrad;

TEST(CudaDevice, RoundTripCopyKeepsValues) {
#ifndef CLIPGRAD_HAVE_CUDA
  GTEST_SKIP() << "built without CUDA";
#else
  if (!cuda::available()) GTEST_SKIP() << "no CUDA device";
  Tensor host = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor device = host.to(Device::CUDA);
  EXPECT_EQ(device.device(), Device::CUDA);
  Tensor zeros = Tensor::zeros({2, 3}, DType::F32, Device::CUDA);
  EXPECT_EQ(zeros.to(Device::CPU).to_vector<float>(), std::vector<float>(6, 0.f));
  EXPECT_EQ(device.to(Device::CPU).to_vector<float>(), host.to_vector<float>());
#endif
}
