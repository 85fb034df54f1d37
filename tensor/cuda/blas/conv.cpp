// conv2d through cuDNN's convolution API: NCHW tensors, cross-correlation,
// zero padding, one stride for both axes (the CPU twin's geometry and errors,
// tensor/cpu/conv.cpp). The algorithm of each direction is chosen once per
// shape (cuDNN's heuristic, cudnnGet*Algorithm_v7, sorted by expected speed)
// and cached: the fastest deterministic one whose workspace fits kWorkspaceLimit.
// Deterministic only, so that a rerun gives the same bits (house rule).
//
// cuDNN 9 marks this API deprecated in favour of its graph API; it is still
// shipped, and it is the one with per-direction algorithm queries.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

#include "cuda/check.h"
#include "tensor/precision.h"
#include "cuda/device.h"
#include "tensor/cuda/blas/library_handles.h"
#include "tensor/cuda/kernels.h"
#include "tensor/ops/linalg.h"
#include "tensor/shape_rules.h"

namespace clipgrad::cuda {

namespace {

constexpr size_t kWorkspaceLimit = size_t(1) << 30;
constexpr int kMaxAlgorithms = 16;

std::string str(int64_t v) { return std::to_string(v); }

struct Geometry : ops::Conv2dShape {
  DType dtype;
  bool tf32;
  int device;
  auto tie() const {
    return std::tie(batch, channels, height, width, out_channels, kernel_h, kernel_w, stride, padding, dtype, tf32,
                    device);
  }
  bool operator<(const Geometry& other) const { return tie() < other.tie(); }
};

Geometry conv_geometry(const Tensor& x, const Tensor& weight, int64_t stride, int64_t padding) {
  return {ops::conv2d_shape(x, weight, stride, padding), x.dtype(), x.dtype() == DType::F32 && tf32_enabled(),
          current_device()};
}

// The descriptors of one geometry and the algorithm of each direction.
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t weight = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t forward{};
  cudnnConvolutionBwdDataAlgo_t backward_data{};
  cudnnConvolutionBwdFilterAlgo_t backward_filter{};
  size_t forward_bytes = 0, backward_data_bytes = 0, backward_filter_bytes = 0;
};

template <class Perf>
const Perf& pick(const Perf* results, int count, const char* direction, const Geometry& g) {
  for (int i = 0; i < count; ++i)
    if (results[i].status == CUDNN_STATUS_SUCCESS && results[i].determinism == CUDNN_DETERMINISTIC &&
        results[i].memory <= kWorkspaceLimit)
      return results[i];
  throw std::runtime_error(std::string("conv2d: cuDNN offers no deterministic ") + direction + " algorithm for x [" +
                           str(g.batch) + "," + str(g.channels) + "," + str(g.height) + "," + str(g.width) +
                           "] and weight [" + str(g.out_channels) + "," + str(g.channels) + "," + str(g.kernel_h) +
                           "," + str(g.kernel_w) + "] within " + str(kWorkspaceLimit >> 20) + " MiB of workspace");
}

ConvPlan make_plan(const Geometry& g) {
  ConvPlan plan;
  const cudnnDataType_t type = g.dtype == DType::F64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  auto tensor4d = [&](int64_t n, int64_t c, int64_t h, int64_t w) {
    cudnnTensorDescriptor_t descriptor = nullptr;
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&descriptor));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(descriptor, CUDNN_TENSOR_NCHW, type, int(n), int(c), int(h), int(w)));
    return descriptor;
  };
  plan.x = tensor4d(g.batch, g.channels, g.height, g.width);
  plan.y = tensor4d(g.batch, g.out_channels, g.out_h, g.out_w);
  plan.bias = tensor4d(1, g.out_channels, 1, 1);
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan.weight));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan.weight, type, CUDNN_TENSOR_NCHW, int(g.out_channels), int(g.channels),
                                         int(g.kernel_h), int(g.kernel_w)));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan.conv));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan.conv, int(g.padding), int(g.padding), int(g.stride), int(g.stride),
                                              1, 1, CUDNN_CROSS_CORRELATION, type));
  // FMA math keeps f32 products exact to f32 (no TF32), as PyTorch does with allow_tf32 off.
  CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, g.tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));

  cudnnHandle_t handle = cudnn_handle();
  int count = 0;
  cudnnConvolutionFwdAlgoPerf_t forward[kMaxAlgorithms];
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, plan.x, plan.weight, plan.conv, plan.y, kMaxAlgorithms,
                                                     &count, forward));
  const auto& chosen_forward = pick(forward, count, "forward", g);
  plan.forward = chosen_forward.algo;
  plan.forward_bytes = chosen_forward.memory;
  cudnnConvolutionBwdDataAlgoPerf_t data[kMaxAlgorithms];
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, plan.weight, plan.y, plan.conv, plan.x,
                                                          kMaxAlgorithms, &count, data));
  const auto& chosen_data = pick(data, count, "backward-data", g);
  plan.backward_data = chosen_data.algo;
  plan.backward_data_bytes = chosen_data.memory;
  cudnnConvolutionBwdFilterAlgoPerf_t filter[kMaxAlgorithms];
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, plan.x, plan.y, plan.conv, plan.weight,
                                                            kMaxAlgorithms, &count, filter));
  const auto& chosen_filter = pick(filter, count, "backward-filter", g);
  plan.backward_filter = chosen_filter.algo;
  plan.backward_filter_bytes = chosen_filter.memory;
  return plan;
}

std::mutex g_plans_mutex;
// Never destroyed: descriptors freed by a static destructor could outlive the cuDNN library.
auto& g_plans = *new std::map<Geometry, ConvPlan>;

const ConvPlan& plan_for(const Geometry& g) {
  std::lock_guard<std::mutex> lock(g_plans_mutex);
  auto found = g_plans.find(g);
  if (found == g_plans.end()) found = g_plans.emplace(g, make_plan(g)).first;
  return found->second;  // std::map never moves its elements
}

// cuDNN's alpha and beta are of the compute type: double for f64 data, float otherwise.
struct Scalars {
  float f32_one = 1, f32_zero = 0;
  double f64_one = 1, f64_zero = 0;
  bool f64;
  const void* one() const { return f64 ? static_cast<const void*>(&f64_one) : &f32_one; }
  const void* zero() const { return f64 ? static_cast<const void*>(&f64_zero) : &f32_zero; }
};

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  const Geometry g = conv_geometry(x, weight, stride, padding);
  Tensor out = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, x.dtype(), Device::CUDA);
  if (out.numel() == 0) return out;
  if (x.numel() == 0 || weight.numel() == 0) return Tensor::zeros(out.shape(), x.dtype(), Device::CUDA);
  const ConvPlan& plan = plan_for(g);
  const Scalars s{.f64 = x.dtype() == DType::F64};
  cudnnHandle_t handle = cudnn_handle();
  Tensor workspace = device_scratch(plan.forward_bytes);
  CUDNN_CHECK(cudnnConvolutionForward(handle, s.one(), plan.x, x.raw_data(), plan.weight, weight.raw_data(), plan.conv,
                                      plan.forward, workspace.raw_data(), plan.forward_bytes, s.zero(), plan.y,
                                      out.raw_data()));
  if (bias.defined())
    CUDNN_CHECK(cudnnAddTensor(handle, s.one(), plan.bias, bias.raw_data(), s.one(), plan.y, out.raw_data()));
  return out;
}

ops::Conv2dGrads conv2d_backward(const Tensor& grad, const Tensor& x, const Tensor& weight, int64_t stride,
                                 int64_t padding, bool need_x, bool need_weight, bool need_bias) {
  const Geometry g = conv_geometry(x, weight, stride, padding);
  ops::Conv2dGrads grads;
  const bool empty = grad.numel() == 0 || x.numel() == 0 || weight.numel() == 0;
  auto gradient = [&](const Shape& shape) {
    return empty ? Tensor::zeros(shape, x.dtype(), Device::CUDA) : Tensor::empty(shape, x.dtype(), Device::CUDA);
  };
  if (need_x) grads.x = gradient(x.shape());
  if (need_weight) grads.weight = gradient(weight.shape());
  if (need_bias)
    grads.bias = grad.numel() == 0 ? Tensor::zeros({g.out_channels}, x.dtype(), Device::CUDA)
                                   : Tensor::empty({g.out_channels}, x.dtype(), Device::CUDA);
  if (need_bias && grad.numel() > 0) {
    // d bias = the sum of grad over N, H' and W'; cuDNN needs only grad's descriptor for it.
    const ConvPlan& plan = plan_for(g);
    const Scalars s{.f64 = x.dtype() == DType::F64};
    CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn_handle(), s.one(), plan.y, grad.raw_data(), s.zero(), plan.bias,
                                             grads.bias.raw_data()));
  }
  if (empty) return grads;
  const ConvPlan& plan = plan_for(g);
  const Scalars s{.f64 = x.dtype() == DType::F64};
  cudnnHandle_t handle = cudnn_handle();
  if (need_x) {
    Tensor workspace = device_scratch(plan.backward_data_bytes);
    CUDNN_CHECK(cudnnConvolutionBackwardData(handle, s.one(), plan.weight, weight.raw_data(), plan.y, grad.raw_data(),
                                             plan.conv, plan.backward_data, workspace.raw_data(),
                                             plan.backward_data_bytes, s.zero(), plan.x, grads.x.raw_data()));
  }
  if (need_weight) {
    Tensor workspace = device_scratch(plan.backward_filter_bytes);
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(
        handle, s.one(), plan.x, x.raw_data(), plan.y, grad.raw_data(), plan.conv, plan.backward_filter,
        workspace.raw_data(), plan.backward_filter_bytes, s.zero(), plan.weight, grads.weight.raw_data()));
  }
  return grads;
}

}  // namespace clipgrad::cuda
