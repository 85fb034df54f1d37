// tensor/cuda/blas/ as the GPU build compiles it (gemm.cpp's cuBLASLt plans,
// conv.cpp's cuDNN plans, their handles and workspaces, gemm_edges.cu's
// kernels), run on the CPU over the vendor stand-ins, against the CPU
// backend (OpenBLAS, tensor/cpu/conv.cpp): every transpose, strided batches
// with a shared operand, alpha and beta, the bias epilogue and its fallback,
// f64, TF32, operands of every alignment, k = 0; conv2d and its backward with
// stride, padding and odd sizes. A CPU tensor handed to them is refused.
//
// Until tensor/ allocates CUDA tensors in the emulated build by itself, the
// test installs the emulated caching allocator for Device::CUDA and copies
// with cudaMemcpy.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cuda/caching_allocator.h"
#include "cuda/emulator/vendor/library_call.h"
#include "tensor/cuda/kernels.h"
#include "tensor/ops/conv.h"
#include "tensor/ops/linalg.h"
#include "tensor/precision.h"
#include "cuda/emulator/vendor_test_support.h"

using namespace clipgrad;
using namespace clipgrad::toy;

namespace {

class EmulatedDeviceAllocator final : public Allocator {
 public:
  void* allocate(size_t bytes) override { return cuda::cached_allocate(bytes); }
  void deallocate(void* pointer, size_t) noexcept override { cuda::cached_deallocate(pointer); }
};

void use_emulated_device_memory() {
  static EmulatedDeviceAllocator allocator;  // outlives every tensor, and the handles' workspaces
  set_allocator(Device::CUDA, &allocator);
}

template <class T>
Tensor random_tensor(const Shape& shape, uint32_t seed) {
  return Tensor::from_vector<T>(shape, random_values<T>(size_t(shape_numel(shape)), seed));
}

Tensor to_device(const Tensor& host) {
  Tensor device = Tensor::empty(host.shape(), host.dtype(), Device::CUDA);
  EXPECT_EQ(cudaMemcpy(device.raw_data(), host.raw_data(), host.nbytes(), cudaMemcpyHostToDevice), cudaSuccess);
  return device;
}

Tensor to_host(const Tensor& device) {
  Tensor host = Tensor::empty(device.shape(), device.dtype(), Device::CPU);
  EXPECT_EQ(cudaMemcpy(host.raw_data(), device.raw_data(), device.nbytes(), cudaMemcpyDeviceToHost), cudaSuccess);
  return host;
}

// |actual - expected| <= tolerance * (1 + |expected|) everywhere, NaN nowhere.
::testing::AssertionResult close(const Tensor& actual, const Tensor& expected, double tolerance) {
  if (actual.shape() != expected.shape() || actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << "shapes or dtypes differ";
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double a = actual.dtype() == DType::F64 ? actual.data<double>()[i] : actual.data<float>()[i];
    const double e = expected.dtype() == DType::F64 ? expected.data<double>()[i] : expected.data<float>()[i];
    if (!(std::abs(a - e) <= tolerance * (1 + std::abs(e))))
      return ::testing::AssertionFailure() << "element " << i << ": " << a << ", expected " << e;
  }
  return ::testing::AssertionSuccess();
}

double tolerance(DType dtype) { return dtype == DType::F64 ? 1e-12 : 2e-5; }

class EmulatedBlas : public ::testing::Test {
 protected:
  void SetUp() override { use_emulated_device_memory(); }
};

// c = alpha op(a) op(b) + beta c through cuda::gemm on the emulated device and ops::gemm on the CPU.
template <class T>
void check_gemm(const ops::GemmArgs& g, uint32_t seed = 1) {
  const DType dtype = dtype_of<T>();
  const Shape a_shape{g.batch, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k};
  const Shape b_shape{g.stride_b == 0 ? 1 : g.batch, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n};
  const Tensor a = random_tensor<T>(a_shape, seed), b = random_tensor<T>(b_shape, seed + 1);
  Tensor expected = random_tensor<T>({g.batch, g.m, g.n}, seed + 2);
  Tensor c = to_device(expected);
  cuda::gemm(g, to_device(a), to_device(b), c);
  ops::gemm(g, a, b, expected);
  EXPECT_TRUE(close(to_host(c), expected, tolerance(dtype)));
}

ops::GemmArgs product(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k) {
  ops::GemmArgs g;
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.batch = batch;
  g.m = m;
  g.n = n;
  g.k = k;
  g.stride_a = m * k;
  g.stride_b = k * n;
  g.stride_c = m * n;
  return g;
}

}  // namespace

TEST_F(EmulatedBlas, GemmEveryTransposeMatchesTheCpu) {
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      SCOPED_TRACE(std::string("trans_a ") + (ta ? "T" : "N") + ", trans_b " + (tb ? "T" : "N"));
      check_gemm<float>(product(ta, tb, 1, 70, 40, 300));
    }
}

TEST_F(EmulatedBlas, GemmStridedBatchesWithASharedWeightAlphaAndBeta) {
  ops::GemmArgs g = product(false, true, 3, 9, 5, 7);
  g.stride_b = 0;  // one b for every batch entry (a linear layer's weight)
  check_gemm<float>(g);
  g.alpha = 0.5;
  g.beta = 1;  // accumulates, as a parameter gradient does
  check_gemm<float>(g, 4);
  g.beta = -2;
  check_gemm<double>(g, 7);
}

TEST_F(EmulatedBlas, GemmWithAnEmptyInnerDimensionScalesC) {
  ops::GemmArgs g = product(false, false, 2, 3, 4, 0);  // gemm_edges.cu's kernel, under the emulator
  g.beta = 0.5;
  check_gemm<float>(g);
}

TEST_F(EmulatedBlas, GemmPlansKeyOnOperandAlignment) {
  // The same shapes twice: a at the start of its block, then one row in (4-byte aligned);
  // a plan reused across the two would be refused by the stand-in (aligned to 4, chosen for 256).
  const ops::GemmArgs g = product(false, false, 1, 4, 3, 5);
  const Tensor a_rows = random_tensor<float>({5, 5}, 1), b = random_tensor<float>({5, 3}, 2);
  const Tensor device_a_rows = to_device(a_rows), device_b = to_device(b);
  for (const int64_t first : {0, 1}) {
    Tensor c = Tensor::empty({4, 3}, DType::F32, Device::CUDA);
    cuda::gemm(g, device_a_rows.rows(first, first + 4), device_b, c);
    Tensor expected = Tensor::zeros({4, 3});
    ops::gemm(g, a_rows.rows(first, first + 4), b, expected);
    EXPECT_TRUE(close(to_host(c), expected, tolerance(DType::F32)));
  }
}

TEST_F(EmulatedBlas, GemmBiasThroughTheEpilogueAndItsFallback) {
  for (const bool epilogue : {true, false}) {
    SCOPED_TRACE(epilogue ? "bias epilogue" : "no bias epilogue: fill rows, then accumulate");
    ScopedBiasEpilogue offered(epilogue);
    for (const DType dtype : {DType::F32, DType::F64}) {
      // x [m, 7] @ weight [10, 7]^T + bias [10]; m differs per case, so that each makes its own plan.
      const int64_t m = epilogue ? 6 : 5;
      const ops::GemmArgs g = product(false, true, 1, m, 10, 7);
      const bool f64 = dtype == DType::F64;
      const Tensor a = f64 ? random_tensor<double>({m, 7}, 1) : random_tensor<float>({m, 7}, 1);
      const Tensor b = f64 ? random_tensor<double>({10, 7}, 2) : random_tensor<float>({10, 7}, 2);
      const Tensor bias = f64 ? random_tensor<double>({10}, 3) : random_tensor<float>({10}, 3);
      Tensor c = Tensor::empty({m, 10}, dtype, Device::CUDA);
      cuda::gemm_bias(g, to_device(a), to_device(b), to_device(bias), c);
      if (!epilogue)  // the heuristic found nothing for the plan with the epilogue
        EXPECT_TRUE(contains(cuda::emulator::last_library_error(), "the bias epilogue is switched off"));
      Tensor expected = Tensor::empty({m, 10}, dtype);
      ops::gemm_bias(g, a, b, bias, expected);
      EXPECT_TRUE(close(to_host(c), expected, tolerance(dtype)));
    }
  }
}

TEST_F(EmulatedBlas, GemmUnderTf32) {
  set_tf32(true);  // a plan of its own (CUBLAS_COMPUTE_32F_FAST_TF32), computed in f32 by the stand-in
  check_gemm<float>(product(true, false, 2, 8, 6, 33));
  set_tf32(false);
}

TEST_F(EmulatedBlas, GemmRefusesACpuTensor) {
  const Tensor a = random_tensor<float>({4, 5}, 1), b = random_tensor<float>({5, 3}, 2);
  Tensor c = Tensor::empty({4, 3}, DType::F32, Device::CUDA);
  const std::string message = refusal_of([&] { cuda::gemm(product(false, false, 1, 4, 3, 5), a, to_device(b), c); });
  EXPECT_TRUE(contains(message, "tensor/cuda/blas/gemm.cpp:"));
  EXPECT_TRUE(contains(message, "cublasLtMatmul failed under the emulator: B (argument 5"));  // our a is its B
  EXPECT_TRUE(contains(message, "a host pointer"));
}

TEST_F(EmulatedBlas, Conv2dAndItsBackwardMatchTheCpu) {
  struct Case {
    Shape x, weight;
    int64_t stride, padding;
  };
  for (const Case& k : {Case{{2, 3, 7, 5}, {4, 3, 3, 2}, 2, 1}, Case{{1, 2, 8, 8}, {3, 2, 3, 3}, 2, 0},
                        Case{{3, 5, 6, 9}, {7, 5, 1, 1}, 1, 0}, Case{{2, 3, 16, 16}, {8, 3, 7, 7}, 2, 3}})
    for (const DType dtype : {DType::F32, DType::F64}) {
      SCOPED_TRACE(shape_str(k.x) + " * " + shape_str(k.weight) + ", stride " + std::to_string(k.stride) +
                   ", padding " + std::to_string(k.padding) + ", " + dtype_name(dtype));
      const bool f64 = dtype == DType::F64;
      const auto random = [&](const Shape& shape, uint32_t seed) {
        return f64 ? random_tensor<double>(shape, seed) : random_tensor<float>(shape, seed);
      };
      const Tensor x = random(k.x, 1), weight = random(k.weight, 2), bias = random({k.weight[0]}, 3);
      const Tensor expected = ops::conv2d(x, weight, bias, k.stride, k.padding);
      const Tensor y = cuda::conv2d(to_device(x), to_device(weight), to_device(bias), k.stride, k.padding);
      EXPECT_TRUE(close(to_host(y), expected, tolerance(dtype)));
      const Tensor grad = random(expected.shape(), 4);
      const ops::Conv2dGrads want = ops::conv2d_backward(grad, x, weight, k.stride, k.padding, true, true, true);
      const ops::Conv2dGrads got = cuda::conv2d_backward(to_device(grad), to_device(x), to_device(weight), k.stride,
                                                         k.padding, true, true, true);
      EXPECT_TRUE(close(to_host(got.x), want.x, tolerance(dtype)));
      EXPECT_TRUE(close(to_host(got.weight), want.weight, tolerance(dtype)));
      EXPECT_TRUE(close(to_host(got.bias), want.bias, tolerance(dtype)));
    }
}

TEST_F(EmulatedBlas, Conv2dRefusesACpuTensor) {
  const Tensor x = random_tensor<float>({1, 2, 5, 5}, 1), weight = random_tensor<float>({3, 2, 3, 3}, 2);
  const std::string message = refusal_of([&] { (void)cuda::conv2d(to_device(x), weight, Tensor(), 1, 1); });
  EXPECT_TRUE(contains(message, "tensor/cuda/blas/conv.cpp:"));
  EXPECT_TRUE(contains(message, "cudnnConvolutionForward failed under the emulator: w (argument 5"));
  EXPECT_TRUE(contains(message, "a host pointer"));
}
