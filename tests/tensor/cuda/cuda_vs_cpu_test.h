// The CPU-vs-CUDA harness of this folder's tests: an op run on CPU inputs and
// on the same inputs copied to the GPU must give the same shapes and dtypes,
// values within a relative error, and (run twice on the GPU) the same bits.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"
#ifdef CLIPGRAD_HAVE_CUDA
#include "cuda/runtime.h"
#endif

namespace clipgrad::testing {

inline bool gpu_present() {
#ifdef CLIPGRAD_HAVE_CUDA
  return cuda::available();
#else
  return false;
#endif
}

#define SKIP_WITHOUT_GPU() \
  if (!::clipgrad::testing::gpu_present()) GTEST_SKIP() << "no CUDA device (or built without CUDA)"

using OpOnDevice = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)>;

inline Tensor normal_tensor(const Shape& shape, Generator& generator, double mean = 0, double std = 1) {
  Tensor t = Tensor::empty(shape);
  fill_normal(t, mean, std, generator);
  return t;
}
inline Tensor uniform_tensor(const Shape& shape, Generator& generator, double low, double high) {
  Tensor t = Tensor::empty(shape);
  fill_uniform(t, low, high, generator);
  return t;
}
inline Tensor random_ids(const Shape& shape, int32_t bound, Generator& generator) {
  std::vector<int32_t> ids(shape_numel(shape));
  for (int32_t& id : ids) id = static_cast<int32_t>(generator.below(bound));
  return Tensor::from_vector<int32_t>(shape, ids);
}

// max |cpu - cuda| / max |cpu| over the elements (both NaN counts as equal).
inline double relative_error(const Tensor& expected, const Tensor& actual) {
  const std::vector<double> a = expected.to(DType::F64).to_vector<double>();
  const std::vector<double> b = actual.to(Device::CPU).to(DType::F64).to_vector<double>();
  double largest = 0, difference = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    largest = std::max(largest, std::fabs(a[i]));
    if (a[i] != b[i]) difference = std::max(difference, std::fabs(a[i] - b[i]));
  }
  return difference == 0 ? 0 : difference / std::max(largest, 1e-30);
}

inline bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(Device::CPU), y = b.to(Device::CPU);
  return x.shape() == y.shape() && x.dtype() == y.dtype() &&
         std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

inline void expect_cuda_matches_cpu(const std::string& label, const std::vector<Tensor>& inputs, const OpOnDevice& op,
                                    double tolerance) {
  SCOPED_TRACE(label);
  const std::vector<Tensor> expected = op(inputs);
  std::vector<Tensor> on_device;
  for (const Tensor& input : inputs) on_device.push_back(input.defined() ? input.to(Device::CUDA) : input);
  const std::vector<Tensor> actual = op(on_device), again = op(on_device);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("output " + std::to_string(i));
    ASSERT_EQ(actual[i].defined(), expected[i].defined());
    if (!expected[i].defined()) continue;
    EXPECT_EQ(actual[i].device(), Device::CUDA);
    ASSERT_EQ(actual[i].shape(), expected[i].shape());
    ASSERT_EQ(actual[i].dtype(), expected[i].dtype());
    EXPECT_LE(relative_error(expected[i], actual[i]), tolerance);
    EXPECT_TRUE(same_bits(actual[i], again[i])) << "not deterministic";
  }
  // Inputs are not modified by ops that return their result (in-place ops clone first).
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined()) EXPECT_TRUE(same_bits(inputs[i], on_device[i])) << "input " << i << " changed";
  }
}

// The message an op throws (empty when it does not throw).
inline std::string thrown_message(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "";
}

}  // namespace clipgrad::testing
