// cuDNN conv2d and our batch norm against their CPU twins, forward and every
// gradient, as norm-relative errors. conv2d: f32 1e-5 (sums of C * kh * kw
// products in another order, and whatever transform cuDNN's algorithm uses:
// Winograd or FFT round differently from a direct sum, ~1e-6 of the norm);
// f64 1e-12. batch norm: both sides accumulate in double and round once, so
// f32 agrees to 1e-6 (grad x 1e-5: dy - mean(dy) cancels).
#include <gtest/gtest.h>

#include "cuda_kernel_checks.h"
#include "tensor/cpu/kernels.h"

using namespace clipgrad;
using namespace clipgrad::testing;

namespace {

struct ConvCase {
  Shape x, weight;
  int64_t stride, padding;
  bool bias;
};

// The geometries of CLIP's ModifiedResNet (stem 3x3 stride 2, bottleneck 1x1 and 3x3) plus odd ones.
const ConvCase kConvCases[] = {
    {{2, 3, 17, 17}, {8, 3, 3, 3}, 2, 1, false},  // stem, odd size
    {{3, 8, 9, 9}, {8, 8, 1, 1}, 1, 0, true},     // 1x1
    {{1, 5, 7, 11}, {3, 5, 3, 3}, 1, 1, true},    // non-square
    {{2, 4, 6, 6}, {5, 4, 5, 5}, 3, 2, true},     // large kernel, stride 3
    {{1, 1, 1, 1}, {1, 1, 1, 1}, 1, 0, true},     // a single pixel
    {{0, 4, 8, 8}, {6, 4, 3, 3}, 1, 1, true},     // empty batch
};

void expect_conv_matches(const ConvCase& test, DType dtype, double tolerance) {
  SCOPED_TRACE("x " + shape_str(test.x) + " weight " + shape_str(test.weight) + " " + dtype_name(dtype));
  Tensor x = random_tensor(test.x, 1, 1.0, dtype), weight = random_tensor(test.weight, 2, 0.2, dtype);
  Tensor bias = test.bias ? random_tensor({test.weight[0]}, 3, 1.0, dtype) : Tensor();
  Tensor expected = cpu::kernels().conv2d(x, weight, bias, test.stride, test.padding);
  Tensor got = cuda_library_kernels().conv2d(on_cuda(x), on_cuda(weight), on_cuda(bias), test.stride, test.padding);
  EXPECT_LE(relative_error(got, expected), tolerance) << "forward";
  Tensor grad = random_tensor(expected.shape(), 4, 1.0, dtype);
  ops::Conv2dGrads want = cpu::kernels().conv2d_backward(grad, x, weight, test.stride, test.padding, true, true, true);
  ops::Conv2dGrads have = cuda_library_kernels().conv2d_backward(on_cuda(grad), on_cuda(x), on_cuda(weight),
                                                                 test.stride, test.padding, true, true, true);
  EXPECT_LE(relative_error(have.x, want.x), tolerance) << "grad x";
  EXPECT_LE(relative_error(have.weight, want.weight), tolerance) << "grad weight";
  EXPECT_LE(relative_error(have.bias, want.bias), tolerance) << "grad bias";
}

}  // namespace

TEST(CudaConv2d, MatchesCpuForwardAndBackward) {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (const ConvCase& test : kConvCases) {
    expect_conv_matches(test, DType::F32, 1e-5);
    expect_conv_matches(test, DType::F64, 1e-12);
  }
}

TEST(CudaConv2d, ResNetStageShapes) {
  SKIP_WITHOUT_CUDA_DEVICE();
  if (small_shapes_only()) GTEST_SKIP() << "large shapes off (CLIPGRAD_CUDA_TEST_SMALL=1)";
  expect_conv_matches({{8, 64, 56, 56}, {64, 64, 3, 3}, 1, 1, false}, DType::F32, 1e-5);
  expect_conv_matches({{8, 256, 14, 14}, {1024, 256, 1, 1}, 1, 0, false}, DType::F32, 1e-5);
}

TEST(CudaConv2d, OnlyTheGradientsAskedFor) {
  SKIP_WITHOUT_CUDA_DEVICE();
  Tensor x = on_cuda(random_tensor({1, 2, 5, 5}, 5)), weight = on_cuda(random_tensor({3, 2, 3, 3}, 6));
  Tensor grad = on_cuda(random_tensor({1, 3, 5, 5}, 7));
  ops::Conv2dGrads grads = cuda_library_kernels().conv2d_backward(grad, x, weight, 1, 1, false, true, false);
  EXPECT_FALSE(grads.x.defined());
  EXPECT_TRUE(grads.weight.defined());
  EXPECT_FALSE(grads.bias.defined());
}

TEST(CudaConv2d, RejectsWhatTheCpuRejects) {
  SKIP_WITHOUT_CUDA_DEVICE();
  Tensor x = Tensor::zeros({1, 2, 3, 3}, DType::F32, Device::CUDA);
  Tensor wrong_channels = Tensor::zeros({4, 3, 3, 3}, DType::F32, Device::CUDA);
  Tensor too_big = Tensor::zeros({4, 2, 5, 5}, DType::F32, Device::CUDA);
  EXPECT_THROW(cuda_library_kernels().conv2d(x, wrong_channels, Tensor(), 1, 0), std::invalid_argument);
  EXPECT_THROW(cuda_library_kernels().conv2d(x, too_big, Tensor(), 1, 0), std::invalid_argument);
  EXPECT_THROW(cuda_library_kernels().conv2d(x, too_big, Tensor(), 0, 1), std::invalid_argument);
}

namespace {

void expect_batch_norm_matches(const Shape& shape, bool training, DType dtype) {
  SCOPED_TRACE("x " + shape_str(shape) + (training ? " training " : " eval ") + dtype_name(dtype));
  const int64_t channels = shape[1];
  Tensor x = random_tensor(shape, 10, 2.0, dtype);
  Tensor weight = random_tensor({channels}, 11, 1.0, dtype), bias = random_tensor({channels}, 12, 1.0, dtype);
  Tensor running_mean = random_tensor({channels}, 13, 1.0, dtype);
  Tensor running_var = Tensor::full({channels}, 1.5, dtype);
  Tensor cuda_mean = on_cuda(running_mean), cuda_var = on_cuda(running_var);
  ops::BatchNormSaved want_saved, have_saved;
  Tensor expected = cpu::kernels().batch_norm(x, weight, bias, running_mean, running_var, training, 0.1, 1e-5,
                                              want_saved);
  Tensor got = cuda_library_kernels().batch_norm(on_cuda(x), on_cuda(weight), on_cuda(bias), cuda_mean, cuda_var,
                                                 training, 0.1, 1e-5, have_saved);
  const double tolerance = dtype == DType::F32 ? 1e-6 : 1e-13;
  EXPECT_LE(relative_error(got, expected), tolerance) << "y";
  EXPECT_LE(relative_error(cuda_mean, running_mean), tolerance) << "running_mean";
  EXPECT_LE(relative_error(cuda_var, running_var), tolerance) << "running_var (unbiased batch variance)";
  EXPECT_LE(relative_error(have_saved.mean, want_saved.mean), tolerance) << "saved mean";
  EXPECT_LE(relative_error(have_saved.invstd, want_saved.invstd), tolerance) << "saved invstd";
  EXPECT_EQ(have_saved.training, training);
  Tensor grad = random_tensor(shape, 15, 1.0, dtype);
  ops::BatchNormGrads want = cpu::kernels().batch_norm_backward(grad, x, weight, want_saved, true, true, true);
  ops::BatchNormGrads have =
      cuda_library_kernels().batch_norm_backward(on_cuda(grad), on_cuda(x), on_cuda(weight), have_saved, true, true, true);
  EXPECT_LE(relative_error(have.x, want.x), 10 * tolerance) << "grad x";
  EXPECT_LE(relative_error(have.weight, want.weight), tolerance) << "grad weight";
  EXPECT_LE(relative_error(have.bias, want.bias), tolerance) << "grad bias";
}

}  // namespace

TEST(CudaBatchNorm, MatchesCpuInTrainingAndEval) {
  SKIP_WITHOUT_CUDA_DEVICE();
  for (const Shape& shape : {Shape{2, 3, 5, 7}, Shape{1, 1, 1, 2}, Shape{4, 33, 3, 3}, Shape{3, 2, 1, 1}})
    for (bool training : {true, false})
      for (DType dtype : {DType::F32, DType::F64}) expect_batch_norm_matches(shape, training, dtype);
}

TEST(CudaBatchNorm, ResNetStageShape) {
  SKIP_WITHOUT_CUDA_DEVICE();
  if (small_shapes_only()) GTEST_SKIP() << "large shapes off (CLIPGRAD_CUDA_TEST_SMALL=1)";
  expect_batch_norm_matches({16, 64, 56, 56}, true, DType::F32);
}

TEST(CudaBatchNorm, TrainingNeedsTwoValuesPerChannel) {
  SKIP_WITHOUT_CUDA_DEVICE();
  Tensor x = Tensor::zeros({1, 2, 1, 1}, DType::F32, Device::CUDA);
  Tensor ones = Tensor::full({2}, 1.0, DType::F32, Device::CUDA), zeros = Tensor::zeros({2}, DType::F32, Device::CUDA);
  Tensor mean = zeros.clone(), var = ones.clone();
  ops::BatchNormSaved saved;
  EXPECT_THROW(cuda_library_kernels().batch_norm(x, ones, zeros, mean, var, true, 0.1, 1e-5, saved),
               std::invalid_argument);
}
