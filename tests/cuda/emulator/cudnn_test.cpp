// The cuDNN stand-in (cuda/emulator/vendor/cudnn.h) against naive NCHW loops that
// sum in the same documented order, so results must match to the bit: the
// three convolution directions with stride, padding and odd sizes, alpha and
// beta, the bias gradient, the bias broadcast of cudnnAddTensor, f64; the
// algorithm queries and the workspace contract; and what it refuses.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "cuda/emulator/vendor/cudnn.h"
#include "vendor_test_support.h"

using namespace clipgrad;
using namespace clipgrad::toy;

namespace {

struct Geometry {
  int n, c, h, w, k, r, s, pad, stride;
  int oh() const { return (h + 2 * pad - r) / stride + 1; }
  int ow() const { return (w + 2 * pad - s) / stride + 1; }
  size_t x_size() const { return size_t(n) * c * h * w; }
  size_t w_size() const { return size_t(k) * c * r * s; }
  size_t y_size() const { return size_t(n) * k * oh() * ow(); }
};

// alpha * sum + beta * prior as the stand-in documents it (prior not read for beta 0).
template <class T>
T blend(double alpha, T sum, double beta, T prior) {
  return std::fma(T(alpha), sum, beta != 0 ? T(beta) * prior : T(0));
}

// x at (n, c, ih, iw), 0 in the padding.
template <class T>
T input_at(const Geometry& g, const std::vector<T>& x, int n, int c, int ih, int iw) {
  return ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? x[((size_t(n) * g.c + c) * g.h + ih) * g.w + iw] : T(0);
}

// y[n, k, oh, ow]: the sum over c, r, s, in that order.
template <class T>
std::vector<T> forward(const Geometry& g, const std::vector<T>& x, const std::vector<T>& w, std::vector<T> y,
                       double alpha, double beta) {
  for (int n = 0; n < g.n; ++n)
    for (int k = 0; k < g.k; ++k)
      for (int oh = 0; oh < g.oh(); ++oh)
        for (int ow = 0; ow < g.ow(); ++ow) {
          T sum = 0;
          for (int c = 0; c < g.c; ++c)
            for (int r = 0; r < g.r; ++r)
              for (int s = 0; s < g.s; ++s)
                sum = std::fma(input_at(g, x, n, c, oh * g.stride - g.pad + r, ow * g.stride - g.pad + s),
                               w[((size_t(k) * g.c + c) * g.r + r) * g.s + s], sum);
          T& out = y[((size_t(n) * g.k + k) * g.oh() + oh) * g.ow() + ow];
          out = blend(alpha, sum, beta, out);
        }
  return y;
}

// dx[n, c, h, w]: in (r, s) order, over the taps through which the pixel feeds an output, the sum over k.
template <class T>
std::vector<T> backward_data(const Geometry& g, const std::vector<T>& w, const std::vector<T>& dy, std::vector<T> dx,
                             double alpha, double beta) {
  for (int n = 0; n < g.n; ++n)
    for (int c = 0; c < g.c; ++c)
      for (int ih = 0; ih < g.h; ++ih)
        for (int iw = 0; iw < g.w; ++iw) {
          T sum = 0;
          for (int r = 0; r < g.r; ++r)
            for (int s = 0; s < g.s; ++s) {
              const int th = ih + g.pad - r, tw = iw + g.pad - s;
              if (th < 0 || tw < 0 || th % g.stride != 0 || tw % g.stride != 0 || th / g.stride >= g.oh() ||
                  tw / g.stride >= g.ow())
                continue;
              T tap = 0;
              for (int k = 0; k < g.k; ++k)
                tap = std::fma(w[((size_t(k) * g.c + c) * g.r + r) * g.s + s],
                               dy[((size_t(n) * g.k + k) * g.oh() + th / g.stride) * g.ow() + tw / g.stride], tap);
              sum += tap;
            }
          T& out = dx[((size_t(n) * g.c + c) * g.h + ih) * g.w + iw];
          out = blend(alpha, sum, beta, out);
        }
  return dx;
}

// dw[k, c, r, s]: the sum over n, oh, ow.
template <class T>
std::vector<T> backward_filter(const Geometry& g, const std::vector<T>& x, const std::vector<T>& dy, std::vector<T> dw,
                               double alpha, double beta) {
  for (int k = 0; k < g.k; ++k)
    for (int c = 0; c < g.c; ++c)
      for (int r = 0; r < g.r; ++r)
        for (int s = 0; s < g.s; ++s) {
          T sum = 0;
          for (int n = 0; n < g.n; ++n)
            for (int oh = 0; oh < g.oh(); ++oh)
              for (int ow = 0; ow < g.ow(); ++ow)
                sum = std::fma(input_at(g, x, n, c, oh * g.stride - g.pad + r, ow * g.stride - g.pad + s),
                               dy[((size_t(n) * g.k + k) * g.oh() + oh) * g.ow() + ow], sum);
          T& out = dw[((size_t(k) * g.c + c) * g.r + r) * g.s + s];
          out = blend(alpha, sum, beta, out);
        }
  return dw;
}

// The descriptors of one convolution, made as tensor/cuda/blas/conv.cpp makes them.
struct Conv {
  Geometry g;
  cudnnDataType_t type;
  cudnnHandle_t handle = nullptr;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  Conv(const Geometry& geometry, bool f64) : g(geometry), type(f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT) {
    EXPECT_EQ(cudnnCreate(&handle), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetStream(handle, nullptr), CUDNN_STATUS_SUCCESS);
    x = tensor(g.n, g.c, g.h, g.w);
    y = tensor(g.n, g.k, g.oh(), g.ow());
    bias = tensor(1, g.k, 1, 1);
    EXPECT_EQ(cudnnCreateFilterDescriptor(&w), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetFilter4dDescriptor(w, type, CUDNN_TENSOR_NCHW, g.k, g.c, g.r, g.s), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnCreateConvolutionDescriptor(&conv), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(
        cudnnSetConvolution2dDescriptor(conv, g.pad, g.pad, g.stride, g.stride, 1, 1, CUDNN_CROSS_CORRELATION, type),
        CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH), CUDNN_STATUS_SUCCESS);
  }
  Conv(const Conv&) = delete;
  Conv& operator=(const Conv&) = delete;
  ~Conv() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    for (cudnnTensorDescriptor_t t : {bias, y, x}) cudnnDestroyTensorDescriptor(t);
    cudnnDestroy(handle);
  }
  cudnnTensorDescriptor_t tensor(int n, int c, int h, int w_) {
    cudnnTensorDescriptor_t t = nullptr;
    EXPECT_EQ(cudnnCreateTensorDescriptor(&t), CUDNN_STATUS_SUCCESS);
    EXPECT_EQ(cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NCHW, type, n, c, h, w_), CUDNN_STATUS_SUCCESS);
    return t;
  }
};

// Every direction of one geometry against the loops, with alpha and beta.
template <class T>
void check_directions(const Geometry& g, double alpha, double beta) {
  const bool f64 = sizeof(T) == 8;
  Conv conv(g, f64);
  const std::vector<T> x = random_values<T>(g.x_size(), 1), w = random_values<T>(g.w_size(), 2);
  const std::vector<T> y = random_values<T>(g.y_size(), 3), dy = random_values<T>(g.y_size(), 4);
  const std::vector<T> dx = random_values<T>(g.x_size(), 5), dw = random_values<T>(g.w_size(), 6);
  DeviceArray<T> d_x(x), d_w(w), d_y(y), d_dy(dy), d_dx(dx), d_dw(dw);
  DeviceArray<unsigned char> workspace(4096);
  const T a = T(alpha), b = T(beta);
  int count = 0;
  cudnnConvolutionFwdAlgoPerf_t forward_perf[4];
  ASSERT_EQ(
      cudnnGetConvolutionForwardAlgorithm_v7(conv.handle, conv.x, conv.w, conv.conv, conv.y, 4, &count, forward_perf),
      CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(count, 1);
  ASSERT_EQ(cudnnConvolutionForward(conv.handle, &a, conv.x, d_x.get(), conv.w, d_w.get(), conv.conv,
                                    forward_perf[0].algo, workspace.get(), 4096, &b, conv.y, d_y.get()),
            CUDNN_STATUS_SUCCESS);
  EXPECT_TRUE(same_bits(d_y.read(), forward(g, x, w, y, alpha, beta)));
  cudnnConvolutionBwdDataAlgoPerf_t data_perf[4];
  ASSERT_EQ(
      cudnnGetConvolutionBackwardDataAlgorithm_v7(conv.handle, conv.w, conv.y, conv.conv, conv.x, 4, &count, data_perf),
      CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnConvolutionBackwardData(conv.handle, &a, conv.w, d_w.get(), conv.y, d_dy.get(), conv.conv,
                                         data_perf[0].algo, workspace.get(), 4096, &b, conv.x, d_dx.get()),
            CUDNN_STATUS_SUCCESS);
  EXPECT_TRUE(same_bits(d_dx.read(), backward_data(g, w, dy, dx, alpha, beta)));
  cudnnConvolutionBwdFilterAlgoPerf_t filter_perf[4];
  ASSERT_EQ(cudnnGetConvolutionBackwardFilterAlgorithm_v7(conv.handle, conv.x, conv.y, conv.conv, conv.w, 4, &count,
                                                          filter_perf),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(cudnnConvolutionBackwardFilter(conv.handle, &a, conv.x, d_x.get(), conv.y, d_dy.get(), conv.conv,
                                           filter_perf[0].algo, workspace.get(), 4096, &b, conv.w, d_dw.get()),
            CUDNN_STATUS_SUCCESS);
  EXPECT_TRUE(same_bits(d_dw.read(), backward_filter(g, x, dy, dw, alpha, beta)));
}

}  // namespace

TEST(EmulatorCudnn, ThreeDirectionsWithStrideAndPaddingOnOddSizes) {
  // 7x5 input, 3x2 filter, stride 2, padding 1: uneven edges, and input rows no output reads.
  check_directions<float>({2, 3, 7, 5, 4, 3, 2, 1, 2}, 1, 0);
  check_directions<float>({1, 2, 8, 8, 3, 3, 3, 0, 2}, 1, 0);  // stride 2, no padding: the last row feeds nothing
  check_directions<float>({3, 5, 6, 9, 7, 1, 1, 0, 1}, 1, 0);  // 1x1
  // Past one block of the product loop: 147 taps deep (3 x 7 x 7), 64 filters, 8 x 8 outputs.
  check_directions<float>({2, 3, 16, 16, 64, 7, 7, 3, 2}, 1, 0);
}

TEST(EmulatorCudnn, AlphaAndBetaBlendWithThePriorOutput) {
  check_directions<float>({2, 3, 5, 6, 2, 3, 3, 1, 1}, 0.5, 1);
  check_directions<float>({2, 3, 5, 6, 2, 3, 3, 1, 1}, -1.5, 0.25);
}

TEST(EmulatorCudnn, DoublePrecision) { check_directions<double>({2, 3, 7, 5, 4, 3, 2, 1, 2}, 1, 0); }

TEST(EmulatorCudnn, BetaZeroDoesNotReadTheOutput) {
  const Geometry g{1, 2, 4, 4, 3, 3, 3, 1, 1};
  Conv conv(g, false);
  const std::vector<float> x = random_values<float>(g.x_size(), 1), w = random_values<float>(g.w_size(), 2);
  DeviceArray<float> d_x(x), d_w(w), d_y(std::vector<float>(g.y_size(), std::numeric_limits<float>::quiet_NaN()));
  DeviceArray<unsigned char> workspace(4096);
  const float one = 1, zero = 0;
  ASSERT_EQ(cudnnConvolutionForward(conv.handle, &one, conv.x, d_x.get(), conv.w, d_w.get(), conv.conv,
                                    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, workspace.get(), 4096, &zero, conv.y,
                                    d_y.get()),
            CUDNN_STATUS_SUCCESS);
  EXPECT_TRUE(same_bits(d_y.read(), forward(g, x, w, std::vector<float>(g.y_size(), 0.f), 1, 0)));
}

TEST(EmulatorCudnn, BiasGradientAndBiasBroadcast) {
  const Geometry g{3, 2, 5, 4, 6, 3, 3, 1, 1};  // y [3, 6, 5, 4]
  Conv conv(g, false);
  const std::vector<float> dy = random_values<float>(g.y_size(), 1), bias = random_values<float>(6, 2);
  const std::vector<float> y = random_values<float>(g.y_size(), 3);
  DeviceArray<float> d_dy(dy), d_bias(bias), d_db(6), d_y(y);
  const float one = 1, zero = 0;
  ASSERT_EQ(cudnnConvolutionBackwardBias(conv.handle, &one, conv.y, d_dy.get(), &zero, conv.bias, d_db.get()),
            CUDNN_STATUS_SUCCESS);
  std::vector<float> expected_db(6);
  const size_t pixels = 5 * 4;
  for (int k = 0; k < 6; ++k) {
    float sum = 0;
    for (int n = 0; n < 3; ++n)
      for (size_t i = 0; i < pixels; ++i) sum += dy[(size_t(n) * 6 + k) * pixels + i];
    expected_db[k] = sum;
  }
  EXPECT_TRUE(same_bits(d_db.read(), expected_db));
  ASSERT_EQ(cudnnAddTensor(conv.handle, &one, conv.bias, d_bias.get(), &one, conv.y, d_y.get()), CUDNN_STATUS_SUCCESS);
  std::vector<float> expected_y = y;
  for (size_t i = 0; i < expected_y.size(); ++i) expected_y[i] = std::fma(1.f, bias[i / pixels % 6], y[i]);
  EXPECT_TRUE(same_bits(d_y.read(), expected_y));
}

TEST(EmulatorCudnn, OneDeterministicAlgorithmPerDirectionWithItsWorkspace) {
  Conv conv({1, 2, 6, 6, 3, 3, 3, 1, 1}, false);
  int count = 0;
  cudnnConvolutionFwdAlgoPerf_t forward[8];
  ASSERT_EQ(cudnnGetConvolutionForwardAlgorithm_v7(conv.handle, conv.x, conv.w, conv.conv, conv.y, 8, &count, forward),
            CUDNN_STATUS_SUCCESS);
  ASSERT_EQ(count, 1);
  EXPECT_EQ(forward[0].status, CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(forward[0].determinism, CUDNN_DETERMINISTIC);
  EXPECT_EQ(forward[0].memory, 4096u);
  EXPECT_EQ(forward[0].mathType, CUDNN_FMA_MATH);
  size_t bytes = 0;
  EXPECT_EQ(
      cudnnGetConvolutionForwardWorkspaceSize(conv.handle, conv.x, conv.w, conv.conv, conv.y, forward[0].algo, &bytes),
      CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(bytes, 4096u);
  EXPECT_EQ(cudnnGetConvolutionBackwardFilterWorkspaceSize(conv.handle, conv.x, conv.y, conv.conv, conv.w,
                                                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, &bytes),
            CUDNN_STATUS_NOT_SUPPORTED);  // only the offered algorithm runs
  cudnnConvolutionBwdFilterAlgoPerf_t filter[1];
  ASSERT_EQ(
      cudnnGetConvolutionBackwardFilterAlgorithm_v7(conv.handle, conv.x, conv.y, conv.conv, conv.w, 1, &count, filter),
      CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(filter[0].algo, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1);
  EXPECT_EQ(filter[0].determinism, CUDNN_DETERMINISTIC);

  DeviceArray<float> x(72), w(54), y(108);
  DeviceArray<unsigned char> workspace(std::vector<unsigned char>(4096, 1));
  const float one = 1, zero = 0;
  EXPECT_EQ(cudnnConvolutionForward(conv.handle, &one, conv.x, x.get(), conv.w, w.get(), conv.conv, forward[0].algo,
                                    workspace.get(), 4000, &zero, conv.y, y.get()),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_TRUE(contains(cuda::emulator::last_library_error(), "a workspace of 4000 bytes; the algorithm needs 4096"));
  EXPECT_EQ(cudnnConvolutionForward(conv.handle, &one, conv.x, x.get(), conv.w, w.get(), conv.conv,
                                    CUDNN_CONVOLUTION_FWD_ALGO_FFT, workspace.get(), 4096, &zero, conv.y, y.get()),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cudnnConvolutionForward(conv.handle, &one, conv.x, x.get(), conv.w, w.get(), conv.conv, forward[0].algo,
                                    workspace.get(), 4096, &zero, conv.y, y.get()),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(workspace.read(), std::vector<unsigned char>(4096, 0xff));  // the algorithm used its scratch
}

TEST(EmulatorCudnn, RefusesHostAndTooSmallOperands) {
  Conv conv({1, 2, 6, 6, 3, 3, 3, 1, 1}, false);
  DeviceArray<float> x(72), w(54), y(107);  // y [1, 3, 6, 6] needs 108
  std::vector<float> host_x(72);
  DeviceArray<unsigned char> workspace(4096);
  const float one = 1, zero = 0;
  std::string message = refusal_of([&] {
    (void)cudnnConvolutionForward(conv.handle, &one, conv.x, host_x.data(), conv.w, w.get(), conv.conv,
                                  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, workspace.get(), 4096, &zero, conv.y,
                                  y.get());
  });
  EXPECT_TRUE(contains(message, "cudnn_test.cpp:"));
  EXPECT_TRUE(contains(message,
                       "cudnnConvolutionForward failed under the emulator: x (argument 3, counting from 0, "
                       "NCHW [1,2,6,6] f32) is "));
  EXPECT_TRUE(contains(message, "not in emulated device memory: a host pointer"));
  message = refusal_of([&] {
    (void)cudnnConvolutionBackwardData(conv.handle, &one, conv.w, w.get(), conv.y, y.get(), conv.conv,
                                       CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, workspace.get(), 4096, &zero, conv.x,
                                       x.get());
  });
  EXPECT_TRUE(contains(message, "dy (argument 5, counting from 0, NCHW [1,3,6,6] f32)"));
  EXPECT_TRUE(contains(message, "4 bytes past its end"));
  message = refusal_of(
      [&] { (void)cudnnAddTensor(conv.handle, &one, conv.bias, std::vector<float>(3).data(), &one, conv.y, y.get()); });
  EXPECT_TRUE(contains(message, "cudnnAddTensor failed under the emulator: A (argument 3"));
}

TEST(EmulatorCudnn, BadParametersAreStatusesWithAReason) {
  Conv conv({1, 2, 6, 6, 3, 3, 3, 1, 1}, false);
  int count = 0;
  cudnnConvolutionFwdAlgoPerf_t perf[1];
  cudnnTensorDescriptor_t wrong = conv.tensor(1, 3, 5, 5);  // the output is [1, 3, 6, 6]
  EXPECT_EQ(cudnnGetConvolutionForwardAlgorithm_v7(conv.handle, conv.x, conv.w, conv.conv, wrong, 1, &count, perf),
            CUDNN_STATUS_BAD_PARAM);
  EXPECT_TRUE(
      contains(cuda::emulator::last_library_error(), "the output is [1,3,5,5], the convolution makes [1,3,6,6]"));
  cudnnTensorDescriptor_t three_channels = conv.tensor(1, 3, 6, 6);  // the filter has 2
  EXPECT_EQ(
      cudnnGetConvolutionForwardAlgorithm_v7(conv.handle, three_channels, conv.w, conv.conv, conv.y, 1, &count, perf),
      CUDNN_STATUS_BAD_PARAM);
  const float one = 1;
  DeviceArray<float> bias(3), y(108);
  EXPECT_EQ(cudnnAddTensor(conv.handle, &one, wrong, bias.get(), &one, conv.y, y.get()), CUDNN_STATUS_BAD_PARAM);
  EXPECT_TRUE(contains(cuda::emulator::last_library_error(), "each dimension of A must be C's or 1"));
  EXPECT_EQ(cudnnSetConvolution2dDescriptor(conv.conv, 1, 1, 1, 1, 2, 2, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
            CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnGetConvolutionForwardAlgorithm_v7(conv.handle, conv.x, conv.w, conv.conv, conv.y, 1, &count, perf),
            CUDNN_STATUS_NOT_SUPPORTED);  // dilation 2
  EXPECT_EQ(cudnnSetTensor4dDescriptor(wrong, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, 3, 6, 6),
            CUDNN_STATUS_NOT_SUPPORTED);
  EXPECT_EQ(cudnnSetTensor4dDescriptor(wrong, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 0, 3, 6, 6), CUDNN_STATUS_BAD_PARAM);
  EXPECT_EQ(cudnnDestroyTensorDescriptor(three_channels), CUDNN_STATUS_SUCCESS);
  EXPECT_EQ(cudnnDestroyTensorDescriptor(three_channels), CUDNN_STATUS_BAD_PARAM);  // twice
  EXPECT_EQ(cudnnDestroyTensorDescriptor(wrong), CUDNN_STATUS_SUCCESS);
}
