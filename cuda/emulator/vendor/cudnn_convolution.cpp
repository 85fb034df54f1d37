// cuDNN's convolutions on the host (cudnn.h): the algorithm queries, their
// workspaces, and the three directions over emulated device memory, packed
// NCHW data and KCRS filters, cross-correlation with zero padding.
//
// Each direction is built on one ordered product (ordered_product.h): forward
// y[n, k, pixel] sums over (c, r, s); backward filter dw[k, (c, r, s)] over
// (n, output row, output column); backward data first sums w * dy over k for
// each tap and output pixel, then adds those sums into dx in (r, s) order.
#include <optional>
#include <string>
#include <vector>

#include "cuda/emulator/vendor/cudnn_objects.h"
#include "cuda/emulator/vendor/ordered_product.h"
#include "cuda/emulator/counters.h"
#include "cuda/emulator/vendor/library_call.h"

namespace {

using namespace clipgrad::cuda::emulator::detail;
using clipgrad::cuda::emulator::detail::count;
using clipgrad::cuda::emulator::detail::Counted;

// The one algorithm of each direction and the workspace it needs (and overwrites).
constexpr cudnnConvolutionFwdAlgo_t kForward = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
constexpr cudnnConvolutionBwdDataAlgo_t kBackwardData = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
constexpr cudnnConvolutionBwdFilterAlgo_t kBackwardFilter = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
constexpr size_t kWorkspace = 4096;

std::string dims(int64_t a, int64_t b, int64_t c, int64_t d) {
  std::string text = "[";
  for (int64_t size : {a, b, c, d}) text += std::to_string(size) + ",";
  text.back() = ']';
  return text;
}

// A convolution the emulator computes, checked: x [n, c, h, w], w [k, c, r, s], y [n, k, oh, ow].
struct Geometry {
  int64_t n, c, h, w, k, r, s, oh, ow, pad_h, pad_w, stride_h, stride_w;
  cudnnDataType_t type;
  cudnnMathType_t math;
  int64_t x_bytes() const { return n * c * h * w * int64_t(element_bytes(type)); }
  int64_t w_bytes() const { return k * c * r * s * int64_t(element_bytes(type)); }
  int64_t y_bytes() const { return n * k * oh * ow * int64_t(element_bytes(type)); }
  std::string x_shape() const { return "NCHW " + dims(n, c, h, w) + " " + type_name(type); }
  std::string w_shape() const { return "KCRS " + dims(k, c, r, s) + " " + type_name(type); }
  std::string y_shape() const { return "NCHW " + dims(n, k, oh, ow) + " " + type_name(type); }
};

// What cuDNN checks of a convolution's descriptors (every query and direction):
// set descriptors, one data type, channels and output sizes that fit; and what
// the emulator computes (cross-correlation, dilation 1, compute type = data type).
std::optional<Geometry> check_convolution(const char* function, cudnnStatus_t& status, cudnnTensorDescriptor_t x,
                                          cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t conv,
                                          cudnnTensorDescriptor_t y) {
  const auto reject = [&](cudnnStatus_t code, const std::string& reason) {
    status = dnn_status(function, code, reason);
    return std::optional<Geometry>();
  };
  if (!is_live_object(x) || !is_live_object(w) || !is_live_object(conv) || !is_live_object(y))
    return reject(CUDNN_STATUS_BAD_PARAM, "a descriptor was destroyed or never created");
  if (!x->set || !w->set || !conv->set || !y->set) return reject(CUDNN_STATUS_BAD_PARAM, "a descriptor was never set");
  if (w->type != x->type || y->type != x->type)
    return reject(CUDNN_STATUS_BAD_PARAM, std::string("data types differ: x ") + type_name(x->type) + ", w " +
                                              type_name(w->type) + ", y " + type_name(y->type));
  if (conv->compute != x->type)
    return reject(CUDNN_STATUS_NOT_SUPPORTED, std::string("a ") + type_name(conv->compute) + " compute type over " +
                                                  type_name(x->type) + " data is not emulated");
  if (conv->mode != CUDNN_CROSS_CORRELATION)
    return reject(CUDNN_STATUS_NOT_SUPPORTED, "CUDNN_CONVOLUTION (a flipped filter) is not emulated");
  if (conv->dilation_h != 1 || conv->dilation_w != 1)
    return reject(CUDNN_STATUS_NOT_SUPPORTED, "dilation other than 1 is not emulated");
  if (x->c != w->c)
    return reject(CUDNN_STATUS_BAD_PARAM,
                  "x has " + std::to_string(x->c) + " channels, the filter " + std::to_string(w->c) + " (one group)");
  const int64_t padded_h = x->h + 2 * int64_t(conv->pad_h), padded_w = x->w + 2 * int64_t(conv->pad_w);
  if (padded_h < w->h || padded_w < w->w)
    return reject(CUDNN_STATUS_BAD_PARAM, "the filter does not fit the padded input");
  const Geometry g{.n = x->n,
                   .c = x->c,
                   .h = x->h,
                   .w = x->w,
                   .k = w->k,
                   .r = w->h,
                   .s = w->w,
                   .oh = (padded_h - w->h) / conv->stride_h + 1,
                   .ow = (padded_w - w->w) / conv->stride_w + 1,
                   .pad_h = conv->pad_h,
                   .pad_w = conv->pad_w,
                   .stride_h = conv->stride_h,
                   .stride_w = conv->stride_w,
                   .type = x->type,
                   .math = conv->math};
  if (y->n != g.n || y->c != g.k || y->h != g.oh || y->w != g.ow)
    return reject(CUDNN_STATUS_BAD_PARAM, "the output is " + dims(y->n, y->c, y->h, y->w) + ", the convolution makes " +
                                              dims(g.n, g.k, g.oh, g.ow));
  return g;
}

template <class Perf, class Algo>
cudnnStatus_t offer(const char* function, const std::optional<Geometry>& g, cudnnStatus_t status, Algo algo,
                    int requested, int* returned, Perf* results) {
  if (!g) return status;
  if (requested < 1 || !returned || !results)
    return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "no room for results");
  results[0] = {};
  results[0].algo = algo;
  results[0].status = CUDNN_STATUS_SUCCESS;
  results[0].time = 0.0f;
  results[0].memory = kWorkspace;
  results[0].determinism = CUDNN_DETERMINISTIC;
  results[0].mathType = g->math;
  *returned = 1;
  return CUDNN_STATUS_SUCCESS;
}

template <class Algo>
cudnnStatus_t workspace_size(const char* function, const std::optional<Geometry>& g, cudnnStatus_t status, Algo algo,
                             Algo emulated, size_t* size) {
  if (!g) return status;
  if (!size) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a null result pointer");
  if (algo != emulated)
    return dnn_status(function, CUDNN_STATUS_NOT_SUPPORTED,
                      "algorithm " + std::to_string(int(algo)) + " is not emulated; the query offers " +
                          std::to_string(int(emulated)));
  *size = kWorkspace;
  return CUDNN_STATUS_SUCCESS;
}

// What every direction checks before it computes: the handle, the algorithm, the workspace, then faults.
struct Run {
  const char* function;
  LibraryCall call;
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  bool ok = false;
};

template <class Algo>
bool check_run(Run& run, cudnnHandle_t handle, Algo algo, Algo emulated, size_t workspace_bytes) {
  if (!is_live_object(handle))
    run.status = dnn_status(run.function, CUDNN_STATUS_BAD_PARAM, "the handle was destroyed or never created");
  else if (algo != emulated)
    run.status = dnn_status(run.function, CUDNN_STATUS_NOT_SUPPORTED,
                            "algorithm " + std::to_string(int(algo)) + " is not emulated; the query offers " +
                                std::to_string(int(emulated)));
  else if (workspace_bytes < kWorkspace)
    run.status = dnn_status(run.function, CUDNN_STATUS_BAD_PARAM,
                            "a workspace of " + std::to_string(workspace_bytes) + " bytes; the algorithm needs " +
                                std::to_string(kWorkspace));
  if (run.status != CUDNN_STATUS_SUCCESS) return false;
  count(Counted::LibraryCall);
  return true;
}

template <class T>
void blend_into(T* out, T alpha, T beta, T sum) {
  *out = blend(alpha, sum, beta, out);
}

template <class T>
T scalar(const void* pointer) {
  return *static_cast<const T*>(pointer);
}

template <class T>
void forward(const Geometry& g, T alpha, T beta, const T* x, const T* w, T* y) {
  const int64_t rs = g.r * g.s, crs = g.c * rs, pixels = g.oh * g.ow;
  for (int64_t n = 0; n < g.n; ++n) {
    const T* image = x + n * g.c * g.h * g.w;
    T* out = y + n * g.k * pixels;
    const auto patch = [&](int64_t pixel, int64_t p) {  // x at filter tap p = (c, r, s) of output pixel
      const int64_t c = p / rs, r = p % rs / g.s, s = p % g.s;
      const int64_t ih = pixel / g.ow * g.stride_h - g.pad_h + r, iw = pixel % g.ow * g.stride_w - g.pad_w + s;
      return ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? image[(c * g.h + ih) * g.w + iw] : T(0);
    };
    const auto filter = [&](int64_t p, int64_t k) { return w[k * crs + p]; };
    const auto store = [&](int64_t pixel, int64_t k, T sum) { blend_into(out + k * pixels + pixel, alpha, beta, sum); };
    ordered_product<T>(pixels, g.k, crs, patch, filter, store);
  }
}

// In two steps, so that no zero of the strided scatter is multiplied: first
// columns[(c, r, s), output pixel] = the sum over k of w * dy (one ordered
// product per image), then each dx element adds up, in (r, s) order, the
// columns of the taps through which it feeds an output.
template <class T>
void backward_data(const Geometry& g, T alpha, T beta, const T* w, const T* dy, T* dx) {
  const int64_t rs = g.r * g.s, crs = g.c * rs, pixels = g.oh * g.ow;
  std::vector<T> columns(size_t(crs * pixels));
  for (int64_t n = 0; n < g.n; ++n) {
    const T* grad = dy + n * g.k * pixels;
    const auto filter = [&](int64_t tap, int64_t k) { return w[k * crs + tap]; };
    const auto output = [&](int64_t k, int64_t pixel) { return grad[k * pixels + pixel]; };
    const auto store = [&](int64_t tap, int64_t pixel, T sum) { columns[size_t(tap * pixels + pixel)] = sum; };
    ordered_product<T>(crs, pixels, g.k, filter, output, store);
    T* out = dx + n * g.c * g.h * g.w;
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t ih = 0; ih < g.h; ++ih)
        for (int64_t iw = 0; iw < g.w; ++iw) {
          T sum = 0;
          for (int64_t r = 0; r < g.r; ++r) {
            const int64_t th = ih + g.pad_h - r;
            if (th < 0 || th % g.stride_h != 0 || th / g.stride_h >= g.oh) continue;
            for (int64_t s = 0; s < g.s; ++s) {
              const int64_t tw = iw + g.pad_w - s;
              if (tw < 0 || tw % g.stride_w != 0 || tw / g.stride_w >= g.ow) continue;
              sum += columns[size_t(((c * g.r + r) * g.s + s) * pixels + th / g.stride_h * g.ow + tw / g.stride_w)];
            }
          }
          blend_into(out + (c * g.h + ih) * g.w + iw, alpha, beta, sum);
        }
  }
}

template <class T>
void backward_filter(const Geometry& g, T alpha, T beta, const T* x, const T* dy, T* dw) {
  const int64_t rs = g.r * g.s, crs = g.c * rs, pixels = g.oh * g.ow;
  const auto patch = [&](int64_t tap, int64_t q) {  // x under tap (c, r, s) at output position q = (n, oh, ow)
    const int64_t n = q / pixels, pixel = q % pixels;
    const int64_t c = tap / rs, r = tap % rs / g.s, s = tap % g.s;
    const int64_t ih = pixel / g.ow * g.stride_h - g.pad_h + r, iw = pixel % g.ow * g.stride_w - g.pad_w + s;
    return ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? x[((n * g.c + c) * g.h + ih) * g.w + iw] : T(0);
  };
  const auto grad = [&](int64_t q, int64_t k) { return dy[(q / pixels * g.k + k) * pixels + q % pixels]; };
  const auto store = [&](int64_t tap, int64_t k, T sum) { blend_into(dw + k * crs + tap, alpha, beta, sum); };
  ordered_product<T>(crs, g.k, g.n * pixels, patch, grad, store);
}

}  // namespace

// ---- algorithms and workspaces ----

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc,
                                                     const cudnnFilterDescriptor_t filterDesc,
                                                     const cudnnConvolutionDescriptor_t convDesc,
                                                     const cudnnTensorDescriptor_t destDesc,
                                                     const int requestedAlgoCount, int* returnedAlgoCount,
                                                     cudnnConvolutionFwdAlgoPerf_t* perfResults) {
  constexpr const char* function = "cudnnGetConvolutionForwardAlgorithm_v7";
  if (!is_live_object(handle)) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a dead handle");
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const auto g = check_convolution(function, status, srcDesc, filterDesc, convDesc, destDesc);
  return offer(function, g, status, kForward, requestedAlgoCount, returnedAlgoCount, perfResults);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t handle, const cudnnFilterDescriptor_t filterDesc, const cudnnTensorDescriptor_t diffDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t gradDesc, const int requestedAlgoCount,
    int* returnedAlgoCount, cudnnConvolutionBwdDataAlgoPerf_t* perfResults) {
  constexpr const char* function = "cudnnGetConvolutionBackwardDataAlgorithm_v7";
  if (!is_live_object(handle)) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a dead handle");
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const auto g = check_convolution(function, status, gradDesc, filterDesc, convDesc, diffDesc);
  return offer(function, g, status, kBackwardData, requestedAlgoCount, returnedAlgoCount, perfResults);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc,
                                                            const cudnnTensorDescriptor_t diffDesc,
                                                            const cudnnConvolutionDescriptor_t convDesc,
                                                            const cudnnFilterDescriptor_t gradDesc,
                                                            const int requestedAlgoCount, int* returnedAlgoCount,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* perfResults) {
  constexpr const char* function = "cudnnGetConvolutionBackwardFilterAlgorithm_v7";
  if (!is_live_object(handle)) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a dead handle");
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const auto g = check_convolution(function, status, srcDesc, gradDesc, convDesc, diffDesc);
  return offer(function, g, status, kBackwardFilter, requestedAlgoCount, returnedAlgoCount, perfResults);
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
                                                      const cudnnFilterDescriptor_t wDesc,
                                                      const cudnnConvolutionDescriptor_t convDesc,
                                                      const cudnnTensorDescriptor_t yDesc,
                                                      cudnnConvolutionFwdAlgo_t algo, size_t* sizeInBytes) {
  constexpr const char* function = "cudnnGetConvolutionForwardWorkspaceSize";
  if (!is_live_object(handle)) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a dead handle");
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const auto g = check_convolution(function, status, xDesc, wDesc, convDesc, yDesc);
  return workspace_size(function, g, status, algo, kForward, sizeInBytes);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t handle, const cudnnFilterDescriptor_t wDesc,
                                                           const cudnnTensorDescriptor_t dyDesc,
                                                           const cudnnConvolutionDescriptor_t convDesc,
                                                           const cudnnTensorDescriptor_t dxDesc,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t* sizeInBytes) {
  constexpr const char* function = "cudnnGetConvolutionBackwardDataWorkspaceSize";
  if (!is_live_object(handle)) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a dead handle");
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const auto g = check_convolution(function, status, dxDesc, wDesc, convDesc, dyDesc);
  return workspace_size(function, g, status, algo, kBackwardData, sizeInBytes);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc,
                                                             const cudnnTensorDescriptor_t dyDesc,
                                                             const cudnnConvolutionDescriptor_t convDesc,
                                                             const cudnnFilterDescriptor_t gradDesc,
                                                             cudnnConvolutionBwdFilterAlgo_t algo,
                                                             size_t* sizeInBytes) {
  constexpr const char* function = "cudnnGetConvolutionBackwardFilterWorkspaceSize";
  if (!is_live_object(handle)) return dnn_status(function, CUDNN_STATUS_BAD_PARAM, "a dead handle");
  cudnnStatus_t status = CUDNN_STATUS_SUCCESS;
  const auto g = check_convolution(function, status, xDesc, gradDesc, convDesc, dyDesc);
  return workspace_size(function, g, status, algo, kBackwardFilter, sizeInBytes);
}

// ---- the three directions ----

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xDesc,
                                      const void* x, const cudnnFilterDescriptor_t wDesc, const void* w,
                                      const cudnnConvolutionDescriptor_t convDesc, cudnnConvolutionFwdAlgo_t algo,
                                      void* workSpace, size_t workSpaceSizeInBytes, const void* beta,
                                      const cudnnTensorDescriptor_t yDesc, void* y, std::source_location where) {
  Run run{"cudnnConvolutionForward", {Library::Cudnn, "cudnnConvolutionForward", where}};
  if (!check_run(run, handle, algo, kForward, workSpaceSizeInBytes)) return run.status;
  const auto g = check_convolution(run.function, run.status, xDesc, wDesc, convDesc, yDesc);
  if (!g) return run.status;
  check_host_scalar(run.call, "alpha", 1, alpha);
  check_host_scalar(run.call, "beta", 10, beta);
  check_operand(run.call, "x", 3, x, {0, g->x_bytes()}, g->x_shape());
  check_operand(run.call, "w", 5, w, {0, g->w_bytes()}, g->w_shape());
  check_operand(run.call, "workSpace", 8, workSpace, {0, int64_t(workSpaceSizeInBytes)},
                std::to_string(workSpaceSizeInBytes) + " bytes");
  check_operand(run.call, "y", 12, y, {0, g->y_bytes()}, g->y_shape());
  use_workspace(workSpace, kWorkspace);
  if (g->type == CUDNN_DATA_DOUBLE)
    forward(*g, scalar<double>(alpha), scalar<double>(beta), static_cast<const double*>(x),
            static_cast<const double*>(w), static_cast<double*>(y));
  else
    forward(*g, scalar<float>(alpha), scalar<float>(beta), static_cast<const float*>(x), static_cast<const float*>(w),
            static_cast<float*>(y));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha, const cudnnFilterDescriptor_t wDesc,
                                           const void* w, const cudnnTensorDescriptor_t dyDesc, const void* dy,
                                           const cudnnConvolutionDescriptor_t convDesc,
                                           cudnnConvolutionBwdDataAlgo_t algo, void* workSpace,
                                           size_t workSpaceSizeInBytes, const void* beta,
                                           const cudnnTensorDescriptor_t dxDesc, void* dx, std::source_location where) {
  Run run{"cudnnConvolutionBackwardData", {Library::Cudnn, "cudnnConvolutionBackwardData", where}};
  if (!check_run(run, handle, algo, kBackwardData, workSpaceSizeInBytes)) return run.status;
  const auto g = check_convolution(run.function, run.status, dxDesc, wDesc, convDesc, dyDesc);
  if (!g) return run.status;
  check_host_scalar(run.call, "alpha", 1, alpha);
  check_host_scalar(run.call, "beta", 10, beta);
  check_operand(run.call, "w", 3, w, {0, g->w_bytes()}, g->w_shape());
  check_operand(run.call, "dy", 5, dy, {0, g->y_bytes()}, g->y_shape());
  check_operand(run.call, "workSpace", 8, workSpace, {0, int64_t(workSpaceSizeInBytes)},
                std::to_string(workSpaceSizeInBytes) + " bytes");
  check_operand(run.call, "dx", 12, dx, {0, g->x_bytes()}, g->x_shape());
  use_workspace(workSpace, kWorkspace);
  if (g->type == CUDNN_DATA_DOUBLE)
    backward_data(*g, scalar<double>(alpha), scalar<double>(beta), static_cast<const double*>(w),
                  static_cast<const double*>(dy), static_cast<double*>(dx));
  else
    backward_data(*g, scalar<float>(alpha), scalar<float>(beta), static_cast<const float*>(w),
                  static_cast<const float*>(dy), static_cast<float*>(dx));
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(
    cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xDesc, const void* x,
    const cudnnTensorDescriptor_t dyDesc, const void* dy, const cudnnConvolutionDescriptor_t convDesc,
    cudnnConvolutionBwdFilterAlgo_t algo, void* workSpace, size_t workSpaceSizeInBytes, const void* beta,
    const cudnnFilterDescriptor_t dwDesc, void* dw, std::source_location where) {
  Run run{"cudnnConvolutionBackwardFilter", {Library::Cudnn, "cudnnConvolutionBackwardFilter", where}};
  if (!check_run(run, handle, algo, kBackwardFilter, workSpaceSizeInBytes)) return run.status;
  const auto g = check_convolution(run.function, run.status, xDesc, dwDesc, convDesc, dyDesc);
  if (!g) return run.status;
  check_host_scalar(run.call, "alpha", 1, alpha);
  check_host_scalar(run.call, "beta", 10, beta);
  check_operand(run.call, "x", 3, x, {0, g->x_bytes()}, g->x_shape());
  check_operand(run.call, "dy", 5, dy, {0, g->y_bytes()}, g->y_shape());
  check_operand(run.call, "workSpace", 8, workSpace, {0, int64_t(workSpaceSizeInBytes)},
                std::to_string(workSpaceSizeInBytes) + " bytes");
  check_operand(run.call, "dw", 12, dw, {0, g->w_bytes()}, g->w_shape());
  use_workspace(workSpace, kWorkspace);
  if (g->type == CUDNN_DATA_DOUBLE)
    backward_filter(*g, scalar<double>(alpha), scalar<double>(beta), static_cast<const double*>(x),
                    static_cast<const double*>(dy), static_cast<double*>(dw));
  else
    backward_filter(*g, scalar<float>(alpha), scalar<float>(beta), static_cast<const float*>(x),
                    static_cast<const float*>(dy), static_cast<float*>(dw));
  return CUDNN_STATUS_SUCCESS;
}
