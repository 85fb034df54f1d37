// How long the vendor stand-ins take, printed for the record (no assertion
// on time: the machine decides): a 256 x 256 x 256 SGEMM through cuBLASLt,
// and the three directions of a ResNet stem convolution through cuDNN
// (x [1, 3, 224, 224], w [64, 3, 7, 7], stride 2, padding 3: y [1, 64, 112, 112]).
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "cuda/emulator/vendor/cublasLt.h"
#include "cuda/emulator/vendor/cudnn.h"
#include "vendor_test_support.h"

using namespace clipgrad;
using namespace clipgrad::toy;

TEST(EmulatorVendorTiming, Sgemm256) {
  const uint64_t n = 256;
  cublasLtHandle_t handle = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t layout = nullptr;
  ASSERT_EQ(cublasLtCreate(&handle), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&layout, CUDA_R_32F, n, n, int64_t(n)), CUBLAS_STATUS_SUCCESS);
  DeviceArray<float> a(random_values<float>(n * n, 1)), b(random_values<float>(n * n, 2)), d(n * n);
  const float one = 1, zero = 0;
  const double ms = best_milliseconds([&] {
    ASSERT_EQ(cublasLtMatmul(handle, desc, &one, a.get(), layout, b.get(), layout, &zero, d.get(), layout, d.get(),
                             layout, nullptr, nullptr, 0, nullptr),
              CUBLAS_STATUS_SUCCESS);
  });
  std::printf("[ timing ] cuBLASLt stand-in: 256 x 256 x 256 SGEMM %.1f ms (%.2f GFLOP/s)\n", ms,
              2.0 * double(n * n * n) / (ms * 1e6));
  cublasLtMatrixLayoutDestroy(layout);
  cublasLtMatmulDescDestroy(desc);
  cublasLtDestroy(handle);
}

TEST(EmulatorVendorTiming, ResNetStemConvolution) {
  const int channels = 3, size = 224, filters = 64, kernel = 7, stride = 2, padding = 3, out = 112;
  cudnnHandle_t handle = nullptr;
  cudnnTensorDescriptor_t x_desc = nullptr, y_desc = nullptr;
  cudnnFilterDescriptor_t w_desc = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  ASSERT_EQ(cudnnCreate(&handle), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnCreateTensorDescriptor(&x_desc), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetTensor4dDescriptor(x_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, channels, size, size),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnCreateTensorDescriptor(&y_desc), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetTensor4dDescriptor(y_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, filters, out, out),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnCreateFilterDescriptor(&w_desc), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetFilter4dDescriptor(w_desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, filters, channels, kernel, kernel),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnCreateConvolutionDescriptor(&conv), CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnSetConvolution2dDescriptor(conv, padding, padding, stride, stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                            CUDNN_DATA_FLOAT),
            CUDNN_STATUS_SUCCESS);
  DeviceArray<float> x(random_values<float>(size_t(channels) * size * size, 1));
  DeviceArray<float> w(random_values<float>(size_t(filters) * channels * kernel * kernel, 2));
  DeviceArray<float> y(random_values<float>(size_t(filters) * out * out, 3)), dx(size_t(channels) * size * size),
      dw(size_t(filters) * channels * kernel * kernel);
  DeviceArray<unsigned char> workspace(4096);
  const float one = 1, zero = 0;
  const double forward = best_milliseconds([&] {
    ASSERT_EQ(cudnnConvolutionForward(handle, &one, x_desc, x.get(), w_desc, w.get(), conv,
                                      CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, workspace.get(), 4096, &zero, y_desc,
                                      y.get()),
              CUDNN_STATUS_SUCCESS);
  });
  const double data = best_milliseconds([&] {
    ASSERT_EQ(
        cudnnConvolutionBackwardData(handle, &one, w_desc, w.get(), y_desc, y.get(), conv,
                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, workspace.get(), 4096, &zero, x_desc, dx.get()),
        CUDNN_STATUS_SUCCESS);
  });
  const double filter = best_milliseconds([&] {
    ASSERT_EQ(cudnnConvolutionBackwardFilter(handle, &one, x_desc, x.get(), y_desc, y.get(), conv,
                                             CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, workspace.get(), 4096, &zero, w_desc,
                                             dw.get()),
              CUDNN_STATUS_SUCCESS);
  });
  const double flops = 2.0 * filters * out * out * channels * kernel * kernel;
  std::printf(
      "[ timing ] cuDNN stand-in: ResNet stem x [1,3,224,224] * w [64,3,7,7] / 2: forward %.1f ms, "
      "backward data %.1f ms, backward filter %.1f ms (%.2f GFLOP each)\n",
      forward, data, filter, flops * 1e-9);
  cudnnDestroyConvolutionDescriptor(conv);
  cudnnDestroyFilterDescriptor(w_desc);
  cudnnDestroyTensorDescriptor(y_desc);
  cudnnDestroyTensorDescriptor(x_desc);
  cudnnDestroy(handle);
}
