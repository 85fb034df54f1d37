// cuDNN conv2d against its CPU twin (im2col + OpenBLAS), forward and every
// gradient, as norm-relative errors: f32 1e-5 (sums of C * kh * kw products
// in another order, and whatever transform cuDNN's algorithm uses: Winograd
// or FFT round differently from a direct sum, ~1e-6 of the norm); f64 1e-12.
#include <gtest/gtest.h>

#include "tensor/ops/conv.h"
#include "tests/tensor/cuda/cuda_vs_cpu.h"

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
  Tensor expected = ops::conv2d(x, weight, bias, test.stride, test.padding);
  Tensor got = ops::conv2d(on_cuda(x), on_cuda(weight), on_cuda(bias), test.stride, test.padding);
  EXPECT_LE(norm_relative_error(got, expected), tolerance) << "forward";
  Tensor grad = random_tensor(expected.shape(), 4, 1.0, dtype);
  ops::Conv2dGrads want = ops::conv2d_backward(grad, x, weight, test.stride, test.padding, true, true, true);
  ops::Conv2dGrads have =
      ops::conv2d_backward(on_cuda(grad), on_cuda(x), on_cuda(weight), test.stride, test.padding, true, true, true);
  EXPECT_LE(norm_relative_error(have.x, want.x), tolerance) << "grad x";
  EXPECT_LE(norm_relative_error(have.weight, want.weight), tolerance) << "grad weight";
  EXPECT_LE(norm_relative_error(have.bias, want.bias), tolerance) << "grad bias";
}

}  // namespace

TEST(CudaConv2d, MatchesCpuForwardAndBackward) {
  SKIP_WITHOUT_GPU();
  for (const ConvCase& test : kConvCases) {
    expect_conv_matches(test, DType::F32, 1e-5);
    expect_conv_matches(test, DType::F64, 1e-12);
  }
}

TEST(CudaConv2d, ResNetStageShapes) {
  SKIP_WITHOUT_GPU();
  if (small_shapes_only()) GTEST_SKIP() << "large shapes off (CLIPGRAD_CUDA_TEST_SMALL=1)";
  expect_conv_matches({{8, 64, 56, 56}, {64, 64, 3, 3}, 1, 1, false}, DType::F32, 1e-5);
  expect_conv_matches({{8, 256, 14, 14}, {1024, 256, 1, 1}, 1, 0, false}, DType::F32, 1e-5);
}

TEST(CudaConv2d, OnlyTheGradientsAskedFor) {
  SKIP_WITHOUT_GPU();
  Tensor x = on_cuda(random_tensor({1, 2, 5, 5}, 5)), weight = on_cuda(random_tensor({3, 2, 3, 3}, 6));
  Tensor grad = on_cuda(random_tensor({1, 3, 5, 5}, 7));
  ops::Conv2dGrads grads = ops::conv2d_backward(grad, x, weight, 1, 1, false, true, false);
  EXPECT_FALSE(grads.x.defined());
  EXPECT_TRUE(grads.weight.defined());
  EXPECT_FALSE(grads.bias.defined());
}

TEST(CudaConv2d, RejectsWhatTheCpuRejects) {
  SKIP_WITHOUT_GPU();
  Tensor x = Tensor::zeros({1, 2, 3, 3}, DType::F32, Device::CUDA);
  Tensor wrong_channels = Tensor::zeros({4, 3, 3, 3}, DType::F32, Device::CUDA);
  Tensor too_big = Tensor::zeros({4, 2, 5, 5}, DType::F32, Device::CUDA);
  EXPECT_THROW(ops::conv2d(x, wrong_channels, Tensor(), 1, 0), std::invalid_argument);
  EXPECT_THROW(ops::conv2d(x, too_big, Tensor(), 1, 0), std::invalid_argument);
  EXPECT_THROW(ops::conv2d(x, too_big, Tensor(), 0, 1), std::invalid_argument);
}
