// CPU vs CUDA, f32, forward and backward, for the element-wise ops and the
// reductions/normalisations of tensor/cuda/ (random odd shapes, zero-size
// dims, broadcasting). Each result is also computed twice on the GPU and must
// repeat bit for bit. Skips without a GPU.
//
// Tolerance 1e-5 relative (max |error| / max |value|) for every op: the
// kernels make the CPU's roundings element by element (no FMA contraction)
// and accumulate every sum in double like the CPU, so what remains is CUDA's
// exp/log/erf (within 2 ulp, 2.4e-7) and, where a sum runs as a tree instead
// of a sequence (softmax, layer_norm rows, L2 norms, sum_all), double
// rounding far below f32's.
#include "tests/tensor/cuda/cuda_vs_cpu.h"

#include <bit>

#include "tensor/float16.h"
#include "tensor/ops/elementwise.h"
#include "tensor/ops/reduce.h"

namespace clipgrad::testing {
namespace {

constexpr double kTolerance = 1e-5;

using Inputs = std::vector<Tensor>;

TEST(CudaVsCpu, BinaryOpsWithBroadcasting) {
  SKIP_WITHOUT_GPU();
  Generator generator(11);
  const std::vector<std::pair<Shape, Shape>> shapes = {{{7, 13}, {7, 13}}, {{5, 1, 3}, {4, 3}}, {{}, {3, 5}},
                                                       {{0, 3}, {3}},      {{2, 3, 5}, {5}},    {{2, 1, 5}, {1, 3, 1}}};
  for (const auto& [a_shape, b_shape] : shapes) {
    const Inputs inputs{normal_tensor(a_shape, generator), uniform_tensor(b_shape, generator, 0.5, 2.0)};
    const std::string label = shape_str(a_shape) + " with " + shape_str(b_shape);
    expect_cuda_matches_cpu(
        "add " + label, inputs, [](const Inputs& in) { return Inputs{ops::add(in[0], in[1])}; }, kTolerance);
    expect_cuda_matches_cpu(
        "sub " + label, inputs, [](const Inputs& in) { return Inputs{ops::sub(in[1], in[0])}; }, kTolerance);
    expect_cuda_matches_cpu(
        "mul " + label, inputs, [](const Inputs& in) { return Inputs{ops::mul(in[0], in[1])}; }, kTolerance);
    expect_cuda_matches_cpu(
        "div " + label, inputs, [](const Inputs& in) { return Inputs{ops::div(in[0], in[1])}; }, kTolerance);
  }
  const Inputs same{normal_tensor({9, 11}, generator), normal_tensor({9, 11}, generator)};
  expect_cuda_matches_cpu(
      "add_inplace", same,
      [](const Inputs& in) {
        Tensor sum = in[0].clone();
        ops::add_inplace(sum, in[1]);
        return Inputs{sum};
      },
      kTolerance);
  expect_cuda_matches_cpu(
      "scale", same, [](const Inputs& in) { return Inputs{ops::scale(in[0], 0.37)}; }, kTolerance);
  expect_cuda_matches_cpu(
      "broadcast_to", {normal_tensor({3, 1, 5}, generator)},
      [](const Inputs& in) {
        return Inputs{ops::broadcast_to(in[0], {2, 3, 4, 5})};
      },
      kTolerance);
}

TEST(CudaVsCpu, SumToShapeOnTrailingGeneralAndScalarShapes) {
  SKIP_WITHOUT_GPU();
  Generator generator(12);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{6, 300, 7}, {7}}, {{600, 5}, {1, 5}}, {{4, 5, 6}, {4, 1, 6}}, {{3, 4, 5}, {3, 1, 1}},
      {{3, 4}, {}},       {{3, 4}, {1}},      {{0, 5}, {5}},          {{2, 0, 3}, {2, 1, 3}}};
  for (const auto& [from, to] : cases)
    expect_cuda_matches_cpu(
        "sum_to_shape " + shape_str(from) + " -> " + shape_str(to), {normal_tensor(from, generator)},
        [to](const Inputs& in) { return Inputs{ops::sum_to_shape(in[0], to)}; }, kTolerance);
}

TEST(CudaVsCpu, UnaryOpsAndTheirBackwards) {
  SKIP_WITHOUT_GPU();
  Generator generator(13);
  for (const Shape& shape : {Shape{17, 33}, Shape{1000}, Shape{0, 4}}) {
    const Inputs signed_inputs{normal_tensor(shape, generator, 0, 3), normal_tensor(shape, generator)};
    const Inputs positive{uniform_tensor(shape, generator, 0.1, 5.0), normal_tensor(shape, generator)};
    const std::string at = " " + shape_str(shape);
    expect_cuda_matches_cpu(
        "exp" + at, signed_inputs, [](const Inputs& in) { return Inputs{ops::exp(in[0])}; }, kTolerance);
    expect_cuda_matches_cpu(
        "log" + at, positive, [](const Inputs& in) { return Inputs{ops::log(in[0])}; }, kTolerance);
    expect_cuda_matches_cpu(
        "rsqrt" + at, positive,
        [](const Inputs& in) {
          return Inputs{ops::rsqrt(in[0]), ops::rsqrt_backward(in[1], ops::rsqrt(in[0]))};
        },
        kTolerance);
    expect_cuda_matches_cpu(
        "relu" + at, signed_inputs,
        [](const Inputs& in) {
          return Inputs{ops::relu(in[0]), ops::relu_backward(in[1], in[0])};
        },
        kTolerance);
    expect_cuda_matches_cpu(
        "gelu" + at, signed_inputs,
        [](const Inputs& in) {
          return Inputs{ops::gelu(in[0]), ops::gelu_backward(in[1], in[0])};
        },
        kTolerance);
    expect_cuda_matches_cpu(
        "quick_gelu" + at, signed_inputs,
        [](const Inputs& in) {
          return Inputs{ops::quick_gelu(in[0]), ops::quick_gelu_backward(in[1], in[0])};
        },
        kTolerance);
  }
}

// bfloat16 on the device rounds as on the host, bit for bit: ties to even,
// NaN payloads kept NaN, overflow to inf, subnormals, -0; and a device tensor
// is never converted through the host (Tensor::to refuses it).
TEST(CudaVsCpu, ConvertToBfloat16RoundsAsTheCpuDoes) {
  SKIP_WITHOUT_GPU();
  const std::vector<float> values = {1.0f + 0x1p-8f,
                                     1.0f + 3 * 0x1p-8f,
                                     -(1.0f + 0x1p-9f),
                                     std::bit_cast<float>(0x7f800001u),
                                     -INFINITY,
                                     3.4e38f,
                                     1e-40f,
                                     -0.0f,
                                     65504.0f};
  const Tensor host = Tensor::from_vector<float>({static_cast<int64_t>(values.size())}, values);
  const Tensor on_device = ops::convert(host.to(Device::CUDA), DType::BF16);
  EXPECT_EQ(on_device.device(), Device::CUDA);
  EXPECT_TRUE(same_bits(on_device, host.to(DType::BF16)));
  const Tensor back = ops::convert(on_device, DType::F32).to(Device::CPU);
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(std::bit_cast<uint32_t>(back.data<float>()[i]), uint32_t(float_to_bfloat16(values[i])) << 16)
        << values[i];
  EXPECT_TRUE(std::isnan(back.data<float>()[3]));
  EXPECT_EQ(back.data<float>()[5], INFINITY);
  EXPECT_THROW(on_device.to(DType::F32), std::logic_error);
  EXPECT_TRUE(ops::convert(on_device, DType::BF16).same_storage(on_device));
}

TEST(CudaVsCpu, SumMeanAndSumAll) {
  SKIP_WITHOUT_GPU();
  Generator generator(14);
  for (const Shape& shape : {Shape{5, 7, 9}, Shape{4, 0, 3}, Shape{3, 333}}) {
    const Inputs inputs{normal_tensor(shape, generator)};
    for (int64_t dim = -1; dim < static_cast<int64_t>(shape.size()); ++dim)
      for (bool keepdim : {false, true}) {
        const std::string label = shape_str(shape) + " dim " + std::to_string(dim) + (keepdim ? " keepdim" : "");
        expect_cuda_matches_cpu(
            "sum/mean " + label, inputs,
            [dim, keepdim](const Inputs& in) {
              return Inputs{ops::sum(in[0], dim, keepdim), ops::mean(in[0], dim, keepdim)};
            },
            kTolerance);
      }
  }
  for (const Shape& shape : {Shape{1000, 77}, Shape{0}, Shape{}, Shape{32769}})
    expect_cuda_matches_cpu(
        "sum_all " + shape_str(shape), {normal_tensor(shape, generator)},
        [](const Inputs& in) { return Inputs{ops::sum_all(in[0])}; }, kTolerance);
}

TEST(CudaVsCpu, SoftmaxLogSoftmaxAndBackwards) {
  SKIP_WITHOUT_GPU();
  Generator generator(15);
  const std::vector<std::pair<Shape, int64_t>> cases = {
      {{13, 300}, -1}, {{6, 5, 4}, 1}, {{7, 3}, 0}, {{0, 5}, 1}, {{4, 1}, 1}};
  for (const auto& [shape, dim] : cases) {
    const Inputs inputs{normal_tensor(shape, generator, 0, 4), normal_tensor(shape, generator)};
    expect_cuda_matches_cpu(
        "softmax " + shape_str(shape), inputs,
        [dim](const Inputs& in) {
          const Tensor y = ops::softmax(in[0], dim), log_y = ops::log_softmax(in[0], dim);
          return Inputs{y, log_y, ops::softmax_backward(in[1], y, dim), ops::log_softmax_backward(in[1], log_y, dim)};
        },
        kTolerance);
  }
}

TEST(CudaVsCpu, CrossEntropyAndBackward) {
  SKIP_WITHOUT_GPU();
  Generator generator(16);
  for (const Shape& shape : {Shape{37, 11}, Shape{256, 256}, Shape{1, 1}}) {
    const Inputs inputs{normal_tensor(shape, generator, 0, 3),
                        random_ids({shape[0]}, static_cast<int32_t>(shape[1]), generator)};
    expect_cuda_matches_cpu(
        "cross_entropy " + shape_str(shape), inputs,
        [](const Inputs& in) {
          return Inputs{ops::cross_entropy(in[0], in[1]), ops::cross_entropy_backward(in[0], in[1], 0.7)};
        },
        kTolerance);
  }
}

TEST(CudaVsCpu, LayerNormForwardAndBackward) {
  SKIP_WITHOUT_GPU();
  Generator generator(17);
  for (const Shape& shape : {Shape{3, 7, 70}, Shape{600, 33}, Shape{2, 1}, Shape{0, 8}}) {
    const Shape features{shape.back()};
    const Inputs inputs{normal_tensor(shape, generator, 2, 3), normal_tensor(features, generator, 1, 0.5),
                        normal_tensor(features, generator), normal_tensor(shape, generator)};
    expect_cuda_matches_cpu(
        "layer_norm " + shape_str(shape), inputs,
        [](const Inputs& in) {
          const ops::LayerNormOutput out = ops::layer_norm(in[0], in[1], in[2], 1e-5);
          const ops::LayerNormGrads grads =
              ops::layer_norm_backward(in[3], in[0], in[1], out.mean, out.rstd, true, true, true);
          const ops::LayerNormGrads weight_only =
              ops::layer_norm_backward(in[3], in[0], in[1], out.mean, out.rstd, false, true, false);
          return Inputs{out.y,        out.mean,   out.rstd,      grads.x,
                        grads.weight, grads.bias, weight_only.x, weight_only.weight};
        },
        kTolerance);
  }
}

TEST(CudaVsCpu, L2NormalizeAndBackwardIncludingAZeroLine) {
  SKIP_WITHOUT_GPU();
  Generator generator(18);
  Tensor with_zero_row = normal_tensor({9, 65}, generator);
  with_zero_row.rows(4, 5).fill(0.0);
  for (int64_t dim : {-1, 0}) {
    const Inputs inputs{with_zero_row, normal_tensor({9, 65}, generator)};
    expect_cuda_matches_cpu(
        "l2_normalize dim " + std::to_string(dim), inputs,
        [dim](const Inputs& in) {
          return Inputs{ops::l2_normalize(in[0], dim, 1e-12), ops::l2_normalize_backward(in[1], in[0], dim, 1e-12)};
        },
        kTolerance);
  }
}

TEST(CudaVsCpu, KernelsThrowTheCpuMessages) {
  SKIP_WITHOUT_GPU();
  auto both = [](const std::function<void(Device)>& call) {
    const std::string cpu = thrown_message([&] { call(Device::CPU); });
    const std::string cuda = thrown_message([&] { call(Device::CUDA); });
    EXPECT_FALSE(cpu.empty());
    EXPECT_EQ(cuda, cpu);
  };
  both([](Device d) { ops::add(Tensor::zeros({2, 3}, DType::F32, d), Tensor::zeros({4}, DType::F32, d)); });
  both([](Device d) { ops::add(Tensor::zeros({2}, DType::F32, d), Tensor::zeros({2}, DType::F64, d)); });
  both([](Device d) { ops::exp(Tensor::zeros({2}, DType::I32, d)); });
  both([](Device d) { ops::sum(Tensor::zeros({2, 3}, DType::F32, d), 2); });
  both([](Device d) { ops::sum_to_shape(Tensor::zeros({2, 3}, DType::F32, d), {4}); });
  both([](Device d) {
    ops::cross_entropy(Tensor::zeros({2, 3}, DType::F32, d), Tensor::from_vector<int32_t>({2}, {0, 3}).to(d));
  });
  both([](Device d) {
    ops::layer_norm(Tensor::zeros({2, 3}, DType::F32, d), Tensor::zeros({4}, DType::F32, d),
                    Tensor::zeros({3}, DType::F32, d), 1e-5);
  });
}

}  // namespace
}  // namespace clipgrad::testing
