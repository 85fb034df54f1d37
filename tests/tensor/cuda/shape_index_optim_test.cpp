// CPU vs CUDA for the data-movement ops (permute, concat, narrow, heads),
// the row gathers (index_rows, embedding, gather_rows and their backwards),
// eot_positions, avg_pool2d and the optimizer's raw ops. Moves are exact, so the tolerance
// is 0 except where noted. Skips without a GPU.
#include "tests/tensor/cuda/cuda_vs_cpu.h"

#include "tensor/ops/attention.h"
#include "tensor/ops/conv.h"
#include "tensor/ops/elementwise.h"
#include "tensor/ops/optim.h"
#include "tensor/ops/shape.h"

namespace clipgrad::testing {
namespace {

using Inputs = std::vector<Tensor>;

TEST(CudaVsCpu, PermuteAnyRankAndDtype) {
  SKIP_WITHOUT_GPU();
  Generator generator(21);
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{2, 3, 4, 5}, {3, 1, 0, 2}}, {{5, 1, 7}, {2, 1, 0}}, {{33, 65}, {1, 0}}, {{4, 0, 3}, {2, 0, 1}}, {{}, {}}};
  for (const auto& [shape, dims] : cases) {
    expect_cuda_matches_cpu(
        "permute f32 " + shape_str(shape), {normal_tensor(shape, generator)},
        [dims](const Inputs& in) { return Inputs{ops::permute(in[0], dims)}; }, 0);
    expect_cuda_matches_cpu(
        "permute i32 " + shape_str(shape), {random_ids(shape, 1000, generator)},
        [dims](const Inputs& in) { return Inputs{ops::permute(in[0], dims)}; }, 0);
  }
}

TEST(CudaVsCpu, ConcatNarrowAndNarrowBackward) {
  SKIP_WITHOUT_GPU();
  Generator generator(22);
  const Inputs parts{normal_tensor({2, 3, 4}, generator), normal_tensor({2, 1, 4}, generator),
                     normal_tensor({2, 0, 4}, generator)};
  expect_cuda_matches_cpu(
      "concat dim 1", parts, [](const Inputs& in) { return Inputs{ops::concat(in, 1)}; }, 0);
  const Inputs rows{normal_tensor({3, 5}, generator), normal_tensor({1, 5}, generator)};
  expect_cuda_matches_cpu(
      "concat dim 0", rows, [](const Inputs& in) { return Inputs{ops::concat(in, 0)}; }, 0);
  expect_cuda_matches_cpu(
      "concat i32 dim -1", {random_ids({3, 2}, 9, generator), random_ids({3, 5}, 9, generator)},
      [](const Inputs& in) { return Inputs{ops::concat(in, -1)}; }, 0);
  const Inputs x{normal_tensor({5, 8, 3}, generator), normal_tensor({5, 4, 3}, generator)};
  expect_cuda_matches_cpu(
      "narrow / narrow_backward", x,
      [](const Inputs& in) {
        return Inputs{ops::narrow(in[0], 1, 2, 4), ops::narrow(in[0], 0, 1, 1), ops::narrow(in[0], 2, 3, 0),
                      ops::narrow_backward(in[1], {5, 8, 3}, 1, 3)};
      },
      0);
}

TEST(CudaVsCpu, SplitAndMergeHeads) {
  SKIP_WITHOUT_GPU();
  Generator generator(23);
  expect_cuda_matches_cpu(
      "split/merge heads", {normal_tensor({2, 5, 12}, generator), normal_tensor({6, 5, 4}, generator)},
      [](const Inputs& in) {
        return Inputs{ops::split_heads(in[0], 3), ops::merge_heads(in[1], 3), ops::split_heads(in[0], 1)};
      },
      0);
}

TEST(CudaVsCpu, IndexRowsEmbeddingAndGatherRows) {
  SKIP_WITHOUT_GPU();
  Generator generator(24);
  expect_cuda_matches_cpu(
      "index_rows", {normal_tensor({7, 5}, generator)},
      [](const Inputs& in) {
        return Inputs{ops::index_rows(in[0], {6, 0, 0, 3}), ops::index_rows(in[0], {})};
      },
      0);
  expect_cuda_matches_cpu(
      "index_rows i32", {random_ids({4, 77}, 49408, generator)},
      [](const Inputs& in) {
        return Inputs{ops::index_rows(in[0], {3, 1})};
      },
      0);
  // Repeated ids: the backward adds several rows into one, in the CPU's order (same bits).
  const Inputs embedding_inputs{random_ids({4, 6}, 10, generator), normal_tensor({50, 9}, generator),
                                normal_tensor({4, 6, 9}, generator)};
  expect_cuda_matches_cpu(
      "embedding", embedding_inputs,
      [](const Inputs& in) {
        return Inputs{ops::embedding(in[0], in[1]), ops::embedding_backward(in[0], in[2], 50)};
      },
      0);
  // More ids than a block's tile (3 tiles) and more features than its threads (2 passes).
  const Inputs many_ids{random_ids({3, 200}, 40, generator), normal_tensor({3, 200, 300}, generator)};
  expect_cuda_matches_cpu(
      "embedding_backward, several tiles", many_ids,
      [](const Inputs& in) { return Inputs{ops::embedding_backward(in[0], in[1], 45)}; }, 0);
  const Inputs gather_inputs{normal_tensor({4, 7, 5}, generator), random_ids({4}, 7, generator),
                             normal_tensor({4, 5}, generator)};
  expect_cuda_matches_cpu(
      "gather_rows", gather_inputs,
      [](const Inputs& in) {
        return Inputs{ops::gather_rows(in[0], in[1]), ops::gather_rows_backward(in[2], in[1], 7)};
      },
      0);
}

// A bad index in a device index tensor is found by the kernel, not by a read
// back before it (cuda/bad_indices.h): the op returns, its bad rows are zero,
// and the next read back throws the CPU check's message; the read after that
// is clean again.
TEST(CudaVsCpu, BadDeviceIndicesThrowAtTheNextReadBack) {
  SKIP_WITHOUT_GPU();
  auto on_device = [](std::vector<int32_t> values) {
    return Tensor::from_vector<int32_t>({static_cast<int64_t>(values.size())}, values).to(Device::CUDA);
  };
  const Tensor weight = Tensor::full({50, 3}, 1.0);
  const std::string cpu = thrown_message([&] {
    ops::embedding(Tensor::from_vector<int32_t>({3}, {1, 50, -2}), weight);
  });
  Tensor rows;
  EXPECT_NO_THROW(rows = ops::embedding(on_device({1, 50, -2}), weight.to(Device::CUDA)));
  const std::string cuda = thrown_message([&] { rows.to(Device::CPU); });
  ASSERT_FALSE(cpu.empty());
  EXPECT_EQ(cuda.rfind(cpu, 0), 0u) << cuda;  // the CPU's message, then where it was found
  EXPECT_EQ(rows.to(Device::CPU).to_vector<float>(), (std::vector<float>{1, 1, 1, 0, 0, 0, 0, 0, 0}));  // cleared
  const Tensor grad = Tensor::full({3, 3}, 1.0, DType::F32, Device::CUDA);
  EXPECT_NE(thrown_message([&] {
              ops::embedding_backward(on_device({0, 7, 9}), grad, 8).to(Device::CPU);
            }).find("embedding_backward: id 9 at flat position 2 is outside the vocabulary [0, 8)"),
            std::string::npos);
  const Tensor x = Tensor::full({2, 4, 3}, 2.0, DType::F32, Device::CUDA);
  EXPECT_NE(thrown_message([&] {
              ops::gather_rows(x, on_device({3, 4})).to(Device::CPU);
            }).find("gather_rows: index[1] = 4 is outside [0, 4)"),
            std::string::npos);
  EXPECT_NE(thrown_message([&] {
              ops::gather_rows_backward(grad.rows(0, 2), on_device({-1, 0}), 4).to(Device::CPU);
            }).find("gather_rows_backward: index[0] = -1 is outside [0, 4)"),
            std::string::npos);
  EXPECT_EQ(ops::gather_rows(x, on_device({3, 0})).to(Device::CPU).to_vector<float>(), std::vector<float>(6, 2.0f));
}

// Rows with their EOT (the largest id) anywhere, ties (the first wins), and a
// row without the Hugging Face eos id (position 0).
TEST(CudaVsCpu, EotPositionsOnTheDevice) {
  SKIP_WITHOUT_GPU();
  const Tensor tokens = Tensor::from_vector<int32_t>(
      {4, 6}, {49406, 5, 49407, 0, 0, 0, 49406, 7, 8, 9, 10, 49407, 3, 49407, 49407, 2, 0, 0, 1, 2, 3, 4, 5, 6});
  expect_cuda_matches_cpu(
      "eot_positions", {tokens},
      [](const Inputs& in) {
        return Inputs{ops::eot_positions(in[0], -1), ops::eot_positions(in[0], 49407), ops::eot_positions(in[0], 5)};
      },
      0);
  EXPECT_EQ(ops::eot_positions(tokens, -1).to_vector<int32_t>(), (std::vector<int32_t>{2, 5, 1, 5}));
  EXPECT_EQ(ops::eot_positions(tokens, 49407).to_vector<int32_t>(), (std::vector<int32_t>{2, 5, 1, 0}));
}

TEST(CudaVsCpu, AvgPoolAndBackwardDroppingTrailingRows) {
  SKIP_WITHOUT_GPU();
  Generator generator(25);
  const Inputs inputs{normal_tensor({2, 3, 9, 10}, generator), normal_tensor({2, 3, 3, 3}, generator)};
  expect_cuda_matches_cpu(
      "avg_pool2d", inputs,
      [](const Inputs& in) {
        return Inputs{ops::avg_pool2d(in[0], 3), ops::avg_pool2d_backward(in[1], {2, 3, 9, 10}, 3)};
      },
      0);
}

TEST(CudaVsCpu, AdamWUpdateIsTheCpuUpdateBitForBit) {
  SKIP_WITHOUT_GPU();
  Generator generator(26);
  const ops::AdamWCoefficients coefficients{1 - 1e-3 * 0.1, 0.1, 0.98, 0.02, 1e-3 / 0.1, std::sqrt(0.02), 1e-6};
  const Inputs inputs{normal_tensor({1000, 3}, generator), normal_tensor({1000, 3}, generator),
                      normal_tensor({1000, 3}, generator, 0, 0.1), uniform_tensor({1000, 3}, generator, 0, 0.01)};
  expect_cuda_matches_cpu(
      "adamw_update", inputs,
      [&](const Inputs& in) {
        Tensor param = in[0].clone(), exp_avg = in[2].clone(), exp_avg_sq = in[3].clone();
        for (int step = 0; step < 3; ++step) ops::adamw_update(param, in[1], exp_avg, exp_avg_sq, coefficients);
        return Inputs{param, exp_avg, exp_avg_sq};
      },
      0);
}

// More parameters than one launch's table (two tables), of sizes from empty
// to several blocks, each with its own coefficients, gradients scaled on the
// device: the CPU's bits, which are those of one adamw_update per parameter
// on gradients scaled by ops::scale first.
TEST(CudaVsCpu, MultiTensorAdamWIsTheCpuUpdateBitForBit) {
  SKIP_WITHOUT_GPU();
  Generator generator(28);
  const int count = ops::kAdamWParamsPerLaunch + 2;
  Inputs inputs;
  for (int p = 0; p < count; ++p) {
    const Shape shape{p % 7 == 3 ? 0 : 1 + (p * 37) % 300 + (p == 5 ? 5000 : 0)};
    inputs.insert(inputs.end(), {normal_tensor(shape, generator), normal_tensor(shape, generator),
                                 normal_tensor(shape, generator, 0, 0.1), uniform_tensor(shape, generator, 0, 0.01)});
  }
  auto coefficients = [](int p) {
    return ops::AdamWCoefficients{1 - 1e-3 * (p % 2) * 0.1, 0.1, 0.98, 0.02, 1e-3 / (0.1 + 1e-3 * p),
                                  std::sqrt(0.02),          1e-6};
  };
  auto multi = [&](const Inputs& in) {
    std::vector<ops::AdamWParam> params;
    for (int p = 0; p < count; ++p)
      params.push_back(
          {in[4 * p].clone(), in[4 * p + 1], in[4 * p + 2].clone(), in[4 * p + 3].clone(), coefficients(p)});
    const Tensor scale = Tensor::scalar(0.3, DType::F64, in[0].device());
    for (int step = 0; step < 2; ++step) ops::multi_tensor_adamw(params, scale);
    Inputs out;
    for (const ops::AdamWParam& entry : params) out.insert(out.end(), {entry.param, entry.exp_avg, entry.exp_avg_sq});
    return out;
  };
  expect_cuda_matches_cpu("multi_tensor_adamw", inputs, multi, 0);
  const Inputs expected = multi(inputs);
  for (int p = 0; p < count; ++p) {
    Tensor param = inputs[4 * p].clone(), exp_avg = inputs[4 * p + 2].clone(), exp_avg_sq = inputs[4 * p + 3].clone();
    const Tensor scaled = ops::scale(inputs[4 * p + 1], 0.3);
    for (int step = 0; step < 2; ++step) ops::adamw_update(param, scaled, exp_avg, exp_avg_sq, coefficients(p));
    EXPECT_TRUE(same_bits(param, expected[3 * p])) << "parameter " << p;
    EXPECT_TRUE(same_bits(exp_avg_sq, expected[3 * p + 2])) << "parameter " << p;
  }
}

// The squared norm of a list longer than a table, with tensors of both
// floating dtypes, left on the device; the clip coefficient from it.
TEST(CudaVsCpu, SumSquaresOfAndClipCoefficientStayOnTheDevice) {
  SKIP_WITHOUT_GPU();
  Generator generator(29);
  Inputs tensors;
  for (int i = 0; i < ops::kAdamWParamsPerLaunch + 5; ++i)
    tensors.push_back(normal_tensor({i == 9 ? 40000 : 1 + i % 50}, generator).to(i % 3 == 0 ? DType::F64 : DType::F32));
  Inputs on_device;
  for (const Tensor& x : tensors) on_device.push_back(x.to(Device::CUDA));
  const Tensor cpu = ops::sum_squares_of(tensors), cuda = ops::sum_squares_of(on_device);
  EXPECT_EQ(cuda.device(), Device::CUDA);
  EXPECT_EQ(cuda.dtype(), DType::F64);
  EXPECT_NEAR(cuda.item(), cpu.item(), 1e-12 * cpu.item());
  double per_tensor = 0;  // the per-tensor sums on the device, added in order: the same bits
  for (const Tensor& x : on_device) per_tensor += ops::sum_squares(x);
  EXPECT_EQ(cuda.item(), per_tensor);
  for (double max_norm : {1.0, 1e9}) {
    const double norm = std::sqrt(cuda.item()), want = max_norm / (norm + 1e-6);
    EXPECT_EQ(ops::clip_coefficient(cuda, max_norm).item(), want < 1 ? want : 1.0) << max_norm;
  }
  const Tensor infinite = Tensor::scalar(INFINITY, DType::F64, Device::CUDA);
  EXPECT_EQ(ops::clip_coefficient(infinite, 1.0).item(), 1.0);
}

TEST(CudaVsCpu, SumSquaresInDouble) {
  SKIP_WITHOUT_GPU();
  Generator generator(27);
  for (const Shape& shape : {Shape{100000}, Shape{0}, Shape{17, 3}}) {
    const Tensor x = normal_tensor(shape, generator);
    const double cpu = ops::sum_squares(x), cuda = ops::sum_squares(x.to(Device::CUDA));
    // Chunks of 2^14 summed as a tree on the GPU, in sequence on the CPU: doubles agree to ~1e-15.
    EXPECT_NEAR(cuda, cpu, 1e-12 * std::max(1.0, cpu)) << shape_str(shape);
    EXPECT_EQ(ops::sum_squares(x.to(Device::CUDA)), cuda) << "not deterministic";
  }
}

}  // namespace
}  // namespace clipgrad::testing
