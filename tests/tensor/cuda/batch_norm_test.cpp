// Our batch-norm kernels against their CPU twin, forward (output, running
// and saved statistics) and every gradient: both sides accumulate in double
// and round once, so f32 agrees to 1e-6 (grad x 1e-5: dy - mean(dy) cancels).
#include <gtest/gtest.h>

#include "tensor/ops/conv.h"
#include "tests/tensor/cuda/cuda_vs_cpu.h"

using namespace clipgrad;
using namespace clipgrad::testing;

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
  Tensor expected = ops::batch_norm(x, weight, bias, running_mean, running_var, training, 0.1, 1e-5, want_saved);
  Tensor got =
      ops::batch_norm(on_cuda(x), on_cuda(weight), on_cuda(bias), cuda_mean, cuda_var, training, 0.1, 1e-5, have_saved);
  const double tolerance = dtype == DType::F32 ? 1e-6 : 1e-13;
  EXPECT_LE(norm_relative_error(got, expected), tolerance) << "y";
  EXPECT_LE(norm_relative_error(cuda_mean, running_mean), tolerance) << "running_mean";
  EXPECT_LE(norm_relative_error(cuda_var, running_var), tolerance) << "running_var (unbiased batch variance)";
  EXPECT_LE(norm_relative_error(have_saved.mean, want_saved.mean), tolerance) << "saved mean";
  EXPECT_LE(norm_relative_error(have_saved.invstd, want_saved.invstd), tolerance) << "saved invstd";
  EXPECT_EQ(have_saved.training, training);
  Tensor grad = random_tensor(shape, 15, 1.0, dtype);
  ops::BatchNormGrads want = ops::batch_norm_backward(grad, x, weight, want_saved, true, true, true);
  ops::BatchNormGrads have =
      ops::batch_norm_backward(on_cuda(grad), on_cuda(x), on_cuda(weight), have_saved, true, true, true);
  EXPECT_LE(norm_relative_error(have.x, want.x), 10 * tolerance) << "grad x";
  EXPECT_LE(norm_relative_error(have.weight, want.weight), tolerance) << "grad weight";
  EXPECT_LE(norm_relative_error(have.bias, want.bias), tolerance) << "grad bias";
}

}  // namespace

TEST(CudaBatchNorm, MatchesCpuInTrainingAndEval) {
  SKIP_WITHOUT_GPU();
  for (const Shape& shape : {Shape{2, 3, 5, 7}, Shape{1, 1, 1, 2}, Shape{4, 33, 3, 3}, Shape{3, 2, 1, 1}})
    for (bool training : {true, false})
      for (DType dtype : {DType::F32, DType::F64}) expect_batch_norm_matches(shape, training, dtype);
}

TEST(CudaBatchNorm, ResNetStageShape) {
  SKIP_WITHOUT_GPU();
  if (small_shapes_only()) GTEST_SKIP() << "large shapes off (CLIPGRAD_CUDA_TEST_SMALL=1)";
  expect_batch_norm_matches({16, 64, 56, 56}, true, DType::F32);
}

TEST(CudaBatchNorm, TrainingNeedsTwoValuesPerChannel) {
  SKIP_WITHOUT_GPU();
  Tensor x = Tensor::zeros({1, 2, 1, 1}, DType::F32, Device::CUDA);
  Tensor ones = Tensor::full({2}, 1.0, DType::F32, Device::CUDA), zeros = Tensor::zeros({2}, DType::F32, Device::CUDA);
  Tensor mean = zeros.clone(), var = ones.clone();
  ops::BatchNormSaved saved;
  EXPECT_THROW(ops::batch_norm(x, ones, zeros, mean, var, true, 0.1, 1e-5, saved), std::invalid_argument);
}
