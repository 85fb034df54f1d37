// What the CPU-vs-CUDA tests share: the CUDA kernels of tensor/cuda/blas and
// tensor/cuda/fused in a table of their own (so they are tested with or without
// the rest of the CUDA backend), the skip when there is no GPU, random inputs,
// and the relative error that every comparison states its tolerance in.
//
// CLIPGRAD_CUDA_TEST_SMALL=1 keeps to the small shapes (for compute-sanitizer,
// which runs kernels ~100x slower): tests skip their large cases.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "tensor/ops/kernels.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#include "tensor/cuda/blas/blas_kernels.h"
#include "tensor/cuda/fused/fused_kernels.h"
#endif

namespace clipgrad::testing {

#ifdef CLIPGRAD_HAVE_CUDA
#define SKIP_WITHOUT_CUDA_DEVICE() \
  if (!::clipgrad::cuda::available()) GTEST_SKIP() << "no CUDA device"
// The library and fused CUDA kernels, filled into a table of their own.
inline const ops::Kernels& cuda_library_kernels() {
  static const ops::Kernels table = [] {
    ops::Kernels filled;
    cuda_backend::fill_cuda_blas_kernels(filled);
    cuda_backend::fill_cuda_fused_kernels(filled);
    return filled;
  }();
  return table;
}
#else
#define SKIP_WITHOUT_CUDA_DEVICE() GTEST_SKIP() << "built without CUDA"
inline const ops::Kernels& cuda_library_kernels() {
  static const ops::Kernels empty;
  return empty;
}
#endif

inline bool small_shapes_only() {
  const char* value = std::getenv("CLIPGRAD_CUDA_TEST_SMALL");
  return value && std::string(value) == "1";
}

inline Tensor random_tensor(const Shape& shape, uint64_t seed, double std = 1.0, DType dtype = DType::F32) {
  Tensor t = Tensor::empty(shape, dtype);
  Generator generator(seed);
  fill_normal(t, 0.0, std, generator);
  return t;
}

inline Tensor on_cuda(const Tensor& t) { return t.defined() ? t.to(Device::CUDA) : t; }

// ||got - want|| / ||want|| over all elements (got may live on the GPU); 0 when both are all zeros.
inline double relative_error(const Tensor& got, const Tensor& want) {
  const Tensor a = got.to(Device::CPU).to(DType::F64), b = want.to(Device::CPU).to(DType::F64);
  EXPECT_EQ(a.shape(), b.shape());
  double difference = 0, reference = 0;
  for (int64_t i = 0; i < a.numel() && i < b.numel(); ++i) {
    difference += std::pow(a.data<double>()[i] - b.data<double>()[i], 2);
    reference += std::pow(b.data<double>()[i], 2);
  }
  if (reference == 0) return std::sqrt(difference);
  return std::sqrt(difference / reference);
}

}  // namespace clipgrad::testing
